//! A preempted and resumed `mmu_update` batch ends in exactly the state, `*pdone` and result
//! of one run without preemption: the guest re-issues the continuation the way the
//! hypervisor encodes it (`crate::continuation`), with preemption at arbitrary points.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::harness::*;
use crate::continuation::MmuBatch;
use crate::mm::*;

/// Where the simulated request array lives in the guest.
const LIST: u64 = 0x10_0000;
const REQ_SIZE: u64 = 16;

/// What one invocation returned.
enum Outcome {
    Value(i64),
    Continue([u64; 5]),
}

/// One `mmu_update` invocation as the hypervisor runs it: `*pdone` read back on a resumed
/// call, preemption checked before every item after the first, `*pdone` written at the end
/// or with the continuation.
fn invoke(
    w: &mut World,
    reqs: &[(u64, u64)],
    args: [u64; 5],
    pdone: &mut u32,
    preempt: &mut impl FnMut() -> bool,
) -> Outcome {
    let b = MmuBatch::from_args(args);
    let first = ((b.list - LIST) / REQ_SIZE) as usize;
    let mut done = if b.resumed { *pdone } else { 0 };
    let mut i = 0u32;
    let mut rc = 0;
    while i < b.count {
        if i > 0 && preempt() {
            *pdone = done;
            return Outcome::Continue(b.continuation(i, REQ_SIZE));
        }
        let (ptr, val) = reqs[first + i as usize];
        match w.mm.mmu_update(D1, ptr, val, false, &mut w.mem) {
            Ok(()) => done += 1,
            Err(e) => {
                rc = i64::from(e.errno());
                break;
            }
        }
        i += 1;
    }
    *pdone = done;
    Outcome::Value(rc)
}

/// The guest: issues the call and re-issues every continuation; returns (result, *pdone,
/// invocations).
fn run(w: &mut World, reqs: &[(u64, u64)], preempt: &mut impl FnMut() -> bool) -> (i64, u32, u32) {
    let mut args = [LIST, reqs.len() as u64, 0x2000, u64::from(0x7FF0u16), 0];
    let mut pdone = 0xDEAD;
    let mut calls = 0;
    loop {
        calls += 1;
        match invoke(w, reqs, args, &mut pdone, preempt) {
            Outcome::Value(rc) => return (rc, pdone, calls),
            Outcome::Continue(next) => args = next,
        }
    }
}

/// A D1 L1 table (frame 19, pinned) and requests writing its slots: data frames 20..48
/// read-only or writable, absent entries, and (at `bad`, if any) a request that must fail.
fn batch(ops: &[(u8, u8)], bad: Option<usize>) -> (World, Vec<(u64, u64)>) {
    let mut w = World::new();
    w.pin(D1, 19, PageLevel::L1).unwrap();
    let reqs = ops
        .iter()
        .enumerate()
        .map(|(k, &(slot, what))| {
            let ptr = (19 << 12) + u64::from(slot % 64) * 8;
            let val = match what % 3 {
                _ if bad == Some(k) => pte(19, PW), // the table itself, writable: refused
                0 => 0,
                1 => pte(20 + u64::from(what % 28), P),
                _ => pte(20 + u64::from(what % 28), PW),
            };
            (ptr, val)
        })
        .collect();
    (w, reqs)
}

fn state(w: &World) -> (Vec<FrameInfo>, Vec<u64>) {
    (
        (0..80).map(|m| w.frame(m)).collect(),
        (0..512).map(|s| w.peek(19, s)).collect(),
    )
}

#[test]
fn a_batch_preempted_after_every_item_matches_one_run() {
    let ops: Vec<(u8, u8)> = (0..200).map(|k| (k as u8, (k * 7) as u8)).collect();
    let (mut a, reqs) = batch(&ops, None);
    let (mut b, _) = batch(&ops, None);
    let once = run(&mut a, &reqs, &mut || false);
    let sliced = run(&mut b, &reqs, &mut || true);
    assert_eq!((once.0, once.1, once.2), (0, 200, 1));
    assert_eq!((sliced.0, sliced.1, sliced.2), (0, 200, 200));
    assert_eq!(state(&a), state(&b));
    b.check();
}

proptest! {
    #[test]
    fn preempted_and_resumed_batches_end_as_unpreempted_ones(
        ops in proptest::collection::vec((any::<u8>(), any::<u8>()), 1..80),
        bad in proptest::option::of(0usize..80),
        cuts in proptest::collection::vec(any::<bool>(), 0..80),
    ) {
        let bad = bad.filter(|&b| b < ops.len());
        let (mut a, reqs) = batch(&ops, bad);
        let (mut b, _) = batch(&ops, bad);
        let once = run(&mut a, &reqs, &mut || false);
        let mut k = 0;
        let sliced = run(&mut b, &reqs, &mut || {
            k += 1;
            cuts.get(k).copied().unwrap_or(false)
        });
        prop_assert_eq!((once.0, once.1), (sliced.0, sliced.1));
        prop_assert_eq!(once.1 as usize, bad.unwrap_or(ops.len()));
        prop_assert_eq!(state(&a), state(&b));
        b.check();
    }
}
