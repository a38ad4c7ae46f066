//! Time for PV guests: TSC ↔ system-time scaling, the `vcpu_time_info` and wallclock records
//! of `shared_info`, and the per-vCPU timer queue behind `VIRQ_TIMER`.
//!
//! | file     | concern                                                              |
//! |----------|----------------------------------------------------------------------|
//! | `scale`  | `TimeScale`: Xen's (`tsc_to_system_mul`, `tsc_shift`), both ways     |
//! | `clock`  | `SystemClock`, `VcpuTimeFields`, `WallClock`, version counters       |
//! | `timer`  | `TimerQueue`: single-shot and periodic deadlines per vCPU            |
//! | `tsc_freq` | the TSC frequency CPUID states (leaves 0x15/0x16), without a PIT   |
//! | `timer_neutral` | hypercalls after which the LAPIC timer need not be recomputed |
//!
//! The platform measures the TSC frequency once, builds a [`SystemClock`], publishes
//! [`SystemClock::vcpu_time`] into each `vcpu_info.time` (between
//! [`version_update_begin`]/[`version_update_end`]) and [`WallClock`] into `shared_info`, and
//! programs its timer for [`TimerQueue::next_deadline`] converted with
//! [`SystemClock::tsc_at`].

mod clock;
mod scale;
mod timer;
mod timer_neutral;
pub mod tsc_freq;

#[cfg(test)]
mod timer_tests;

pub use clock::{
    version_update_begin, version_update_end, SystemClock, VcpuTimeFields, WallClock,
    XEN_PVCLOCK_GUEST_STOPPED, XEN_PVCLOCK_TSC_STABLE,
};
pub use scale::{TimeScale, MAX_SHIFT, MIN_SHIFT};
pub use timer::{TimerKind, TimerQueue, DEFAULT_PV_PERIOD_NS, MAX_PERIOD_NS, MIN_PERIOD_NS};
pub use timer_neutral::timer_neutral;

/// Errors of the time layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// A counter frequency of 0 Hz.
    ZeroFrequency,
    /// A nanoseconds field of 10^9 or more.
    BadNanoseconds,
    /// A wallclock whose boot epoch would lie before 1970.
    BeforeEpoch,
    /// A periodic timer period outside `MIN_PERIOD_NS..=MAX_PERIOD_NS` (`-EINVAL` at the
    /// `VCPUOP_set_periodic_timer` boundary).
    BadPeriod,
}

impl TimeError {
    /// The negative Xen errno for this error (`-EINVAL` for all of them).
    pub fn to_errno(self) -> i32 {
        -22
    }
}
