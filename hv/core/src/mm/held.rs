//! Frames the hypervisor itself writes (console and xenstore rings, shared_info, grant
//! frames, registered `vcpu_info`): Xen's `get_page_and_type(page, d, PGT_writable_page)` on
//! every page a backend maps, made into a token.
//!
//! ```text
//!   hold_frame(dom, mfn) ──▶ HeldFrame ──release_frame──▶ (references dropped)
//!        general ref + 1          │                 destroy_domain drops any that are left
//!        Writable type + 1        │
//!        extent Nosuper + 1       └── the only way the platform gets to write a guest frame
//! ```
//!
//! While a frame is held it is always Writable, so it can never become a page table or
//! descriptor page (pin and table entries fail `TypeConflict`), its general count is above
//! the allocation reference, so `release`/`release_extent` refuse it (`Busy`: no
//! `decrease_reservation` or `exchange` hands it back to the allocator while it is written),
//! and its extent stays Nosuper, so no writable PSE entry covers it: the hypervisor's frames
//! are always accounted frame by frame, never hidden under one superpage reference.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::spage::SpageType;
use super::types::{DomId, Mfn};
use super::Mm;

/// One hold on a guest frame, made only by [`Mm::hold_frame`] and consumed by
/// [`Mm::release_frame`]. Not `Clone`: one token, one reference. A token dropped without
/// release leaks its references until the domain is destroyed (never longer).
#[must_use = "a held frame must be given back with Mm::release_frame"]
#[derive(Debug, PartialEq, Eq)]
pub struct HeldFrame {
    dom: DomId,
    mfn: Mfn,
    epoch: u64,
}

impl HeldFrame {
    /// The domain that owns the frame.
    pub fn dom(&self) -> DomId {
        self.dom
    }

    /// The machine frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }
}

impl Mm<'_> {
    /// Holds frame `mfn` of `dom` for the hypervisor to write.
    ///
    /// Pre: any. Post on `Ok`: count + 1, Writable type count + 1 (typed Writable if it was
    /// untyped), the extent's Nosuper count + 1, recorded for `dom` until the matching
    /// `release_frame` or `destroy_domain`. Errors (nothing changed): `NoDomain`, `BadFrame`,
    /// `NotOwner`, `TypeConflict` (a page table or descriptor page), `SpageConflict` (under a
    /// writable superpage mapping), `Overflow`.
    pub fn hold_frame<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        mem: &mut M,
    ) -> Result<HeldFrame, MmError> {
        let epoch = self.domain(dom)?.epoch;
        self.get_page_and_type(dom, mfn, PageType::Writable, mem)?;
        if let Err(e) = self.spage_get_type(mfn, SpageType::Nosuper) {
            self.put_page_and_type(mfn, None, mem);
            return Err(e);
        }
        let n = self.domain_mut(dom)?.held.entry(mfn.0).or_insert(0);
        *n = n.saturating_add(1);
        Ok(HeldFrame { dom, mfn, epoch })
    }

    /// Gives a hold back. Post: the references `hold_frame` took are dropped. A token of a
    /// domain already destroyed (its references went with it) changes nothing.
    pub fn release_frame<M: FrameMemory>(&mut self, held: HeldFrame, mem: &mut M) {
        let Ok(domain) = self.domain_mut(held.dom) else {
            return;
        };
        if domain.epoch != held.epoch {
            return;
        }
        match domain.held.get_mut(&held.mfn.0) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                domain.held.remove(&held.mfn.0);
            }
            None => {
                debug_assert!(false, "release of an unrecorded hold on {:?}", held.mfn);
                return;
            }
        }
        self.drop_hold(held.mfn, mem);
    }

    /// How many holds the hypervisor has on `mfn` of `dom` (0 if none or no such domain).
    pub fn held_count(&self, dom: DomId, mfn: Mfn) -> u64 {
        self.domains
            .get(&dom)
            .and_then(|d| d.held.get(&mfn.0).copied())
            .unwrap_or(0)
    }

    /// Drops the references of one hold (the record is the caller's).
    pub(crate) fn drop_hold<M: FrameMemory>(&mut self, mfn: Mfn, mem: &mut M) {
        if let Ok(spage) = self.spage_mut(mfn.extent()) {
            spage.put_type();
        }
        self.put_page_and_type(mfn, None, mem);
    }
}
