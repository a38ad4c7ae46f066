//! `hvtool bench-density`: many small unikernels (the `worker` guest) side by side in one boot,
//! all of one shared kernel module and a `domains` table module (`hv_core::domain_config`).
//!
//! For N = 1, 10, 100 and as many as fit in 2 GiB of guest RAM, one run each reports:
//! - the hypervisor's time per domain from "create" to its first instruction (the
//!   `dN: built in X us` lines: events, build steps, grant table, xenstore, start);
//! - the time from the hypervisor's first log line to each domain's first application line
//!   (`worker: domain`) — not from QEMU start: QEMU allocates all guest RAM up front
//!   (`-mem-prealloc`, seconds for 2 GiB on a busy host) so that the host's first-touch faults
//!   stay out of the hypervisor's timings;
//! - the hypervisor's memory per domain beyond guest RAM (heap and frames, from the boot log).
//!
//! Free memory is scrubbed at boot (`bootscrub=1`, as Xen's option) so that domains are built
//! from clean memory, as they are at run time once the idle loop has scrubbed; the boot scrub's
//! time is reported apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::qemu::{self, BootModule, Outcome, RunConfig, RunResult};
use crate::stats::median;

/// The guest booted N times.
pub const DENSITY_GUEST: &str = "worker";
/// Guest RAM the largest run fills, MiB.
pub const GUEST_RAM_MIB: u64 = 2048;
/// Machine memory on top of guest RAM for the hypervisor (heap, frame tables, M2P), MiB.
pub const HYPERVISOR_MIB: u64 = 160;
/// What each worker does: print its first line, sleep 5 × 20 ms, power off.
pub const WORKER_CMDLINE: &str = "ticks=5";

/// Figures of one run with `n` domains.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    /// Domains.
    pub n: usize,
    /// Hypervisor microseconds per domain, create to first instruction.
    pub create_us: Vec<u64>,
    /// Milliseconds from the hypervisor's first line to each domain's first application line.
    pub first_line_ms: Vec<f64>,
    /// Hypervisor memory beyond guest RAM for all domains, KiB.
    pub overhead_kib: u64,
    /// Boot scrub, ms (0 if not reported).
    pub bootscrub_ms: u64,
}

impl Density {
    /// Median creation time, ms.
    pub fn create_ms(&self) -> f64 {
        let ms: Vec<f64> = self.create_us.iter().map(|&u| u as f64 / 1000.0).collect();
        median(&ms).unwrap_or(0.0)
    }

    /// When the last domain printed its first line (all up), ms since the hypervisor's first line.
    pub fn all_up_ms(&self) -> f64 {
        self.first_line_ms.iter().copied().fold(0.0, f64::max)
    }

    /// Overhead per domain, KiB.
    pub fn overhead_kib_per_domain(&self) -> f64 {
        self.overhead_kib as f64 / self.n.max(1) as f64
    }
}

/// The `domains` table for `n` workers of `mem_mib` each, kernel in module 0.
pub fn plan_text(n: usize, mem_mib: u64) -> String {
    (1..=n)
        .map(|i| format!("name=w{i} mem={mem_mib}M kernel=0 -- {WORKER_CMDLINE}\n"))
        .collect()
}

/// The number after `key` in `text` (`"heap 12 KiB"`, key `"heap "` → 12).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads the figures of a run with `n` domains from its serial log.
pub fn figures(lines: &[qemu::Line], n: usize) -> Result<Density> {
    let mut create_us = Vec::new();
    let mut first_line_ms = vec![None; n];
    let (mut overhead_kib, mut bootscrub_ms) = (None, 0);
    let hv_start = lines
        .iter()
        .find(|l| l.text.starts_with("(HV)"))
        .map_or(Duration::ZERO, |l| l.at);
    for l in lines {
        let t = &l.text;
        if t.contains("(HV)") && t.contains(": built in ") {
            create_us.extend(number_after(t, ": built in "));
        } else if t.contains("boot: hypervisor memory for") {
            overhead_kib = Some(
                number_after(t, "heap ").unwrap_or(0) + number_after(t, "frames ").unwrap_or(0),
            );
        } else if t.contains("bootscrub:") {
            bootscrub_ms = number_after(t, "scrubbed in ").unwrap_or(0);
        } else if let Some(rest) = t.strip_prefix("(w") {
            if let Some((i, line)) = rest.split_once(") ") {
                let slot = i.parse::<usize>().ok().and_then(|i| i.checked_sub(1));
                if let Some(slot) = slot.filter(|&s| s < n) {
                    if line.starts_with("worker: domain") && first_line_ms[slot].is_none() {
                        let since = l.at.saturating_sub(hv_start);
                        first_line_ms[slot] = Some(since.as_secs_f64() * 1000.0);
                    }
                }
            }
        }
    }
    if create_us.len() != n {
        bail!("{} of {n} domains logged their build time", create_us.len());
    }
    let missing = first_line_ms.iter().filter(|t| t.is_none()).count();
    if missing > 0 {
        bail!("{missing} of {n} domains never printed their first line");
    }
    Ok(Density {
        n,
        create_us,
        first_line_ms: first_line_ms.into_iter().flatten().collect(),
        overhead_kib: overhead_kib.context("no hypervisor memory line in the log")?,
        bootscrub_ms,
    })
}

/// Boots `n` workers of `mem_mib` each (files written to `dir`).
pub fn run(hv: &Path, kernel: &Path, n: usize, mem_mib: u64, dir: &Path) -> Result<Density> {
    std::fs::create_dir_all(dir)?;
    let plan: PathBuf = dir.join(format!("density-{n}.plan"));
    std::fs::write(&plan, plan_text(n, mem_mib))?;
    let mut cfg = RunConfig::new(hv.to_path_buf(), kernel.to_path_buf());
    cfg.modules = vec![
        BootModule {
            path: kernel.to_path_buf(),
            args: "kernel".into(),
        },
        BootModule {
            path: plan,
            args: "domains".into(),
        },
    ];
    cfg.hv_args = vec!["log=info".into(), "bootscrub=1".into()];
    cfg.machine_mib = u32::try_from(GUEST_RAM_MIB + HYPERVISOR_MIB)?;
    cfg.prealloc = true;
    cfg.timeout = Duration::from_secs(120 + 2 * n as u64);
    let r: RunResult = qemu::run(&cfg)?;
    if r.outcome != Outcome::Poweroff {
        bail!(
            "{n} domains: {} ; log tail:\n{}",
            r.outcome.describe(),
            r.lines
                .iter()
                .rev()
                .take(30)
                .rev()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    std::fs::write(dir.join(format!("density-{n}.log")), r.log())?;
    figures(&r.lines, n)
}

/// The report's table row for one run.
pub fn row(d: &Density) -> String {
    let us = &d.create_us;
    format!(
        "{:>5} {:>10.3} {:>10.3} {:>12.1} {:>12.1} {:>10.1} {:>9}",
        d.n,
        d.create_ms(),
        us.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
        median(&d.first_line_ms).unwrap_or(0.0),
        d.all_up_ms(),
        d.overhead_kib_per_domain(),
        d.bootscrub_ms
    )
}

/// The table header matching [`row`].
pub const HEADER: &str =
    "    N  create_ms  worst_ms  first_line_ms  all_up_ms  ovh_KiB/dom  scrub_ms";

/// The last line.
pub fn result_line(at_max: &Density) -> String {
    format!(
        "RESULT max_domains={} create_ms_per_domain={:.3} first_line_ms_at_max={:.0} overhead_kib_per_domain={:.1}",
        at_max.n,
        at_max.create_ms(),
        at_max.all_up_ms(),
        at_max.overhead_kib_per_domain()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ms: u64, text: &str) -> qemu::Line {
        qemu::Line {
            at: Duration::from_millis(ms),
            text: text.into(),
            cpu: None,
        }
    }

    #[test]
    fn the_plan_names_the_shared_kernel_module() {
        let p = plan_text(2, 4);
        assert_eq!(
            p,
            "name=w1 mem=4M kernel=0 -- ticks=5\nname=w2 mem=4M kernel=0 -- ticks=5\n"
        );
    }

    #[test]
    fn figures_come_from_the_log() {
        let lines = [
            line(50, "(HV) INFO  memory: 2207 MiB RAM"),
            line(90, "(HV) INFO  bootscrub: 2048 MiB scrubbed in 812 ms"),
            line(100, "(HV) INFO  d1: built in 640 us (events 10 us, unpack 1 us)"),
            line(101, "(HV) INFO  d2: built in 720 us (events 10 us)"),
            line(
                102,
                "(HV) INFO  boot: hypervisor memory for 2 domain(s): heap 40 KiB, frames 16 KiB beyond their 8 MiB",
            ),
            line(150, "(w2) worker: domain Some(2), cmdline \"ticks=5\""),
            line(160, "(w1) worker: domain Some(1), cmdline \"ticks=5\""),
            line(170, "(w1) worker: tick 1/5"),
        ];
        let d = figures(&lines, 2).unwrap();
        assert_eq!(d.create_us, [640, 720]);
        assert_eq!(d.first_line_ms, [110.0, 100.0]);
        assert_eq!((d.overhead_kib, d.bootscrub_ms), (56, 812));
        assert_eq!(d.all_up_ms(), 110.0);
        assert_eq!(d.overhead_kib_per_domain(), 28.0);
        assert_eq!(
            result_line(&d),
            "RESULT max_domains=2 create_ms_per_domain=0.680 first_line_ms_at_max=110 overhead_kib_per_domain=28.0"
        );
        assert!(figures(&lines[..3], 2).is_err());
        assert!(figures(&lines, 3).is_err());
    }
}
