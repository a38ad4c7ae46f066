//! L2 (non-PSE), L3 and L4 entry rules, linear page tables, and validation cascades.

use super::harness::*;
use crate::mm::pte::{GLOBAL, PCD};
use crate::mm::*;

#[test]
fn pinning_an_l4_validates_the_whole_hierarchy_and_unpinning_undoes_it() {
    let mut w = World::new();
    let va = 0x0000_7F00_1234_5000u64;
    w.chain(16, 17, 18, 19, va);
    w.poke(19, slot(va, 12), pte(20, PW));
    w.pin(D1, 16, PageLevel::L4).unwrap();
    for (m, ty) in [
        (16, PageType::L4),
        (17, PageType::L3),
        (18, PageType::L2),
        (19, PageType::L1),
    ] {
        assert!(w.frame(m).is_live(ty), "frame {m}");
    }
    assert_eq!(w.frame(20).page_type(), PageType::Writable);
    assert_eq!(w.peek(16, slot(va, 39)), pte(17, PW | L4_ADJ));
    w.check();
    w.unpin(D1, 16).unwrap();
    for m in 16..=20 {
        assert_eq!(
            (w.frame(m).count(), w.frame(m).type_count()),
            (1, 0),
            "frame {m}"
        );
    }
    assert_eq!(w.spage(16).type_count(), 0);
    w.check();
}

#[test]
fn l4_validation_installs_hypervisor_slots_and_guests_cannot_write_them() {
    let mut w = World::new();
    w.poke(16, 256, pte(17, PW));
    w.poke(16, 271, 0xdead_beef);
    w.pin(D1, 16, PageLevel::L4).unwrap();
    for (i, v) in hypervisor_slots().into_iter().enumerate() {
        assert_eq!(w.peek(16, 256 + i), v);
    }
    assert_eq!(
        w.frame(17).count(),
        1,
        "slot 256 content was never looked at"
    );
    for s in [256, 263, 271] {
        let e = w.update(D1, 16, s, 0).unwrap_err();
        assert_eq!((e, e.errno()), (MmError::ReservedSlot, -22));
    }
    w.update(D1, 16, 255, 0).unwrap();
    w.update(D1, 16, 272, 0).unwrap();
    w.check();
}

#[test]
fn each_level_requires_the_next_lower_type() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.pin(D1, 17, PageLevel::L3).unwrap();
    w.pin(D1, 18, PageLevel::L4).unwrap();
    w.pin(D1, 19, PageLevel::L1).unwrap();
    // L2 → L3 table: wrong type (and not a linear L2).
    assert_eq!(w.update(D1, 16, 0, pte(17, PW)), Err(MmError::TypeConflict));
    assert_eq!(w.update(D1, 17, 0, pte(19, PW)), Err(MmError::TypeConflict));
    assert_eq!(w.update(D1, 18, 0, pte(16, PW)), Err(MmError::TypeConflict));
    // Untyped frames become tables of the needed level on first use.
    w.update(D1, 16, 0, pte(20, PW)).unwrap();
    assert!(w.frame(20).is_live(PageType::L1));
    // A data frame mapped writable cannot become a table.
    w.update(D1, 19, 0, pte(21, PW)).unwrap();
    assert_eq!(w.update(D1, 17, 0, pte(21, PW)), Err(MmError::TypeConflict));
    // Foreign tables are refused.
    assert_eq!(w.update(D1, 16, 1, pte(64, PW)), Err(MmError::NotOwner));
    w.check();
}

#[test]
fn pde_flags_and_1g_pages_are_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.pin(D1, 17, PageLevel::L3).unwrap();
    w.pin(D1, 18, PageLevel::L4).unwrap();
    assert_eq!(
        w.update(D1, 16, 0, pte(20, P | PCD)),
        Err(MmError::BadFlags)
    );
    assert_eq!(
        w.update(D1, 16, 0, pte(20, P | GLOBAL)),
        Err(MmError::BadFlags)
    );
    assert_eq!(
        w.update(D1, 17, 0, pte(0, PW | PSE)),
        Err(MmError::BadFlags)
    );
    assert_eq!(
        w.update(D1, 18, 0, pte(19, PW | PSE)),
        Err(MmError::BadFlags)
    );
    w.check();
}

#[test]
fn validation_failure_deep_in_the_tree_undoes_everything() {
    let mut w = World::new();
    let va = 0x1000_0000u64;
    w.chain(16, 17, 18, 19, va);
    w.poke(19, 0, pte(20, PW));
    w.poke(19, 1, pte(64, P)); // D2's frame: the L1 fails
    assert_eq!(w.pin(D1, 16, PageLevel::L4), Err(MmError::CannotMap));
    for m in 16..=20 {
        assert_eq!(
            (w.frame(m).count(), w.frame(m).type_count()),
            (1, 0),
            "frame {m}"
        );
    }
    assert_eq!(w.spage(16).type_count(), 0);
    w.check();
}

#[test]
fn read_only_self_map_takes_no_reference_and_writable_one_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L4).unwrap();
    w.update(D1, 16, 300, pte(16, P)).unwrap();
    assert_eq!(w.frame(16).count(), 2); // allocation + pin
    assert_eq!(w.frame(16).linear_pt_count(), 0);
    assert_eq!(
        w.update(D1, 16, 301, pte(16, PW)),
        Err(MmError::TypeConflict)
    );
    // Validation accepts a read-only self-map too.
    w.poke(17, 5, pte(17, P));
    w.pin(D1, 17, PageLevel::L2).unwrap();
    w.check();
    w.update(D1, 16, 300, 0).unwrap();
    w.unpin(D1, 17).unwrap();
    w.check();
}

#[test]
fn linear_entry_to_another_validated_table_counts_both_sides() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.pin(D1, 17, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(17, P)).unwrap();
    assert_eq!(w.frame(16).linear_pt_count(), 1);
    assert_eq!(w.frame(17).linear_pt_count(), -1);
    assert_eq!(w.frame(17).type_count(), 2);
    w.check();
    // Neither side may take the other role: no chains, no loops.
    w.pin(D1, 18, PageLevel::L2).unwrap();
    assert_eq!(w.update(D1, 17, 0, pte(18, P)), Err(MmError::TypeConflict));
    assert_eq!(w.update(D1, 18, 0, pte(16, P)), Err(MmError::TypeConflict));
    assert_eq!(w.update(D1, 17, 0, pte(16, P)), Err(MmError::TypeConflict));
    // Writable linear entries are refused.
    assert_eq!(w.update(D1, 18, 0, pte(17, PW)), Err(MmError::TypeConflict));
    // A frame that is not a live L2 is an ordinary L1 target, never a linear one.
    w.update(D1, 16, 1, pte(20, P)).unwrap();
    assert!(w.frame(20).is_live(PageType::L1));
    w.check();
    // Dropping the target's other references leaves it alive through the linear entry.
    w.unpin(D1, 17).unwrap();
    assert!(w.frame(17).is_live(PageType::L2));
    w.update(D1, 16, 0, 0).unwrap();
    assert_eq!(w.frame(17).type_count(), 0);
    assert_eq!(
        (w.frame(16).linear_pt_count(), w.frame(17).linear_pt_count()),
        (0, 0)
    );
    w.check();
}

#[test]
fn linear_l4_and_l3_entries_follow_the_same_rules() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L4).unwrap();
    w.pin(D1, 17, PageLevel::L4).unwrap();
    w.pin(D1, 18, PageLevel::L3).unwrap();
    w.pin(D1, 19, PageLevel::L3).unwrap();
    w.update(D1, 16, 0, pte(17, P)).unwrap();
    w.update(D1, 18, 0, pte(19, P)).unwrap();
    assert_eq!(w.update(D1, 17, 0, pte(16, P)), Err(MmError::TypeConflict));
    w.check();
}

#[test]
fn linear_count_overflow_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.pin(D1, 17, PageLevel::L2).unwrap();
    w.mm.frame_for_test(Mfn(16)).set_linear_pt_count(i16::MAX);
    let e = w.update(D1, 16, 0, pte(17, P)).unwrap_err();
    assert_eq!(e, MmError::Overflow);
    assert_eq!(w.frame(17).type_count(), 1);
    assert_eq!(w.frame(17).count(), 2);
    w.mm.frame_for_test(Mfn(16)).set_linear_pt_count(0);
    w.mm.frame_for_test(Mfn(17)).set_linear_pt_count(i16::MIN);
    assert_eq!(w.update(D1, 16, 0, pte(17, P)), Err(MmError::Overflow));
    w.mm.frame_for_test(Mfn(17)).set_linear_pt_count(0);
    w.check();
}
