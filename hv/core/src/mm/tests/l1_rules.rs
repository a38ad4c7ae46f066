//! L1 entry rules: references, flags, adjustments, ownership.

use super::harness::*;
use crate::mm::pte::{GLOBAL, GNTTAB, PAT, PCD, PWT};
use crate::mm::*;

#[test]
fn ro_and_rw_entries_take_general_and_writable_references() {
    let mut w = World::new();
    w.poke(16, 0, pte(17, P));
    w.poke(16, 1, pte(18, PW));
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.check();
    assert_eq!(w.frame(17).count(), 2);
    assert_eq!(w.frame(17).type_count(), 0);
    assert_eq!(w.frame(18).count(), 2);
    assert_eq!(w.frame(18).page_type(), PageType::Writable);
    assert_eq!(w.frame(18).type_count(), 1);
    assert!(w.frame(16).is_live(PageType::L1));

    w.update(D1, 16, 1, 0).unwrap();
    assert_eq!(w.frame(18).count(), 1);
    assert_eq!(w.frame(18).type_count(), 0);
    w.unpin(D1, 16).unwrap();
    assert_eq!(w.frame(17).count(), 1);
    assert_eq!(w.frame(16).type_count(), 0);
    w.check();
}

#[test]
fn disallowed_l1_flags_are_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    for bad in [PWT, PCD, PAT, GNTTAB] {
        let e = w.update(D1, 16, 0, pte(17, P | bad)).unwrap_err();
        assert_eq!((e, e.errno()), (MmError::BadFlags, -22));
        assert_eq!(w.peek(16, 0), 0);
    }
    // GLOBAL and NX and the available bits are the guest's to use in L1.
    w.update(D1, 16, 0, pte(17, P | GLOBAL | NX | (1 << 9)))
        .unwrap();
    w.check();
}

#[test]
fn privileged_domain_may_use_cache_attributes_but_not_on_hypervisor_frames() {
    let mut w = World::empty();
    let cfg = DomainConfig {
        privileged: true,
        ..config(false)
    };
    w.mm.create_domain(D1, cfg).unwrap();
    for m in 0..4 {
        w.mm.assign(D1, Mfn(m), 0).unwrap();
    }
    w.mm.share_xen_frame(D1, Mfn(8)).unwrap();
    w.pin(D1, 0, PageLevel::L1).unwrap();
    w.update(D1, 0, 0, pte(1, PW | PCD)).unwrap();
    let e = w.update(D1, 0, 1, pte(8, PW | PCD)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::CacheAttr, -13));
    w.update(D1, 0, 1, pte(8, PW)).unwrap();
    w.check();
}

#[test]
fn entries_are_adjusted_for_a_ring3_kernel() {
    let mut w = World::new();
    w.poke(16, 0, pte(17, P));
    w.pin(D1, 16, PageLevel::L1).unwrap();
    assert_eq!(w.peek(16, 0), pte(17, P | USER | GUEST_KERNEL));
    w.update(D1, 16, 1, pte(18, P | USER)).unwrap();
    assert_eq!(w.peek(16, 1), pte(18, P | USER | GLOBAL));
    w.update(D1, 16, 2, pte(19, P)).unwrap();
    assert_eq!(w.peek(16, 2), pte(19, P | USER | GUEST_KERNEL));
    w.check();
}

#[test]
fn writable_mapping_of_its_own_l1_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    let e = w.update(D1, 16, 0, pte(16, PW)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::CannotMap, -16));
    // Read-only is fine (Linux and Mini-OS map their page tables read-only).
    w.update(D1, 16, 0, pte(16, P)).unwrap();
    w.check();
}

#[test]
fn pinning_a_table_that_maps_itself_writable_fails_and_undoes_everything() {
    let mut w = World::new();
    w.poke(16, 0, pte(17, PW));
    w.poke(16, 1, pte(18, P));
    w.poke(16, 2, pte(16, PW));
    let e = w.pin(D1, 16, PageLevel::L1).unwrap_err();
    assert_eq!(e, MmError::CannotMap);
    for m in [16, 17, 18] {
        assert_eq!(w.frame(m).count(), 1, "frame {m}");
        assert_eq!(w.frame(m).type_count(), 0, "frame {m}");
    }
    assert!(!w.frame(16).is_pinned());
    assert_eq!(w.spage(16).type_count(), 0);
    w.check();
}

#[test]
fn writable_mapping_of_any_page_table_or_descriptor_page_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.pin(D1, 17, PageLevel::L2).unwrap();
    w.pin(D1, 18, PageLevel::L3).unwrap();
    w.pin(D1, 19, PageLevel::L4).unwrap();
    w.mm.get_seg_desc_page(D1, Mfn(20), &mut w.mem).unwrap();
    for (slot, target) in [17u64, 18, 19, 20].into_iter().enumerate() {
        assert_eq!(
            w.update(D1, 16, slot, pte(target, PW)),
            Err(MmError::CannotMap)
        );
        w.update(D1, 16, slot, pte(target, P)).unwrap();
    }
    w.check();
}

#[test]
fn foreign_free_and_non_ram_targets_are_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    assert_eq!(w.update(D1, 16, 0, pte(64, P)), Err(MmError::CannotMap)); // D2's
    assert_eq!(w.update(D1, 16, 0, pte(100, P)), Err(MmError::CannotMap)); // free
    let e = w.update(D1, 16, 0, pte(MAX_MFN, P)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::NotRam, -1));
    assert_eq!(w.update(D1, 16, 0, ADDR_MASK | P), Err(MmError::NotRam));
    assert_eq!(w.frame(64).count(), 1);
    w.check();
}

#[test]
fn shared_hypervisor_frame_can_be_mapped_but_never_typed_as_a_table() {
    let mut w = World::new();
    w.mm.share_xen_frame(D1, Mfn(200)).unwrap();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(200, PW)).unwrap();
    assert_eq!(w.pin(D1, 200, PageLevel::L1), Err(MmError::TypeConflict));
    assert_eq!(w.mm.unshare_xen_frame(D1, Mfn(200)), Err(MmError::Busy));
    w.update(D1, 16, 0, 0).unwrap();
    w.mm.unshare_xen_frame(D1, Mfn(200)).unwrap();
    assert_eq!(w.frame(200), FrameInfo::FREE);
    w.check();
}

/// Every combination of a frame's counts, type and validation an L1 entry can meet: the
/// one-step path of `get_page_from_l1e` must leave the frame (and the flush flag) exactly as
/// the general path does, and fail alike.
#[test]
fn l1_reference_fast_path_matches_the_general_path() {
    use crate::mm::testkit::VecMemory;
    let types = [
        PageType::None,
        PageType::Writable,
        PageType::L1,
        PageType::L2,
        PageType::SegDesc,
    ];
    let mut compared = 0;
    for ty in types {
        for type_count in [0, 1, 7, COUNT_MAX] {
            for validated in [false, true] {
                for count in [1, 2, COUNT_MAX - 1, COUNT_MAX] {
                    for flags in [P, PW] {
                        let run = |fast: bool| {
                            let mut w = World::new();
                            let f = w.mm.frame_for_test(Mfn(20));
                            f.set_count(count);
                            f.set_page_type(ty);
                            f.set_type_count(type_count);
                            f.set_validated(validated);
                            let entry = pte(20, flags);
                            let mut mem = VecMemory::new();
                            let r = if fast {
                                w.mm.get_page_from_l1e(D1, entry, &mut mem)
                            } else {
                                w.mm.get_l1_refs(D1, entry, &mut mem)
                            };
                            (r, w.frame(20), w.mm.take_flush_needed())
                        };
                        assert_eq!(
                            run(true),
                            run(false),
                            "{ty:?} tc {type_count} validated {validated} count {count} flags {flags:#x}"
                        );
                        compared += 1;
                    }
                }
            }
        }
    }
    assert_eq!(compared, 5 * 4 * 2 * 4 * 2);
}
