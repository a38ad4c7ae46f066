//! The debug registers a 64-bit PV guest sets with `set_debugreg` (Xen's `set_debugreg`
//! checks for a PV vCPU whose virtual CR4.DE is clear).
//!
//! ```text
//!  reg  meaning                 accepted value
//!  0-3  breakpoint address      canonical, outside the hypervisor's range (else EPERM)
//!  4,6  status (4 aliases 6)    upper 32 bits zero (else EINVAL); bits 4-11,16-31 forced
//!                               to 1, bit 12 to 0
//!  5,7  control (5 aliases 7)   upper 32 bits zero (EINVAL); no I/O breakpoints (R/W = 10,
//!                               which needs CR4.DE) (EPERM); bits 11,12,14,15 forced to 0,
//!                               bit 10 to 1
//!  8+   -                       EINVAL
//! ```

use pv_abi::errno::{EINVAL, EPERM};

use crate::mm::pte::is_guest_range;

/// DR6 bits that always read as 1 (no RTM or bus-lock detection for guests).
const DR6_ONES: u64 = 0xFFFF_0FF0;
/// DR6 bits that always read as 0.
const DR6_ZEROS: u64 = 0x1000;
/// DR7 bits that always read as 0 (bit 11 is RTM, hidden from guests).
const DR7_ZEROS: u64 = 0xD800;
/// DR7 bits that always read as 1.
const DR7_ONES: u64 = 0x400;

/// Checks `set_debugreg(reg, value)`: `Ok((index, value))` with the register index to store
/// (0-3, 6 or 7) and the value after Xen's fixups, or `Err(errno)` (positive).
pub fn check_set(reg: u64, value: u64) -> Result<(usize, u64), i32> {
    match reg {
        0..=3 => {
            if !is_guest_range(value, 1) {
                return Err(EPERM);
            }
            Ok((reg as usize, value))
        }
        4 | 6 => {
            if value >> 32 != 0 {
                return Err(EINVAL);
            }
            Ok((6, (value | DR6_ONES) & !DR6_ZEROS))
        }
        5 | 7 => {
            if value >> 32 != 0 {
                return Err(EINVAL);
            }
            // R/W fields at bits 16, 20, 24, 28: 0b10 is an I/O breakpoint.
            if (0..4).any(|i| (value >> (16 + 4 * i)) & 3 == 2) {
                return Err(EPERM);
            }
            Ok((7, (value & !DR7_ZEROS) | DR7_ONES))
        }
        _ => Err(EINVAL),
    }
}

/// The register index `get_debugreg(reg)` reads (4 and 5 alias 6 and 7), or `Err(EINVAL)`.
pub fn check_get(reg: u64) -> Result<usize, i32> {
    match reg {
        0..=3 | 6 | 7 => Ok(reg as usize),
        4 => Ok(6),
        5 => Ok(7),
        _ => Err(EINVAL),
    }
}

/// DR7's L0-L3/G0-G3 enable bits: any set means the vCPU's breakpoints must be in the CPU
/// while it runs (Xen's `DR7_ACTIVE_MASK`).
pub const DR7_ACTIVE_MASK: u64 = 0xFF;
/// DR7.GD (general detect): a `mov` to or from any debug register would raise #DB.
const DR7_GENERAL_DETECT: u64 = 1 << 13;

/// Whether `dr7` enables a breakpoint, so the registers are loaded when the vCPU runs.
pub fn is_active(dr7: u64) -> bool {
    dr7 & DR7_ACTIVE_MASK != 0
}

/// The DR7 value put into the CPU for a guest's `dr7`: the same, without GD, which would make
/// the hypervisor's own debug register accesses fault. (The guest's breakpoint addresses are
/// all guest addresses — [`check_set`] — so nothing in the hypervisor can match them.)
pub fn hardware_dr7(dr7: u64) -> u64 {
    dr7 & !DR7_GENERAL_DETECT
}

/// The guest's DR6 after the CPU reported `hit` (its DR6 at a #DB, whose bits that differ
/// from the default value are the news): sticky bits set in `hit` are set, bits the CPU
/// cleared (such as RTM) are cleared — Xen's `do_debug`.
pub fn merge_dr6(guest: u64, hit: u64) -> u64 {
    (guest | (hit & !DR6_ONES)) & (hit | !DR6_ONES)
}

/// DR6's value after reset and after the hypervisor consumes a #DB (Xen's `X86_DR6_DEFAULT`).
pub const DR6_DEFAULT: u64 = DR6_ONES;

/// The values a vCPU starts with (DR6 and DR7 at their reset values).
pub const INITIAL: [u64; 8] = [0, 0, 0, 0, 0, 0, DR6_ONES, DR7_ONES];

#[cfg(test)]
mod tests {
    use super::*;
    use pv_abi::arch_x86::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};

    #[test]
    fn breakpoint_addresses_must_be_guest_addresses() {
        assert_eq!(check_set(0, 0x40_0000), Ok((0, 0x40_0000)));
        assert_eq!(
            check_set(3, 0xffff_ffff_8100_0000),
            Ok((3, 0xffff_ffff_8100_0000))
        );
        assert_eq!(check_set(1, HYPERVISOR_VIRT_START), Err(EPERM));
        assert_eq!(check_set(2, HYPERVISOR_VIRT_END - 8), Err(EPERM));
        assert_eq!(check_set(2, 0x8000_0000_0000), Err(EPERM), "non-canonical");
    }

    #[test]
    fn status_and_control_fixups() {
        assert_eq!(check_set(6, 0), Ok((6, 0xFFFF_0FF0)));
        assert_eq!(check_set(4, 0x1001), Ok((6, 0xFFFF_0FF1)), "4 aliases 6");
        assert_eq!(check_set(6, 1 << 32), Err(EINVAL));
        assert_eq!(check_set(7, 0), Ok((7, 0x400)));
        assert_eq!(check_set(7, 0x1_0000_0003 & 0xFFFF_FFFF), Ok((7, 0x403)));
        assert_eq!(check_set(5, 0xD803), Ok((7, 0x403)), "5 aliases 7");
        assert_eq!(check_set(7, 1 << 40), Err(EINVAL));
    }

    #[test]
    fn io_breakpoints_are_refused() {
        // Linux's hw_breakpoint never asks for them; R/W = 10 in slot 2.
        assert_eq!(check_set(7, (2 << 24) | (1 << 4)), Err(EPERM));
        // Write (01) and read/write (11) watchpoints are fine.
        assert!(check_set(7, (1 << 16) | (3 << 20) | 0xF).is_ok());
    }

    #[test]
    fn activity_and_hardware_dr7() {
        assert!(!is_active(0x400));
        assert!(is_active(0x401), "L0");
        assert!(is_active(0x480), "G3");
        assert_eq!(hardware_dr7(0x2401), 0x401, "GD never reaches the CPU");
    }

    #[test]
    fn dr6_merge() {
        // A hit on breakpoint 1 with single-step (BS): B1 and BS appear, B0 stays.
        let guest = DR6_ONES | 1;
        let hit = DR6_ONES | 2 | (1 << 14);
        assert_eq!(merge_dr6(guest, hit), DR6_ONES | 3 | (1 << 14));
        // Nothing new: unchanged.
        assert_eq!(merge_dr6(guest, DR6_ONES), guest);
        // RTM (bit 16) cleared by the CPU is cleared for the guest too.
        assert_eq!(
            merge_dr6(DR6_ONES, DR6_ONES & !(1 << 16)),
            DR6_ONES & !(1 << 16)
        );
    }

    #[test]
    fn other_registers() {
        assert_eq!(check_set(8, 0), Err(EINVAL));
        assert_eq!(check_get(4), Ok(6));
        assert_eq!(check_get(5), Ok(7));
        assert_eq!(check_get(9), Err(EINVAL));
    }
}
