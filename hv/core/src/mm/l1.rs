//! L1 entry rules (Xen's `get_page_from_l1e` / `put_page_from_l1e` for a PV domain without
//! I/O memory): a present entry maps a RAM frame the domain owns (including hypervisor frames
//! shared with it); RO takes a general reference, RW also a Writable type reference, which
//! fails if the frame is a page table or descriptor page.

use super::error::MmError;
use super::frame::{FrameInfo, PageType, COUNT_MAX};
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
        if let Some(updated) = l1_refs_fast(frame, entry & RW != 0) {
            // Same result as the general path, in one frame-table write.
            *self.frame_mut(mfn)? = updated;
            return Ok(());
        }
        self.get_l1_refs(dom, entry, mem)
    }

    /// The general path of [`Self::get_page_from_l1e`] once the target is known to be the
    /// domain's RAM: general ref, then the Writable type ref for an RW entry.
    pub(crate) fn get_l1_refs<M: FrameMemory>(
        &mut self,
        dom: DomId,
        entry: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let mfn = entry_mfn(entry);
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

/// The common cases of an L1 entry's references, taken in one step: a general reference, and
/// for a writable entry a Writable type reference on a frame that has that type live and
/// validated, or no live type and no earlier type but Writable (so no validation runs and no
/// TLB flush is due). `None` for every other case (a count at its maximum, another type
/// live or left from before, a live Writable type not validated), which
/// [`Mm::get_l1_refs`] handles. Pre: the frame is allocated to the entry's domain.
fn l1_refs_fast(frame: FrameInfo, writable: bool) -> Option<FrameInfo> {
    let count = frame.count();
    if count >= COUNT_MAX {
        return None;
    }
    let mut out = frame;
    out.set_count(count + 1);
    if !writable {
        return Some(out);
    }
    let type_count = frame.type_count();
    let ty = frame.page_type();
    if type_count > 0 {
        if ty != PageType::Writable || !frame.is_validated() || type_count >= COUNT_MAX {
            return None;
        }
        out.set_type_count(type_count + 1);
    } else {
        if !matches!(ty, PageType::None | PageType::Writable) {
            return None;
        }
        out.set_page_type(PageType::Writable);
        out.set_type_count(1);
        out.set_validated(true);
    }
    Some(out)
}
