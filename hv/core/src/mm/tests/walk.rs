//! `update_va_mapping` and `translate`.

use super::harness::*;
use crate::mm::*;

const VA: u64 = 0x0000_7F12_3456_7000;

/// D1 with L4 16 → L3 17 → L2 18 → L1 19 for `VA`, L1 mapping VA → frame 20 (RW), pinned.
fn tree() -> World {
    let mut w = World::new();
    w.chain(16, 17, 18, 19, VA);
    w.poke(19, slot(VA, 12), pte(20, PW));
    w.pin(D1, 16, PageLevel::L4).unwrap();
    w
}

#[test]
fn update_va_mapping_updates_the_l1_slot() {
    let mut w = tree();
    w.mm.update_va_mapping(D1, Mfn(16), VA, pte(21, P), &mut w.mem)
        .unwrap();
    assert_eq!(w.frame(21).count(), 2);
    assert_eq!(w.frame(20).type_count(), 0);
    // Same rules as mmu_update: a table may not be mapped writable.
    let r =
        w.mm.update_va_mapping(D1, Mfn(16), VA, pte(19, PW), &mut w.mem);
    assert_eq!(r, Err(MmError::CannotMap));
    w.check();
}

#[test]
fn update_va_mapping_refuses_bad_addresses() {
    let mut w = tree();
    let mem = &mut w.mem;
    for va in [
        0x0000_8000_0000_0000,
        0xFFFF_8000_0000_0000,
        0xFFFF_87FF_FFFF_F000,
        1 << 63,
    ] {
        let e = w.mm.update_va_mapping(D1, Mfn(16), va, 0, mem).unwrap_err();
        assert_eq!((e, e.errno()), (MmError::BadAddress, -22), "va {va:#x}");
    }
    // Absent L4 / L3 / L2 entries.
    for va in [0x1000, VA ^ (1 << 30), VA ^ (1 << 21)] {
        let r = w.mm.update_va_mapping(D1, Mfn(16), va, 0, mem);
        assert_eq!(r, Err(MmError::BadAddress), "va {va:#x}");
    }
    // The root must be a live L4 of the domain.
    assert_eq!(
        w.mm.update_va_mapping(D1, Mfn(17), VA, 0, mem),
        Err(MmError::Invalid)
    );
    assert_eq!(
        w.mm.update_va_mapping(D2, Mfn(16), VA, 0, mem),
        Err(MmError::NotOwner)
    );
    w.check();
}

#[test]
fn update_va_mapping_refuses_superpage_mapped_addresses() {
    let mut w = tree();
    let va = VA ^ (1 << 21);
    w.update(D1, 18, slot(va, 21), pte(D1_SUPER, PW | PSE))
        .unwrap();
    let r =
        w.mm.update_va_mapping(D1, Mfn(16), va, pte(21, P), &mut w.mem);
    assert_eq!(r, Err(MmError::BadAddress));
    w.check();
}

#[test]
fn translate_walks_and_checks_rights() {
    let mut w = tree();
    let maddr = w.mm.translate(Mfn(16), VA + 0x123, true, &w.mem).unwrap();
    assert_eq!(maddr, (20 << 12) + 0x123);
    w.update(D1, 19, slot(VA, 12), pte(20, P)).unwrap();
    assert_eq!(
        w.mm.translate(Mfn(16), VA, true, &w.mem),
        Err(MmError::NotMapped)
    );
    assert_eq!(w.mm.translate(Mfn(16), VA, false, &w.mem), Ok(20 << 12));
    assert_eq!(
        w.mm.translate(Mfn(16), 0x1000, false, &w.mem),
        Err(MmError::NotMapped)
    );
    let e =
        w.mm.translate(Mfn(16), 0xFFFF_8000_0000_1000, false, &w.mem)
            .unwrap_err();
    assert_eq!(e, MmError::BadAddress);
    assert_eq!(
        w.mm.translate(Mfn(19), VA, false, &w.mem),
        Err(MmError::Invalid)
    );
    // Read-only intermediate level: no writes through it.
    w.update(D1, 17, slot(VA, 30), pte(18, P)).unwrap();
    w.update(D1, 19, slot(VA, 12), pte(20, PW)).unwrap();
    assert_eq!(
        w.mm.translate(Mfn(16), VA, true, &w.mem),
        Err(MmError::NotMapped)
    );
    w.check();
}

#[test]
fn translate_refuses_a_1g_entry_even_if_one_were_present() {
    let mut w = tree();
    // Not creatable through the rules; written behind the memory manager's back to test
    // the walk's own check.
    w.poke(17, slot(VA, 30), pte(0x4_0000, PW | PSE));
    assert_eq!(
        w.mm.translate(Mfn(16), VA, false, &w.mem),
        Err(MmError::NotMapped)
    );
}

#[test]
fn translate_through_a_linear_self_map_reads_the_tables() {
    let mut w = tree();
    // L4 slot 300 maps the L4 itself read-only; the walk then lands on page tables.
    w.update(D1, 16, 300, pte(16, P)).unwrap();
    let va = 0xFFFF_0000_0000_0000 | (300 << 39) | (300 << 30) | (300 << 21) | (300 << 12);
    assert_eq!(w.mm.translate(Mfn(16), va, false, &w.mem), Ok(16 << 12));
    assert_eq!(
        w.mm.translate(Mfn(16), va, true, &w.mem),
        Err(MmError::NotMapped)
    );
    w.check();
}

#[test]
fn translate_cannot_reach_hypervisor_slots_through_a_linear_self_map() {
    let mut w = tree();
    w.update(D1, 16, 300, pte(16, P)).unwrap();
    // L4[300] → the L4 itself read as an L3; index 262 is a hypervisor slot (no USER).
    let va = 0xFFFF_0000_0000_0000 | (300 << 39) | (262 << 30);
    assert_eq!(
        w.mm.translate(Mfn(16), va, false, &w.mem),
        Err(MmError::NotMapped)
    );
    // A kernel-only entry (written without USER) is still translatable: USER is forced.
    assert_eq!(w.peek(19, slot(VA, 12)) & USER, USER);
    w.check();
}

#[test]
fn copy_through_mmu_needs_guest_slots_a_live_root_and_no_pending_flush() {
    let mut w = tree();
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), VA, 4096));
    assert!(w
        .mm
        .copy_through_mmu_ok(Mfn(16), 0x0000_7FFF_FFFF_F000, 4096));
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), 0xFFFF_8800_0000_0000, 8));
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), 0xFFFF_FFFF_FFFF_FFF0, 8));
    for (va, len) in [
        // Crossing the end of the lower half, or inside / into the hypervisor's slots.
        (0x0000_7FFF_FFFF_FFF8, 9),
        (0x0000_8000_0000_0000, 8),
        (0xFFFF_8000_0000_0000, 8),
        (0xFFFF_87FF_FFFF_FFF8, 8),
        (0xFFFF_87FF_FFFF_FFFF, 2),
        (1 << 63, 1),
        // Wrapping around the top.
        (0xFFFF_FFFF_FFFF_FFF8, 9),
        (u64::MAX, u64::MAX),
    ] {
        assert!(
            !w.mm.copy_through_mmu_ok(Mfn(16), va, len),
            "va {va:#x} len {len}"
        );
    }
    // Not a live L4.
    assert!(!w.mm.copy_through_mmu_ok(Mfn(19), VA, 8));
    assert!(!w.mm.copy_through_mmu_ok(Mfn(u64::MAX), VA, 8));
    // A pending flush: a stale translation could still be cached.
    let _ = w.mm.take_flush_needed();
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    w.pin(D1, 21, PageLevel::L1).unwrap(); // frame 21 was never typed: no flush
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    w.unpin(D1, 21).unwrap();
    w.pin(D1, 21, PageLevel::L2).unwrap(); // L1 → L2: its old translations may be cached
    assert!(!w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    assert!(w.mm.take_flush_needed());
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    w.check();
}

#[test]
fn copy_through_mmu_is_refused_for_good_once_an_l4_linear_entry_was_made() {
    let mut w = tree();
    // A linear entry of a lower level reaches only guest entries: still allowed.
    w.update(D1, 18, 7, pte(18, P)).unwrap();
    assert!(w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    // An L4 self-map lets a guest address reach the hypervisor's L4 entries.
    w.update(D1, 16, 300, pte(16, P)).unwrap();
    assert!(!w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    w.update(D1, 16, 300, 0).unwrap();
    assert!(!w.mm.copy_through_mmu_ok(Mfn(16), VA, 8));
    w.check();
}
