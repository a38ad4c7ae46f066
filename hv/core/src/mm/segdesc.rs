//! Descriptor (GDT/LDT) pages: the platform takes a SegDesc reference on each frame it loads
//! into a descriptor table, so the guest can no longer map it writable, and
//! `update_descriptor` changes one descriptor in such a frame (or in an ordinary one).
//!
//! Taking the SegDesc type (0→1) checks all 512 descriptors with
//! [`crate::descriptor::check_descriptor`] and writes its fixups back, as Xen's
//! `alloc_segdesc_page`; while typed the guest can change the frame only through
//! `update_descriptor`, which checks the new descriptor the same way, so a typed frame only
//! ever holds accepted descriptors.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::types::{DomId, Mfn};
use super::Mm;
use crate::descriptor::check_descriptor;

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

    /// `update_descriptor(maddr, desc)`: checks `desc`, then stores it (with Xen's fixups) at
    /// machine address `maddr` (8-byte aligned) in a frame `dom` owns that is typed SegDesc,
    /// or that can be typed Writable. Returns the descriptor stored.
    ///
    /// Errors (nothing written): `BadDescriptor` (misaligned or refused), `NoDomain`,
    /// `BadFrame`, `NotOwner`, `TypeConflict` (a page table, or mapped so it cannot be
    /// written), `Overflow`.
    pub fn update_descriptor<M: FrameMemory>(
        &mut self,
        dom: DomId,
        maddr: u64,
        desc: u64,
        mem: &mut M,
    ) -> Result<u64, MmError> {
        if !maddr.is_multiple_of(8) {
            return Err(MmError::BadDescriptor);
        }
        let fixed = check_descriptor(desc).ok_or(MmError::BadDescriptor)?;
        self.domain(dom)?;
        let mfn = Mfn(maddr >> 12);
        let frame = self.frame(mfn)?;
        let ty = if frame.type_count() > 0 && frame.page_type() == PageType::SegDesc {
            PageType::SegDesc
        } else {
            PageType::Writable
        };
        self.get_page_and_type(dom, mfn, ty, mem)?;
        mem.write_entry(mfn, ((maddr & 0xFFF) / 8) as usize, fixed);
        self.put_page_and_type(mfn, None, mem);
        Ok(fixed)
    }
}

/// Checks every descriptor of `mfn` (becoming SegDesc), writing Xen's fixups back.
/// `BadDescriptor` at the first refused one.
pub(super) fn check_seg_desc_page<M: FrameMemory>(mfn: Mfn, mem: &mut M) -> Result<(), MmError> {
    for i in 0..512 {
        let raw = mem.read_entry(mfn, i);
        let fixed = check_descriptor(raw).ok_or(MmError::BadDescriptor)?;
        if fixed != raw {
            mem.write_entry(mfn, i, fixed);
        }
    }
    Ok(())
}
