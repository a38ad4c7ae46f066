//! Per-vCPU guest timers: each vCPU has a single-shot timer (`set_timer_op`,
//! `VCPUOP_set_singleshot_timer`) and a periodic timer (`VCPUOP_set_periodic_timer`; Xen
//! starts PV vCPUs with a 10 ms period). Both raise `VIRQ_TIMER` on their vCPU when due.
//!
//! ```text
//!   single-shot:  Idle --set(deadline)--> Armed(deadline) --expire(now ≥ deadline)--> Idle
//!                      <------stop------
//!   periodic:     Off  --set(period)----> On(period, next) --expire(now ≥ next)--> On(period, now+period)
//!                      <------stop------
//! ```
//!
//! The queue only does arithmetic on nanosecond deadlines; the platform arms the hardware
//! timer for [`TimerQueue::next_deadline`] and calls [`TimerQueue::expire`] when it fires.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::TimeError;
use crate::evtchn::{DomId, VcpuId};

/// Xen's initial periodic timer period for a PV vCPU (10 ms).
pub const DEFAULT_PV_PERIOD_NS: u64 = 10_000_000;
/// Shortest period `VCPUOP_set_periodic_timer` accepts (1 ms).
pub const MIN_PERIOD_NS: u64 = 1_000_000;
/// Longest period accepted (`STIME_DELTA_MAX`).
pub const MAX_PERIOD_NS: u64 = u64::MAX >> 2;
/// Where `set_timer_op` puts a timeout it considers bogus: 100 ms from now.
const BOGUS_TIMEOUT_DELAY_NS: u64 = 100_000_000;

/// Which timer of a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// The single-shot timer.
    SingleShot,
    /// The periodic timer.
    Periodic,
}

#[derive(Clone, Copy, Debug, Default)]
struct VcpuTimers {
    single_shot: Option<u64>,
    /// `(period, next deadline)`.
    periodic: Option<(u64, u64)>,
    /// When the periodic timer last fired (Xen's `periodic_last_event`).
    last_periodic_event: u64,
}

type Key = (DomId, VcpuId);

/// Deadlines of all vCPUs' timers, ordered.
#[derive(Clone, Debug, Default)]
pub struct TimerQueue {
    vcpus: BTreeMap<Key, VcpuTimers>,
    queue: BTreeSet<(u64, DomId, VcpuId, TimerKind)>,
}

impl TimerQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms the single-shot timer of `(dom, vcpu)` for `deadline` (ns of system time),
    /// replacing any earlier setting. A deadline in the past fires at the next `expire`.
    pub fn set_single_shot(&mut self, dom: DomId, vcpu: VcpuId, deadline: u64) {
        self.stop_single_shot(dom, vcpu);
        self.vcpus.entry((dom, vcpu)).or_default().single_shot = Some(deadline);
        self.queue
            .insert((deadline, dom, vcpu, TimerKind::SingleShot));
    }

    /// Disarms the single-shot timer of `(dom, vcpu)`.
    pub fn stop_single_shot(&mut self, dom: DomId, vcpu: VcpuId) {
        if let Some(t) = self.vcpus.get_mut(&(dom, vcpu)) {
            if let Some(deadline) = t.single_shot.take() {
                self.queue
                    .remove(&(deadline, dom, vcpu, TimerKind::SingleShot));
            }
        }
    }

    /// `set_timer_op(timeout)` at system time `now`, with Xen's rules: 0 disarms; a timeout
    /// that is negative as an `s64`, or more than 2^50 ns (~13 days) ahead, is taken as a guest
    /// bug and replaced by `now + 100 ms`; anything else arms the single-shot timer.
    pub fn set_timer_op(&mut self, dom: DomId, vcpu: VcpuId, timeout: u64, now: u64) {
        let too_far = timeout
            .checked_sub(now)
            .is_some_and(|ahead| ahead >> 50 != 0);
        if timeout == 0 {
            self.stop_single_shot(dom, vcpu);
        } else if timeout > i64::MAX as u64 || too_far {
            self.set_single_shot(dom, vcpu, now.saturating_add(BOGUS_TIMEOUT_DELAY_NS));
        } else {
            self.set_single_shot(dom, vcpu, timeout);
        }
    }

    /// Starts (or restarts) the periodic timer of `(dom, vcpu)` with `period_ns` at system
    /// time `now`. As in Xen, the next tick is one period after the previous tick, and fires at
    /// the next `expire` if that is already past.
    ///
    /// Errors: `BadPeriod` outside `MIN_PERIOD_NS..=MAX_PERIOD_NS`.
    pub fn set_periodic(
        &mut self,
        dom: DomId,
        vcpu: VcpuId,
        period_ns: u64,
        now: u64,
    ) -> Result<(), TimeError> {
        if !(MIN_PERIOD_NS..=MAX_PERIOD_NS).contains(&period_ns) {
            return Err(TimeError::BadPeriod);
        }
        self.stop_periodic(dom, vcpu);
        let t = self.vcpus.entry((dom, vcpu)).or_default();
        let next = t.last_periodic_event.saturating_add(period_ns).max(now);
        t.periodic = Some((period_ns, next));
        self.queue.insert((next, dom, vcpu, TimerKind::Periodic));
        Ok(())
    }

    /// Stops the periodic timer of `(dom, vcpu)`.
    pub fn stop_periodic(&mut self, dom: DomId, vcpu: VcpuId) {
        if let Some(t) = self.vcpus.get_mut(&(dom, vcpu)) {
            if let Some((_, next)) = t.periodic.take() {
                self.queue.remove(&(next, dom, vcpu, TimerKind::Periodic));
            }
        }
    }

    /// The single-shot deadline of `(dom, vcpu)`, if armed.
    pub fn single_shot(&self, dom: DomId, vcpu: VcpuId) -> Option<u64> {
        self.vcpus.get(&(dom, vcpu)).and_then(|t| t.single_shot)
    }

    /// The periodic timer of `(dom, vcpu)` as `(period, next deadline)`, if running.
    pub fn periodic(&self, dom: DomId, vcpu: VcpuId) -> Option<(u64, u64)> {
        self.vcpus.get(&(dom, vcpu)).and_then(|t| t.periodic)
    }

    /// The earliest deadline of any timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.first().map(|&(deadline, ..)| deadline)
    }

    /// Fires every timer due at `now`: single-shot timers disarm, periodic timers move to
    /// `now + period`. Returns each vCPU to raise `VIRQ_TIMER` on, once, in (dom, vcpu) order.
    ///
    /// Post: `next_deadline() > now` (or `None`).
    pub fn expire(&mut self, now: u64) -> Vec<(DomId, VcpuId)> {
        let mut fired = BTreeSet::new();
        while let Some(&(deadline, dom, vcpu, kind)) = self.queue.first() {
            if deadline > now {
                break;
            }
            self.queue.pop_first();
            fired.insert((dom, vcpu));
            let Some(t) = self.vcpus.get_mut(&(dom, vcpu)) else {
                continue;
            };
            match kind {
                TimerKind::SingleShot => t.single_shot = None,
                TimerKind::Periodic => {
                    let Some((period, _)) = t.periodic else {
                        continue;
                    };
                    let next = now.saturating_add(period);
                    t.last_periodic_event = now;
                    t.periodic = Some((period, next));
                    if next > now {
                        self.queue.insert((next, dom, vcpu, TimerKind::Periodic));
                    } else {
                        // Time has saturated: nothing can be later; stop rather than spin.
                        t.periodic = None;
                    }
                }
            }
        }
        fired.into_iter().collect()
    }

    /// Forgets both timers of `(dom, vcpu)`.
    pub fn remove_vcpu(&mut self, dom: DomId, vcpu: VcpuId) {
        self.stop_single_shot(dom, vcpu);
        self.stop_periodic(dom, vcpu);
        self.vcpus.remove(&(dom, vcpu));
    }

    /// Forgets every timer of `dom`.
    pub fn remove_domain(&mut self, dom: DomId) {
        let keys: Vec<Key> = self
            .vcpus
            .keys()
            .filter(|(d, _)| *d == dom)
            .copied()
            .collect();
        for (d, v) in keys {
            self.remove_vcpu(d, v);
        }
    }
}
