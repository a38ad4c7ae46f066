//! Grant mappings in the MMU: an L1 entry of the grantee that maps a frame of the granter
//! (`GNTTABOP_map_grant_ref` with `GNTMAP_host_map`, Xen's `create_grant_va_mapping`), and
//! what happens to the frame when either side goes away.
//!
//! ```text
//!   map_grant(grantee, va, granter, frame, rw)
//!       L1 slot of va ◀── frame|P|A|D|NX (+RW)     granter's frame: general + 1 (+ Writable
//!       record (table, slot) → frame                 type + 1 if RW), still the granter's
//!   unmap_grant(grantee, va, frame)   entry must still map frame; cleared, references dropped
//!   guest zaps the entry itself       references dropped as for any L1 entry; the record
//!                                     stays and the grant's unmap fails (Xen: the grant stays
//!                                     in use until the grantee dies)
//!   grantee destroyed                 its tables devalidate: every grant entry's references go
//!   granter destroyed while mapped    the frame becomes an orphan: no owner, no allocation
//!                                     reference, the grantee's references kept; the last put
//!                                     frees it onto `take_freed_orphans` for the platform
//! ```
//!
//! The references are the L1 entry's own, so devalidation, `mod_entry` and teardown need no
//! special case. Only `map_grant` creates a foreign entry: every other path still requires
//! the domain to own what it maps (`get_page_from_l1e`), so copying a grant entry, making it
//! writable, or mapping the granter's frame through `mmu_update` fails `CannotMap`. A foreign
//! frame is never covered by a PSE entry of the grantee (PSE entries need the grantee's own
//! enabled extent), and a granted frame stays referenced, so the granter cannot release it
//! (`Busy`) or make it a page table while a writable mapping exists (`TypeConflict`).

use alloc::vec::Vec;

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::pte::{adjust, entry_mfn, is_present, ACCESSED, DIRTY, NX, PRESENT, RW, USER};
use super::types::{DomId, Mfn, PageLevel};
use super::Mm;

/// How a grant is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantMapping {
    /// The granting domain (owner of `frame`).
    pub granter: DomId,
    /// The granted frame.
    pub frame: Mfn,
    /// Writable mapping.
    pub writable: bool,
    /// Mapped for guest user mode too (`GNTMAP_application_map`).
    pub user: bool,
}

/// Which L1 slot of the grantee a grant mapping goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantSite {
    /// The slot mapping virtual address `va` (page aligned) in the tables rooted at `root`.
    Va {
        /// The grantee's live L4.
        root: Mfn,
        /// The virtual address.
        va: u64,
    },
    /// The entry at machine address `maddr` (8-aligned) of a live L1 of the grantee
    /// (`GNTMAP_contains_pte`).
    Pte(u64),
}

impl Mm<'_> {
    /// The live L1 and slot `site` names for `dom`. Errors: `BadAddress` (misaligned, not a
    /// live L1 of `dom`, or the walk's errors), `Invalid`, `NotOwner`, `NoDomain`.
    fn grant_slot<M: FrameMemory>(
        &self,
        dom: DomId,
        site: GrantSite,
        mem: &M,
    ) -> Result<(Mfn, usize), MmError> {
        match site {
            GrantSite::Va { va, .. } if va & 0xFFF != 0 => Err(MmError::BadAddress),
            GrantSite::Va { root, va } => self.l1_slot(dom, root, va, mem),
            GrantSite::Pte(maddr) => {
                self.domain(dom)?;
                let table = Mfn(maddr >> 12);
                match self.owned_frame(dom, table) {
                    Ok(f) if maddr & 7 == 0 && f.is_live(PageType::L1) => {}
                    _ => return Err(MmError::BadAddress),
                }
                // 9-bit index: always < 512.
                Ok((table, ((maddr & 0xFFF) >> 3) as usize))
            }
        }
    }

    /// Maps `g.frame` of `g.granter` at `site` of `dom`, replacing whatever the L1 slot held.
    ///
    /// Pre: the grant layer checked the grant. Post on `Ok`: the slot maps the frame
    /// (present, accessed, dirty, NX, RW if writable, adjusted as a guest entry), the frame
    /// has one more general (+ Writable type) reference, the old entry's references are
    /// dropped, and the slot is recorded. Errors (nothing changed): the walk's errors
    /// (`BadAddress`, `Invalid`, `NotOwner`, `NoDomain`), `CannotMap` (frame not allocated to
    /// the granter, a hypervisor frame, or RW on a page table), `Overflow`.
    pub fn map_grant<M: FrameMemory>(
        &mut self,
        dom: DomId,
        site: GrantSite,
        g: GrantMapping,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let (table, slot) = self.grant_slot(dom, site, mem)?;
        let frame = self
            .owned_frame(g.granter, g.frame)
            .map_err(|_| MmError::CannotMap)?;
        if frame.is_xen_heap() {
            return Err(MmError::CannotMap);
        }
        self.get_page(g.granter, g.frame)?;
        if g.writable {
            if let Err(e) = self.get_page_type(g.frame, PageType::Writable, mem) {
                self.put_page(g.frame);
                return Err(match e {
                    MmError::Overflow => MmError::Overflow,
                    _ => MmError::CannotMap,
                });
            }
        }
        let mut entry = (g.frame.0 << 12) | PRESENT | ACCESSED | DIRTY | NX;
        if g.writable {
            entry |= RW;
        }
        if g.user {
            entry |= USER;
        }
        let old = mem.read_entry(table, slot);
        mem.write_entry(table, slot, adjust(PageLevel::L1, entry));
        self.put_page_from_entry(PageLevel::L1, table, old, mem);
        self.flush_needed = true;
        self.domain_mut(dom)?
            .grant_maps
            .insert((table.0, slot), g.frame.0);
        Ok(())
    }

    /// Removes the grant mapping of `frame` at `site` of `dom` (Xen's
    /// `replace_grant_va_mapping` with no new address).
    ///
    /// Post on `Ok`: the slot is zero, the entry's references dropped (an orphan may be
    /// freed), the record gone, the flush flag set. Errors (nothing changed): the walk's
    /// errors, `NotMapped` (the slot does not hold a grant mapping of `frame` any more).
    pub fn unmap_grant<M: FrameMemory>(
        &mut self,
        dom: DomId,
        site: GrantSite,
        frame: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let (table, slot) = self.grant_slot(dom, site, mem)?;
        let recorded = self.domain(dom)?.grant_maps.get(&(table.0, slot)).copied();
        let entry = mem.read_entry(table, slot);
        if recorded != Some(frame.0) || !is_present(entry) || entry_mfn(entry) != frame {
            return Err(MmError::NotMapped);
        }
        mem.write_entry(table, slot, 0);
        self.put_page_from_entry(PageLevel::L1, table, entry, mem);
        self.domain_mut(dom)?.grant_maps.remove(&(table.0, slot));
        self.flush_needed = true;
        Ok(())
    }

    /// Orphaned frames freed since the last call, for the platform to return to its
    /// allocator (after the TLB flush the flush flag asks for).
    pub fn take_freed_orphans(&mut self) -> Vec<Mfn> {
        core::mem::take(&mut self.orphans_freed)
    }

    /// Whether orphans are waiting in `take_freed_orphans`.
    pub fn has_freed_orphans(&self) -> bool {
        !self.orphans_freed.is_empty()
    }

    /// The number of orphaned frames still referenced (O(max_mfn); for checks and tests).
    pub fn orphan_count(&self) -> u64 {
        self.frames.iter().filter(|f| f.is_orphan()).count() as u64
    }

    /// Whether `dom`'s recorded grant mapping at `(table, slot)` is of `target` (the recount's
    /// permission for a foreign L1 entry).
    pub(crate) fn is_grant_mapping(
        &self,
        dom: DomId,
        table: Mfn,
        slot: usize,
        target: Mfn,
    ) -> bool {
        self.domains
            .get(&dom)
            .and_then(|d| d.grant_maps.get(&(table.0, slot)))
            == Some(&target.0)
    }
}
