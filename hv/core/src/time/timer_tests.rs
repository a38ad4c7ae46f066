//! Tests of the timer queue: Xen's timer rules, and a model-based property test.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::timer::*;
use super::TimeError;
use crate::evtchn::{DomId, VcpuId};

const D: DomId = DomId(1);
const V0: VcpuId = VcpuId(0);
const V1: VcpuId = VcpuId(1);
const MS: u64 = 1_000_000;

#[test]
fn single_shot_fires_once() {
    let mut q = TimerQueue::new();
    q.set_single_shot(D, V0, 5 * MS);
    assert_eq!(q.next_deadline(), Some(5 * MS));
    assert!(q.expire(4 * MS).is_empty());
    assert_eq!(q.expire(5 * MS), [(D, V0)]);
    assert_eq!(q.next_deadline(), None);
    assert!(q.expire(100 * MS).is_empty());
}

#[test]
fn rearming_replaces_and_zero_cancels() {
    let mut q = TimerQueue::new();
    q.set_timer_op(D, V0, 5 * MS, 0);
    q.set_timer_op(D, V0, 7 * MS, 0);
    assert_eq!(q.single_shot(D, V0), Some(7 * MS));
    assert!(q.expire(6 * MS).is_empty());
    q.set_timer_op(D, V0, 0, 6 * MS);
    assert_eq!(q.next_deadline(), None);
}

#[test]
fn bogus_timeouts_become_100ms() {
    let mut q = TimerQueue::new();
    let now = 1_000 * MS;
    q.set_timer_op(D, V0, u64::MAX, now); // negative as s64
    assert_eq!(q.single_shot(D, V0), Some(now + 100 * MS));
    q.set_timer_op(D, V0, now + (1 << 50), now); // ~13 days ahead
    assert_eq!(q.single_shot(D, V0), Some(now + 100 * MS));
    q.set_timer_op(D, V0, now + (1 << 50) - 1, now);
    assert_eq!(q.single_shot(D, V0), Some(now + (1 << 50) - 1));
    // A past deadline is kept and fires at once.
    q.set_timer_op(D, V0, now - 1, now);
    assert_eq!(q.expire(now), [(D, V0)]);
}

#[test]
fn periodic_timer_rearms_from_now() {
    let mut q = TimerQueue::new();
    // First start fires immediately (the last tick was at time 0, long ago).
    q.set_periodic(D, V1, 10 * MS, 50 * MS).unwrap();
    assert_eq!(q.next_deadline(), Some(50 * MS));
    assert_eq!(q.expire(50 * MS), [(D, V1)]);
    assert_eq!(q.periodic(D, V1), Some((10 * MS, 60 * MS)));
    // A late expiry re-arms from the time it ran.
    assert_eq!(q.expire(63 * MS), [(D, V1)]);
    assert_eq!(q.next_deadline(), Some(73 * MS));
    // Restarting keeps the phase of the last tick.
    q.set_periodic(D, V1, 20 * MS, 65 * MS).unwrap();
    assert_eq!(q.next_deadline(), Some(83 * MS));
    q.stop_periodic(D, V1);
    assert_eq!(q.next_deadline(), None);
}

#[test]
fn periodic_period_limits() {
    let mut q = TimerQueue::new();
    assert_eq!(q.set_periodic(D, V0, MS - 1, 0), Err(TimeError::BadPeriod));
    assert_eq!(
        q.set_periodic(D, V0, MAX_PERIOD_NS + 1, 0),
        Err(TimeError::BadPeriod)
    );
    assert!(q.set_periodic(D, V0, MAX_PERIOD_NS, 0).is_ok());
    assert!(q.set_periodic(D, V0, DEFAULT_PV_PERIOD_NS, 0).is_ok());
}

#[test]
fn both_timers_due_raise_once_and_removal_forgets() {
    let mut q = TimerQueue::new();
    q.set_single_shot(D, V0, 10 * MS);
    q.set_periodic(D, V0, 10 * MS, 0).unwrap();
    q.set_single_shot(DomId(2), V0, 10 * MS);
    assert_eq!(q.expire(10 * MS), [(D, V0), (DomId(2), V0)]);
    q.set_single_shot(D, V1, 30 * MS);
    q.remove_domain(D);
    assert_eq!(q.next_deadline(), None);
}

#[test]
fn saturated_time_stops_periodic_timer_instead_of_spinning() {
    let mut q = TimerQueue::new();
    q.set_periodic(D, V0, MS, u64::MAX).unwrap();
    assert_eq!(q.expire(u64::MAX), [(D, V0)]);
    assert_eq!(q.next_deadline(), None);
}

/// Model of one vCPU: single-shot deadline, periodic (period, next).
type ModelTimers = (Option<u64>, Option<(u64, u64)>);

#[derive(Clone, Debug)]
enum Op {
    Arm(u16, u32, u64),
    TimerHypercall(u16, u32, u64),
    StopSingle(u16, u32),
    Periodic(u16, u32, u64),
    StopPeriodic(u16, u32),
    Advance(u64),
    RemoveDomain(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let d = 1u16..3;
    let v = 0u32..2;
    prop_oneof![
        (d.clone(), v.clone(), 0u64..200 * MS).prop_map(|(d, v, t)| Op::Arm(d, v, t)),
        (d.clone(), v.clone(), any::<u64>()).prop_map(|(d, v, t)| Op::TimerHypercall(d, v, t)),
        (d.clone(), v.clone()).prop_map(|(d, v)| Op::StopSingle(d, v)),
        (d.clone(), v.clone(), 0u64..50 * MS).prop_map(|(d, v, p)| Op::Periodic(d, v, p)),
        (d.clone(), v.clone()).prop_map(|(d, v)| Op::StopPeriodic(d, v)),
        (0u64..30 * MS).prop_map(Op::Advance),
        d.prop_map(Op::RemoveDomain),
    ]
}

proptest! {
    /// Against a model of "armed deadlines per vCPU": expire returns exactly the vCPUs with a
    /// due deadline, next_deadline is the minimum, and nothing due is ever left behind.
    #[test]
    fn queue_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut q = TimerQueue::new();
        // model: (dom, vcpu) -> (single-shot deadline, periodic (period, next))
        let mut model: BTreeMap<(DomId, VcpuId), ModelTimers> = BTreeMap::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Arm(d, v, t) => {
                    q.set_single_shot(DomId(d), VcpuId(v), t);
                    model.entry((DomId(d), VcpuId(v))).or_default().0 = Some(t);
                }
                Op::TimerHypercall(d, v, t) => {
                    q.set_timer_op(DomId(d), VcpuId(v), t, now);
                    model.entry((DomId(d), VcpuId(v))).or_default().0 = q.single_shot(DomId(d), VcpuId(v));
                    if t == 0 {
                        prop_assert_eq!(q.single_shot(DomId(d), VcpuId(v)), None);
                    }
                }
                Op::StopSingle(d, v) => {
                    q.stop_single_shot(DomId(d), VcpuId(v));
                    model.entry((DomId(d), VcpuId(v))).or_default().0 = None;
                }
                Op::Periodic(d, v, p) => {
                    let ok = q.set_periodic(DomId(d), VcpuId(v), p, now).is_ok();
                    prop_assert_eq!(ok, p >= MIN_PERIOD_NS);
                    if ok {
                        let armed = q.periodic(DomId(d), VcpuId(v)).unwrap();
                        prop_assert_eq!(armed.0, p);
                        prop_assert!(armed.1 >= now && armed.1 <= now + p);
                        model.entry((DomId(d), VcpuId(v))).or_default().1 = Some(armed);
                    }
                }
                Op::StopPeriodic(d, v) => {
                    q.stop_periodic(DomId(d), VcpuId(v));
                    model.entry((DomId(d), VcpuId(v))).or_default().1 = None;
                }
                Op::Advance(dt) => {
                    now += dt;
                    let fired = q.expire(now);
                    let mut expected = Vec::new();
                    for (key, (single, periodic)) in model.iter_mut() {
                        let mut due = false;
                        if single.is_some_and(|t| t <= now) {
                            *single = None;
                            due = true;
                        }
                        if let Some((p, next)) = periodic {
                            if *next <= now {
                                *next = now + *p;
                                due = true;
                            }
                        }
                        if due {
                            expected.push(*key);
                        }
                    }
                    prop_assert_eq!(fired, expected);
                    prop_assert!(q.next_deadline().is_none_or(|t| t > now));
                }
                Op::RemoveDomain(d) => {
                    q.remove_domain(DomId(d));
                    model.retain(|(dom, _), _| *dom != DomId(d));
                }
            }
            let model_next = model
                .values()
                .flat_map(|(s, p)| s.iter().copied().chain(p.map(|(_, n)| n)))
                .min();
            prop_assert_eq!(q.next_deadline(), model_next);
        }
    }
}
