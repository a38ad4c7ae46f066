//! TLB flushes around the MMU hypercalls (`mm::tlb`): collected over a batch, merged with
//! CR3 loads, never lost.

use super::harness::*;
use crate::mm::*;

/// Frame 17 mapped writable from table 16, then unmapped: pinning it changes its type.
fn stale_writable(w: &mut World) {
    w.pin(D1, 16, PageLevel::L1).unwrap();
    assert!(!w.mm.take_flush_needed());
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    w.update(D1, 16, 0, 0).unwrap();
    assert!(!w.mm.flush_pending());
}

#[test]
fn outside_a_batch_flushes_are_done_at_once() {
    let mut w = World::new();
    assert_eq!(w.mm.tlb_after(GuestFlush::None), TlbAction::Nothing);
    assert_eq!(w.mm.tlb_after(GuestFlush::Invlpg), TlbAction::Invlpg);
    assert_eq!(w.mm.tlb_after(GuestFlush::Full), TlbAction::Full);
    assert!(!w.mm.flush_pending());
    stale_writable(&mut w);
    w.pin(D1, 17, PageLevel::L1).unwrap();
    // The type change owes a flush, whatever the guest asked for.
    assert_eq!(w.mm.tlb_after(GuestFlush::Invlpg), TlbAction::Full);
    assert!(!w.mm.flush_pending());
    w.check();
}

#[test]
fn a_batch_collects_flushes_and_owes_one_at_its_end() {
    let mut w = World::new();
    let outer = w.mm.begin_flush_batch();
    assert!(!outer);
    assert!(w.mm.collecting_flushes());
    stale_writable(&mut w);
    w.pin(D1, 17, PageLevel::L1).unwrap();
    assert_eq!(w.mm.tlb_after(GuestFlush::None), TlbAction::Nothing);
    // Pending: the hypervisor's copies must not use the hardware walk meanwhile.
    assert!(w.mm.flush_pending());
    assert!(!w.mm.copy_through_mmu_ok(Mfn(16), 0x1000, 8));
    // An INVLPG is covered by the pending full flush.
    assert_eq!(w.mm.tlb_after(GuestFlush::Invlpg), TlbAction::Nothing);
    assert!(w.mm.end_flush_batch(outer));
    assert!(!w.mm.collecting_flushes());
    assert!(!w.mm.flush_pending());
    w.check();
}

#[test]
fn a_guest_request_in_a_batch_is_not_lost() {
    let mut w = World::new();
    let outer = w.mm.begin_flush_batch();
    assert_eq!(w.mm.tlb_after(GuestFlush::Full), TlbAction::Nothing);
    assert!(w.mm.flush_pending());
    assert!(w.mm.end_flush_batch(outer));
    // Nothing owed: the batch ends without a flush; an INVLPG alone is done at once.
    let outer = w.mm.begin_flush_batch();
    assert_eq!(w.mm.tlb_after(GuestFlush::Invlpg), TlbAction::Invlpg);
    assert!(!w.mm.end_flush_batch(outer));
}

#[test]
fn nested_batches_end_with_the_outermost() {
    let mut w = World::new();
    let outer = w.mm.begin_flush_batch();
    let inner = w.mm.begin_flush_batch();
    assert!(inner);
    assert_eq!(w.mm.tlb_after(GuestFlush::Full), TlbAction::Nothing);
    assert!(!w.mm.end_flush_batch(inner));
    assert!(w.mm.collecting_flushes() && w.mm.flush_pending());
    assert!(w.mm.end_flush_batch(outer));
}

#[test]
fn a_cr3_load_settles_what_is_owed() {
    let mut w = World::new();
    let outer = w.mm.begin_flush_batch();
    stale_writable(&mut w);
    w.pin(D1, 17, PageLevel::L1).unwrap();
    assert_eq!(w.mm.tlb_after(GuestFlush::None), TlbAction::Nothing);
    w.mm.cr3_loaded();
    assert!(!w.mm.flush_pending());
    assert!(!w.mm.end_flush_batch(outer));
    // A change after the load is owed again.
    let outer = w.mm.begin_flush_batch();
    w.unpin(D1, 17).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    assert_eq!(w.mm.tlb_after(GuestFlush::None), TlbAction::Nothing);
    assert!(w.mm.end_flush_batch(outer));
    w.check();
}
