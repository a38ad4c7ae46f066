//! `bench-hugepages`: one boot of Debian's kernel in a domain built with superpages, running
//! `hugecheck bench 1024 512` (`hvtest=hugebench`, tests/linux/hugecheck.c). In the same
//! guest: fault in, touch (one write per 4 KiB) and unmap 1 GiB of 2 MiB hugetlb pages, then
//! 1 GiB of 4 KiB pages (THP off), then 512 MiB of random accesses with each page size.
//!
//! Before the first phase and after each, the guest prints `HVSNAP <name>` and waits for a
//! line on its console. The tool then types 3 x Ctrl-A (input to the hypervisor), `m` (the
//! debug key that prints every live domain's `MMSTAT` line), 3 x Ctrl-A (input back to the
//! domain) and Enter. The hypervisor's MMU time of a phase is the difference of
//! `mmu_hc_cycles + ptwr_cycles` between its two snapshots, over `tsc_khz`.
//!
//! Last line: `RESULT huge_guest_ms=X small_guest_ms=X huge_hv_mmu_ms=X small_hv_mmu_ms=X`
//! (`na` where a figure is missing). Goal: the 2 MiB run's MMU time at least 50 x lower
//! than the 4 KiB run's, and its guest time lower too.

use std::path::Path;
use std::time::Duration;

use crate::linux::superpage_config;
use crate::mmstat::MmStat;
use crate::qemu::{RunConfig, RunResult};

/// Domain memory, MiB: 1 GiB of huge pages in the pool, 1 GiB of 4 KiB pages touched while
/// the pool is held, and room for the kernel and the initramfs.
pub const GUEST_MIB: u32 = 2560;
/// The guest's command line.
pub const CMDLINE: &str = "console=hvc0 quiet hvtest=hugebench";
/// The snapshots, in the guest's order.
pub const SNAPSHOTS: [&str; 5] = [
    "start",
    "huge-done",
    "small-done",
    "huge-random-done",
    "small-random-done",
];
/// The phases: (name in the guest's `HUGEBENCH:` line, snapshot before, snapshot after).
pub const PHASES: [(&str, usize, usize); 4] = [
    ("huge-fault-touch-unmap", 0, 1),
    ("small-fault-touch-unmap", 1, 2),
    ("huge-random", 2, 3),
    ("small-random", 3, 4),
];
/// The domain the benchmark runs in (the only one).
pub const DOMAIN: u32 = 1;
/// The ratio of 4 KiB to 2 MiB MMU time the benchmark is after.
pub const GOAL_MMU_RATIO: f64 = 50.0;

/// What to type when the guest prints the snapshot marker `HVSNAP <name>`: the debug key `m`
/// between two focus switches, then Enter for the waiting guest.
pub fn snapshot_input(name: &str) -> (String, String) {
    (
        format!("HVSNAP {name}:"),
        "\u{1}\u{1}\u{1}m\u{1}\u{1}\u{1}\r".to_string(),
    )
}

/// The run: `kernel` with `initramfs`, superpages, [`GUEST_MIB`], snapshots answered.
pub fn config(hv: &Path, kernel: &Path, initramfs: &Path) -> RunConfig {
    let timeout = Duration::from_secs(1200);
    let mut cfg = superpage_config(hv, kernel, initramfs, GUEST_MIB, CMDLINE, timeout);
    cfg.input = SNAPSHOTS.iter().map(|s| snapshot_input(s)).collect();
    cfg
}

/// The counters read at snapshot `name`: the first `MMSTAT` of [`DOMAIN`] after the guest's
/// marker `HVSNAP <name>:` and before the guest's next snapshot or result (`HVSNAP`,
/// `HUGE…` lines), so a missing one is never taken from later.
pub fn snapshot_stat(lines: &[&str], name: &str) -> Option<MmStat> {
    let marker = format!("HVSNAP {name}:");
    let at = lines.iter().position(|l| l.contains(&marker))?;
    lines[at + 1..]
        .iter()
        .take_while(|l| !l.contains("HVSNAP ") && !l.contains("HUGE"))
        .filter_map(|l| MmStat::parse(l))
        .find(|s| s.dom == DOMAIN)
}

/// The counters read at each of [`SNAPSHOTS`].
pub fn snapshots(lines: &[&str]) -> Vec<Option<MmStat>> {
    SNAPSHOTS
        .iter()
        .map(|name| snapshot_stat(lines, name))
        .collect()
}

/// The guest's own time for `phase` (`HUGEBENCH: <phase> <MiB> MiB in <ms> ms`).
pub fn guest_ms(lines: &[&str], phase: &str) -> Option<f64> {
    let prefix = format!("HUGEBENCH: {phase} ");
    lines.iter().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        let ms = rest.split(" in ").nth(1)?.strip_suffix(" ms")?;
        ms.trim().parse().ok()
    })
}

/// One phase's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phase {
    /// The guest's wall time, ms.
    pub guest_ms: Option<f64>,
    /// The hypervisor's MMU time in that phase, ms.
    pub hv_mmu_ms: Option<f64>,
    /// 2 MiB mappings made in that phase.
    pub pse_made: Option<u64>,
}

/// The figures of every phase of [`PHASES`], from the serial log.
pub fn phases(r: &RunResult) -> Vec<Phase> {
    let lines: Vec<&str> = r.lines.iter().map(|l| l.text.as_str()).collect();
    let snaps = snapshots(&lines);
    PHASES
        .iter()
        .map(|&(name, before, after)| {
            let pair = snaps[before].zip(snaps[after]);
            Phase {
                guest_ms: guest_ms(&lines, name),
                hv_mmu_ms: pair.and_then(|(a, b)| b.mmu_ms_since(&a)),
                pse_made: pair.and_then(|(a, b)| b.pse_made().checked_sub(a.pse_made())),
            }
        })
        .collect()
}

fn figure(v: Option<f64>) -> String {
    v.map_or_else(|| "na".into(), |v| format!("{v:.1}"))
}

/// The closing line.
pub fn result_line(huge: &Phase, small: &Phase) -> String {
    format!(
        "RESULT huge_guest_ms={} small_guest_ms={} huge_hv_mmu_ms={} small_hv_mmu_ms={}",
        figure(huge.guest_ms),
        figure(small.guest_ms),
        figure(huge.hv_mmu_ms),
        figure(small.hv_mmu_ms)
    )
}

/// A sentence on the goals: MMU time ratio ≥ [`GOAL_MMU_RATIO`] and a lower guest time.
pub fn goal_line(huge: &Phase, small: &Phase) -> String {
    let ratio = huge
        .hv_mmu_ms
        .zip(small.hv_mmu_ms)
        .map(|(h, s)| s / h.max(f64::MIN_POSITIVE));
    let guest_lower = huge.guest_ms.zip(small.guest_ms).map(|(h, s)| h < s);
    match (ratio, guest_lower) {
        (Some(r), Some(lower)) => {
            format!(
            "hypervisor MMU time, 4 KiB / 2 MiB: {r:.1}x (goal >= {GOAL_MMU_RATIO}x: {}); guest \
             time lower with 2 MiB pages: {} (goal: yes)",
            if r >= GOAL_MMU_RATIO { "met" } else { "NOT met" },
            if lower { "yes" } else { "no" }
        )
        }
        _ => "the goals cannot be judged: a figure is missing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{Line, Outcome};

    fn stat(made: u64, cycles: u64) -> String {
        format!(
            "(HV) INFO MMSTAT dom=1 pse_live=0 pse_made={made} pse_released={made} \
             spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles={cycles} \
             ptwr_cycles=0 tsc_khz=1000"
        )
    }

    fn run(lines: &[String]) -> RunResult {
        RunResult {
            outcome: Outcome::Poweroff,
            lines: lines
                .iter()
                .map(|t| Line {
                    at: Duration::ZERO,
                    text: t.clone(),
                    cpu: None,
                })
                .collect(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn phases_take_the_counters_between_their_snapshots() {
        let mut log = vec!["(d1) HVSNAP start: waiting for a line on the console".to_string()];
        log.push(stat(0, 1000));
        log.push("(d1) HUGEBENCH: huge-fault-touch-unmap 1024 MiB in 812.5 ms".into());
        log.push("(d1) HVSNAP huge-done: waiting for a line on the console".into());
        log.push(stat(512, 3000));
        log.push(stat(999, 999_999)); // a second line for the same snapshot is not used
        log.push("(d1) HUGEBENCH: small-fault-touch-unmap 1024 MiB in 2000 ms".into());
        log.push("(d1) HVSNAP small-done: waiting for a line on the console".into());
        log.push(stat(512, 1_003_000));
        let p = phases(&run(&log));
        assert_eq!(
            p[0],
            Phase {
                guest_ms: Some(812.5),
                hv_mmu_ms: Some(2.0),
                pse_made: Some(512)
            }
        );
        assert_eq!(p[1].hv_mmu_ms, Some(1000.0));
        assert_eq!(p[1].guest_ms, Some(2000.0));
        assert_eq!(p[2], Phase::default(), "no snapshot, no figures");
        assert_eq!(
            result_line(&p[0], &p[1]),
            "RESULT huge_guest_ms=812.5 small_guest_ms=2000.0 huge_hv_mmu_ms=2.0 \
             small_hv_mmu_ms=1000.0"
        );
        assert!(goal_line(&p[0], &p[1]).contains("500.0x (goal >= 50x: met)"));
        assert_eq!(
            result_line(&p[2], &p[3]),
            "RESULT huge_guest_ms=na small_guest_ms=na huge_hv_mmu_ms=na small_hv_mmu_ms=na"
        );
    }

    #[test]
    fn a_snapshot_without_counters_is_missing_not_borrowed_from_the_next() {
        let log = [
            "HVSNAP start: waiting".to_string(),
            "HVSNAP huge-done: waiting".into(),
            stat(1, 5),
        ];
        let lines: Vec<&str> = log.iter().map(String::as_str).collect();
        let s = snapshots(&lines);
        assert_eq!(s[0], None);
        assert_eq!(s[1].map(|s| s.pse_made()), Some(1));
    }

    #[test]
    fn failed_phase_has_no_guest_time() {
        assert_eq!(
            guest_ms(
                &["HUGEBENCH: huge-random 512 MiB FAILED (nomem)"],
                "huge-random"
            ),
            None
        );
        assert_eq!(
            guest_ms(
                &["HUGEBENCH: huge-random 512 MiB in 77.0 ms"],
                "huge-random"
            ),
            Some(77.0)
        );
    }

    #[test]
    fn snapshot_input_switches_to_the_keys_and_back() {
        let (trigger, typed) = snapshot_input("start");
        assert_eq!(trigger, "HVSNAP start:");
        assert_eq!(typed.as_bytes(), b"\x01\x01\x01m\x01\x01\x01\r");
    }
}
