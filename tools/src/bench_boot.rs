//! `hvtool bench-boot`: boot time of a unikernel under the hypervisor — from QEMU start to the
//! first line the guest's application prints — over several runs, median reported.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::qemu::{self, RunConfig};
use crate::stats::median;

/// One benchmark's result.
#[derive(Clone, Debug)]
pub struct BootBench {
    /// Milliseconds to the marker, per run.
    pub runs_ms: Vec<f64>,
    /// Median of `runs_ms`.
    pub median_ms: f64,
}

/// Boots `cfg` `runs` times, stopping each run when a line contains `marker`.
pub fn bench_boot(cfg: &RunConfig, marker: &str, runs: usize) -> Result<BootBench> {
    let mut cfg = cfg.clone();
    cfg.stop_at = Some(marker.to_string());
    if cfg.timeout > Duration::from_secs(60) {
        cfg.timeout = Duration::from_secs(60);
    }
    let mut runs_ms = Vec::with_capacity(runs);
    for i in 0..runs {
        let r = qemu::run(&cfg)?;
        let Some(at) = r.time_of(marker) else {
            bail!(
                "run {i}: {marker:?} never appeared ({:?}); log:\n{}",
                r.outcome,
                r.log()
            );
        };
        let ms = at.as_secs_f64() * 1000.0;
        println!("run {:>2}: {ms:8.1} ms to {marker:?}", i + 1);
        runs_ms.push(ms);
    }
    let median_ms = median(&runs_ms).unwrap_or(0.0);
    Ok(BootBench { runs_ms, median_ms })
}
