//! Non-leaf entry rules for L2 (non-PSE), L3 and L4 (Xen's `get_page_from_l{2,3,4}e`), and
//! linear ("recursive") page-table entries (`define_get_linear_pagetable`).
//!
//! A present entry of a level-N table points at a table of level N-1 owned by the same
//! domain, which takes a general + type reference (validating it on first use). Otherwise it
//! may be a *linear* entry pointing at a level-N table:
//! ```text
//!   - read-only, always;
//!   - pointing at the table itself: no references at all (self-map);
//!   - else the target must already be validated, and neither side may be in the other
//!     linear role: linear_pt_count > 0 = "has linear entries", < 0 = "used as linear".
//!     Takes general + type refs on the target; table count +1, target count -1.
//! ```
//! 1 GiB PSE at L3 and PSE at L4 are in the disallow mask, checked by the caller.

use super::error::MmError;
use super::frame::{PageType, COUNT_MAX};
use super::memory::FrameMemory;
use super::pte::{entry_mfn, RW};
use super::types::{DomId, Mfn, PageLevel};
use super::Mm;

impl Mm<'_> {
    /// Takes the references of a present non-PSE entry of a `level` (L2..L4) table `table`.
    ///
    /// Post on `Ok`: the child table (or the linear target) holds a general + type reference,
    /// except for a read-only self-map. Errors: those of `get_page_and_type` on the child
    /// level, or of the linear rules when the target is a table of the same level.
    pub(crate) fn get_page_from_pde<M: FrameMemory>(
        &mut self,
        level: PageLevel,
        dom: DomId,
        table: Mfn,
        entry: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let child = level.child().ok_or(MmError::Invalid)?;
        let target = entry_mfn(entry);
        match self.get_page_and_type(dom, target, child.into(), mem) {
            Err(MmError::TypeConflict)
                if self.frame(target)?.page_type() == PageType::from(level) =>
            {
                self.get_linear(level, dom, table, entry)
            }
            result => result,
        }
    }

    /// Applies the linear page-table rules to `entry` of `level` table `table`.
    ///
    /// Post on `Ok`: self-map: nothing; otherwise general + type ref on the target, table's
    /// linear count + 1, target's - 1. Errors (unchanged): `TypeConflict` (RW, target not a
    /// validated `level` table, or a side already in the other linear role), `NotOwner`,
    /// `Overflow` (any counter at its limit).
    fn get_linear(
        &mut self,
        level: PageLevel,
        dom: DomId,
        table: Mfn,
        entry: u64,
    ) -> Result<(), MmError> {
        if entry & RW != 0 {
            return Err(MmError::TypeConflict);
        }
        // Conservatively before the checks below: the flag only ever disables a fast path.
        self.linear_l4_made |= level == PageLevel::L4;
        let target = entry_mfn(entry);
        if target == table {
            return Ok(());
        }
        let g = self.owned_frame(dom, target)?;
        let t = *self.frame(table)?;
        if t.linear_pt_count() < 0 || g.linear_pt_count() > 0 {
            return Err(MmError::TypeConflict);
        }
        if !g.is_live(level.into()) {
            return Err(MmError::TypeConflict);
        }
        if t.linear_pt_count() == i16::MAX
            || g.linear_pt_count() == i16::MIN
            || g.type_count() >= COUNT_MAX
            || g.count() >= COUNT_MAX
        {
            return Err(MmError::Overflow);
        }
        let table_frame = self.frame_mut(table)?;
        table_frame.set_linear_pt_count(t.linear_pt_count() + 1);
        let target_frame = self.frame_mut(target)?;
        target_frame.set_linear_pt_count(g.linear_pt_count() - 1);
        target_frame.set_count(g.count() + 1);
        target_frame.set_type_count(g.type_count() + 1);
        Ok(())
    }
}
