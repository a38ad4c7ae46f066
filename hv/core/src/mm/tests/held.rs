//! Frames the hypervisor holds to write them (issue 7): a held frame cannot become a page
//! table, sit under a writable superpage or go back to the allocator; destruction drops the
//! holds; and an exchange's undo restores the blocks and `enabled` bits as they were.

use super::harness::*;
use crate::mm::*;

/// The attack of issue 7, step 3: the guest drops its writable mapping of a ring the
/// hypervisor writes and pins it as an L1. Refused while held; allowed once released.
#[test]
fn held_frame_cannot_be_pinned_as_a_table() {
    let mut w = World::new();
    let ring = w.mm.hold_frame(D1, Mfn(20), &mut w.mem).unwrap();
    assert_eq!(w.frame(20).page_type(), PageType::Writable);
    assert_eq!((w.frame(20).count(), w.frame(20).type_count()), (2, 1));
    for level in [PageLevel::L1, PageLevel::L2, PageLevel::L3, PageLevel::L4] {
        assert_eq!(w.pin(D1, 20, level), Err(MmError::TypeConflict));
    }
    // Nor can a live table entry reference it as a table, nor can it be a descriptor page.
    w.pin(D1, 16, PageLevel::L2).unwrap();
    assert_eq!(w.update(D1, 16, 0, pte(20, P)), Err(MmError::TypeConflict));
    assert_eq!(
        w.mm.get_seg_desc_page(D1, Mfn(20), &mut w.mem),
        Err(MmError::TypeConflict)
    );
    w.check();
    w.mm.release_frame(ring, &mut w.mem);
    assert_eq!((w.frame(20).count(), w.frame(20).type_count()), (1, 0));
    w.pin(D1, 20, PageLevel::L1).unwrap();
    w.check();
}

#[test]
fn page_tables_descriptor_pages_and_foreign_frames_cannot_be_held() {
    let mut w = World::new();
    w.pin(D1, 17, PageLevel::L1).unwrap();
    assert_eq!(
        w.mm.hold_frame(D1, Mfn(17), &mut w.mem),
        Err(MmError::TypeConflict)
    );
    w.mm.get_seg_desc_page(D1, Mfn(18), &mut w.mem).unwrap();
    assert_eq!(
        w.mm.hold_frame(D1, Mfn(18), &mut w.mem),
        Err(MmError::TypeConflict)
    );
    assert_eq!(
        w.mm.hold_frame(D1, Mfn(64), &mut w.mem),
        Err(MmError::NotOwner)
    );
    assert_eq!(
        w.mm.hold_frame(D1, Mfn(MAX_MFN), &mut w.mem),
        Err(MmError::BadFrame)
    );
    assert_eq!(
        w.mm.hold_frame(DomId(9), Mfn(20), &mut w.mem),
        Err(MmError::NoDomain)
    );
    assert_eq!(w.frame(17).count(), 2, "a refused hold changes nothing");
    w.check();
}

/// A held frame holds its extent Nosuper: no writable PSE entry may cover it, and a hold
/// under an existing writable superpage is refused.
#[test]
fn held_frame_refuses_a_writable_superpage_over_it() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    let held = w.mm.hold_frame(D1, Mfn(D1_SUPER + 5), &mut w.mem).unwrap();
    assert_eq!(w.spage(D1_SUPER).spage_type(), SpageType::Nosuper);
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)),
        Err(MmError::SpageConflict)
    );
    w.check();
    w.mm.release_frame(held, &mut w.mem);
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    assert_eq!(
        w.mm.hold_frame(D1, Mfn(D1_SUPER + 5), &mut w.mem),
        Err(MmError::SpageConflict)
    );
    w.check();
}

/// `decrease_reservation` / `exchange` of a held frame (or a block containing one) is
/// refused: the frame never goes back to the allocator while the hypervisor writes it.
#[test]
fn held_frame_cannot_be_released() {
    let mut w = World::new();
    let a = w.mm.hold_frame(D1, Mfn(21), &mut w.mem).unwrap();
    let b = w.mm.hold_frame(D1, Mfn(D1_SUPER + 9), &mut w.mem).unwrap();
    assert_eq!(w.mm.release(D1, Mfn(21)), Err(MmError::Busy));
    assert_eq!(w.mm.take_extent(D1, Mfn(20), 2), Err(MmError::Busy));
    assert_eq!(
        w.mm.release_extent(D1, Mfn(D1_SUPER), 9),
        Err(MmError::Busy)
    );
    assert_eq!(w.frame(21).owner(), Some(D1));
    w.check();
    // Two holds, two releases.
    let a2 = w.mm.hold_frame(D1, Mfn(21), &mut w.mem).unwrap();
    assert_eq!(w.mm.held_count(D1, Mfn(21)), 2);
    w.mm.release_frame(a, &mut w.mem);
    assert_eq!(w.mm.release(D1, Mfn(21)), Err(MmError::Busy));
    w.mm.release_frame(a2, &mut w.mem);
    w.mm.release_frame(b, &mut w.mem);
    w.mm.release(D1, Mfn(21)).unwrap();
    w.mm.release_extent(D1, Mfn(D1_SUPER), 9).unwrap();
    w.check();
}

#[test]
fn destruction_drops_the_holds() {
    let mut w = World::new();
    let ring = w.mm.hold_frame(D1, Mfn(22), &mut w.mem).unwrap();
    let _leaked = w.mm.hold_frame(D1, Mfn(D1_SUPER), &mut w.mem).unwrap();
    w.mm.share_xen_frame(D1, Mfn(3000)).unwrap();
    let shared = w.mm.hold_frame(D1, Mfn(3000), &mut w.mem).unwrap();
    assert_eq!(w.mm.unshare_xen_frame(D1, Mfn(3000)), Err(MmError::Busy));
    let t = w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    assert!(t.check.ok(), "{:?}", t.check);
    assert!(t.xen_frames.contains(&Mfn(3000)));
    for m in [22, D1_SUPER, 3000] {
        assert_eq!(w.frame(m), FrameInfo::FREE, "frame {m} not freed");
    }
    assert_eq!(w.spage(D1_SUPER), SpageInfo::FREE);
    w.check();
    // Stale tokens of the destroyed domain act on nothing, even when the id is reused and
    // the new domain holds the same frame.
    w.mm.create_domain(D1, config(true)).unwrap();
    w.mm.assign(D1, Mfn(22), 0).unwrap();
    let fresh = w.mm.hold_frame(D1, Mfn(22), &mut w.mem).unwrap();
    w.mm.release_frame(ring, &mut w.mem);
    w.mm.release_frame(shared, &mut w.mem);
    assert_eq!(w.mm.held_count(D1, Mfn(22)), 1);
    assert_eq!(w.frame(22).count(), 2);
    w.check();
    w.mm.release_frame(fresh, &mut w.mem);
    w.check();
}

/// Issue 7's second bug: a failed exchange gave an order-9 input back with `assign(order 9)`,
/// enabling an extent the domain had assembled from 512 order-0 assignments.
#[test]
fn exchange_undo_keeps_an_assembled_extent_disabled() {
    let mut w = World::new();
    let base = 3 * 512;
    for m in base..base + 512 {
        w.mm.assign(D1, Mfn(m), 0).unwrap();
    }
    assert!(!w.spage(base).is_enabled());
    let taken = w.mm.take_extent(D1, Mfn(base), 9).unwrap();
    assert_eq!(w.mm.domain_pages(D1), Some(32 + 512));
    w.mm.restore_extent(taken).unwrap();
    assert!(
        !w.spage(base).is_enabled(),
        "undo enabled an assembled extent"
    );
    assert_eq!(w.mm.domain_pages(D1), Some(32 + 512 + 512));
    let d = &w.mm.domains[&D1];
    assert!(!d.extents.contained_in_order(base, 9));
    assert!(d.extents.contained_in_order(base + 7, 0));
    w.check();
    // And a PSE entry over it is still refused.
    w.pin(D1, 16, PageLevel::L2).unwrap();
    assert_eq!(
        w.update(D1, 16, 0, pte(base, P | PSE)),
        Err(MmError::SuperpageDenied)
    );
    w.check();
}

#[test]
fn exchange_undo_re_enables_a_real_superpage() {
    let mut w = World::new();
    // A whole order-9 input, and one frame out of an order-9 block.
    let taken = w.mm.take_extent(D1, Mfn(D1_SUPER), 9).unwrap();
    w.mm.restore_extent(taken).unwrap();
    assert!(w.spage(D1_SUPER).is_enabled());
    let taken = w.mm.take_extent(D1, Mfn(D1_SUPER + 3), 0).unwrap();
    assert!(!w.spage(D1_SUPER).is_enabled());
    w.mm.restore_extent(taken).unwrap();
    assert!(w.spage(D1_SUPER).is_enabled());
    assert!(w.mm.domains[&D1].extents.contained_in_order(D1_SUPER, 9));
    w.check();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    w.check();
}

#[test]
fn restore_refuses_a_stale_or_reused_range() {
    let mut w = World::new();
    let taken = w.mm.take_extent(D1, Mfn(20), 0).unwrap();
    w.mm.assign(D2, Mfn(20), 0).unwrap();
    assert_eq!(w.mm.restore_extent(taken), Err(MmError::Busy));
    assert_eq!(w.frame(20).owner(), Some(D2));
    let taken = w.mm.take_extent(D1, Mfn(21), 0).unwrap();
    w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    w.mm.create_domain(D1, config(true)).unwrap();
    assert_eq!(w.mm.restore_extent(taken), Err(MmError::NoDomain));
    assert_eq!(w.frame(21), FrameInfo::FREE);
    w.check();
}
