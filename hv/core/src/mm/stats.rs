//! Per-domain MMU counters (the `MMSTAT` line) and the teardown check (the `MMCHECK` line).
//!
//! ```text
//!   pse_made / pse_released    PSE L2 entries that took / dropped their spage references
//!                              (live = made − released)
//!   spage_type_changes         an extent of the domain took a first reference of a type other
//!                              than its last one (None→Superpage, Superpage→Nosuper, …)
//!   splinters                  PSE mappings split into 512 L1 entries (this design: never)
//!   ptwr_l1 / ptwr_l2          emulated guest writes to read-only L1 / L2 pages
//!   mmu_hc_cycles              TSC cycles in mmu_update, mmuext_op, update_va_mapping[_other]
//!   ptwr_cycles                TSC cycles in emulated page-table writes
//! ```
//! The memory manager counts the first four itself; the platform adds the rest
//! ([`Mm::note_ptwr`], [`Mm::note_mmu_hypercall`]). The lines are fixed text: tools parse
//! them with `MMSTAT dom=(\d+) (.*)` and `MMCHECK dom=(\d+) (.*)`.

use core::fmt;

use super::spage::SpageType;
use super::types::{DomId, Mfn, PageLevel};
use super::Mm;

/// The counters of one domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmStats {
    /// PSE mappings made (references taken).
    pub pse_made: u64,
    /// PSE mappings released (references dropped).
    pub pse_released: u64,
    /// Spage type changes of the domain's extents.
    pub spage_type_changes: u64,
    /// PSE mappings splintered into L1 tables (always 0: nothing is splintered).
    pub splinters: u64,
    /// Emulated writes to read-only L1 pages.
    pub ptwr_l1: u64,
    /// Emulated writes to read-only L2 pages.
    pub ptwr_l2: u64,
    /// TSC cycles spent in the MMU hypercalls.
    pub mmu_hc_cycles: u64,
    /// TSC cycles spent emulating page-table writes.
    pub ptwr_cycles: u64,
}

impl MmStats {
    /// PSE mappings live now.
    pub fn pse_live(&self) -> u64 {
        self.pse_made.saturating_sub(self.pse_released)
    }

    /// The `MMSTAT` line of domain `dom` (`tsc_khz` converts the cycle counts).
    pub fn line(&self, dom: u16, tsc_khz: u64) -> StatLine {
        StatLine {
            dom,
            stats: *self,
            tsc_khz,
        }
    }
}

/// `MMSTAT dom=<id> pse_live=<n> … tsc_khz=<n>` (see [`MmStats::line`]).
pub struct StatLine {
    dom: u16,
    stats: MmStats,
    tsc_khz: u64,
}

impl fmt::Display for StatLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "MMSTAT dom={} pse_live={} pse_made={} pse_released={} spage_type_changes={} \
             splinters={} ptwr_l1={} ptwr_l2={} mmu_hc_cycles={} ptwr_cycles={} tsc_khz={}",
            self.dom,
            s.pse_live(),
            s.pse_made,
            s.pse_released,
            s.spage_type_changes,
            s.splinters,
            s.ptwr_l1,
            s.ptwr_l2,
            s.mmu_hc_cycles,
            s.ptwr_cycles,
            self.tsc_khz
        )
    }
}

/// What teardown found left over (both 0 when the books balance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmCheck {
    /// The domain's extents whose spage type or map count was not back to 0.
    pub spage_nonzero: u64,
    /// The domain's frames that still had references (or a type) of their own when freed.
    pub frames_leaked: u64,
}

impl MmCheck {
    /// Whether nothing was left over.
    pub fn ok(&self) -> bool {
        self.spage_nonzero == 0 && self.frames_leaked == 0
    }

    /// The `MMCHECK` line of domain `dom`.
    pub fn line(&self, dom: u16) -> CheckLine {
        CheckLine { dom, check: *self }
    }
}

/// `MMCHECK dom=<id> spage_nonzero=<n> frames_leaked=<n> verdict=<ok|FAIL>`.
pub struct CheckLine {
    dom: u16,
    check: MmCheck,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MMCHECK dom={} spage_nonzero={} frames_leaked={} verdict={}",
            self.dom,
            self.check.spage_nonzero,
            self.check.frames_leaked,
            if self.check.ok() { "ok" } else { "FAIL" }
        )
    }
}

impl Mm<'_> {
    /// The counters of `dom`, if it exists.
    pub fn stats(&self, dom: DomId) -> Option<MmStats> {
        self.domains.get(&dom).map(|d| d.stats)
    }

    /// The platform emulated one write to a read-only `level` page table of `dom`, in
    /// `cycles` TSC cycles.
    pub fn note_ptwr(&mut self, dom: DomId, level: PageLevel, cycles: u64) {
        if let Some(d) = self.domains.get_mut(&dom) {
            match level {
                PageLevel::L1 => d.stats.ptwr_l1 += 1,
                _ => d.stats.ptwr_l2 += 1,
            }
            d.stats.ptwr_cycles = d.stats.ptwr_cycles.saturating_add(cycles);
        }
    }

    /// The platform spent `cycles` TSC cycles in one MMU hypercall of `dom`.
    pub fn note_mmu_hypercall(&mut self, dom: DomId, cycles: u64) {
        if let Some(d) = self.domains.get_mut(&dom) {
            d.stats.mmu_hc_cycles = d.stats.mmu_hc_cycles.saturating_add(cycles);
        }
    }

    /// Takes one `ty` reference on the extent of `mfn`, counting a type change for the
    /// frame's owner (see `SpageInfo::get_type`; the same result).
    pub(crate) fn spage_get_type(
        &mut self,
        mfn: Mfn,
        ty: SpageType,
    ) -> Result<bool, super::MmError> {
        let spage = self.spage_mut(mfn.extent())?;
        let first_of_new_type = spage.type_count() == 0 && spage.spage_type() != ty;
        let changed = spage.get_type(ty)?;
        if first_of_new_type {
            self.count_for_owner(mfn, |s| s.spage_type_changes += 1);
        }
        Ok(changed)
    }

    /// Applies `f` to the counters of the domain owning `mfn` (if any).
    pub(crate) fn count_for_owner(&mut self, mfn: Mfn, f: impl FnOnce(&mut MmStats)) {
        let Some(owner) = self.frame(mfn).ok().and_then(|fr| fr.owner()) else {
            return;
        };
        if let Some(d) = self.domains.get_mut(&owner) {
            f(&mut d.stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn lines_have_the_fixed_shape() {
        let s = MmStats {
            pse_made: 5,
            pse_released: 3,
            spage_type_changes: 4,
            ptwr_l1: 7,
            ptwr_l2: 2,
            mmu_hc_cycles: 1000,
            ptwr_cycles: 50,
            ..MmStats::default()
        };
        assert_eq!(
            s.line(3, 2_400_000).to_string(),
            "MMSTAT dom=3 pse_live=2 pse_made=5 pse_released=3 spage_type_changes=4 \
             splinters=0 ptwr_l1=7 ptwr_l2=2 mmu_hc_cycles=1000 ptwr_cycles=50 tsc_khz=2400000"
        );
        let ok = MmCheck::default();
        assert_eq!(
            ok.line(3).to_string(),
            "MMCHECK dom=3 spage_nonzero=0 frames_leaked=0 verdict=ok"
        );
        let bad = MmCheck {
            spage_nonzero: 1,
            frames_leaked: 0,
        };
        assert!(!bad.ok());
        assert!(bad.line(3).to_string().ends_with("verdict=FAIL"));
    }
}
