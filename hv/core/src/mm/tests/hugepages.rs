//! The rules an unmodified Linux needs to use hugetlbfs on superpages: the pseudo-pin of a
//! huge PMD's head frame (Linux's pin walker takes it for an L1), M2P updates that break an
//! extent, and the MMSTAT counters / MMCHECK teardown check.

use super::harness::*;
use crate::mm::*;

/// D1 with a pinned L2 at 16 mapping D1's enabled extent read-only with a PSE entry in slot
/// 0 (as a huge PMD after fork's write-protect), and the extent's frames filled with user data
/// crafted as valid L1 entries (each maps D1's frame 20 writable).
fn huge_mapped() -> World {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    for slot in 0..512 {
        w.poke(D1_SUPER, slot, pte(20, PW));
    }
    w
}

#[test]
fn pin_l1_of_a_huge_pmd_head_is_a_pseudo_pin_that_never_types_it() {
    let mut w = huge_mapped();
    let spage_before = w.spage(D1_SUPER);
    w.pin(D1, D1_SUPER, PageLevel::L1).unwrap();
    let f = w.frame(D1_SUPER);
    assert_eq!(
        (f.type_count(), f.is_pinned(), f.count()),
        (0, false, 2),
        "one general reference, no type, no real pin: the user data never became an L1"
    );
    assert_eq!(w.spage(D1_SUPER), spage_before, "spage state untouched");
    assert_eq!(
        w.frame(20).type_count(),
        0,
        "the crafted entries took nothing"
    );
    w.check();
    // The extent is still usable as a writable superpage (no Nosuper from a table).
    w.update(D1, 16, 1, pte(D1_SUPER, PW | PSE)).unwrap();
    // ... and the crafted frame can never be hooked in as a live L1 while it is.
    assert_eq!(
        w.update(D1, 16, 2, pte(D1_SUPER, PW)),
        Err(MmError::SpageConflict)
    );
    assert_eq!(
        w.pin(D1, D1_SUPER, PageLevel::L1),
        Err(MmError::AlreadyPinned)
    );
    w.check();
    w.unpin(D1, D1_SUPER).unwrap();
    assert_eq!(w.frame(D1_SUPER).count(), 1);
    assert_eq!(w.unpin(D1, D1_SUPER), Err(MmError::NotPinned));
    w.check();
}

#[test]
fn the_matching_unpin_works_after_the_mapping_is_gone() {
    // Linux's exit: the L4 is unpinned first (the huge PMD's references go), then the head.
    let mut w = huge_mapped();
    w.pin(D1, D1_SUPER, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, 0).unwrap();
    assert_eq!(w.spage(D1_SUPER).map_count(), 0);
    w.unpin(D1, D1_SUPER).unwrap();
    w.check();
}

#[test]
fn without_a_live_mapping_a_pin_is_a_real_pin() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    for slot in 0..512 {
        w.poke(D1_SUPER, slot, pte(20, PW));
    }
    // The head of an enabled extent nothing maps by PSE: validated as an L1 as Xen does.
    w.pin(D1, D1_SUPER, PageLevel::L1).unwrap();
    let f = w.frame(D1_SUPER);
    assert!(f.is_pinned() && f.type_count() == 1);
    // Now the extent holds a page table: no writable PSE entry over it.
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)),
        Err(MmError::SpageConflict)
    );
    w.check();
    // A frame that is not an extent's head is never pseudo-pinned either.
    w.update(D1, 16, 1, pte(D1_SUPER, P | PSE)).unwrap();
    for slot in 0..512 {
        w.poke(D1_SUPER + 1, slot, pte(20, PW));
    }
    w.pin(D1, D1_SUPER + 1, PageLevel::L1).unwrap();
    assert!(w.frame(D1_SUPER + 1).is_pinned());
    w.check();
}

#[test]
fn another_domains_huge_head_cannot_be_pseudo_pinned() {
    let mut w = huge_mapped();
    assert_eq!(w.pin(D2, D1_SUPER, PageLevel::L1), Err(MmError::NotOwner));
    assert_eq!(w.unpin(D2, D1_SUPER), Err(MmError::NotOwner));
    w.check();
}

#[test]
fn teardown_drops_pseudo_pins_and_reports_clean_books() {
    let mut w = huge_mapped();
    w.pin(D1, D1_SUPER, PageLevel::L1).unwrap();
    w.update(D1, 16, 1, pte(D1_SUPER, PW | PSE)).unwrap();
    let t = w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    assert!(t.check.ok(), "{:?}", t.check);
    assert_eq!((t.stats.pse_made, t.stats.pse_released), (2, 2));
    assert_eq!(t.stats.pse_live(), 0);
    assert_eq!(w.spage(D1_SUPER), SpageInfo::FREE);
    w.check();
}

#[test]
fn m2p_change_takes_enabled_away_from_the_extent() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    // Rewriting the same value keeps the extent.
    w.mm.m2p_updated(D1, Mfn(D1_SUPER + 3), 3, 3).unwrap();
    assert!(w.spage(D1_SUPER).is_enabled());
    // A moved frame breaks pfn↔mfn contiguity: no PSE entry over the extent any more.
    w.mm.m2p_updated(D1, Mfn(D1_SUPER + 3), 3, 0x9000).unwrap();
    assert!(!w.spage(D1_SUPER).is_enabled());
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    // Another domain's frame: refused.
    assert_eq!(
        w.mm.m2p_updated(D2, Mfn(D1_SUPER), 0, 1),
        Err(MmError::NotOwner)
    );
    w.check();
}

#[test]
fn m2p_change_under_a_live_pse_mapping_is_refused() {
    let mut w = huge_mapped();
    assert_eq!(
        w.mm.m2p_updated(D1, Mfn(D1_SUPER + 7), 7, 8),
        Err(MmError::Busy)
    );
    assert!(w.spage(D1_SUPER).is_enabled());
    w.check();
}

#[test]
fn counters_follow_pse_mappings_and_spage_type_changes() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    let base = w.mm.stats(D1).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap(); // None → Superpage
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap(); // RW → RO: same mapping remade
    w.update(D1, 16, 0, 0).unwrap();
    // A page table inside the extent: Superpage → Nosuper.
    w.pin(D1, D1_SUPER + 5, PageLevel::L1).unwrap();
    let s = w.mm.stats(D1).unwrap();
    assert_eq!(s.pse_made - base.pse_made, 2);
    assert_eq!(s.pse_released - base.pse_released, 2);
    assert_eq!(s.pse_live(), 0);
    assert_eq!(s.spage_type_changes - base.spage_type_changes, 2);
    w.mm.note_ptwr(D1, PageLevel::L2, 100);
    w.mm.note_ptwr(D1, PageLevel::L1, 10);
    w.mm.note_mmu_hypercall(D1, 7);
    let s = w.mm.stats(D1).unwrap();
    assert_eq!((s.ptwr_l1, s.ptwr_l2, s.ptwr_cycles), (1, 1, 110));
    assert_eq!(s.mmu_hc_cycles, 7);
    assert_eq!(s.splinters, 0);
    w.check();
}

#[test]
fn teardown_reports_a_leak() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    // An internal bug's trace: a reference nobody holds.
    w.mm.spage_for_test(D1_SUPER >> 9).set_counts_for_test(2, 2);
    let f = w.mm.frame_for_test(Mfn(20));
    f.set_count(f.count() + 1);
    let t = w.mm.destroy_domain(D1, &mut w.mem);
    let t = t.unwrap();
    assert_eq!(t.check.spage_nonzero, 1);
    assert_eq!(t.check.frames_leaked, 1);
    assert!(!t.check.ok());
}
