//! `hvtool bench-hotpaths`: the `bench_hotpaths` guest booted alternately under this
//! hypervisor and as dom0 of Xen 4.17 on the same QEMU machine, each side's best figure per
//! path compared.
//!
//! The guest's last line is `RESULT null_syscall=N ... pse=N|na` ([`PATHS`], in order). The
//! report's last line is `RESULT ours_P=N xen_P=N ... worst_ratio=R`, one pair per path,
//! `na` where a side cannot do a path (Xen refuses PSE), and `worst_ratio` the largest
//! ours / Xen over the paths both sides did.

use std::fmt::Write as _;

use anyhow::{bail, Result};

use crate::bench::guest_text;
use crate::qemu::{self, Outcome, RunConfig, RunResult};
use crate::xen::{self, XenBoot};

/// The benchmark guest's name in `guests/src/bin`.
pub const HOTPATHS_GUEST: &str = "bench_hotpaths";

/// The measured paths, in the order of the guest's RESULT line.
pub const PATHS: [&str; 11] = [
    "null_syscall",
    "null_page",
    "mmu1",
    "mmu16",
    "mmu512",
    "uvm",
    "uvm_invlpg",
    "pin_unpin",
    "evtchn",
    "trap_iret",
    "pse",
];

/// One run's figures: median cycles per path (`None` = `na`).
pub type Figures = [Option<u64>; PATHS.len()];

/// Parses exactly `RESULT p=V ...` with every name of [`PATHS`] in order, each value a
/// decimal number or `na`; `None` for anything else.
pub fn parse_result(line: &str) -> Option<Figures> {
    let mut fields = line.strip_prefix("RESULT ")?.split(' ');
    let mut out = [None; PATHS.len()];
    for (slot, name) in out.iter_mut().zip(PATHS) {
        let value = fields.next()?.strip_prefix(name)?.strip_prefix('=')?;
        *slot = match value {
            "na" => None,
            v if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Some(v.parse().ok()?),
            _ => return None,
        };
    }
    fields.next().is_none().then_some(out)
}

/// The figures of one run: the last RESULT line among `lines` (guest text only).
fn figures_of(run: &RunResult, text: impl Fn(&str) -> Option<&str>) -> Result<Figures> {
    if run.outcome != Outcome::Poweroff {
        bail!(
            "the benchmark guest did not power off ({:?}); log:\n{}",
            run.outcome,
            run.log()
        );
    }
    let line = run
        .lines
        .iter()
        .filter_map(|l| text(&l.text))
        .filter(|l| l.starts_with("RESULT "))
        .last();
    match line.and_then(parse_result) {
        Some(f) => Ok(f),
        None => bail!("no well-formed RESULT line; log:\n{}", run.log()),
    }
}

/// One run under this hypervisor (`cfg` boots the guest).
pub fn run_ours(cfg: &RunConfig) -> Result<Figures> {
    figures_of(&qemu::run(cfg)?, guest_text)
}

/// One run as dom0 of Xen.
pub fn run_xen(boot: &XenBoot) -> Result<Figures> {
    figures_of(&xen::run(boot)?, xen::dom0_text)
}

/// Per path, the smallest figure over `runs` (`None` if no run had one).
pub fn best(runs: &[Figures]) -> Figures {
    let mut out = [None; PATHS.len()];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = runs.iter().filter_map(|r| r[i]).min();
    }
    out
}

/// ours / xen for one path, if both did it.
pub fn ratio(ours: Option<u64>, xen: Option<u64>) -> Option<f64> {
    match (ours, xen) {
        (Some(o), Some(x)) if x > 0 => Some(o as f64 / x as f64),
        _ => None,
    }
}

fn show(v: Option<u64>) -> String {
    v.map_or("na".into(), |v| v.to_string())
}

/// The comparison table (one line per path) and the RESULT line.
pub fn report(ours: &Figures, xen: &Figures) -> (String, String) {
    let mut table = format!(
        "{:<14}{:>12}{:>12}{:>9}\n",
        "path", "ours", "xen", "ours/xen"
    );
    let mut result = String::from("RESULT");
    let mut worst: Option<f64> = None;
    for (i, name) in PATHS.iter().enumerate() {
        let r = ratio(ours[i], xen[i]);
        if let Some(r) = r {
            worst = Some(worst.map_or(r, |w| w.max(r)));
        }
        let _ = writeln!(
            table,
            "{name:<14}{:>12}{:>12}{:>9}",
            show(ours[i]),
            show(xen[i]),
            r.map_or("na".into(), |r| format!("{r:.2}"))
        );
        let _ = write!(
            result,
            " ours_{name}={} xen_{name}={}",
            show(ours[i]),
            show(xen[i])
        );
    }
    let _ = write!(
        result,
        " worst_ratio={}",
        worst.map_or("na".into(), |w| format!("{w:.2}"))
    );
    (table, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "RESULT null_syscall=1029 null_page=1054 mmu1=10755 mmu16=70780 \
                        mmu512=2075787 uvm=7473 uvm_invlpg=9114 pin_unpin=64484 evtchn=5733 \
                        trap_iret=4949 pse=na";

    #[test]
    fn parses_the_guest_line() {
        let f = parse_result(LINE).expect("well-formed");
        assert_eq!(f[0], Some(1029));
        assert_eq!(f[4], Some(2075787));
        assert_eq!(f[10], None);
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "",
            "RESULT",
            &LINE.replace("pse=na", ""),
            &LINE.replace("pse=na", "pse=na extra=1"),
            &LINE.replace("mmu1=", "mmu2="),
            &LINE.replace("=1029", "=-1"),
            &LINE.replace("=1029", "="),
            &LINE.replace("=1029", "=n/a"),
            &LINE.replace(" null_page", "  null_page"),
            &LINE.replace("=1029", "=99999999999999999999999"),
        ] {
            assert_eq!(parse_result(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn best_takes_the_minimum_per_path() {
        let mut a = [Some(10); PATHS.len()];
        let mut b = [Some(5); PATHS.len()];
        a[10] = None;
        b[10] = None;
        b[3] = Some(20);
        let m = best(&[a, b]);
        assert_eq!(m[0], Some(5));
        assert_eq!(m[3], Some(10));
        assert_eq!(m[10], None);
    }

    #[test]
    fn report_names_every_pair_and_the_worst_ratio() {
        let mut ours = [Some(100); PATHS.len()];
        let mut xen = [Some(200); PATHS.len()];
        ours[4] = Some(300);
        xen[10] = None;
        let (table, result) = report(&ours, &xen);
        assert!(result.starts_with("RESULT ours_null_syscall=100 xen_null_syscall=200 "));
        assert!(result.contains(" ours_pse=100 xen_pse=na "));
        assert!(result.ends_with(" worst_ratio=1.50"));
        assert_eq!(result.matches(" ours_").count(), PATHS.len());
        assert!(table.contains("mmu512"));
    }
}
