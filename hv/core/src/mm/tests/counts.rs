//! Count limits: every counter refuses to overflow and leaves the state unchanged.

use super::harness::*;
use crate::mm::*;

#[test]
fn general_count_overflow_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.mm.frame_for_test(Mfn(17)).set_count(COUNT_MAX);
    let e = w.update(D1, 16, 0, pte(17, P)).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::Overflow, -22));
    assert_eq!(w.frame(17).count(), COUNT_MAX);
    assert_eq!(w.peek(16, 0), 0);
    assert_eq!(w.pin(D1, 17, PageLevel::L1), Err(MmError::Overflow));
    w.mm.frame_for_test(Mfn(17)).set_count(1);
    w.check();
}

#[test]
fn type_count_overflow_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    w.mm.frame_for_test(Mfn(17)).set_type_count(COUNT_MAX);
    assert_eq!(w.update(D1, 16, 1, pte(17, PW)), Err(MmError::Overflow));
    assert_eq!(w.frame(17).count(), 2, "general reference given back");
    w.mm.frame_for_test(Mfn(17)).set_type_count(1);
    w.check();

    // Page-table type count at its maximum: a further pin/baseptr is refused.
    w.pin(D1, 18, PageLevel::L4).unwrap();
    w.mm.frame_for_test(Mfn(18)).set_type_count(COUNT_MAX);
    let r =
        w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(18)), &mut w.mem);
    assert_eq!(r, Err(MmError::Overflow));
    w.mm.frame_for_test(Mfn(18)).set_type_count(1);
    w.check();
}

#[test]
fn spage_type_count_overflow_is_refused() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    w.mm.spage_for_test(D1_SUPER >> 9)
        .set_counts_for_test(COUNT_MAX, 1);
    assert_eq!(
        w.update(D1, 16, 1, pte(D1_SUPER, PW | PSE)),
        Err(MmError::Overflow)
    );
    assert_eq!(w.spage(D1_SUPER).map_count(), 1, "map count given back");
    w.mm.spage_for_test(D1_SUPER >> 9).set_counts_for_test(1, 1);
    w.check();

    // Nosuper at its maximum: one more table frame in the extent is refused.
    w.pin(D1, D1_SUPER + 1, PageLevel::L1).unwrap_err();
    w.update(D1, 16, 0, 0).unwrap();
    w.pin(D1, D1_SUPER + 1, PageLevel::L1).unwrap();
    w.mm.spage_for_test(D1_SUPER >> 9)
        .set_counts_for_test(COUNT_MAX, 0);
    assert_eq!(
        w.pin(D1, D1_SUPER + 2, PageLevel::L1),
        Err(MmError::Overflow)
    );
    assert_eq!(w.frame(D1_SUPER + 2).type_count(), 0);
    w.mm.spage_for_test(D1_SUPER >> 9).set_counts_for_test(1, 0);
    w.check();
}
