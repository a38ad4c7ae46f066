//! System time, the per-vCPU `vcpu_time_info` record and the wallclock in `shared_info`.
//!
//! System time is nanoseconds since the hypervisor booted, derived from the TSC with one
//! [`TimeScale`]. A guest computes it itself from the `vcpu_time_info` record it finds in its
//! `vcpu_info`:
//!
//! ```text
//!   now = system_time + scale_delta(rdtsc - tsc_timestamp)      (tsc_to_system_mul, tsc_shift)
//! ```
//!
//! and wall-clock time as `wc_sec`/`wc_nsec` (the UTC time at system time 0) plus `now`.
//! Both records are published under a version counter used like a seqlock:
//! [`version_update_begin`] (odd: writing), write the fields, [`version_update_end`] (even).

use super::scale::TimeScale;
use super::TimeError;

const NS_PER_SEC: u64 = 1_000_000_000;

/// `XEN_PVCLOCK_TSC_STABLE_BIT`: the TSC is synchronised across CPUs (lets Linux skip its
/// cross-vCPU monotonicity guard).
pub const XEN_PVCLOCK_TSC_STABLE: u8 = 1 << 0;
/// `XEN_PVCLOCK_GUEST_STOPPED`: the guest was paused (used by the watchdog).
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// The new `version` before writing a time record: odd ("update in progress").
pub fn version_update_begin(version: u32) -> u32 {
    version.wrapping_add(1) | 1
}

/// The new `version` after writing a time record: even again.
pub fn version_update_end(version: u32) -> u32 {
    version.wrapping_add(1)
}

/// The hypervisor's clock: system time from the TSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemClock {
    scale: TimeScale,
    tsc_at_boot: u64,
}

impl SystemClock {
    /// A clock whose time 0 is TSC value `tsc_at_boot`.
    pub fn new(scale: TimeScale, tsc_at_boot: u64) -> Self {
        Self { scale, tsc_at_boot }
    }

    /// The scale in use.
    pub fn scale(&self) -> TimeScale {
        self.scale
    }

    /// System time (ns since boot) at TSC value `tsc`; 0 before boot. Monotonic in `tsc`.
    pub fn now(&self, tsc: u64) -> u64 {
        self.scale.scale_delta(tsc.saturating_sub(self.tsc_at_boot))
    }

    /// The first TSC value at which [`now`](Self::now) reaches `system_time_ns`: what to
    /// program a TSC-deadline timer with. Saturates at `u64::MAX`.
    pub fn tsc_at(&self, system_time_ns: u64) -> u64 {
        self.tsc_at_boot
            .saturating_add(self.scale.ticks_for_ns(system_time_ns))
    }

    /// The `vcpu_time_info` fields to publish at TSC value `tsc_now`.
    ///
    /// Xen republishes about once a second; publishing `(tsc_at_boot, 0)` once instead makes
    /// the guest's clock equal [`now`](Self::now) exactly.
    pub fn vcpu_time(&self, tsc_now: u64, flags: u8) -> VcpuTimeFields {
        VcpuTimeFields::new(self.scale, tsc_now, self.now(tsc_now), flags)
    }
}

/// The payload of `vcpu_time_info` (everything but `version` and padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuTimeFields {
    /// TSC value at which `system_time` was taken.
    pub tsc_timestamp: u64,
    /// System time (ns since boot) at `tsc_timestamp`.
    pub system_time: u64,
    /// Scale multiplier.
    pub tsc_to_system_mul: u32,
    /// Scale shift.
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*`.
    pub flags: u8,
}

impl VcpuTimeFields {
    /// The record saying "system time was `system_time_ns` at TSC value `tsc_now`", with
    /// `scale` and `flags` (`XEN_PVCLOCK_*`).
    pub fn new(scale: TimeScale, tsc_now: u64, system_time_ns: u64, flags: u8) -> Self {
        Self {
            tsc_timestamp: tsc_now,
            system_time: system_time_ns,
            tsc_to_system_mul: scale.mul_frac(),
            tsc_shift: scale.shift(),
            flags,
        }
    }

    /// The system time a guest computes from this record at TSC value `tsc` (a TSC before
    /// `tsc_timestamp` reads as `system_time`).
    pub fn guest_system_time(&self, tsc: u64) -> u64 {
        let delta = tsc.saturating_sub(self.tsc_timestamp);
        let scale = TimeScale::from_raw(self.tsc_to_system_mul, self.tsc_shift);
        scale.map_or(self.system_time, |s| {
            self.system_time.saturating_add(s.scale_delta(delta))
        })
    }
}

/// The wallclock fields of `shared_info`: UTC time at system time 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// Low 32 bits of the seconds.
    pub wc_sec: u32,
    /// Nanoseconds, below 10^9.
    pub wc_nsec: u32,
    /// High 32 bits of the seconds.
    pub wc_sec_hi: u32,
}

impl WallClock {
    /// The wallclock given that UNIX time was `unix_sec`.`unix_nsec` at system time
    /// `system_time_ns` (Xen's `do_settime`): the boot epoch is their difference. With a
    /// boot-time epoch already known, pass `system_time_ns = 0`.
    ///
    /// Errors: `BadNanoseconds` (`unix_nsec` ≥ 10^9), `BeforeEpoch` (the boot would lie before
    /// 1970).
    pub fn from_unix_time(
        unix_sec: u64,
        unix_nsec: u32,
        system_time_ns: u64,
    ) -> Result<Self, TimeError> {
        if u64::from(unix_nsec) >= NS_PER_SEC {
            return Err(TimeError::BadNanoseconds);
        }
        let unix_ns = u128::from(unix_sec) * u128::from(NS_PER_SEC) + u128::from(unix_nsec);
        let boot_ns = unix_ns
            .checked_sub(u128::from(system_time_ns))
            .ok_or(TimeError::BeforeEpoch)?;
        let sec = boot_ns / u128::from(NS_PER_SEC);
        // sec ≤ u64::MAX because unix_sec is a u64.
        let sec = u64::try_from(sec).unwrap_or(u64::MAX);
        let nsec = (boot_ns % u128::from(NS_PER_SEC)) as u32;
        Ok(Self {
            wc_sec: sec as u32,
            wc_nsec: nsec,
            wc_sec_hi: (sec >> 32) as u32,
        })
    }

    /// Seconds of the boot epoch (`wc_sec_hi:wc_sec`).
    pub fn seconds(&self) -> u64 {
        (u64::from(self.wc_sec_hi) << 32) | u64::from(self.wc_sec)
    }

    /// UNIX time (seconds, nanoseconds) at system time `system_time_ns`, as a guest computes it.
    pub fn unix_time_at(&self, system_time_ns: u64) -> (u64, u32) {
        let total = u128::from(self.wc_nsec) + u128::from(system_time_ns);
        let carry = u64::try_from(total / u128::from(NS_PER_SEC)).unwrap_or(u64::MAX);
        (
            self.seconds().saturating_add(carry),
            (total % u128::from(NS_PER_SEC)) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_are_odd_while_writing() {
        assert_eq!(version_update_begin(0), 1);
        assert_eq!(version_update_end(1), 2);
        assert_eq!(version_update_begin(3), 5); // out of sync: forced odd
        assert_eq!(version_update_end(version_update_begin(u32::MAX - 1)), 0);
    }

    #[test]
    fn clock_and_deadlines() {
        let clock = SystemClock::new(TimeScale::from_frequency(2_000_000_000).unwrap(), 1000);
        assert_eq!(clock.now(0), 0);
        assert_eq!(clock.now(3000), 1000);
        assert_eq!(clock.tsc_at(1000), 3000);
        let rec = clock.vcpu_time(5000, XEN_PVCLOCK_TSC_STABLE);
        assert_eq!(
            (rec.tsc_timestamp, rec.system_time, rec.flags),
            (5000, 2000, 1)
        );
        assert_eq!(rec.guest_system_time(7000), 3000);
        assert_eq!(rec.guest_system_time(10), 2000);
    }

    #[test]
    fn wallclock_from_unix_time() {
        // 2038-01-19T03:14:08Z + 0.25 s, 10.5 s after boot.
        let wc = WallClock::from_unix_time(1 << 31, 250_000_000, 10_500_000_000).unwrap();
        assert_eq!(wc.seconds(), (1 << 31) - 11);
        assert_eq!(wc.wc_nsec, 750_000_000);
        assert_eq!(wc.wc_sec_hi, 0);
        assert_eq!(wc.unix_time_at(10_500_000_000), (1 << 31, 250_000_000));
        let far = WallClock::from_unix_time(1 << 40, 0, 0).unwrap();
        assert_eq!((far.wc_sec, far.wc_sec_hi), (0, 1 << 8));
        assert_eq!(
            WallClock::from_unix_time(5, 0, 6_000_000_000),
            Err(TimeError::BeforeEpoch)
        );
        assert_eq!(
            WallClock::from_unix_time(5, 1_000_000_000, 0),
            Err(TimeError::BadNanoseconds)
        );
    }

    proptest! {
        /// The hypervisor clock never goes back, and a guest reading one record never goes back.
        #[test]
        fn time_is_monotonic(hz in 1_000_000u64..=10_000_000_000, boot in any::<u64>(),
                             mut tscs in proptest::collection::vec(any::<u64>(), 2..20)) {
            let clock = SystemClock::new(TimeScale::from_frequency(hz).unwrap(), boot);
            tscs.sort_unstable();
            let rec = clock.vcpu_time(tscs[0], 0);
            for pair in tscs.windows(2) {
                prop_assert!(clock.now(pair[0]) <= clock.now(pair[1]));
                prop_assert!(rec.guest_system_time(pair[0]) <= rec.guest_system_time(pair[1]));
            }
        }

        /// A guest's clock agrees with the hypervisor's within 2 ns, so republishing the record
        /// moves it by at most that much (Linux guards the rest without TSC_STABLE).
        #[test]
        fn guest_clock_tracks_hypervisor_clock(hz in 1_000_000u64..=10_000_000_000,
                                               boot in 0u64..1 << 62, a in 0u64..1 << 50, b in 0u64..1 << 50) {
            let clock = SystemClock::new(TimeScale::from_frequency(hz).unwrap(), boot);
            let published = boot + a;
            let read = published + b;
            let rec = clock.vcpu_time(published, 0);
            let guest = rec.guest_system_time(read);
            prop_assert!(guest.abs_diff(clock.now(read)) <= 2);
            // Exactly at the publishing point they agree.
            prop_assert_eq!(rec.guest_system_time(published), clock.now(published));
        }

        /// The deadline TSC is never early and at most one tick late.
        #[test]
        fn deadline_tsc_round_trips(hz in 1_000_000u64..=10_000_000_000, boot in 0u64..1 << 40, ns in 0u64..1 << 50) {
            let clock = SystemClock::new(TimeScale::from_frequency(hz).unwrap(), boot);
            let tsc = clock.tsc_at(ns);
            prop_assert!(clock.now(tsc) >= ns);
            prop_assert!(tsc == boot || clock.now(tsc - 1) < ns);
        }
    }
}
