//! `hvtool bench-boot`: boot time of a unikernel under the hypervisor — from QEMU start to the
//! first line the guest's application prints — over several runs, median reported, for one
//! or more machine shapes run interleaved (so that the host's load drifts hit all of them).

use std::time::Duration;

use anyhow::{bail, Result};

use crate::qemu::{self, Machine, RunConfig};
use crate::stats::median;

/// One benchmark's result.
#[derive(Clone, Debug)]
pub struct BootBench {
    /// Milliseconds to the marker, per run.
    pub runs_ms: Vec<f64>,
    /// Median of `runs_ms`.
    pub median_ms: f64,
}

impl BootBench {
    /// The fastest run.
    pub fn min_ms(&self) -> f64 {
        self.runs_ms.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The slowest run.
    pub fn max_ms(&self) -> f64 {
        self.runs_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// Boots each of `cfgs` `runs` times, round by round, stopping each run when a line contains
/// `marker`; one result per configuration. A first round per configuration is a warm-up and
/// is not counted: it loads QEMU and its firmware into the page cache, and on a virtual
/// machine whose host backs its RAM lazily (these sandboxes: a first touch of a never-used
/// 2 MiB of the VM's memory costs the host several milliseconds) it gives the host memory
/// that QEMU processes then reuse, instead of charging it to a measured run.
pub fn bench_boot(cfgs: &[RunConfig], marker: &str, runs: usize) -> Result<Vec<BootBench>> {
    let cfgs: Vec<RunConfig> = cfgs
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.stop_at = Some(marker.to_string());
            c.timeout = c.timeout.min(Duration::from_secs(60));
            c
        })
        .collect();
    let mut all = vec![Vec::with_capacity(runs); cfgs.len()];
    for i in 0..=runs {
        for (cfg, times) in cfgs.iter().zip(all.iter_mut()) {
            let r = qemu::run(cfg)?;
            let Some(at) = r.time_of(marker) else {
                bail!(
                    "{} run {i}: {marker:?} never appeared ({:?}); log:\n{}",
                    cfg.machine.name(),
                    r.outcome,
                    r.log()
                );
            };
            let ms = at.as_secs_f64() * 1000.0;
            if i == 0 {
                println!(
                    "warm-up  {:<8} {ms:8.1} ms to {marker:?} (not counted)",
                    cfg.machine.name()
                );
                continue;
            }
            println!(
                "run {i:>2} {:<8} {ms:8.1} ms to {marker:?}",
                cfg.machine.name()
            );
            times.push(ms);
        }
    }
    Ok(all
        .into_iter()
        .map(|runs_ms| BootBench {
            median_ms: median(&runs_ms).unwrap_or(0.0),
            runs_ms,
        })
        .collect())
}

/// `RESULT boot_ms=N` for the first machine, then `<machine>_boot_ms=N` for each other one.
pub fn result_line(machines: &[Machine], benches: &[BootBench]) -> String {
    let mut line = String::from("RESULT");
    for (i, (m, b)) in machines.iter().zip(benches).enumerate() {
        if i == 0 {
            line.push_str(&format!(" boot_ms={:.0}", b.median_ms));
        } else {
            line.push_str(&format!(" {}_boot_ms={:.0}", m.name(), b.median_ms));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(ms: &[f64]) -> BootBench {
        BootBench {
            runs_ms: ms.to_vec(),
            median_ms: median(ms).unwrap(),
        }
    }

    #[test]
    fn result_line_names_the_first_machine_boot_ms_and_the_others_by_name() {
        let line = result_line(
            &[Machine::Microvm, Machine::Pc],
            &[bench(&[80.0, 90.4, 70.0]), bench(&[200.0, 250.0, 190.0])],
        );
        assert_eq!(line, "RESULT boot_ms=80 pc_boot_ms=200");
        assert_eq!(
            result_line(&[Machine::Pc], &[bench(&[5.0])]),
            "RESULT boot_ms=5"
        );
    }

    #[test]
    fn min_and_max_of_the_runs() {
        let b = bench(&[3.0, 1.0, 2.0]);
        assert_eq!((b.min_ms(), b.max_ms()), (1.0, 3.0));
    }
}
