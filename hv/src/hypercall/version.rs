//! `xen_version`: who we claim to be and which features we offer.
//!
//! We report Xen 4.17's version number (what the guests we target were tested against), the
//! `xen-3.0-x86_64` capability, and the feature bits we implement for a 64-bit PV domain:
//! `mmu_pt_update_preserve_ad` and `gnttab_map_avail_bits` (Linux refuses to boot without
//! both) and `highmem_assist`.

use pv_abi::arch_x86::HYPERVISOR_VIRT_START;
use pv_abi::errno;
use pv_abi::features::{
    XENFEAT_GNTTAB_MAP_AVAIL_BITS, XENFEAT_HIGHMEM_ASSIST, XENFEAT_MMU_PT_UPDATE_PRESERVE_AD,
};
use pv_abi::version::*;
use zerocopy::FromZeros;

use super::{Call, Ret};

/// Major version reported.
pub const VERSION_MAJOR: u32 = 4;
/// Minor version reported.
pub const VERSION_MINOR: u32 = 17;

/// `(major << 16) | minor`, as XENVER_version and CPUID leaf 0x40000001 report it.
pub const XEN_VERSION_NUMBER: u32 = (VERSION_MAJOR << 16) | VERSION_MINOR;

/// XENFEAT bitmap (submap 0) for PV domains.
pub const PV_FEATURES: u32 = (1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
    | (1 << XENFEAT_HIGHMEM_ASSIST)
    | (1 << XENFEAT_GNTTAB_MAP_AVAIL_BITS);

fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

pub fn xen_version(call: &mut Call) -> Ret {
    // The null hypercall of benchmarks and probes: no guest memory to look up, no stack
    // frame for the other commands' buffers.
    if call.args[0] as u32 == XENVER_VERSION {
        return Ret::Value(i64::from(XEN_VERSION_NUMBER));
    }
    xen_version_info(call)
}

/// The `xen_version` commands that write a buffer.
#[inline(never)]
fn xen_version_info(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    let g = call.guest();
    match cmd as u32 {
        XENVER_EXTRAVERSION => g
            .write(arg, &fixed::<XEN_EXTRAVERSION_LEN>("-hv"))
            .map_or_else(Ret::from, |_| Ret::Value(0)),
        XENVER_COMPILE_INFO => {
            let mut info = XenCompileInfo::new_zeroed();
            info.compiler = fixed("rustc");
            info.compile_by = fixed("hv");
            info.compile_domain = fixed("local");
            info.compile_date = fixed("2026");
            g.write_obj(arg, &info)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        XENVER_CAPABILITIES => g
            .write(arg, &fixed::<XEN_CAPABILITIES_INFO_LEN>("xen-3.0-x86_64 "))
            .map_or_else(Ret::from, |_| Ret::Value(0)),
        XENVER_CHANGESET => g
            .write(arg, &fixed::<XEN_CHANGESET_INFO_LEN>("hv"))
            .map_or_else(Ret::from, |_| Ret::Value(0)),
        XENVER_PLATFORM_PARAMETERS => {
            let p = XenPlatformParameters {
                virt_start: HYPERVISOR_VIRT_START,
            };
            g.write_obj(arg, &p)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        XENVER_GET_FEATURES => {
            let mut fi: XenFeatureInfo = match g.read_obj(arg) {
                Ok(f) => f,
                Err(f) => return f.into(),
            };
            fi.submap = if fi.submap_idx == 0 { PV_FEATURES } else { 0 };
            g.write_obj(arg, &fi)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        XENVER_PAGESIZE => Ret::Value(4096),
        XENVER_GUEST_HANDLE => g
            .write(arg, &[0u8; XEN_DOMAIN_HANDLE_LEN])
            .map_or_else(Ret::from, |_| Ret::Value(0)),
        XENVER_COMMANDLINE => Ret::Value(errno::neg(errno::EPERM)),
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
