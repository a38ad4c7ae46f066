//! Taking frames back from a domain (`decrease_reservation`, the input of `exchange`) and
//! undoing that when an exchange fails.
//!
//! ```text
//!   take_extent(dom, base, order) ──▶ TakenExtent ──restore_extent──▶ blocks and `enabled`
//!        frames free, extents not enabled   │                        exactly as before
//!                                            └─(dropped)─▶ the caller frees the frames
//! ```
//! Restoring re-records the blocks the domain had, not one block of the taken order: a range
//! the domain assembled from 512 order-0 assignments stays 512 order-0 blocks and its extent
//! stays not enabled (only one order >= 9 allocation enables an extent).

use alloc::vec::Vec;

use super::error::MmError;
use super::frame::FrameInfo;
use super::types::{DomId, Mfn};
use super::Mm;

/// Frames taken back from a domain and not yet freed: what [`Mm::restore_extent`] needs to
/// give them back as they were.
#[must_use = "free the frames, or give them back with Mm::restore_extent"]
#[derive(Debug, PartialEq, Eq)]
pub struct TakenExtent {
    dom: DomId,
    epoch: u64,
    base: Mfn,
    order: u32,
    /// The domain's blocks that covered the range, as recorded before.
    blocks: Vec<(u64, u32)>,
    /// Each touched extent and whether it was enabled before.
    enabled: Vec<(u64, bool)>,
    /// Each frame's state before (allocation reference, untyped, its type history).
    frames: Vec<FrameInfo>,
}

impl TakenExtent {
    /// The first frame taken.
    pub fn base(&self) -> Mfn {
        self.base
    }

    /// The order of the range taken.
    pub fn order(&self) -> u32 {
        self.order
    }
}

impl Mm<'_> {
    /// Takes the block `[base, base + 2^order)` back from `dom`; the caller frees it.
    /// Same as [`Mm::take_extent`] with the undo record dropped.
    pub fn release_extent(&mut self, dom: DomId, base: Mfn, order: u32) -> Result<(), MmError> {
        self.take_extent(dom, base, order).map(drop)
    }

    /// Takes the block `[base, base + 2^order)` back from `dom`.
    ///
    /// Pre: every frame allocated to `dom`, holding only its allocation reference (so not
    /// held by the hypervisor), untyped, and no PSE entry maps the touched extents. Post on
    /// `Ok`: frames free; touched extents not enabled; flush flag set (stale TLB entries may
    /// still map the frames). Errors (nothing changed): `NoDomain`, `Invalid` (order,
    /// hypervisor frame), `BadFrame`, `NotOwner`, `Busy`.
    pub fn take_extent(
        &mut self,
        dom: DomId,
        base: Mfn,
        order: u32,
    ) -> Result<TakenExtent, MmError> {
        let (start, end) = self.block_range(base, order)?;
        let epoch = self.domain(dom)?.epoch;
        for mfn in start..end {
            let frame = self.owned_frame(dom, Mfn(mfn))?;
            if frame.is_xen_heap() {
                return Err(MmError::Invalid);
            }
            if frame.count() != 1 || frame.type_count() != 0 || frame.is_pinned() {
                return Err(MmError::Busy);
            }
        }
        let extents = base.extent()..=Mfn(end - 1).extent();
        let mut enabled = Vec::new();
        for extent in extents.clone() {
            let spage = self.spage_mut(extent)?;
            if spage.map_count() != 0 {
                return Err(MmError::Busy);
            }
            enabled.push((extent, spage.is_enabled()));
        }
        let blocks = self.domain_mut(dom)?.extents.remove(start, order)?;
        let mut frames = Vec::new();
        for mfn in start..end {
            let frame = self.frame_mut(Mfn(mfn))?;
            frames.push(*frame);
            *frame = FrameInfo::FREE;
        }
        for extent in extents {
            self.spage_mut(extent)?.set_enabled(false);
        }
        let domain = self.domain_mut(dom)?;
        domain.tot_pages = domain.tot_pages.saturating_sub(end - start);
        self.flush_needed = true;
        Ok(TakenExtent {
            dom,
            epoch,
            base,
            order,
            blocks,
            enabled,
            frames,
        })
    }

    /// Gives frames taken by `take_extent` back exactly as they were: the same blocks, the
    /// same `enabled` bits, each frame's state (its allocation reference, untyped).
    ///
    /// Pre: the frames were not handed to anyone since. Errors (nothing changed):
    /// `NoDomain` (the domain is gone or is a later one with the same id), `Busy` (a frame
    /// is no longer free); the caller then frees the frames instead.
    pub fn restore_extent(&mut self, taken: TakenExtent) -> Result<(), MmError> {
        let domain = self.domain(taken.dom)?;
        if domain.epoch != taken.epoch {
            return Err(MmError::NoDomain);
        }
        let (start, end) = self.block_range(taken.base, taken.order)?;
        for mfn in start..end {
            if *self.frame(Mfn(mfn))? != FrameInfo::FREE {
                return Err(MmError::Busy);
            }
        }
        for (mfn, &before) in (start..end).zip(&taken.frames) {
            *self.frame_mut(Mfn(mfn))? = before;
        }
        for &(extent, on) in &taken.enabled {
            self.spage_mut(extent)?.set_enabled(on);
        }
        let domain = self.domain_mut(taken.dom)?;
        domain.extents.restore(&taken.blocks);
        domain.tot_pages = domain.tot_pages.saturating_add(end - start);
        Ok(())
    }
}
