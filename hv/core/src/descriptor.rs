//! Segment descriptors a 64-bit PV guest may put in its GDT and LDT (Xen's `check_descriptor`
//! for 64-bit guests), and which selectors the hypervisor may load for it.
//!
//! ```text
//!  descriptor (8 bytes; the high dword is Xen's `b`, the low one `a`)
//!  63      56 55 54 53 52 51  48 47 46 45 44 43  40 39      32
//!  base 31:24  G  D  L  AVL limit P  DPL  S  type   base 23:16
//!  31                            16 15                       0
//!  base 15:0 (gate: target selector)  limit 15:0 (gate: offset 15:0)
//! ```
//!
//! Rules (64-bit PV, guest kernel in ring 3, so `GUEST_KERNEL_RPL` is 3):
//! - not present: accepted as is (it always faults);
//! - DPL below 3 is raised to 3 (the guest kernel runs in ring 3);
//! - code and data segments (S = 1): accepted, no base/limit check (64-bit mode ignores them);
//! - type 0 (the upper half of a 16-byte call gate): accepted;
//! - a 64-bit call gate (type 0xC) whose target is a guest selector (below the reserved
//!   entries, or an LDT one) or the flat kernel code selector 0xe033: accepted with its DPL
//!   forced to 0 (any use faults, so it can be emulated) and the original DPL kept in the
//!   target selector's RPL; its reserved bits 32..40 must be zero;
//! - every other system descriptor (LDT, TSS, interrupt and trap gates): refused.

/// First GDT entry the hypervisor reserves (Xen's `FIRST_RESERVED_GDT_ENTRY`): the guest's GDT
/// has at most this many entries (14 pages).
pub const FIRST_RESERVED_GDT_ENTRY: u32 = 14 * 512;

/// Most entries an LDT can have.
pub const MAX_LDT_ENTRIES: u32 = 8192;

/// The flat 64-bit kernel code selector (`FLAT_KERNEL_CS64`).
const FLAT_KERNEL_CS: u16 = 0xe033;

const PRESENT: u64 = 1 << 47;
const DPL_SHIFT: u32 = 45;
const DPL: u64 = 3 << DPL_SHIFT;
const CODE_OR_DATA: u64 = 1 << 44;
const TYPE_SHIFT: u32 = 40;
const TYPE: u64 = 0xF << TYPE_SHIFT;
const LONG_MODE: u64 = 1 << 53;
const DEFAULT_32: u64 = 1 << 54;
const GRANULARITY: u64 = 1 << 55;
const CALL_GATE_64: u64 = 0xC;
/// Type bit 3 for code/data: executable.
const EXECUTABLE: u64 = 8;
/// Type bit 2 for code: conforming.
const CONFORMING: u64 = 4;
/// Type bit 1: readable (code) / writable (data).
const READ_WRITE: u64 = 2;

/// Returns the descriptor the guest may have in place of `raw`, or `None` if it is refused.
/// The result differs from `raw` only by Xen's fixups (DPL, call-gate selector).
pub fn check_descriptor(raw: u64) -> Option<u64> {
    if raw & PRESENT == 0 {
        return Some(raw);
    }
    let dpl = ((raw & DPL) >> DPL_SHIFT).max(3);
    let d = (raw & !DPL) | (dpl << DPL_SHIFT);
    if d & CODE_OR_DATA != 0 {
        return Some(d);
    }
    let ty = (d & TYPE) >> TYPE_SHIFT;
    if ty == 0 {
        return Some(d);
    }
    if ty != CALL_GATE_64 {
        return None;
    }
    let cs = (d >> 16) as u16;
    if !gate_selector_ok(cs) {
        return None;
    }
    // Reserved bits 32..40 (IST and zero bits of a gate).
    if d & (0xFF << 32) != 0 {
        return None;
    }
    let cs = (cs & !3) | dpl as u16;
    Some((d & !DPL & !(0xFFFF << 16)) | (u64::from(cs) << 16))
}

/// Xen's `guest_gate_selector_okay` for 64-bit guests.
fn gate_selector_ok(sel: u16) -> bool {
    u32::from(sel >> 3) < FIRST_RESERVED_GDT_ENTRY || sel == FLAT_KERNEL_CS || sel & 4 != 0
}

/// How a selector is about to be loaded for guest user or kernel code (all ring 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorUse {
    /// CS of an `iretq` to ring 3: present code, DPL 3 (or conforming).
    Code,
    /// SS of an `iretq` to ring 3: present writable data, DPL 3.
    Stack,
    /// DS/ES/FS/GS loaded by the hypervisor at ring 0 with RPL 3: present data or readable
    /// code, DPL 3 (or conforming code).
    Data,
}

/// Whether the CPU can load a selector with RPL 3 whose descriptor is `desc` for `usage`
/// without faulting (a check the hypervisor makes before `iretq` or `mov %gs`, so a bad
/// guest selector never faults inside the hypervisor).
pub fn loadable_at_rpl3(desc: u64, usage: SelectorUse) -> bool {
    if desc & PRESENT == 0 || desc & CODE_OR_DATA == 0 {
        return false;
    }
    let dpl = (desc & DPL) >> DPL_SHIFT;
    let ty = (desc & TYPE) >> TYPE_SHIFT;
    let code = ty & EXECUTABLE != 0;
    let conforming = code && ty & CONFORMING != 0;
    match usage {
        SelectorUse::Code => code && (dpl == 3 || conforming),
        SelectorUse::Stack => !code && ty & READ_WRITE != 0 && dpl == 3,
        SelectorUse::Data => (!code || ty & READ_WRITE != 0) && (dpl == 3 || conforming),
    }
}

/// Whether a code descriptor is a 64-bit one (L set).
pub fn is_long_mode_code(desc: u64) -> bool {
    desc & LONG_MODE != 0
}

/// Whether `rip` can run in code segment `desc`: a 64-bit segment (L without D, which is
/// reserved) has no limit; otherwise `rip` must be within the limit (scaled by G).
pub fn rip_in_code_segment(desc: u64, rip: u64) -> bool {
    if desc & LONG_MODE != 0 {
        return desc & DEFAULT_32 == 0;
    }
    let mut limit = (desc & 0xFFFF) | ((desc >> 32) & 0xF_0000);
    if desc & GRANULARITY != 0 {
        limit = (limit << 12) | 0xFFF;
    }
    rip <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's 64-bit GDT entries (asm/segment.h, GDT_ENTRY_INIT).
    const KERNEL32_CS: u64 = 0x00cf_9b00_0000_ffff;
    const KERNEL_CS: u64 = 0x00af_9b00_0000_ffff;
    const KERNEL_DS: u64 = 0x00cf_9300_0000_ffff;
    const USER32_CS: u64 = 0x00cf_fb00_0000_ffff;
    const USER_DS: u64 = 0x00cf_f300_0000_ffff;
    const USER_CS: u64 = 0x00af_fb00_0000_ffff;

    fn dpl(d: u64) -> u64 {
        (d >> 45) & 3
    }

    #[test]
    fn linux_user_segments_pass_unchanged() {
        for d in [USER32_CS, USER_DS, USER_CS, 0] {
            assert_eq!(check_descriptor(d), Some(d));
        }
    }

    #[test]
    fn kernel_segments_get_dpl_3() {
        for d in [KERNEL32_CS, KERNEL_CS, KERNEL_DS] {
            let fixed = check_descriptor(d).unwrap();
            assert_eq!(dpl(fixed), 3);
            assert_eq!(fixed & !DPL, d & !DPL);
        }
    }

    #[test]
    fn not_present_descriptors_are_kept_verbatim() {
        // A not-present TSS with DPL 0: the CPU faults on any use.
        let d = 0x0000_0900_0000_0067u64;
        assert_eq!(check_descriptor(d), Some(d));
    }

    #[test]
    fn system_descriptors_other_than_call_gates_are_refused() {
        for ty in [0x2u64, 0x9, 0xB, 0xE, 0xF] {
            let d = PRESENT | (3 << DPL_SHIFT) | (ty << TYPE_SHIFT);
            assert_eq!(check_descriptor(d), None, "type {ty:#x}");
        }
    }

    #[test]
    fn upper_half_of_a_gate_is_accepted() {
        let d = PRESENT | (3 << DPL_SHIFT);
        assert_eq!(check_descriptor(d), Some(d));
    }

    fn gate(sel: u16, dpl: u64) -> u64 {
        PRESENT
            | (dpl << DPL_SHIFT)
            | (CALL_GATE_64 << TYPE_SHIFT)
            | (u64::from(sel) << 16)
            | 0x1234
    }

    #[test]
    fn call_gates_to_guest_selectors_get_dpl_0_and_keep_dpl_in_rpl() {
        let fixed = check_descriptor(gate(0x33, 3)).unwrap();
        assert_eq!(dpl(fixed), 0);
        assert_eq!((fixed >> 16) as u16, 0x33);
        let fixed = check_descriptor(gate(0x10, 0)).unwrap();
        assert_eq!(dpl(fixed), 0);
        assert_eq!(
            (fixed >> 16) as u16,
            0x13,
            "DPL 0 raised to 3 then kept in the RPL"
        );
        assert!(check_descriptor(gate(FLAT_KERNEL_CS, 3)).is_some());
        assert!(check_descriptor(gate(0xe00c, 3)).is_some(), "LDT selector");
    }

    #[test]
    fn call_gates_to_hypervisor_selectors_are_refused() {
        for sel in [0xe008u16, 0xe010, 0xe018, 0xe023, 0xe040] {
            assert_eq!(check_descriptor(gate(sel, 3)), None, "{sel:#x}");
        }
    }

    #[test]
    fn call_gates_with_reserved_bits_are_refused() {
        assert_eq!(check_descriptor(gate(0x33, 3) | (1 << 32)), None);
    }

    #[test]
    fn every_accepted_descriptor_is_harmless() {
        // Exhaustive over the type/S/DPL/P byte, with a few selector and reserved-bit patterns.
        for access in 0u64..256 {
            for extra in [0u64, 0xe008 << 16, 0x33 << 16, 0xFF << 32, 1 << 53] {
                let raw = (access << 40) | extra | 0xFFFF;
                let Some(d) = check_descriptor(raw) else {
                    continue;
                };
                if d & PRESENT == 0 {
                    continue;
                }
                let sys_ty = (d & TYPE) >> TYPE_SHIFT;
                if d & CODE_OR_DATA != 0 {
                    assert_eq!(dpl(d), 3, "{raw:#x}");
                } else {
                    assert!(sys_ty == 0 || sys_ty == CALL_GATE_64, "{raw:#x}");
                    if sys_ty == CALL_GATE_64 {
                        assert_eq!(dpl(d), 0, "{raw:#x}");
                        assert!(gate_selector_ok((d >> 16) as u16));
                    }
                }
                assert_eq!(check_descriptor(d), Some(d), "fixups are idempotent");
            }
        }
    }

    #[test]
    fn loadable_selectors() {
        use SelectorUse::*;
        assert!(loadable_at_rpl3(USER_CS, Code));
        assert!(loadable_at_rpl3(USER32_CS, Code));
        assert!(!loadable_at_rpl3(USER_DS, Code));
        assert!(loadable_at_rpl3(USER_DS, Stack));
        assert!(!loadable_at_rpl3(USER_CS, Stack));
        assert!(loadable_at_rpl3(USER_DS, Data));
        assert!(loadable_at_rpl3(USER_CS, Data), "readable code");
        assert!(!loadable_at_rpl3(KERNEL_CS, Code), "DPL 0");
        assert!(!loadable_at_rpl3(KERNEL_DS, Data), "DPL 0");
        assert!(!loadable_at_rpl3(0, Data), "not present");
        assert!(
            !loadable_at_rpl3(gate(0x33, 3), Code),
            "gates are not segments"
        );
        let conforming_dpl0 = 0x00af_9f00_0000_ffffu64;
        assert!(loadable_at_rpl3(conforming_dpl0, Code));
        let read_only_data = 0x00cf_f100_0000_ffffu64;
        assert!(!loadable_at_rpl3(read_only_data, Stack));
        assert!(loadable_at_rpl3(read_only_data, Data));
        assert!(is_long_mode_code(USER_CS) && !is_long_mode_code(USER32_CS));
    }

    #[test]
    fn rip_limits() {
        assert!(rip_in_code_segment(USER_CS, 0xffff_ffff_8000_0000));
        assert!(rip_in_code_segment(USER32_CS, 0xffff_ffff));
        assert!(!rip_in_code_segment(USER32_CS, 0x1_0000_0000));
        let small = 0x0040_fb00_0000_0fffu64; // byte granular, limit 0xfff
        assert!(rip_in_code_segment(small, 0xfff));
        assert!(!rip_in_code_segment(small, 0x1000));
        assert!(
            !rip_in_code_segment(USER_CS | DEFAULT_32, 0),
            "L with D is reserved"
        );
    }
}
