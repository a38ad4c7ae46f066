//! `demo-linux`: Debian's own kernel in a domain built with superpages, shown to a person.
//! The initramfs's `/init` runs `hvtest=demo` (tests/linux/init): it says what it does, asks
//! for 64 huge pages, runs the hugetlbfs program (`hugecheck huge 64 4 thp pause`), which
//! stops once while its huge mappings are live (`HVSNAP live`): the tool presses the
//! hypervisor's `m` debug key there, so the counters show the live 2 MiB mappings. Then
//! the guest powers off and the hypervisor prints its counters and its teardown check.
//!
//! Only the lines that tell the story are echoed ([`shown`]); a summary follows.

use std::path::Path;
use std::time::Duration;

use crate::bench_hugepages::{snapshot_input, snapshot_stat};
use crate::linux::superpage_config;
use crate::mmstat;
use crate::qemu::{Console, RunConfig, RunResult};

/// Domain memory, MiB.
pub const GUEST_MIB: u32 = 512;
/// The guest's command line.
pub const CMDLINE: &str = "console=hvc0 quiet hvtest=demo";
/// The domain the demo runs in.
pub const DOMAIN: u32 = 1;

/// Whether a serial line is part of the demo's story.
pub fn shown(line: &str) -> bool {
    const TOLD: [&str; 14] = [
        "DEMO:",
        "HUGE:",
        "INIT: hugepages",
        "INIT: reached /init",
        "HVSNAP",
        "MMSTAT",
        "MMCHECK",
        "kernel: bzImage",
        "superpages",
        "ERROR",
        "WARN",
        "PANIC",
        "FATAL",
        "Kernel panic",
    ];
    TOLD.iter().any(|t| line.contains(t))
}

/// The run: echoed through [`shown`], the `live` snapshot answered.
pub fn config(hv: &Path, kernel: &Path, initramfs: &Path) -> RunConfig {
    let timeout = Duration::from_secs(600);
    let mut cfg = superpage_config(hv, kernel, initramfs, GUEST_MIB, CMDLINE, timeout);
    cfg.console = Console::Capture { echo: true };
    cfg.echo_filter = Some(shown);
    cfg.input = vec![snapshot_input("live")];
    cfg
}

/// The closing summary: what the guest and the hypervisor's counters showed.
pub fn summary(r: &RunResult) -> Vec<String> {
    let lines: Vec<&str> = r.lines.iter().map(|l| l.text.as_str()).collect();
    let mut out = Vec::new();
    let verdicts = |word: &str| lines.iter().filter(|l| l.contains(word)).count();
    out.push(format!(
        "guest: {} hugepage checks passed, {} failed, {} skipped",
        verdicts("HUGE: PASS"),
        verdicts("HUGE: FAIL"),
        verdicts("HUGE: SKIP")
    ));
    match snapshot_stat(&lines, "live") {
        Some(s) => out.push(format!(
            "hypervisor, while the huge mappings were live ('m' key): {} 2 MiB mappings live",
            s.pse_live
        )),
        None => out.push("hypervisor: no counters were shown on the 'm' key".into()),
    }
    // Teardown comes after the guest's last words (an `m` snapshot is not a teardown).
    let end = lines
        .iter()
        .rposition(|l| l.contains("DEMO: powering off"))
        .unwrap_or(lines.len());
    match mmstat::last_stat(lines[end..].iter().copied(), DOMAIN) {
        Some(s) => out.push(format!("hypervisor, at teardown: {}", s.describe())),
        None => out.push("hypervisor: no counters at teardown".into()),
    }
    match mmstat::check(lines.iter().copied(), DOMAIN) {
        Some(c) => out.push(format!(
            "hypervisor's teardown check: {} (spage entries not back to 0: {}, frames leaked: {})",
            if c.clean() { "clean" } else { "FAILED" },
            c.spage_nonzero,
            c.frames_leaked
        )),
        None => out.push("hypervisor: no teardown check was printed".into()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{Line, Outcome};

    #[test]
    fn the_story_is_shown_and_the_kernel_noise_is_not() {
        assert!(shown("(d1) HUGE: PASS pool HugePages_Total=64"));
        assert!(shown("(HV) INFO MMSTAT dom=1 pse_live=8"));
        assert!(!shown("(d1) [    0.000000] Linux version 6.1.0"));
    }

    #[test]
    fn summary_reads_the_live_snapshot_and_the_teardown() {
        let text = [
            "(d1) HUGE: PASS pool x",
            "(d1) HVSNAP live: waiting for a line on the console",
            "MMSTAT dom=1 pse_live=8 pse_made=8 pse_released=0 spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles=0 ptwr_cycles=0 tsc_khz=1000",
            "(d1) HUGE: FAIL maps x",
            "(d1) DEMO: powering off; the hypervisor prints its counters",
            "MMSTAT dom=1 pse_live=0 pse_made=32 pse_released=32 spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles=2000 ptwr_cycles=0 tsc_khz=1000",
            "MMCHECK dom=1 spage_nonzero=0 frames_leaked=0 verdict=ok",
        ];
        let r = RunResult {
            outcome: Outcome::Poweroff,
            lines: text
                .iter()
                .map(|t| Line {
                    at: Duration::ZERO,
                    text: t.to_string(),
                    cpu: None,
                })
                .collect(),
            elapsed: Duration::ZERO,
        };
        let s = summary(&r);
        assert_eq!(s[0], "guest: 1 hugepage checks passed, 1 failed, 0 skipped");
        assert!(s[1].contains(": 8 2 MiB mappings live"), "{}", s[1]);
        assert!(s[2].contains("made 32, released 32, live 0"), "{}", s[2]);
        assert!(s[2].contains("MMU time 2.0 ms"), "{}", s[2]);
        assert!(s[3].contains("clean"), "{}", s[3]);
        let before_poweroff = RunResult {
            lines: r.lines[..3].to_vec(),
            ..r.clone()
        };
        assert_eq!(
            summary(&before_poweroff)[2],
            "hypervisor: no counters at teardown"
        );
    }
}
