//! `hvtool bench-superpage`: boots the `bench_superpage` guest in a domain built with
//! superpages and collects what it measured (the guest does the timing with `rdtsc`).
//!
//! The guest's last line is `RESULT pse_cycles=N pte1_cycles=N pte512_cycles=N`: cycles to
//! map and unmap one 2 MiB superpage by one PSE L2 entry, one 4 KiB PTE, and the same 2 MiB
//! as 512 batched PTEs (medians). The project's goal: `pse <= 2 * pte1` and
//! `pte512 >= 50 * pse`.

use anyhow::{bail, Context, Result};

use crate::qemu::{self, Outcome, RunConfig};

/// The benchmark guest's name in `guests/src/bin`.
pub const SUPERPAGE_GUEST: &str = "bench_superpage";

/// The figures of one `RESULT` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuperpageResult {
    /// Map + unmap of one PSE L2 entry.
    pub pse_cycles: u64,
    /// Map + unmap of one 4 KiB L1 entry.
    pub pte1_cycles: u64,
    /// Map + unmap of 512 L1 entries, one batch each way.
    pub pte512_cycles: u64,
}

impl SuperpageResult {
    /// Whether the project's goals hold: PSE at most 2x one PTE, and at least 50x cheaper
    /// than 512 PTEs.
    pub fn meets_goals(&self) -> bool {
        self.pse_cycles <= 2 * self.pte1_cycles && self.pte512_cycles >= 50 * self.pse_cycles
    }
}

/// Parses exactly `RESULT pse_cycles=N pte1_cycles=N pte512_cycles=N` (decimal numbers, in
/// this order, single spaces); `None` for anything else.
pub fn parse_result(line: &str) -> Option<SuperpageResult> {
    let rest = line.strip_prefix("RESULT ")?;
    let mut fields = rest.split(' ');
    let mut value = |key: &str| -> Option<u64> {
        let digits = fields.next()?.strip_prefix(key)?.strip_prefix('=')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let result = SuperpageResult {
        pse_cycles: value("pse_cycles")?,
        pte1_cycles: value("pte1_cycles")?,
        pte512_cycles: value("pte512_cycles")?,
    };
    fields.next().is_none().then_some(result)
}

/// A serial line without the hypervisor's `(dN) ` guest-console prefix, if it has one.
pub fn guest_text(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("(d")?;
    let (id, text) = rest.split_once(") ")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// What one benchmark run printed.
#[derive(Clone, Debug)]
pub struct SuperpageBench {
    /// The guest's console lines, prefix removed, `RESULT` line included (last).
    pub lines: Vec<String>,
    /// The `RESULT` line as the guest printed it.
    pub result_line: String,
    /// Its figures.
    pub result: SuperpageResult,
}

/// Boots `cfg` (the benchmark guest, superpages on) once and extracts the guest's lines and
/// its `RESULT`. Fails with the serial log if the guest did not power off cleanly or printed
/// no well-formed `RESULT` line.
pub fn bench_superpage(cfg: &RunConfig) -> Result<SuperpageBench> {
    let run = qemu::run(cfg).context("running the superpage benchmark")?;
    let lines: Vec<String> = run
        .lines
        .iter()
        .filter_map(|l| guest_text(&l.text))
        .map(String::from)
        .collect();
    if run.outcome != Outcome::Poweroff {
        bail!(
            "the benchmark guest did not power off ({:?}); log:\n{}",
            run.outcome,
            run.log()
        );
    }
    let Some(result_line) = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("RESULT "))
        .cloned()
    else {
        bail!(
            "the benchmark guest printed no RESULT line; log:\n{}",
            run.log()
        );
    };
    let Some(result) = parse_result(&result_line) else {
        bail!("malformed result line {result_line:?}");
    };
    Ok(SuperpageBench {
        lines,
        result_line,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_result_line() {
        let r = parse_result("RESULT pse_cycles=14378 pte1_cycles=14040 pte512_cycles=2476266");
        assert_eq!(
            r,
            Some(SuperpageResult {
                pse_cycles: 14378,
                pte1_cycles: 14040,
                pte512_cycles: 2476266
            })
        );
        assert!(r.unwrap().meets_goals());
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "",
            "RESULT",
            "RESULT pse_cycles=1 pte1_cycles=2",
            "RESULT pse_cycles=1 pte1_cycles=2 pte512_cycles=3 extra=4",
            "RESULT pte1_cycles=2 pse_cycles=1 pte512_cycles=3",
            "RESULT pse_cycles=-1 pte1_cycles=2 pte512_cycles=3",
            "RESULT pse_cycles= pte1_cycles=2 pte512_cycles=3",
            "RESULT pse_cycles=1  pte1_cycles=2 pte512_cycles=3",
            "result pse_cycles=1 pte1_cycles=2 pte512_cycles=3",
            "RESULT pse_cycles=99999999999999999999999 pte1_cycles=2 pte512_cycles=3",
        ] {
            assert_eq!(parse_result(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn goals() {
        let r = |pse, pte1, pte512| SuperpageResult {
            pse_cycles: pse,
            pte1_cycles: pte1,
            pte512_cycles: pte512,
        };
        assert!(r(200, 100, 10_000).meets_goals());
        assert!(!r(201, 100, 100_000).meets_goals());
        assert!(!r(100, 100, 4_999).meets_goals());
    }

    #[test]
    fn strips_the_guest_prefix() {
        assert_eq!(guest_text("(d1) RESULT x"), Some("RESULT x"));
        assert_eq!(guest_text("(d12) a b"), Some("a b"));
        assert_eq!(guest_text("(HV) INFO  x"), None);
        assert_eq!(guest_text("(d) x"), None);
        assert_eq!(guest_text("plain"), None);
    }
}
