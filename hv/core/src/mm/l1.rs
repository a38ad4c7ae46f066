//! L1 entry rules (Xen's `get_page_from_l1e` / `put_page_from_l1e` for a PV domain without
//! I/O memory): a present entry maps a RAM frame the domain owns (including hypervisor frames
//! shared with it); RO takes a general reference, RW also a Writable type reference, which
//! fails if the frame is a page table or descriptor page.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::pte::{entry_mfn, CACHE_ATTRS, RW};
use super::types::DomId;
use super::Mm;

impl Mm<'_> {
    /// Takes the references a present L1 entry of `dom` needs. Flags were already checked.
    ///
    /// Post on `Ok`: general ref (+ Writable type ref if RW) on the target. Errors: `NotRam`
    /// (frame >= max_mfn: MMIO is never granted), `CannotMap` (free/foreign target, or RW on a
    /// frame typed otherwise), `CacheAttr` (non-WB on a hypervisor frame), `Overflow`.
    pub(crate) fn get_page_from_l1e<M: FrameMemory>(
        &mut self,
        dom: DomId,
        entry: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let mfn = entry_mfn(entry);
        let frame = match self.frame(mfn) {
            Ok(f) => *f,
            Err(_) => return Err(MmError::NotRam),
        };
        if frame.owner() != Some(dom) || !frame.is_allocated() {
            return Err(MmError::CannotMap);
        }
        if frame.is_xen_heap() && entry & CACHE_ATTRS != 0 {
            return Err(MmError::CacheAttr);
        }
        self.get_page(dom, mfn)?;
        if entry & RW != 0 {
            if let Err(e) = self.get_page_type(mfn, PageType::Writable, mem) {
                self.put_page(mfn);
                return Err(match e {
                    MmError::Overflow => MmError::Overflow,
                    _ => MmError::CannotMap,
                });
            }
        }
        Ok(())
    }

    /// Drops the references of a present L1 entry (general, + Writable type if RW).
    pub(crate) fn put_page_from_l1e<M: FrameMemory>(&mut self, entry: u64, mem: &mut M) {
        let mfn = entry_mfn(entry);
        if entry & RW != 0 {
            self.put_page_type(mfn, None, mem);
        }
        self.put_page(mfn);
    }
}
