//! Per-physical-CPU scheduling state: each CPU's run queue, the vCPU it runs, its slice.
//!
//! ```text
//!   Hypervisor ── cpus[0] ── PerCpu { current, run_queue, slice_start, yielding, preempt, .. }
//!              └─ cpus[1..] (when more CPUs are brought up)
//!   Vcpu.cpu ── the CPU whose run queue it joins (chosen at start: least loaded)
//! ```
//!
//! Code reaches the running CPU's state through [`Hypervisor::cpu`] (and
//! [`Hypervisor::cpu_ref`]); today that is always CPU 0 ([`this_cpu`]).
//!
//! What protects what: the whole `Hypervisor`, these per-CPU records included, sits behind
//! the one `spin::Mutex` in `hypervisor.rs`, taken by `hypervisor::with` for the handling of
//! one exit (or one idle step) and released **before** the CPU returns to a guest
//! (`entry::enter_guest` and the trap return run outside `with`), so no lock is held across
//! a guest run. With interrupts masked in the hypervisor on one CPU it is never contended.
//! For several CPUs the per-CPU records are the part that needs no shared lock: only the
//! owning CPU touches its `PerCpu` except to queue a woken vCPU (which then needs a
//! per-queue lock or a remote wake message, as Xen's per-runqueue locks do).
//!
//! A stale `current` is impossible: `current` names a vCPU by `(domain id, index)` and every
//! use is a checked lookup in the domain table (`hv_core::idtable::IdTable`, indexed by id:
//! a bounds check and a slot test, so the running domain costs no search; a dead domain is
//! simply absent), and `Hypervisor::stop_vcpus` — on every path that stops or destroys a
//! domain — clears the `current` of every CPU running one of its vCPUs before the domain
//! leaves the table, so a later domain that reuses the id is never taken for the running
//! one. A hypercall naming another domain or vCPU looks it up the same checked way.

use hv_core::runqueue::RunQueue;

use crate::hypervisor::{Hypervisor, VcpuRef};

/// How many physical CPUs the hypervisor schedules on (one today).
pub const MAX_CPUS: usize = 1;

/// The index of the CPU this code runs on (CPU 0 until more are brought up; then the LAPIC id
/// mapped to an index, or a per-CPU GS-relative word).
#[inline(always)]
pub fn this_cpu() -> usize {
    0
}

/// One physical CPU's scheduling state.
#[derive(Default)]
pub struct PerCpu {
    /// The vCPU whose registers are in this CPU's top-of-stack frame, if any.
    pub current: Option<VcpuRef>,
    /// Runnable vCPUs homed here waiting for this CPU, fairest first.
    pub run_queue: RunQueue<VcpuRef>,
    /// System time at which `current` got the CPU.
    pub slice_start: u64,
    /// `current` yielded: it goes behind the others.
    pub yielding: bool,
    /// Set when `current` should give up the CPU at the next exit.
    pub preempt: bool,
    /// The exit being handled changed no timer deadline (a hypercall of
    /// [`hv_core::time::timer_neutral`]): resuming the same vCPU may keep the LAPIC timer
    /// as armed (deadlines only moved later, so at worst it ticks early).
    pub timers_untouched: bool,
}

impl Hypervisor {
    /// The running CPU's scheduling state.
    #[inline(always)]
    pub fn cpu(&mut self) -> &mut PerCpu {
        &mut self.cpus[this_cpu()]
    }

    /// The running CPU's scheduling state, read only.
    #[inline(always)]
    pub fn cpu_ref(&self) -> &PerCpu {
        &self.cpus[this_cpu()]
    }

    /// The vCPU the running CPU runs, if any.
    #[inline(always)]
    pub fn current(&self) -> Option<VcpuRef> {
        self.cpu_ref().current
    }

    /// The CPU vCPU `v` belongs to (its run queue), if it exists.
    pub fn home_cpu(&self, v: VcpuRef) -> Option<usize> {
        self.domains
            .get(&v.0)
            .and_then(|d| d.vcpus.get(v.1))
            .map(|vcpu| vcpu.cpu)
    }
}
