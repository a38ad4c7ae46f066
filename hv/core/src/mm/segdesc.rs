//! Descriptor (GDT/LDT) pages: the platform takes a SegDesc reference on each frame it loads
//! into a descriptor table, so the guest can no longer map it writable.
//!
//! Content checking (Xen's `check_descriptor`) is the caller's job; do it *after*
//! `get_seg_desc_page` succeeds, when the guest can no longer change the frame, and put the
//! reference back if the contents are refused.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::types::{DomId, Mfn};
use super::Mm;

impl Mm<'_> {
    /// Takes a general + SegDesc type reference on `mfn` for the platform.
    ///
    /// Post on `Ok`: the frame is typed SegDesc (its extent Nosuper) until the matching
    /// `put_seg_desc_page`. Errors: `NoDomain`, `BadFrame`, `NotOwner`, `TypeConflict`
    /// (mapped writable or a page table), `SpageConflict` (under a writable superpage),
    /// `Overflow`.
    pub fn get_seg_desc_page<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.domain(dom)?;
        self.get_page_and_type(dom, mfn, PageType::SegDesc, mem)?;
        let refs = self
            .domain_mut(dom)?
            .seg_desc_refs
            .entry(mfn.0)
            .or_insert(0);
        *refs = refs.saturating_add(1);
        Ok(())
    }

    /// Drops one reference taken by `get_seg_desc_page`. `Err(Invalid)` (nothing changed) if
    /// the platform holds none on `mfn`.
    pub fn put_seg_desc_page<M: FrameMemory>(
        &mut self,
        mfn: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let dom = self.frame(mfn)?.owner().ok_or(MmError::Invalid)?;
        let refs = self.domain_mut(dom)?.seg_desc_refs.get_mut(&mfn.0);
        match refs {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.domain_mut(dom)?.seg_desc_refs.remove(&mfn.0);
            }
            None => return Err(MmError::Invalid),
        }
        self.put_page_and_type(mfn, None, mem);
        Ok(())
    }
}
