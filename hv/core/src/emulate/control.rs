//! What a PV guest kernel sees and may change of the control registers, and whether it may do
//! port I/O — Xen's rules (`pv/emul-priv-op.c` `read_cr`/`write_cr`, `pv_fixup_guest_cr4`,
//! `iopl_ok`/`guest_io_okay`/`admin_io_okay`).
//!
//! ```text
//!  CR0 read : real CR0 with TS replaced by the vCPU's virtual TS (fpu_taskswitch)
//!  CR0 write: only TS may differ from the real CR0 → fpu_taskswitch(TS); else #GP
//!  CR4 read : (real CR4 ∩ {PAE MCE OSFXSR OSXMMEXCPT}) ∪ (guest's own ∩ {TSD DE FSGSBASE OSXSAVE})
//!  CR4 write: never faults; keeps only the guest-controllable bits the CPUID policy offers
//!  port I/O : allowed iff the vCPU's iopl ≥ its virtual CPL (kernel 1, or 0 with
//!             VMASST_architectural_iopl; user 3); then, with no ports granted to the
//!             domain, reads give all ones and writes are dropped — except the PIT's
//!             channel 2 and gate (0x42, 0x43, 0x61), emulated in `pit`. Otherwise #GP.
//! ```

/// CR0.TS.
pub const CR0_TS: u64 = 1 << 3;

/// CR4.TSD (rdtsc is privileged).
pub const CR4_TSD: u64 = 1 << 2;
/// CR4.DE (debugging extensions).
pub const CR4_DE: u64 = 1 << 3;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.MCE.
pub const CR4_MCE: u64 = 1 << 6;
/// CR4.OSFXSR.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// CR4.FSGSBASE.
pub const CR4_FSGSBASE: u64 = 1 << 16;
/// CR4.OSXSAVE.
pub const CR4_OSXSAVE: u64 = 1 << 18;

/// Bits of the real CR4 a PV guest sees (Xen's `PV_CR4_GUEST_VISIBLE_MASK`).
pub const CR4_GUEST_VISIBLE: u64 = CR4_PAE | CR4_MCE | CR4_OSFXSR | CR4_OSXMMEXCPT;
/// Bits a PV guest controls itself (Xen's `PV_CR4_GUEST_MASK`).
pub const CR4_GUEST_CONTROLLED: u64 = CR4_TSD | CR4_DE | CR4_FSGSBASE | CR4_OSXSAVE;

/// The CPUID features that decide which guest-controlled CR4 bits a write may set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cr4Policy {
    /// CPUID.1:EDX.TSC offered.
    pub tsc: bool,
    /// CPUID.1:EDX.DE offered.
    pub de: bool,
    /// CPUID.7:EBX.FSGSBASE offered.
    pub fsgsbase: bool,
    /// CPUID.1:ECX.XSAVE offered.
    pub xsave: bool,
}

/// Per-vCPU state of the emulated privileged instructions (Xen's `arch.pv.ctrlreg[4]` and
/// `arch.pv.iopl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PvControl {
    /// The guest-controlled CR4 bits it last wrote (a subset of [`CR4_GUEST_CONTROLLED`]).
    pub cr4_guest: u64,
    /// I/O privilege level set with `physdev_op(SET_IOPL)`, 0..=3.
    pub iopl: u8,
}

/// The CR0 a PV guest reads: the real one with TS replaced by the virtual TS.
pub fn guest_cr0(real_cr0: u64, virtual_ts: bool) -> u64 {
    (real_cr0 & !CR0_TS) | if virtual_ts { CR0_TS } else { 0 }
}

/// A CR0 write: `Some(ts)` (the new virtual TS) if only TS differs from the real CR0,
/// `None` (→ #GP) otherwise.
pub fn cr0_write(real_cr0: u64, value: u64) -> Option<bool> {
    ((real_cr0 ^ value) & !CR0_TS == 0).then_some(value & CR0_TS != 0)
}

/// The CR4 a PV guest reads.
pub fn guest_cr4(real_cr4: u64, control: &PvControl) -> u64 {
    (real_cr4 & CR4_GUEST_VISIBLE) | (control.cr4_guest & CR4_GUEST_CONTROLLED)
}

/// A CR4 write: the guest-controlled bits to keep (bits the policy does not offer, and every
/// other bit, are silently discarded — the write never faults, as in Xen).
pub fn cr4_write(value: u64, policy: Cr4Policy) -> u64 {
    let mut refused = 0;
    for (offered, bit) in [
        (policy.tsc, CR4_TSD),
        (policy.de, CR4_DE),
        (policy.fsgsbase, CR4_FSGSBASE),
        (policy.xsave, CR4_OSXSAVE),
    ] {
        if !offered {
            refused |= bit;
        }
    }
    value & CR4_GUEST_CONTROLLED & !refused
}

/// Whether the vCPU may do port I/O at all (Xen's `iopl_ok`; we have no I/O bitmap).
pub fn io_allowed(kernel_mode: bool, control: &PvControl, architectural_iopl: bool) -> bool {
    let cpl = match (kernel_mode, architectural_iopl) {
        (true, true) => 0,
        (true, false) => 1,
        (false, _) => 3,
    };
    cpl <= control.iopl
}

/// What an allowed `in` of `size` bytes returns from a port that is neither granted nor
/// emulated: all ones.
pub fn unbacked_port_read(size: u8) -> u64 {
    super::regs::size_mask(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr0_shows_virtual_ts_and_accepts_only_ts_changes() {
        let real = 0x8005_003B; // PG WP NE ET TS MP PE
        assert_eq!(guest_cr0(real, false), real & !CR0_TS);
        assert_eq!(guest_cr0(real & !CR0_TS, true), real);
        assert_eq!(cr0_write(real, real & !CR0_TS), Some(false));
        assert_eq!(cr0_write(real & !CR0_TS, real), Some(true));
        assert_eq!(cr0_write(real, real & !(1 << 16)), None, "clearing WP");
        assert_eq!(cr0_write(real, real | (1 << 30)), None, "setting CD");
    }

    #[test]
    fn cr4_hides_host_bits_and_keeps_only_offered_guest_bits() {
        let real = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (1 << 7) | (1 << 20) | (1 << 13);
        let mut c = PvControl::default();
        assert_eq!(guest_cr4(real, &c), CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
        let policy = Cr4Policy {
            tsc: true,
            de: true,
            fsgsbase: false,
            xsave: false,
        };
        // Linux's xen_write_cr4: PGE/PSE/PCE stripped, the rest written back.
        c.cr4_guest = cr4_write(real | CR4_DE | CR4_FSGSBASE | CR4_OSXSAVE, policy);
        assert_eq!(c.cr4_guest, CR4_DE);
        assert_eq!(
            guest_cr4(real, &c),
            CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_DE
        );
    }

    #[test]
    fn io_needs_iopl_at_least_the_virtual_cpl() {
        let none = PvControl::default();
        let one = PvControl {
            iopl: 1,
            ..PvControl::default()
        };
        let three = PvControl {
            iopl: 3,
            ..PvControl::default()
        };
        assert!(!io_allowed(true, &none, false));
        assert!(
            io_allowed(true, &none, true),
            "architectural iopl: kernel is CPL 0"
        );
        assert!(io_allowed(true, &one, false));
        assert!(!io_allowed(false, &one, false), "user mode is CPL 3");
        assert!(io_allowed(false, &three, false));
        assert_eq!(unbacked_port_read(1), 0xFF);
        assert_eq!(unbacked_port_read(2), 0xFFFF);
        assert_eq!(unbacked_port_read(4), 0xFFFF_FFFF);
    }
}
