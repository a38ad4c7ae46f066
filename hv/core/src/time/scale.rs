//! TSC ticks ↔ nanoseconds, in Xen's fixed-point format.
//!
//! A [`TimeScale`] is the pair (`tsc_to_system_mul`, `tsc_shift`) that a PV guest reads from
//! `vcpu_time_info`:
//!
//! ```text
//!   ns = ((ticks << shift) * mul) >> 32        (shift < 0 means ticks >> -shift)
//!   mul in [2^31, 2^32): a 32-bit binary fraction of (10^9 / frequency) scaled by 2^shift
//! ```
//!
//! It is built like Xen's `set_time_scale`: the frequency is halved or doubled until it lies in
//! (10^9, 2·10^9], counting the steps in `shift`, and `mul = (10^9 << 32) / that`. The guest
//! computes with the same two numbers, so the hypervisor must too: [`TimeScale::scale_delta`]
//! is exactly the guest's formula (with 128-bit intermediates), and
//! [`TimeScale::ticks_for_ns`] is its exact inverse, used to program TSC deadlines.

use super::TimeError;

const NS_PER_SEC: u64 = 1_000_000_000;

/// A TSC→ns conversion factor (`tsc_to_system_mul`, `tsc_shift`).
///
/// Invariant: `mul_frac ≥ 2^31` and `MIN_SHIFT ≤ shift ≤ MAX_SHIFT`, which keeps every
/// intermediate product below 2^128; checked by both constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeScale {
    mul_frac: u32,
    shift: i8,
}

/// Smallest shift a scale may have (`from_frequency` gives ≥ -34 for any `u64` frequency).
pub const MIN_SHIFT: i8 = -40;
/// Largest shift a scale may have (`from_frequency` gives ≤ 30).
pub const MAX_SHIFT: i8 = 31;

impl TimeScale {
    /// A scale from published fields; `None` unless `mul_frac ≥ 2^31` and the shift is in
    /// `MIN_SHIFT..=MAX_SHIFT` (true of every scale `from_frequency` builds).
    pub fn from_raw(mul_frac: u32, shift: i8) -> Option<Self> {
        (mul_frac >= 1 << 31 && (MIN_SHIFT..=MAX_SHIFT).contains(&shift))
            .then_some(Self { mul_frac, shift })
    }

    /// The scale for a counter running at `ticks_per_sec` (like Xen's `set_time_scale`).
    ///
    /// Errors: `ZeroFrequency`.
    pub fn from_frequency(ticks_per_sec: u64) -> Result<Self, TimeError> {
        if ticks_per_sec == 0 {
            return Err(TimeError::ZeroFrequency);
        }
        let mut tps = ticks_per_sec;
        let mut shift: i8 = 0;
        while tps > 2 * NS_PER_SEC {
            tps >>= 1;
            shift -= 1;
        }
        // Now 1 ≤ tps ≤ 2·10^9 < 2^32; doubling while ≤ 10^9 stays below 2^32.
        while tps <= NS_PER_SEC {
            tps <<= 1;
            shift += 1;
        }
        // tps in (10^9, 2·10^9], so the quotient is in [2^31, 2^32).
        let mul = (NS_PER_SEC << 32) / tps;
        let mul_frac = u32::try_from(mul).map_err(|_| TimeError::ZeroFrequency)?;
        Self::from_raw(mul_frac, shift).ok_or(TimeError::ZeroFrequency)
    }

    /// `tsc_to_system_mul`.
    pub fn mul_frac(self) -> u32 {
        self.mul_frac
    }

    /// `tsc_shift`.
    pub fn shift(self) -> i8 {
        self.shift
    }

    /// Nanoseconds in `ticks` (Xen's `scale_delta`, the guest's formula). Saturates at
    /// `u64::MAX` where Xen would wrap (only for spans of centuries).
    pub fn scale_delta(self, ticks: u64) -> u64 {
        let product = self.shifted(ticks) * u128::from(self.mul_frac);
        u64::try_from(product >> 32).unwrap_or(u64::MAX)
    }

    /// The fewest ticks `t` with `scale_delta(t) ≥ ns`: the TSC distance at which a deadline
    /// `ns` away is due, never early. Saturates at `u64::MAX`.
    pub fn ticks_for_ns(self, ns: u64) -> u64 {
        let mul = u128::from(self.mul_frac);
        let target = u128::from(ns) << 32;
        let ticks = if self.shift >= 0 {
            // floor(t·2^s·mul / 2^32) ≥ ns  ⟺  t ≥ ceil(ns·2^32 / (2^s·mul))
            target.div_ceil(mul << self.shift)
        } else {
            // floor(floor(t / 2^k)·mul / 2^32) ≥ ns  ⟺  floor(t / 2^k) ≥ ceil(ns·2^32 / mul)
            target.div_ceil(mul) << self.shift.unsigned_abs()
        };
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The counter frequency this scale stands for, in Hz (rounded down; for logs).
    pub fn frequency_hz(self) -> u64 {
        let base = (u128::from(NS_PER_SEC) << 32) / u128::from(self.mul_frac);
        let hz = if self.shift >= 0 {
            base >> self.shift
        } else {
            base << self.shift.unsigned_abs()
        };
        u64::try_from(hz).unwrap_or(u64::MAX)
    }

    fn shifted(self, ticks: u64) -> u128 {
        let ticks = u128::from(ticks);
        if self.shift >= 0 {
            ticks << self.shift
        } else {
            ticks >> self.shift.unsigned_abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact_ns(ticks: u64, hz: u64) -> u128 {
        u128::from(ticks) * u128::from(NS_PER_SEC) / u128::from(hz)
    }

    #[test]
    fn known_frequencies() {
        // 1 GHz: one tick per ns. (10^9 is not > 10^9, so it is doubled once.)
        let s = TimeScale::from_frequency(1_000_000_000).unwrap();
        assert_eq!((s.mul_frac(), s.shift()), (0x8000_0000, 1));
        assert_eq!(s.scale_delta(12345), 12345);
        // 2 GHz: half a ns per tick.
        let s = TimeScale::from_frequency(2_000_000_000).unwrap();
        assert_eq!((s.mul_frac(), s.shift()), (0x8000_0000, 0));
        assert_eq!(s.scale_delta(1000), 500);
        // 3 GHz: shifted right once to 1.5 GHz.
        let s = TimeScale::from_frequency(3_000_000_000).unwrap();
        assert_eq!(s.shift(), -1);
        assert_eq!(s.scale_delta(3_000_000_000), 999_999_999);
        assert_eq!(s.frequency_hz() / 1000, 3_000_000);
        assert_eq!(TimeScale::from_frequency(0), Err(TimeError::ZeroFrequency));
    }

    #[test]
    fn extreme_frequencies_and_deltas_do_not_overflow() {
        for hz in [1, 2, 3, 999_999_999, u64::MAX] {
            let s = TimeScale::from_frequency(hz).unwrap();
            assert_eq!(TimeScale::from_raw(s.mul_frac(), s.shift()), Some(s));
            let _ = s.scale_delta(u64::MAX);
            let _ = s.ticks_for_ns(u64::MAX);
        }
        let slow = TimeScale::from_frequency(1).unwrap();
        assert_eq!(slow.scale_delta(u64::MAX), u64::MAX);
        assert_eq!(TimeScale::from_raw(0, 0), None);
        assert_eq!(TimeScale::from_raw(u32::MAX, 32), None);
        assert_eq!(TimeScale::from_raw(u32::MAX, -41), None);
        let widest = TimeScale::from_raw(u32::MAX, MIN_SHIFT).unwrap();
        let _ = (widest.ticks_for_ns(u64::MAX), widest.scale_delta(u64::MAX));
        let steepest = TimeScale::from_raw(u32::MAX, MAX_SHIFT).unwrap();
        let _ = (
            steepest.ticks_for_ns(u64::MAX),
            steepest.scale_delta(u64::MAX),
        );
    }

    proptest! {
        /// scale_delta is within 2 ns + 2·10^-9 relative of exact 128-bit math.
        #[test]
        fn scale_delta_matches_exact_math(hz in 1_000_000u64..=10_000_000_000, ticks in any::<u64>()) {
            let s = TimeScale::from_frequency(hz).unwrap();
            let exact = exact_ns(ticks, hz);
            prop_assume!(exact < u128::from(u64::MAX));
            let got = u128::from(s.scale_delta(ticks));
            let err = got.abs_diff(exact);
            prop_assert!(err <= 2 + exact / 500_000_000, "hz {} ticks {} got {} exact {}", hz, ticks, got, exact);
        }

        /// ns → ticks → ns lands on or just after ns (within one tick), and one tick fewer is early.
        #[test]
        fn ticks_for_ns_is_the_exact_inverse(hz in 1_000_000u64..=10_000_000_000, ns in 0u64..1 << 60) {
            let s = TimeScale::from_frequency(hz).unwrap();
            let t = s.ticks_for_ns(ns);
            let back = s.scale_delta(t);
            prop_assert!(back >= ns);
            prop_assert!(back - ns <= s.scale_delta(1) + 1, "overshoot {} ns", back - ns);
            if t > 0 {
                prop_assert!(s.scale_delta(t - 1) < ns);
            }
        }

        /// Conversion is monotonic in the tick count.
        #[test]
        fn scale_delta_is_monotonic(hz in 1u64..=20_000_000_000, a in any::<u64>(), b in any::<u64>()) {
            let s = TimeScale::from_frequency(hz).unwrap();
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(s.scale_delta(lo) <= s.scale_delta(hi));
        }
    }
}
