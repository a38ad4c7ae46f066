//! Writable page tables (Xen's `ptwr`): the memory-manager half. A guest-kernel store to a
//! page-table page it maps read-only is found here ([`Mm::ptwr_target`]) and, once the
//! instruction is decoded and executed (`crate::emulate::ptwr`), applied with exactly the
//! checks of `mmu_update` ([`Mm::ptwr_write`] → `mod_entry`).
//!
//! ```text
//!   va ──translate (present+USER at every level)──▶ maddr
//!        └─ the mapping must NOT be writable (else it was no read-only page-table fault)
//!   maddr's frame: owned by the domain, live L1 (Xen) or live L2 (huge PMDs; beyond Xen)
//!   → PtwrTarget { table, level, slot }  ──ptwr_write(new)──▶ mod_entry(level, …)
//! ```
//! L3/L4 pages, descriptor pages and foreign frames are refused; the caller then delivers
//! the guest's original #PF, as Xen does.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::types::{DomId, Mfn, PageLevel, PAGE_SHIFT};
use super::Mm;

/// The page-table entry a faulting store lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtwrTarget {
    /// The page-table frame.
    pub table: Mfn,
    /// Its level (L1, or L2).
    pub level: PageLevel,
    /// The 8-byte slot (0..512).
    pub slot: usize,
}

impl Mm<'_> {
    /// Finds the page-table entry that a store to `va` by `dom`, running on the live L4
    /// `root`, would change. No state changes.
    ///
    /// Errors: `BadAddress`/`NotMapped` (as `translate`), `Invalid` (the mapping is writable,
    /// so this was not a write to a read-only page table), `NotOwner`/`BadFrame` (the frame
    /// is not `dom`'s), `TypeConflict` (not a live L1 or L2 page).
    pub fn ptwr_target<M: FrameMemory>(
        &self,
        dom: DomId,
        root: Mfn,
        va: u64,
        mem: &M,
    ) -> Result<PtwrTarget, MmError> {
        self.domain(dom)?;
        let (maddr, writable) = self.translate_rw(root, va, mem)?;
        if writable {
            return Err(MmError::Invalid);
        }
        let table = Mfn(maddr >> PAGE_SHIFT);
        let frame = self.owned_frame(dom, table)?;
        let level = if frame.is_live(PageType::L1) {
            PageLevel::L1
        } else if frame.is_live(PageType::L2) {
            PageLevel::L2
        } else {
            return Err(MmError::TypeConflict);
        };
        Ok(PtwrTarget {
            table,
            level,
            // 9-bit index: always < 512.
            slot: ((maddr & 0xFFF) >> 3) as usize,
        })
    }

    /// The same target for another address `va` in the page of the one it was found for
    /// (the decoded access, once the faulting page is known to be a table): only the slot
    /// differs, so no second walk is needed.
    pub fn ptwr_retarget(target: PtwrTarget, va: u64) -> PtwrTarget {
        PtwrTarget {
            // 9-bit index: always < 512.
            slot: ((va & 0xFFF) >> 3) as usize,
            ..target
        }
    }

    /// The current value of the target entry.
    pub fn ptwr_read<M: FrameMemory>(&self, target: PtwrTarget, mem: &M) -> u64 {
        mem.read_entry(target.table, target.slot)
    }

    /// Stores `new` in the target entry with `mmu_update`'s rules (`mod_entry`: disallowed
    /// flags, references on the new frame, the fast path only for whitelisted flag changes).
    ///
    /// Pre: `target` came from [`Mm::ptwr_target`] for `dom` with no state change since.
    /// Post on `Ok`: as `mmu_update`. Errors: `TypeConflict` (the frame is no longer a live
    /// table of that level), or the entry rules' errors (nothing changed).
    pub fn ptwr_write<M: FrameMemory>(
        &mut self,
        dom: DomId,
        target: PtwrTarget,
        new: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let ty = match target.level {
            PageLevel::L1 => PageType::L1,
            PageLevel::L2 => PageType::L2,
            _ => return Err(MmError::TypeConflict),
        };
        if !self.owned_frame(dom, target.table)?.is_live(ty) || target.slot >= 512 {
            return Err(MmError::TypeConflict);
        }
        self.mod_entry(
            target.level,
            dom,
            target.table,
            target.slot,
            new,
            false,
            mem,
        )
    }
}
