//! The hypervisor's per-domain MMU counters as it prints them on the serial console, at domain
//! teardown and on the `m` debug key:
//!
//! ```text
//! MMSTAT dom=1 pse_live=0 pse_made=40 pse_released=40 spage_type_changes=12 splinters=0 ptwr_l1=900 ptwr_l2=40 mmu_hc_cycles=123 ptwr_cycles=456 tsc_khz=2400000
//! MMCHECK dom=1 spage_nonzero=0 frames_leaked=0 verdict=ok
//! ```
//!
//! A line may carry a prefix (log level, domain name) before the text; the parser finds the
//! text anywhere in it. Every field must be there: a line with one missing is not read.
//! The lines are printed by `hv_core::mm::StatLine` / `CheckLine`; the tests parse those.

use hv_core::mm::MmStats;

/// One `MMSTAT` line: the hypervisor's counters ([`MmStats`], its own type) as printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmStat {
    /// The domain.
    pub dom: u32,
    /// PSE (2 MiB) mappings live now, as printed.
    pub pse_live: u64,
    /// The counters.
    pub counters: MmStats,
    /// TSC frequency, kHz (cycles per millisecond).
    pub tsc_khz: u64,
}

/// One `MMCHECK` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmCheck {
    /// The domain.
    pub dom: u32,
    /// Spage entries of the domain whose count was not back to 0.
    pub spage_nonzero: u64,
    /// Frames of the domain not returned.
    pub frames_leaked: u64,
    /// The hypervisor's own verdict (`verdict=ok`).
    pub ok: bool,
}

/// The `key=value` words after `tag` in `line` (from the first occurrence of `tag`).
fn fields<'a>(line: &'a str, tag: &str) -> Option<impl Iterator<Item = (&'a str, &'a str)>> {
    let at = line.find(tag)?;
    let rest = &line[at + tag.len()..];
    Some(rest.split_whitespace().filter_map(|w| w.split_once('=')))
}

impl MmStat {
    /// The fields of the line, in its order.
    const KEYS: [&'static str; 11] = [
        "dom",
        "pse_live",
        "pse_made",
        "pse_released",
        "spage_type_changes",
        "splinters",
        "ptwr_l1",
        "ptwr_l2",
        "mmu_hc_cycles",
        "ptwr_cycles",
        "tsc_khz",
    ];

    /// The counters of an `MMSTAT` line, if `line` has one with every field.
    pub fn parse(line: &str) -> Option<Self> {
        let mut values: [Option<u64>; 11] = [None; 11];
        for (key, value) in fields(line, "MMSTAT ")? {
            if let Some(i) = Self::KEYS.iter().position(|k| *k == key) {
                values[i] = Some(value.parse().ok()?);
            }
        }
        let [dom, pse_live, pse_made, pse_released, spage_type_changes, splinters, ptwr_l1, ptwr_l2, mmu_hc_cycles, ptwr_cycles, tsc_khz] =
            values;
        Some(MmStat {
            dom: u32::try_from(dom?).ok()?,
            pse_live: pse_live?,
            counters: MmStats {
                pse_made: pse_made?,
                pse_released: pse_released?,
                spage_type_changes: spage_type_changes?,
                splinters: splinters?,
                ptwr_l1: ptwr_l1?,
                ptwr_l2: ptwr_l2?,
                mmu_hc_cycles: mmu_hc_cycles?,
                ptwr_cycles: ptwr_cycles?,
            },
            tsc_khz: tsc_khz?,
        })
    }

    /// Cycles the hypervisor spent on this domain's page tables: MMU hypercalls plus emulated
    /// page-table writes.
    pub fn mmu_cycles(&self) -> u64 {
        self.counters
            .mmu_hc_cycles
            .saturating_add(self.counters.ptwr_cycles)
    }

    /// 2 MiB mappings made so far.
    pub fn pse_made(&self) -> u64 {
        self.counters.pse_made
    }

    /// Milliseconds of MMU work between `earlier` and this snapshot of the same domain
    /// (`None` if the domains differ, a counter went backwards or the TSC rate is unknown).
    pub fn mmu_ms_since(&self, earlier: &MmStat) -> Option<f64> {
        if self.dom != earlier.dom || self.tsc_khz == 0 {
            return None;
        }
        let cycles = self.mmu_cycles().checked_sub(earlier.mmu_cycles())?;
        Some(cycles as f64 / self.tsc_khz as f64)
    }

    /// Whether every PSE mapping made was released and none is live.
    pub fn pse_balanced(&self) -> bool {
        self.pse_live == 0 && self.counters.pse_made == self.counters.pse_released
    }

    /// The counters for a person.
    pub fn describe(&self) -> String {
        let c = &self.counters;
        format!(
            "domain {}: 2 MiB mappings made {}, released {}, live {}; spage type changes {}; \
             splinters {}; emulated page-table writes L1 {} L2 {}; MMU time {:.1} ms",
            self.dom,
            c.pse_made,
            c.pse_released,
            self.pse_live,
            c.spage_type_changes,
            c.splinters,
            c.ptwr_l1,
            c.ptwr_l2,
            if self.tsc_khz == 0 {
                f64::NAN
            } else {
                self.mmu_cycles() as f64 / self.tsc_khz as f64
            }
        )
    }
}

impl MmCheck {
    /// The teardown check of an `MMCHECK` line, if `line` has one with every field.
    pub fn parse(line: &str) -> Option<Self> {
        let (mut dom, mut nonzero, mut leaked, mut verdict) = (None, None, None, None);
        for (key, value) in fields(line, "MMCHECK ")? {
            match key {
                "dom" => dom = value.parse().ok(),
                "spage_nonzero" => nonzero = value.parse().ok(),
                "frames_leaked" => leaked = value.parse().ok(),
                "verdict" => {
                    verdict = match value {
                        "ok" => Some(true),
                        "FAIL" => Some(false),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Some(MmCheck {
            dom: dom?,
            spage_nonzero: nonzero?,
            frames_leaked: leaked?,
            ok: verdict?,
        })
    }

    /// The hypervisor said ok and its figures agree: nothing left over.
    pub fn clean(&self) -> bool {
        self.ok && self.spage_nonzero == 0 && self.frames_leaked == 0
    }
}

/// Every `MMSTAT` line of a log, in order, with its line index.
pub fn stats<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<(usize, MmStat)> {
    lines
        .into_iter()
        .enumerate()
        .filter_map(|(i, l)| MmStat::parse(l).map(|s| (i, s)))
        .collect()
}

/// The last `MMSTAT` line of domain `dom` in a log (at teardown, the last one printed).
pub fn last_stat<'a>(lines: impl IntoIterator<Item = &'a str>, dom: u32) -> Option<MmStat> {
    stats(lines)
        .into_iter()
        .rev()
        .map(|(_, s)| s)
        .find(|s| s.dom == dom)
}

/// The `MMCHECK` line of domain `dom` in a log.
pub fn check<'a>(lines: impl IntoIterator<Item = &'a str>, dom: u32) -> Option<MmCheck> {
    lines
        .into_iter()
        .filter_map(MmCheck::parse)
        .find(|c| c.dom == dom)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "(HV) INFO  MMSTAT dom=1 pse_live=2 pse_made=40 pse_released=38 \
                        spage_type_changes=12 splinters=0 ptwr_l1=900 ptwr_l2=41 \
                        mmu_hc_cycles=3000000 ptwr_cycles=1000000 tsc_khz=2000000";

    #[test]
    fn mmstat_reads_every_field_behind_a_prefix() {
        let s = MmStat::parse(STAT).expect("parsed");
        assert_eq!(
            s,
            MmStat {
                dom: 1,
                pse_live: 2,
                counters: MmStats {
                    pse_made: 40,
                    pse_released: 38,
                    spage_type_changes: 12,
                    splinters: 0,
                    ptwr_l1: 900,
                    ptwr_l2: 41,
                    mmu_hc_cycles: 3_000_000,
                    ptwr_cycles: 1_000_000,
                },
                tsc_khz: 2_000_000,
            }
        );
        assert!(!s.pse_balanced());
        assert_eq!(s.mmu_cycles(), 4_000_000);
    }

    #[test]
    fn mmstat_with_a_missing_or_bad_field_is_not_read() {
        assert_eq!(MmStat::parse(&STAT.replace(" splinters=0", "")), None);
        assert_eq!(MmStat::parse(&STAT.replace("tsc_khz=2000000", "")), None);
        assert_eq!(MmStat::parse(&STAT.replace("dom=1", "dom=x")), None);
        assert_eq!(
            MmStat::parse(&STAT.replace("pse_made=40", "pse_made=-1")),
            None
        );
        assert_eq!(MmStat::parse("MMCHECK dom=1"), None);
        assert_eq!(MmStat::parse("no counters here"), None);
    }

    #[test]
    fn mmu_time_between_snapshots() {
        let a = MmStat::parse(STAT).unwrap();
        let b = MmStat {
            counters: MmStats {
                mmu_hc_cycles: a.counters.mmu_hc_cycles + 6_000_000,
                ptwr_cycles: a.counters.ptwr_cycles + 2_000_000,
                ..a.counters
            },
            ..a
        };
        assert_eq!(b.mmu_ms_since(&a), Some(4.0));
        assert_eq!(a.mmu_ms_since(&b), None, "counters never go backwards");
        assert_eq!(b.mmu_ms_since(&MmStat { dom: 2, ..a }), None);
        assert_eq!(MmStat { tsc_khz: 0, ..b }.mmu_ms_since(&a), None);
    }

    #[test]
    fn mmcheck_reads_the_verdict() {
        let ok = MmCheck::parse("(d1) x MMCHECK dom=3 spage_nonzero=0 frames_leaked=0 verdict=ok")
            .unwrap();
        assert_eq!(
            ok,
            MmCheck {
                dom: 3,
                spage_nonzero: 0,
                frames_leaked: 0,
                ok: true
            }
        );
        assert!(ok.clean());
        let bad =
            MmCheck::parse("MMCHECK dom=3 spage_nonzero=2 frames_leaked=0 verdict=FAIL").unwrap();
        assert!(!bad.clean());
        assert_eq!(
            MmCheck::parse("MMCHECK dom=3 spage_nonzero=0 frames_leaked=0 verdict=maybe"),
            None
        );
        assert_eq!(
            MmCheck::parse("MMCHECK dom=3 frames_leaked=0 verdict=ok"),
            None
        );
    }

    #[test]
    fn the_last_stat_of_a_domain_and_its_check() {
        let log = [
            "MMSTAT dom=1 pse_live=3 pse_made=3 pse_released=0 spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles=1 ptwr_cycles=1 tsc_khz=1",
            "guest line",
            "MMSTAT dom=2 pse_live=9 pse_made=9 pse_released=0 spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles=1 ptwr_cycles=1 tsc_khz=1",
            "MMSTAT dom=1 pse_live=0 pse_made=3 pse_released=3 spage_type_changes=0 splinters=0 ptwr_l1=0 ptwr_l2=0 mmu_hc_cycles=2 ptwr_cycles=2 tsc_khz=1",
            "MMCHECK dom=1 spage_nonzero=0 frames_leaked=0 verdict=ok",
        ];
        let last = last_stat(log, 1).unwrap();
        assert!(last.pse_balanced() && last.pse_made() == 3);
        assert_eq!(
            stats(log).iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 2, 3]
        );
        assert!(check(log, 1).unwrap().clean());
        assert_eq!(check(log, 2), None);
    }

    #[test]
    fn the_hypervisors_own_lines_round_trip() {
        let counters = MmStats {
            pse_made: 96,
            pse_released: 90,
            spage_type_changes: 27,
            splinters: 0,
            ptwr_l1: 25639,
            ptwr_l2: 80,
            mmu_hc_cycles: 4_598_471_086,
            ptwr_cycles: 1_260_872_922,
        };
        let line = format!("(HV) INFO  {}", counters.line(7, 3_814_911));
        assert_eq!(
            MmStat::parse(&line),
            Some(MmStat {
                dom: 7,
                pse_live: 6,
                counters,
                tsc_khz: 3_814_911
            })
        );
        for (nonzero, leaked, clean) in [(0, 0, true), (3, 0, false), (0, 5, false)] {
            let c = hv_core::mm::MmCheck {
                spage_nonzero: nonzero,
                frames_leaked: leaked,
            };
            let parsed = MmCheck::parse(&c.line(7).to_string()).expect("parsed");
            assert_eq!(
                (parsed.dom, parsed.spage_nonzero, parsed.frames_leaked),
                (7, nonzero, leaked)
            );
            assert_eq!(parsed.clean(), clean, "{c:?}");
        }
    }
}
