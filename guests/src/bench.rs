//! Timing helpers the benchmark guests share: `rdtsc` cycles and interleaved medians.
//!
//! ```text
//!   WARMUP rounds of every measurement, unmeasured
//!   REPS times: round 0, round 1, ... round N-1   (interleaved: load changes hit all alike)
//!   per round: the median of its REPS samples
//! ```

use core::arch::asm;

/// Measured repetitions (odd: the median is one of them).
pub const REPS: usize = 101;
/// Unmeasured rounds first.
pub const WARMUP: usize = 10;

/// The time-stamp counter, after earlier instructions completed (`lfence; rdtsc`).
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `lfence` and `rdtsc` only read the TSC into edx:eax; PV guests run them natively.
    unsafe {
        asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Cycles one call of `round` takes.
pub fn time(round: &mut impl FnMut()) -> u64 {
    let t0 = cycles();
    round();
    cycles() - t0
}

/// Median cycles of each of `rounds` over [`REPS`] repetitions, the rounds interleaved
/// (so that a change in host load during the run hits all of them alike).
pub fn medians<const N: usize>(mut rounds: [&mut dyn FnMut(); N]) -> [u64; N] {
    for _ in 0..WARMUP {
        rounds.iter_mut().for_each(|r| r());
    }
    let mut samples = [[0u64; REPS]; N];
    for rep in 0..REPS {
        for (round, s) in rounds.iter_mut().zip(samples.iter_mut()) {
            s[rep] = time(round);
        }
    }
    samples.map(|mut s| {
        s.sort_unstable();
        s[REPS / 2]
    })
}
