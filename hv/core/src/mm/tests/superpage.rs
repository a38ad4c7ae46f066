//! 2 MiB PSE entries and the spage table.

use super::harness::*;
use crate::mm::*;

/// D1 with a pinned L2 at frame 16.
fn with_l2() -> World {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w
}

#[test]
fn writable_superpage_takes_one_spage_reference_and_touches_no_frame() {
    let mut w = with_l2();
    let before: alloc::vec::Vec<_> = (D1_SUPER..D1_SUPER + 512).map(|m| w.frame(m)).collect();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    let after: alloc::vec::Vec<_> = (D1_SUPER..D1_SUPER + 512).map(|m| w.frame(m)).collect();
    assert_eq!(before, after, "the PSE path must not touch per-frame state");
    let s = w.spage(D1_SUPER);
    assert_eq!(
        (s.spage_type(), s.type_count(), s.map_count()),
        (SpageType::Superpage, 1, 1)
    );
    assert_eq!(w.peek(16, 0), pte(D1_SUPER, PW | PSE | PDE_ADJ));
    w.check();

    w.update(D1, 16, 0, 0).unwrap();
    let s = w.spage(D1_SUPER);
    assert_eq!((s.type_count(), s.map_count()), (0, 0));
    w.check();
}

#[test]
fn read_only_superpage_only_counts_a_mapping() {
    let mut w = with_l2();
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    w.update(D1, 16, 1, pte(D1_SUPER, P | PSE)).unwrap();
    let s = w.spage(D1_SUPER);
    assert_eq!((s.type_count(), s.map_count()), (0, 2));
    w.check();
}

#[test]
fn pse_from_a_domain_without_superpages_is_a_bad_flag() {
    let mut w = World::new();
    w.pin(D2, 64, PageLevel::L2).unwrap();
    let e = w.update(D2, 64, 0, pte(D2_SUPER, P | PSE)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::BadFlags, -22));
    // ... even over an enabled extent it owns, and during validation too.
    w.poke(65, 0, pte(D2_SUPER, P | PSE));
    assert_eq!(w.pin(D2, 65, PageLevel::L2), Err(MmError::BadFlags));
    w.check();
}

#[test]
fn misaligned_superpage_is_refused() {
    let mut w = with_l2();
    let e = w.update(D1, 16, 0, pte(D1_SUPER + 1, P | PSE)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::SuperpageDenied, -22));
    assert_eq!(w.spage(D1_SUPER).map_count(), 0);
}

#[test]
fn superpage_over_a_non_enabled_extent_is_refused() {
    let mut w = with_l2();
    // Extent 0 holds D1 frames 16..48 assigned one by one: never enabled.
    assert_eq!(
        w.update(D1, 16, 0, pte(0, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    // A free extent is not enabled either.
    assert_eq!(
        w.update(D1, 16, 0, pte(2048, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    w.check();
}

#[test]
fn superpage_over_a_foreign_extent_is_refused() {
    let mut w = with_l2();
    assert_eq!(
        w.update(D1, 16, 0, pte(D2_SUPER, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    assert_eq!(w.spage(D2_SUPER).map_count(), 0);
    w.check();
}

#[test]
fn superpage_beyond_the_frame_table_is_refused() {
    let mut w = with_l2();
    assert_eq!(
        w.update(D1, 16, 0, pte(MAX_MFN, P | PSE)),
        Err(MmError::BadFrame)
    );
    let huge = ADDR_MASK & !((512 << 12) - 1);
    assert_eq!(w.update(D1, 16, 0, huge | P | PSE), Err(MmError::BadFrame));
    w.check();
}

#[test]
fn rw_4k_mapping_inside_a_writable_superpage_is_fine_but_typing_a_frame_fails() {
    let mut w = with_l2();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    w.pin(D1, 17, PageLevel::L1).unwrap();
    w.update(D1, 17, 0, pte(D1_SUPER + 5, PW)).unwrap();
    let e = w.pin(D1, D1_SUPER + 6, PageLevel::L1).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::SpageConflict, -22));
    assert_eq!(w.frame(D1_SUPER + 6).type_count(), 0);
    assert_eq!(
        w.mm.get_seg_desc_page(D1, Mfn(D1_SUPER + 7), &mut w.mem),
        Err(MmError::SpageConflict)
    );
    w.check();
    // Once the writable superpage is gone, the frame can become a table.
    w.update(D1, 16, 0, 0).unwrap();
    w.pin(D1, D1_SUPER + 6, PageLevel::L1).unwrap();
    w.check();
}

#[test]
fn read_only_superpage_over_page_tables_is_fine_but_writable_is_not() {
    let mut w = with_l2();
    w.pin(D1, D1_SUPER + 3, PageLevel::L1).unwrap();
    assert_eq!(w.spage(D1_SUPER).spage_type(), SpageType::Nosuper);
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    let e = w.update(D1, 16, 1, pte(D1_SUPER, PW | PSE)).unwrap_err();
    assert_eq!(e, MmError::SpageConflict);
    assert_eq!(w.spage(D1_SUPER).map_count(), 1);
    w.check();
}

#[test]
fn l2_table_inside_its_own_writable_superpage_is_refused() {
    let mut w = World::new();
    w.poke(D1_SUPER, 0, pte(D1_SUPER, PW | PSE));
    assert_eq!(
        w.pin(D1, D1_SUPER, PageLevel::L2),
        Err(MmError::SpageConflict)
    );
    assert_eq!(w.spage(D1_SUPER).type_count(), 0);
    w.check();
}

#[test]
fn no_frame_of_a_mapped_extent_can_be_released() {
    let mut w = with_l2();
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    let e = w.mm.release(D1, Mfn(D1_SUPER + 100)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::Busy, -16));
    assert_eq!(
        w.mm.release_extent(D1, Mfn(D1_SUPER), 9),
        Err(MmError::Busy)
    );
    assert!(w.spage(D1_SUPER).is_enabled());
    w.check();

    w.update(D1, 16, 0, 0).unwrap();
    w.mm.release(D1, Mfn(D1_SUPER + 100)).unwrap();
    assert!(!w.spage(D1_SUPER).is_enabled());
    assert!(w.mm.take_flush_needed());
    // Putting the frame back one by one does not re-enable the extent.
    w.mm.assign(D1, Mfn(D1_SUPER + 100), 0).unwrap();
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    w.check();
}

#[test]
fn superpage_mapping_count_overflow_is_refused() {
    let mut w = with_l2();
    w.mm.spage_for_test(D1_SUPER >> 9)
        .set_counts_for_test(0, COUNT_MAX);
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)),
        Err(MmError::Overflow)
    );
    w.mm.spage_for_test(D1_SUPER >> 9).set_counts_for_test(0, 0);
    w.check();
}

#[test]
fn translate_honours_superpages() {
    let mut w = World::new();
    let va = 0x4000_0000u64 + 0x20_0000 * 3 + 0x1234;
    w.chain(16, 17, 18, 0, va);
    w.poke(18, slot(va, 21), pte(D1_SUPER, P | PSE));
    w.pin(D1, 16, PageLevel::L4).unwrap();
    let maddr = w.mm.translate(Mfn(16), va, false, &w.mem).unwrap();
    assert_eq!(maddr, (D1_SUPER << 12) + 0x1234);
    assert_eq!(
        w.mm.translate(Mfn(16), va, true, &w.mem),
        Err(MmError::NotMapped)
    );
    w.check();
}

#[test]
fn read_only_superpage_based_at_its_own_l2_is_counted_and_dropped() {
    // Regression (found by the model test): the put side treated this PSE entry as a
    // self-map and leaked the extent's map count.
    let mut w = World::new();
    w.pin(D1, D1_SUPER, PageLevel::L2).unwrap();
    w.update(D1, D1_SUPER, 0, pte(D1_SUPER, P | PSE)).unwrap();
    assert_eq!(w.spage(D1_SUPER).map_count(), 1);
    w.check();
    w.unpin(D1, D1_SUPER).unwrap();
    assert_eq!(w.spage(D1_SUPER).map_count(), 0);
    w.check();
    w.mm.release_extent(D1, Mfn(D1_SUPER), 9).unwrap();
    w.check();
}
