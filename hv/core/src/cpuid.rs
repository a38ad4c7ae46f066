//! The CPUID a PV guest sees through Xen's forced-emulation prefix (`ud2; .ascii "xen"; cpuid`).
//!
//! Native values, filtered like Xen's PV policy: features a ring-3 PV kernel cannot use or that
//! the hypervisor owns are hidden (PSE, PGE, PSE36 — large pages and global pages are not for PV
//! guests unless deliberately enabled; the local APIC, MTRRs, machine checks, monitor/mwait,
//! virtualisation, XSAVE and what depends on it, PCID, 1 GiB pages, FSGSBASE, SMEP/SMAP…), the
//! "hypervisor present" bit is set, and the Xen leaves at 0x40000000 carry the
//! "XenVMMXenVMM" signature, the version, and the hypercall-page MSR.

/// First Xen leaf.
pub const XEN_LEAF_BASE: u32 = 0x4000_0000;
/// Highest Xen leaf we answer.
pub const XEN_LEAF_MAX: u32 = 0x4000_0005;
/// MSR a guest writes to install a hypercall page.
pub const HYPERCALL_PAGE_MSR: u32 = 0x4000_0000;

/// Per-domain switches of the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Expose PSE (for guests that map superpages and are built to use them).
    pub expose_pse: bool,
    /// Xen version reported in leaf 0x40000001, `(major << 16) | minor`.
    pub version: u32,
}

const fn bits(list: &[u32]) -> u32 {
    let mut m = 0;
    let mut i = 0;
    while i < list.len() {
        m |= 1 << list[i];
        i += 1;
    }
    m
}

/// Leaf 1 EDX bits hidden: VME, DE, PSE, MCE, APIC, MTRR, PGE, MCA, PSE36, DS, ACPI, TM, PBE.
const LEAF1_EDX_HIDE: u32 = bits(&[1, 2, 3, 7, 9, 12, 13, 14, 17, 21, 22, 29, 31]);
/// Leaf 1 ECX bits hidden: MONITOR, DS-CPL, VMX, SMX, EST, TM2, xTPR, PDCM, PCID, DCA, x2APIC,
/// TSC-deadline, XSAVE, OSXSAVE, AVX, F16C, FMA (need XSAVE state).
const LEAF1_ECX_HIDE: u32 = bits(&[3, 4, 5, 6, 7, 8, 12, 14, 15, 17, 18, 21, 24, 26, 27, 28, 29]);
/// Leaf 1 ECX: hypervisor present.
const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 7 EBX bits kept: BMI1, BMI2, ERMS, ADX, CLFLUSHOPT, SHA.
const LEAF7_EBX_KEEP: u32 = bits(&[3, 8, 9, 19, 23, 29]);
/// Leaf 0x80000001 EDX bits hidden: 1 GiB pages.
const EXT1_EDX_HIDE: u32 = bits(&[26]);
/// Leaf 0x80000001 ECX bits hidden: SVM, extended APIC, IBS, watchdog, perf counters.
const EXT1_ECX_HIDE: u32 = bits(&[2, 3, 10, 13, 23, 24]);

/// The guest's view of leaf `leaf` / `subleaf`, given the native answer `native` and the native
/// maximum basic leaf `native_max`.
pub fn guest_cpuid(policy: Policy, leaf: u32, subleaf: u32, native: [u32; 4]) -> [u32; 4] {
    let [mut a, mut b, mut c, mut d] = native;
    match leaf {
        1 => {
            d &= !LEAF1_EDX_HIDE;
            if policy.expose_pse {
                d |= 1 << 3;
            }
            c = (c & !LEAF1_ECX_HIDE) | LEAF1_ECX_HYPERVISOR;
            // Initial APIC id 0, one logical processor.
            b &= 0x0000_FFFF;
        }
        5 | 6 | 0xA | 0xD => return [0; 4],
        7 => {
            if subleaf == 0 {
                a = 0;
                b &= LEAF7_EBX_KEEP;
                c = 0;
                d = 0;
            } else {
                return [0; 4];
            }
        }
        XEN_LEAF_BASE => return [XEN_LEAF_MAX, 0x566e_6558, 0x6558_4d4d, 0x4d4d_566e],
        0x4000_0001 => return [policy.version, 0, 0, 0],
        // One hypercall page, installed through MSR 0x40000000; leaf bit 0 of ECX:
        // MMU_PT_UPDATE_PRESERVE_AD is supported.
        0x4000_0002 => return [1, HYPERCALL_PAGE_MSR, 1, 0],
        0x4000_0003..=XEN_LEAF_MAX => return [0; 4],
        0x8000_0001 => {
            d &= !EXT1_EDX_HIDE;
            c &= !EXT1_ECX_HIDE;
        }
        _ => {}
    }
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [u32; 4] = [u32::MAX; 4];

    #[test]
    fn signature_and_leaves() {
        let p = Policy {
            version: (4 << 16) | 17,
            ..Policy::default()
        };
        let [max, b, c, d] = guest_cpuid(p, XEN_LEAF_BASE, 0, [0; 4]);
        assert!(max >= XEN_LEAF_BASE + 2, "Linux needs eax - base >= 2");
        let sig: Vec<u8> = [b, c, d].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&sig, b"XenVMMXenVMM");
        assert_eq!(guest_cpuid(p, 0x4000_0001, 0, [0; 4])[0], (4 << 16) | 17);
        assert_eq!(
            guest_cpuid(p, 0x4000_0002, 0, [0; 4])[..2],
            [1, 0x4000_0000]
        );
    }

    #[test]
    fn pse_pge_pse36_hidden_unless_asked() {
        let [_, _, c, d] = guest_cpuid(Policy::default(), 1, 0, ALL);
        assert_eq!(d & ((1 << 3) | (1 << 13) | (1 << 17)), 0);
        assert_ne!(c & (1 << 31), 0, "hypervisor bit");
        assert_eq!(c & (1 << 26), 0, "no XSAVE");
        let with = guest_cpuid(
            Policy {
                expose_pse: true,
                ..Policy::default()
            },
            1,
            0,
            ALL,
        );
        assert_ne!(with[3] & (1 << 3), 0);
        assert_eq!(with[3] & (1 << 13), 0, "PGE stays hidden");
    }

    #[test]
    fn structured_features_filtered() {
        let [a, b, c, d] = guest_cpuid(Policy::default(), 7, 0, ALL);
        assert_eq!((a, c, d), (0, 0, 0));
        assert_eq!(b & 1, 0, "no FSGSBASE");
        assert_eq!(b & (1 << 7), 0, "no SMEP");
        assert_eq!(guest_cpuid(Policy::default(), 7, 1, ALL), [0; 4]);
        assert_eq!(
            guest_cpuid(Policy::default(), 0x8000_0001, 0, ALL)[3] & (1 << 26),
            0
        );
    }

    #[test]
    fn other_leaves_native() {
        assert_eq!(
            guest_cpuid(Policy::default(), 0, 0, [13, 1, 2, 3]),
            [13, 1, 2, 3]
        );
        assert_eq!(guest_cpuid(Policy::default(), 0xD, 0, ALL), [0; 4]);
    }
}
