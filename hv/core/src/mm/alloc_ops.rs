//! Hooks the platform calls around its buddy allocator: domain creation, assigning and
//! releasing frames (the source of the spage `enabled` bit), and sharing hypervisor frames.
//!
//! ```text
//!   assign(order >= 9)  → every covered 2 MiB extent enabled
//!   assign(order <  9)  → the containing extent not enabled
//!   release / release_extent → extent(s) not enabled; refused (Busy) while any frame is
//!                         referenced beyond its allocation ref, typed, pinned, or the extent
//!                         is mapped by a PSE entry
//! ```

use super::domain::Domain;
use super::error::MmError;
use super::frame::{FrameInfo, PageType};
use super::types::SUPERPAGE_ORDER;
use super::types::{DomId, DomainConfig, Mfn, DOMID_FIRST_RESERVED, MAX_ASSIGN_ORDER};
use super::Mm;

impl Mm<'_> {
    /// Registers a new domain. Errors: `Invalid` (id >= `DOMID_FIRST_RESERVED`),
    /// `DomainExists`.
    pub fn create_domain(&mut self, dom: DomId, config: DomainConfig) -> Result<(), MmError> {
        if dom.0 >= DOMID_FIRST_RESERVED {
            return Err(MmError::Invalid);
        }
        if self.domains.contains_key(&dom) {
            return Err(MmError::DomainExists);
        }
        self.next_epoch = self.next_epoch.wrapping_add(1);
        self.domains
            .insert(dom, Domain::new(config, self.next_epoch));
        Ok(())
    }

    /// The aligned range `[base, base + 2^order)` as `(start, end)`, if below `max_mfn`.
    pub(super) fn block_range(&self, base: Mfn, order: u32) -> Result<(u64, u64), MmError> {
        if order > MAX_ASSIGN_ORDER {
            return Err(MmError::Invalid);
        }
        if !base.is_aligned(order) {
            return Err(MmError::BadFrame);
        }
        let end = base.0.checked_add(1 << order).ok_or(MmError::BadFrame)?;
        if end > self.config.max_mfn {
            return Err(MmError::BadFrame);
        }
        Ok((base.0, end))
    }

    /// Gives the free block `[base, base + 2^order)` to `dom` (all-or-nothing).
    ///
    /// Pre: every frame free. Post on `Ok`: each frame owned by `dom` with its allocation
    /// reference (count 1, untyped); order >= 9 enables every covered extent, order < 9
    /// disables the containing one. Errors (nothing changed): `NoDomain`, `Invalid` (order),
    /// `BadFrame` (misaligned or beyond `max_mfn`), `OverQuota`, `Busy` (a frame not free).
    pub fn assign(&mut self, dom: DomId, base: Mfn, order: u32) -> Result<(), MmError> {
        let (start, end) = self.block_range(base, order)?;
        let domain = self.domain(dom)?;
        let new_total = domain
            .tot_pages
            .checked_add(end - start)
            .ok_or(MmError::OverQuota)?;
        if new_total > domain.config.max_pages {
            return Err(MmError::OverQuota);
        }
        for mfn in start..end {
            if *self.frame(Mfn(mfn))? != FrameInfo::FREE {
                return Err(MmError::Busy);
            }
        }
        for mfn in start..end {
            let frame = self.frame_mut(Mfn(mfn))?;
            frame.set_owner(Some(dom));
            frame.set_allocated(true);
            frame.set_count(1);
        }
        if order >= SUPERPAGE_ORDER {
            for extent in base.extent()..(end >> SUPERPAGE_ORDER) {
                self.spage_mut(extent)?.set_enabled(true);
            }
        } else {
            self.spage_mut(base.extent())?.set_enabled(false);
        }
        let domain = self.domain_mut(dom)?;
        domain.extents.insert(start, order);
        domain.tot_pages = new_total;
        Ok(())
    }

    /// `decrease_reservation` / exchange input: takes frame `mfn` back from `dom`.
    /// Same as `release_extent(dom, mfn, 0)`.
    pub fn release(&mut self, dom: DomId, mfn: Mfn) -> Result<(), MmError> {
        self.release_extent(dom, mfn, 0)
    }

    /// Shares the free hypervisor frame `mfn` (shared_info, grant frames) with `dom`.
    ///
    /// Post on `Ok`: owned by `dom`, flagged xen_heap, allocation reference held, and a
    /// permanent Writable type reference (it can never become a page table). Errors:
    /// `NoDomain`, `BadFrame`, `Busy` (not free).
    pub fn share_xen_frame(&mut self, dom: DomId, mfn: Mfn) -> Result<(), MmError> {
        self.domain(dom)?;
        if *self.frame(mfn)? != FrameInfo::FREE {
            return Err(MmError::Busy);
        }
        let frame = self.frame_mut(mfn)?;
        frame.set_owner(Some(dom));
        frame.set_allocated(true);
        frame.set_xen_heap(true);
        frame.set_count(1);
        frame.set_page_type(PageType::Writable);
        frame.set_type_count(1);
        frame.set_validated(true);
        self.spage_mut(mfn.extent())?.set_enabled(false);
        self.domain_mut(dom)?.xen_frames.insert(mfn.0);
        Ok(())
    }

    /// Takes a shared hypervisor frame back. Pre: no mapping references it. Post on `Ok`:
    /// free, flush flag set. Errors: `NoDomain`, `BadFrame`, `NotOwner`, `Invalid` (not a
    /// hypervisor frame), `Busy` (still mapped).
    pub fn unshare_xen_frame(&mut self, dom: DomId, mfn: Mfn) -> Result<(), MmError> {
        self.domain(dom)?;
        let frame = self.owned_frame(dom, mfn)?;
        if !frame.is_xen_heap() {
            return Err(MmError::Invalid);
        }
        if frame.count() != 1 || frame.type_count() != 1 {
            return Err(MmError::Busy);
        }
        *self.frame_mut(mfn)? = FrameInfo::FREE;
        self.domain_mut(dom)?.xen_frames.remove(&mfn.0);
        self.flush_needed = true;
        Ok(())
    }
}
