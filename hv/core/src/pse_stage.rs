//! When a PV domain sees PSE in CPUID: the staging policy of superpage domains.
//!
//! Linux 6.1 reads CPUID leaf 1 twice during boot. The first read (`early_cpu_init`, in
//! `setup_arch`) comes *before* `init_mem_mapping`: with PSE visible there, Linux builds its
//! direct map out of 2 MiB entries and later makes page-table pages inside it read-only with
//! `update_va_mapping`, which has no 4 KiB entry to change there, and BUG()s. The second read
//! (`identify_boot_cpu`, late in `start_kernel`) clears and re-reads every capability word,
//! before the hugetlbfs and THP initcalls ask `boot_cpu_has(X86_FEATURE_PSE)`.
//!
//! So a superpage domain is shown PSE only once its kernel has built its direct map. The
//! trigger is the first successful `VCPUOP_register_vcpu_info` (Linux's
//! `smp_prepare_boot_cpu`), which `start_kernel` issues after `setup_arch` (direct map done)
//! and before `arch_cpu_finalize_init` (the second read).
//!
//! ```text
//!   Never    (domain without superpages)   PSE hidden for ever
//!   Hidden ──first register_vcpu_info──▶ Visible   (domain with superpages)
//! ```
//! Fail-safe: a kernel that reads CPUID only after the trigger (or maps 2 MiB anyway) gets
//! what the page-type rules give any PSE entry: accepted only over enabled extents it owns,
//! and `update_va_mapping` under a PSE entry fails cleanly (`-EINVAL`); never a wrong frame.

/// Where a domain is in the PSE staging.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PseStage {
    /// Built without superpages: PSE is never shown.
    #[default]
    Never,
    /// Built with superpages, the kernel has not yet registered a `vcpu_info`: PSE hidden.
    Hidden,
    /// Built with superpages and past the trigger: PSE shown.
    Visible,
}

impl PseStage {
    /// The first stage of a domain built with or without superpages.
    pub fn new(superpages: bool) -> Self {
        if superpages {
            PseStage::Hidden
        } else {
            PseStage::Never
        }
    }

    /// Whether CPUID shows PSE now.
    pub fn visible(self) -> bool {
        self == PseStage::Visible
    }

    /// A `VCPUOP_register_vcpu_info` succeeded: a superpage domain sees PSE from now on.
    pub fn vcpu_info_registered(&mut self) {
        if *self == PseStage::Hidden {
            *self = PseStage::Visible;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superpage_domain_sees_pse_only_after_the_trigger() {
        let mut s = PseStage::new(true);
        assert!(!s.visible(), "hidden while the direct map is built");
        s.vcpu_info_registered();
        assert!(s.visible());
        s.vcpu_info_registered();
        assert!(s.visible(), "stays visible");
    }

    #[test]
    fn domain_without_superpages_never_sees_pse() {
        let mut s = PseStage::new(false);
        s.vcpu_info_registered();
        assert!(!s.visible());
        assert_eq!(s, PseStage::Never);
    }
}
