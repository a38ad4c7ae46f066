//! The hypervisor's boot timeline: TSC stamps at named points of the boot, printed as one
//! log line of milliseconds so that a boot's time can be split between its steps.
//!
//! ```text
//!  boot: entry at +191.2 ms of TSC (under QEMU: since the machine's reset); since entry:
//!        early 0.9, heap and allocator 2.1, ... (each step's own time), total 54.0 ms
//! ```
//!
//! Under QEMU the TSC starts at 0 when the machine is reset, so the entry stamp tells how long
//! QEMU's firmware and loader took before the hypervisor ran; on hardware it is time since
//! power-on (or whatever the firmware left), and only the differences mean anything.

use alloc::string::String;
use core::fmt::Write;

/// Most steps a timeline records; later marks are dropped.
pub const MAX_STEPS: usize = 16;

/// Named TSC stamps from the hypervisor's entry on.
#[derive(Clone, Debug)]
pub struct BootTimeline {
    entry: u64,
    steps: [(&'static str, u64); MAX_STEPS],
    len: usize,
}

impl BootTimeline {
    /// A timeline starting at TSC `entry`.
    pub fn new(entry: u64) -> Self {
        Self {
            entry,
            steps: [("", 0); MAX_STEPS],
            len: 0,
        }
    }

    /// Records that step `name` ended at TSC `tsc`.
    pub fn mark(&mut self, name: &'static str, tsc: u64) {
        if let Some(slot) = self.steps.get_mut(self.len) {
            *slot = (name, tsc);
            self.len += 1;
        }
    }

    /// The recorded steps with their own durations in TSC cycles, in order.
    pub fn durations(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let mut last = self.entry;
        self.steps[..self.len].iter().map(move |&(name, tsc)| {
            let d = tsc.saturating_sub(last);
            last = last.max(tsc);
            (name, d)
        })
    }

    /// The log line at a TSC of `tsc_hz`: the entry stamp, then each step's own time and the
    /// total, in milliseconds with one decimal.
    pub fn line(&self, tsc_hz: u64) -> String {
        let per_100us = (tsc_hz / 10_000).max(1);
        let ms = |t: u64| {
            let tenths = t / per_100us;
            (tenths / 10, tenths % 10)
        };
        let mut out = String::new();
        let (a, b) = ms(self.entry);
        let _ = write!(out, "entry at +{a}.{b} ms of TSC; since entry:");
        let mut total = 0;
        for (i, (name, d)) in self.durations().enumerate() {
            let (a, b) = ms(d);
            let _ = write!(out, "{} {name} {a}.{b}", if i == 0 { "" } else { "," });
            total += d;
        }
        let (a, b) = ms(total);
        let _ = write!(out, ", total {a}.{b} ms");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_reported_by_their_own_duration() {
        // 1 GHz: 1 ms = 1_000_000 cycles.
        let mut t = BootTimeline::new(191_250_000);
        t.mark("early", 192_150_000);
        t.mark("heap", 194_250_000);
        t.mark("domains", 245_250_000);
        assert_eq!(
            t.line(1_000_000_000),
            "entry at +191.2 ms of TSC; since entry: early 0.9, heap 2.1, domains 51.0, total 54.0 ms"
        );
    }

    #[test]
    fn marks_beyond_the_capacity_are_dropped_and_time_never_runs_backwards() {
        let mut t = BootTimeline::new(100);
        for i in 0..(MAX_STEPS as u64 + 3) {
            t.mark("s", 100 + i);
        }
        assert_eq!(t.durations().count(), MAX_STEPS);
        let mut t = BootTimeline::new(100);
        t.mark("a", 50);
        t.mark("b", 300);
        let d: alloc::vec::Vec<u64> = t.durations().map(|(_, d)| d).collect();
        assert_eq!(d, [0, 200]);
    }
}
