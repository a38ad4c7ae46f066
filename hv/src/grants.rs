//! Grant tables (v1) as a service: the table frames are hypervisor frames shared with the
//! domain (so the guest maps them through `mmu_update` like any page it owns), and the grant
//! entries are reached through the direct map with atomic accesses.

use hv_core::gnttab::{self, GrantEntryAccess, GrantFrameAllocator};
use hv_core::mm::DomId;

use crate::arch::phys;
use crate::mem::PAGE_SIZE;
use crate::memory::Memory;

/// Allocates grant-table frames for a domain from the machine allocator.
pub struct FrameSource<'a>(pub &'a mut Memory);

impl GrantFrameAllocator for FrameSource<'_> {
    fn alloc_frame(&mut self, dom: hv_core::DomId) -> Option<gnttab::Mfn> {
        self.0.share_new_frame(DomId(dom.0)).ok().map(gnttab::Mfn)
    }

    fn free_frame(&mut self, dom: hv_core::DomId, frame: gnttab::Mfn) {
        self.0.unshare_frame(DomId(dom.0), frame.0);
    }
}

/// Grant entries in guest-shared frames, through the direct map.
pub struct DirectMapEntries;

fn entry_ma(frame: gnttab::Mfn, offset: usize) -> u64 {
    frame.0 * PAGE_SIZE + (offset as u64 & 0xFF8)
}

impl GrantEntryAccess for DirectMapEntries {
    fn read_header(&self, frame: gnttab::Mfn, offset: usize) -> u32 {
        phys::read_u64(entry_ma(frame, offset)) as u32
    }

    fn cmpxchg_header(&mut self, frame: gnttab::Mfn, offset: usize, old: u32, new: u32) -> u32 {
        let at = entry_ma(frame, offset);
        let cur = phys::read_u64(at);
        let expect = (cur & !0xFFFF_FFFF) | u64::from(old);
        match phys::cmpxchg_u64(at, expect, (cur & !0xFFFF_FFFF) | u64::from(new)) {
            Ok(_) => old,
            Err(found) => found as u32,
        }
    }

    fn read_frame(&self, frame: gnttab::Mfn, offset: usize) -> u32 {
        (phys::read_u64(entry_ma(frame, offset)) >> 32) as u32
    }

    fn clear_flags(&mut self, frame: gnttab::Mfn, offset: usize, flags: u16) {
        phys::fetch_and_u64(entry_ma(frame, offset), !u64::from(flags));
    }
}
