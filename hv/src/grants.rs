//! Grant tables (v1) as a service: the table frames are hypervisor frames shared with the
//! domain (so the guest maps them through `mmu_update` like any page it owns), held as
//! [`GuestPage`]s while the table lives, and the grant entries are reached only through those
//! held pages, with atomic accesses.

use alloc::collections::BTreeMap;

use hv_core::gnttab::{self, GrantEntryAccess, GrantFrameAllocator};
use hv_core::mm::DomId;

use crate::guest_page::GuestPage;
use crate::memory::Memory;

/// The held grant-table frames of every domain, by machine frame (a frame belongs to one
/// domain at a time).
#[derive(Default)]
pub struct GrantPages {
    pages: BTreeMap<u64, GuestPage>,
}

impl GrantPages {
    /// Takes domain `dom`'s pages out (at destruction).
    pub fn remove_domain(&mut self, dom: u16) -> GrantPages {
        let mine: alloc::vec::Vec<u64> = self
            .pages
            .iter()
            .filter(|(_, p)| p.dom() == DomId(dom))
            .map(|(&mfn, _)| mfn)
            .collect();
        let pages = mine
            .into_iter()
            .filter_map(|mfn| self.pages.remove_entry(&mfn))
            .collect();
        GrantPages { pages }
    }

    /// Gives every page back to the memory manager.
    pub fn release(self, memory: &mut Memory) {
        for (_, page) in self.pages {
            memory.release_page(page);
        }
    }

    fn page(&self, frame: gnttab::Mfn) -> Option<&GuestPage> {
        self.pages.get(&frame.0)
    }
}

/// Allocates grant-table frames for a domain from the machine allocator and holds them.
pub struct FrameSource<'a> {
    /// Where frames come from.
    pub memory: &'a mut Memory,
    /// Where the held frames are kept.
    pub pages: &'a mut GrantPages,
}

impl GrantFrameAllocator for FrameSource<'_> {
    fn alloc_frame(&mut self, dom: hv_core::DomId) -> Option<gnttab::Mfn> {
        let mfn = self.memory.share_new_frame(DomId(dom.0)).ok()?;
        match self.memory.hold_page(DomId(dom.0), mfn) {
            Ok(page) => {
                self.pages.pages.insert(mfn, page);
                Some(gnttab::Mfn(mfn))
            }
            Err(_) => {
                self.memory.unshare_frame(DomId(dom.0), mfn);
                None
            }
        }
    }

    fn free_frame(&mut self, dom: hv_core::DomId, frame: gnttab::Mfn) {
        if let Some(page) = self.pages.pages.remove(&frame.0) {
            self.memory.release_page(page);
        }
        self.memory.unshare_frame(DomId(dom.0), frame.0);
    }
}

/// Grant entries, reached only through the held grant-table pages (an unknown frame reads
/// as zeros and is never written).
pub struct HeldEntries<'a>(pub &'a GrantPages);

fn entry_offset(offset: usize) -> usize {
    offset & 0xFF8
}

impl GrantEntryAccess for HeldEntries<'_> {
    fn read_header(&self, frame: gnttab::Mfn, offset: usize) -> u32 {
        self.0
            .page(frame)
            .map_or(0, |p| p.read_u64(entry_offset(offset)) as u32)
    }

    fn cmpxchg_header(&mut self, frame: gnttab::Mfn, offset: usize, old: u32, new: u32) -> u32 {
        let Some(p) = self.0.page(frame) else {
            return !old;
        };
        let at = entry_offset(offset);
        let cur = p.read_u64(at);
        let expect = (cur & !0xFFFF_FFFF) | u64::from(old);
        match p.cmpxchg_u64(at, expect, (cur & !0xFFFF_FFFF) | u64::from(new)) {
            Ok(_) => old,
            Err(found) => found as u32,
        }
    }

    fn read_frame(&self, frame: gnttab::Mfn, offset: usize) -> u32 {
        self.0
            .page(frame)
            .map_or(0, |p| (p.read_u64(entry_offset(offset)) >> 32) as u32)
    }

    fn clear_flags(&mut self, frame: gnttab::Mfn, offset: usize, flags: u16) {
        if let Some(p) = self.0.page(frame) {
            p.fetch_and_u64(entry_offset(offset), !u64::from(flags));
        }
    }
}
