//! Emulation of the privileged instructions a PV kernel executes in ring 3.
//!
//! * `wrmsr` / `rdmsr` of the segment-base MSRs (FS, GS, shadow GS) — Linux's `startup_xen`
//!   and Mini-OS's `arch_init_events` write GS_BASE before any hypercall;
//! * CPUID behind Xen's forced-emulation prefix `ud2; .ascii "xen"; cpuid` (raised as #UD),
//!   answered with the PV CPUID policy (`hv_core::cpuid`).
//!
//! Only guest-kernel mode may use them; anything else — `hlt`, `cli`, port I/O, other MSRs — is
//! bounced back to the guest as the #GP it raised, as Xen does for PV kernels.

use hv_core::cpuid::{guest_cpuid, Policy};
use hv_core::mm::pte::is_canonical;

use crate::arch::entry::TrapFrame;
use crate::arch::{context, cpu};
use crate::guest_memory::GuestMemory;
use crate::hypervisor::{Hypervisor, VcpuRef};

const MSR_FS_BASE: u32 = 0xC000_0100;
const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_SHADOW_GS_BASE: u32 = 0xC000_0102;
const MSR_EFER: u32 = 0xC000_0080;
const MSR_TSC: u32 = 0x10;

/// Xen's forced-emulation prefix followed by CPUID.
const FORCED_CPUID: [u8; 7] = [0x0F, 0x0B, b'x', b'e', b'n', 0x0F, 0xA2];

/// What emulation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Emulated {
    /// Done; the frame was updated (rip advanced).
    Done,
    /// Not an instruction we emulate: deliver the original fault.
    No,
}

fn fetch(hv: &Hypervisor, v: VcpuRef, rip: u64, buf: &mut [u8]) -> bool {
    let Some(d) = hv.domains.get(&v.0) else {
        return false;
    };
    let root = d.vcpus[v.1].current_root();
    GuestMemory::new(&hv.memory.mm, hv_core::mm::Mfn(root))
        .read(rip, buf)
        .is_ok()
}

fn kernel_mode(hv: &Hypervisor, v: VcpuRef) -> bool {
    hv.domains
        .get(&v.0)
        .is_some_and(|d| d.vcpus[v.1].kernel_mode)
}

/// A #GP from guest `v`: emulate `wrmsr` / `rdmsr` of a segment-base MSR if that is what
/// faulted.
pub fn general_protection(hv: &mut Hypervisor, v: VcpuRef, frame: &mut TrapFrame) -> Emulated {
    if !kernel_mode(hv, v) {
        return Emulated::No;
    }
    let mut insn = [0u8; 2];
    if !fetch(hv, v, frame.rip, &mut insn) || insn[0] != 0x0F {
        return Emulated::No;
    }
    let msr = frame.rcx as u32;
    let value = (frame.rdx << 32) | (frame.rax & 0xFFFF_FFFF);
    match insn[1] {
        // wrmsr
        0x30 => match msr {
            MSR_FS_BASE | MSR_GS_BASE | MSR_SHADOW_GS_BASE if !is_canonical(value) => {
                return Emulated::No
            }
            MSR_FS_BASE => context::set_fs_base(value),
            MSR_GS_BASE => context::set_gs_base(value),
            MSR_SHADOW_GS_BASE => context::set_shadow_gs_base(value),
            _ => return Emulated::No,
        },
        // rdmsr
        0x32 => {
            let (fs, gs, shadow) = context::segment_bases();
            let v = match msr {
                MSR_FS_BASE => fs,
                MSR_GS_BASE => gs,
                MSR_SHADOW_GS_BASE => shadow,
                MSR_EFER => cpu::rdmsr(MSR_EFER),
                MSR_TSC => cpu::rdtsc(),
                _ => return Emulated::No,
            };
            frame.rax = v & 0xFFFF_FFFF;
            frame.rdx = v >> 32;
        }
        _ => return Emulated::No,
    }
    frame.rip = frame.rip.wrapping_add(2);
    Emulated::Done
}

/// A #UD from guest `v`: emulate CPUID behind Xen's forced-emulation prefix.
pub fn invalid_opcode(
    hv: &mut Hypervisor,
    v: VcpuRef,
    frame: &mut TrapFrame,
    policy: Policy,
) -> Emulated {
    let mut insn = [0u8; 7];
    if !fetch(hv, v, frame.rip, &mut insn) || insn != FORCED_CPUID {
        return Emulated::No;
    }
    let (leaf, subleaf) = (frame.rax as u32, frame.rcx as u32);
    let native = cpu::cpuid(leaf, subleaf);
    let [a, b, c, d] = guest_cpuid(policy, leaf, subleaf, native);
    frame.rax = u64::from(a);
    frame.rbx = u64::from(b);
    frame.rcx = u64::from(c);
    frame.rdx = u64::from(d);
    frame.rip = frame.rip.wrapping_add(FORCED_CPUID.len() as u64);
    Emulated::Done
}
