//! Whole-table validation on a page-table type's 0→1 transition (Xen's `promote_lN_table`)
//! and devalidation on 1→0 (`demote_lN_table`), plus the per-level entry dispatch both use.
//!
//! Validation is all-or-nothing: if entry `i` fails, the references taken for entries
//! `0..i` are dropped again. Accepted entries are rewritten with Xen's 64-bit PV adjustments;
//! a validated L4 gets the hypervisor's slots 256..=271 installed over whatever was there.
//! Recursion is bounded by the four levels (an L4 validates L3s, which validate L2s, ...).

use super::error::MmError;
use super::memory::FrameMemory;
use super::pte::{
    adjust, disallow_mask, entry_mfn, is_guest_l4_slot, is_present, HYPERVISOR_L4_FIRST, PRESENT,
    PSE,
};
use super::types::{DomId, DomainConfig, Mfn, PageLevel, ENTRIES_PER_TABLE};
use super::Mm;

/// A copy of one table, cache-line aligned so a platform can copy it in whole lines.
#[repr(C, align(64))]
struct TableSnapshot([u64; ENTRIES_PER_TABLE]);

/// Entries looked at together when skipping absent ones.
const GROUP: usize = 8;

impl TableSnapshot {
    /// The present entries with their slots, in slot order. Groups of [`GROUP`] entries
    /// with no PRESENT bit among them are skipped with one test (most of a fresh table).
    fn present(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.0
            .chunks_exact(GROUP)
            .enumerate()
            .filter(|(_, group)| group.iter().fold(0, |acc, e| acc | e) & PRESENT != 0)
            .flat_map(|(g, group)| {
                group
                    .iter()
                    .enumerate()
                    .map(move |(k, &e)| (g * GROUP + k, e))
                    .filter(|&(_, e)| is_present(e))
            })
    }
}

/// Whether slot `slot` of a `level` table is the guest's (all but L4 slots 256..=271).
#[inline]
pub(crate) fn is_guest_slot(level: PageLevel, slot: usize) -> bool {
    level != PageLevel::L4 || is_guest_l4_slot(slot)
}

impl Mm<'_> {
    /// Validates every present guest entry of table `mfn` as a `level` table.
    ///
    /// Pre: the frame has type `level`, type count 1, not validated. Post on `Ok`: every
    /// present entry holds its references and is adjusted; L4 hypervisor slots installed.
    /// On `Err`: no reference taken here remains.
    pub(crate) fn promote<M: FrameMemory>(
        &mut self,
        mfn: Mfn,
        level: PageLevel,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.tables_walked = self.tables_walked.wrapping_add(1);
        let dom = self.frame(mfn)?.owner().ok_or(MmError::NotOwner)?;
        // One snapshot of the table: the frame is typed and not writable by the guest, so
        // its entries cannot change under us; only we write it below.
        let mut snapshot = TableSnapshot([0; ENTRIES_PER_TABLE]);
        mem.read_table(mfn, &mut snapshot.0);
        let entries = &snapshot.0;
        // Looked up once per table, not per entry (an error only once an entry needs it).
        let config = self.domain(dom).map(|d| d.config);
        for (slot, entry) in snapshot.present() {
            if !is_guest_slot(level, slot) {
                continue;
            }
            let got = config.and_then(|c| self.get_page_from_entry(c, level, dom, mfn, entry, mem));
            if let Err(e) = got {
                for undo in (0..slot).filter(|&s| is_guest_slot(level, s)) {
                    self.put_page_from_entry(level, mfn, entries[undo], mem);
                }
                return Err(e);
            }
            let adjusted = adjust(level, entry);
            if adjusted != entry {
                mem.write_entry(mfn, slot, adjusted);
            }
        }
        if level == PageLevel::L4 {
            for (i, &value) in self.config.hypervisor_l4_slots.iter().enumerate() {
                mem.write_entry(mfn, HYPERVISOR_L4_FIRST + i, value);
            }
        }
        Ok(())
    }

    /// Drops the references of every present guest entry of table `mfn` (contents unchanged).
    ///
    /// Pre: the frame's last type reference is being dropped (`validated` already cleared).
    /// Post: no entry of the table holds a reference.
    pub(crate) fn demote<M: FrameMemory>(&mut self, mfn: Mfn, level: PageLevel, mem: &mut M) {
        self.tables_walked = self.tables_walked.wrapping_add(1);
        let mut snapshot = TableSnapshot([0; ENTRIES_PER_TABLE]);
        mem.read_table(mfn, &mut snapshot.0);
        for (slot, entry) in snapshot.present() {
            if is_guest_slot(level, slot) {
                self.put_page_from_entry(level, mfn, entry, mem);
            }
        }
    }

    /// Checks a present entry of a `level` table `table` owned by `dom` and takes the
    /// references it needs (Xen's `get_page_from_lNe`). Pre: `entry` is present.
    /// Post on `Ok`: references taken as `put_page_from_entry` will drop them. `config` is
    /// `dom`'s (looked up once by the caller, not per entry).
    pub(crate) fn get_page_from_entry<M: FrameMemory>(
        &mut self,
        config: DomainConfig,
        level: PageLevel,
        dom: DomId,
        table: Mfn,
        entry: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        if entry & disallow_mask(level, config.allow_superpages, config.privileged) != 0 {
            return Err(MmError::BadFlags);
        }
        match level {
            PageLevel::L1 => self.get_page_from_l1e(dom, entry, mem),
            PageLevel::L2 if entry & PSE != 0 => self.get_superpage(dom, entry),
            _ => self.get_page_from_pde(level, dom, table, entry, mem),
        }
    }

    /// Drops the references a present entry of `level` table `table` holds (Xen's
    /// `put_page_from_lNe`); non-present entries and self-maps hold none.
    pub(crate) fn put_page_from_entry<M: FrameMemory>(
        &mut self,
        level: PageLevel,
        table: Mfn,
        entry: u64,
        mem: &mut M,
    ) {
        if !is_present(entry) {
            return;
        }
        let target = entry_mfn(entry);
        // PSE first: a 2 MiB entry whose base frame is the table itself is not a self-map
        // and holds its map-count reference like any other.
        match level {
            PageLevel::L1 => self.put_page_from_l1e(entry, mem),
            PageLevel::L2 if entry & PSE != 0 => self.put_superpage(entry),
            _ if target == table => {}
            _ => self.put_page_and_type(target, Some(table), mem),
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    #[test]
    fn present_yields_exactly_the_present_entries_in_order() {
        let mut t = TableSnapshot([0; ENTRIES_PER_TABLE]);
        // Absent but non-zero entries, a present one at each group edge, a full group.
        t.0[3] = 0x1000;
        for slot in [0, 7, 8, 15, 255, 504, 511] {
            t.0[slot] = (slot as u64) << 12 | PRESENT;
        }
        for slot in 64..72 {
            t.0[slot] = (slot as u64) << 12 | PRESENT | 2;
        }
        let got: alloc::vec::Vec<(usize, u64)> = t.present().collect();
        let want: alloc::vec::Vec<(usize, u64)> =
            t.0.iter()
                .enumerate()
                .filter(|(_, &e)| is_present(e))
                .map(|(i, &e)| (i, e))
                .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 15);
    }
}
