//! Machine memory as a service to domains: the frame allocator, the page-type state machine
//! (`hv_core::mm`) over the frame and spage tables, and the machine-to-phys table (M2P) that
//! guests read at `MACH2PHYS_VIRT_START`.
//!
//! ```text
//!  BuddyAllocator ──alloc_clean(order)──► (scrub if dirty) ──► Mm::assign(dom, base, order) ──► M2P[mfn] = pfn
//!  Mm::destroy_domain ──blocks──► BuddyAllocator::free (dirty)
//!  idle loop ──scrub_some──► take_dirty ──zero──► free_clean
//! ```
//!
//! A domain only ever gets frames that read as zero: clean ones untouched, dirty ones (freed
//! by a domain or the hypervisor, or not yet scrubbed since boot) scrubbed right then.

use alloc::vec;
use alloc::vec::Vec;

use hv_core::buddy::{BuddyAllocator, Content};
use hv_core::mm::{
    DomId, DomainConfig, FrameInfo, FrameMemory, Mfn, Mm, MmCheck, MmConfig, MmError, MmStats,
    SpageInfo,
};

use zerocopy::IntoBytes;

use crate::arch::paging::{pte, HvPageTables, M2P_BASE};
use crate::arch::phys;
use crate::mem::{MachineMemory, PAGE_SIZE};

/// Largest block the scrubber zeroes at once (64 KiB): the idle loop checks for interrupts
/// between chunks.
pub const SCRUB_CHUNK_ORDER: u32 = 4;

/// Domains without superpages get blocks below this order (no extent enabled).
const SUPERPAGE_ORDER: u32 = 9;

/// The M2P value of a frame no guest owns.
pub const INVALID_M2P: u64 = !0;

/// Guest frames, read and written through the direct map.
pub struct DirectMapMemory;

impl FrameMemory for DirectMapMemory {
    fn read_entry(&self, mfn: Mfn, index: usize) -> u64 {
        phys::read_u64(mfn.0 * PAGE_SIZE + 8 * index as u64)
    }

    // Called only by `Mm`, under the type rules: a checked table entry, a Writable frame,
    // or a frame under a temporary Writable reference.
    #[allow(clippy::disallowed_methods)]
    fn write_entry(&mut self, mfn: Mfn, index: usize, value: u64) {
        phys::write_u64(mfn.0 * PAGE_SIZE + 8 * index as u64, value);
    }

    // Called only by `Mm` under a Writable reference (`clear_page`).
    #[allow(clippy::disallowed_methods)]
    fn zero_frame(&mut self, mfn: Mfn) {
        phys::zero(mfn.0 * PAGE_SIZE, PAGE_SIZE as usize);
    }

    // Called only by `Mm` under a Writable reference on `dst` (`copy_page`).
    #[allow(clippy::disallowed_methods)]
    fn copy_frame(&mut self, dst: Mfn, src: Mfn) {
        phys::copy_frame(dst.0 * PAGE_SIZE, src.0 * PAGE_SIZE);
    }

    fn read_table(&self, mfn: Mfn, out: &mut [u64; 512]) {
        phys::read_bytes(mfn.0 * PAGE_SIZE, out.as_mut_bytes());
    }
}

/// What tearing a domain's memory down gave back and found.
#[derive(Clone, Copy, Debug)]
pub struct Destroyed {
    /// Frames returned to the allocator.
    pub freed: u64,
    /// The domain's MMU counters at the end.
    pub stats: MmStats,
    /// What was left over.
    pub check: MmCheck,
}

/// Why a domain could not get memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The allocator has no block of the needed order.
    OutOfMemory,
    /// Adopted frames lie (partly) beyond the domain's pages (a builder bug).
    AdoptedOutOfRange,
    /// The page-type state machine refused.
    Mm(MmError),
}

impl From<MmError> for MemoryError {
    fn from(e: MmError) -> Self {
        MemoryError::Mm(e)
    }
}

/// Machine-contiguous frames the caller already took from the allocator and filled (a kernel
/// loaded where it was decompressed) that become pfns `[pfn, pfn + pages)` of a domain
/// instead of fresh ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdoptedFrames {
    /// First pfn.
    pub pfn: u64,
    /// First machine frame (the frames are machine-contiguous).
    pub mfn: u64,
    /// Number of frames.
    pub pages: u64,
}

/// The memory service.
pub struct Memory {
    /// Free frames.
    pub frames: BuddyAllocator,
    /// Page types, reference counts and superpages.
    pub mm: Mm<'static>,
    /// The hypervisor's page tables.
    pub page_tables: HvPageTables,
    m2p_base_ma: u64,
    max_mfn: u64,
}

impl Memory {
    /// Sets up the frame table, spage table and M2P for all of RAM.
    #[allow(clippy::disallowed_methods)] // fills the hypervisor's own M2P
    pub fn new(boot: MachineMemory) -> Self {
        let MachineMemory {
            mut frames,
            ram_end,
            mut page_tables,
            ..
        } = boot;
        let max_mfn = ram_end.div_ceil(PAGE_SIZE);
        let config = MmConfig {
            max_mfn,
            hypervisor_l4_slots: page_tables.hypervisor_l4_slots(),
        };
        let nr_spages = config.spage_entries();

        let ft_bytes = max_mfn * core::mem::size_of::<FrameInfo>() as u64;
        let frame_table = phys::alloc_static_table::<FrameInfo>(&mut frames, max_mfn as usize);
        let st_bytes = nr_spages * core::mem::size_of::<SpageInfo>() as u64;
        let spage_table = phys::alloc_static_table::<SpageInfo>(&mut frames, nr_spages as usize);
        // `alloc_static_table` scrubbed both: no second pass over them.
        let mm = Mm::new_zeroed(config, frame_table, spage_table)
            .expect("frame tables sized for all of RAM");

        // The M2P: one u64 per machine frame, mapped read-only for guests.
        let m2p_bytes = max_mfn * 8;
        let m2p_pages = m2p_bytes.div_ceil(PAGE_SIZE).max(1);
        let m2p_order = m2p_pages.next_power_of_two().trailing_zeros();
        let m2p_ma = frames
            .alloc(m2p_order)
            .expect("no contiguous memory for the M2P")
            * PAGE_SIZE;
        phys::fill(m2p_ma, (m2p_pages * PAGE_SIZE) as usize, 0xFF);
        let mut off = 0;
        while off < m2p_bytes {
            let mut alloc = || frames.alloc(0).expect("out of memory mapping the M2P") * PAGE_SIZE;
            page_tables.map_4k(
                M2P_BASE + off,
                m2p_ma + off,
                pte::PRESENT | pte::USER | pte::ACCESSED | pte::NX,
                &mut alloc,
            );
            off += PAGE_SIZE;
        }
        log::info!(
            "frame table {} KiB, spage table {} KiB, M2P {} KiB for {} frames",
            ft_bytes >> 10,
            st_bytes >> 10,
            m2p_bytes >> 10,
            max_mfn
        );
        Memory {
            frames,
            mm,
            page_tables,
            m2p_base_ma: m2p_ma,
            max_mfn,
        }
    }

    /// Returns a consumed boot module's frames to the allocator.
    pub fn release_range(&mut self, r: hv_core::memmap::Range) {
        let r = r.page_aligned_inside(PAGE_SIZE);
        if !r.is_empty() {
            let _ = self
                .frames
                .add_range(r.start / PAGE_SIZE, r.end / PAGE_SIZE);
        }
    }

    /// Writes M2P[mfn] = pfn.
    #[allow(clippy::disallowed_methods)] // the hypervisor's own M2P
    pub fn set_m2p(&mut self, mfn: u64, pfn: u64) {
        if mfn < self.max_mfn {
            phys::write_u64(self.m2p_base_ma + mfn * 8, pfn);
        }
    }

    /// The M2P entry of `mfn` (`INVALID_M2P` beyond the table).
    pub fn m2p(&self, mfn: u64) -> u64 {
        if mfn < self.max_mfn {
            phys::read_u64(self.m2p_base_ma + mfn * 8)
        } else {
            INVALID_M2P
        }
    }

    /// One past the highest machine frame.
    pub fn max_mfn(&self) -> u64 {
        self.max_mfn
    }

    /// Registers a domain with the page-type state machine.
    pub fn create_domain(&mut self, dom: DomId, config: DomainConfig) -> Result<(), MemoryError> {
        Ok(self.mm.create_domain(dom, config)?)
    }

    /// Takes a free block of `2^order` frames that reads as zero: a clean one untouched, else
    /// a dirty one scrubbed now. Returns its first frame.
    #[allow(clippy::disallowed_methods)] // scrubs free frames, no one's yet
    fn take_zeroed(&mut self, order: u32) -> Result<u64, MemoryError> {
        let (mfn, content) = self
            .frames
            .alloc_clean(order)
            .ok_or(MemoryError::OutOfMemory)?;
        if content == Content::Dirty {
            phys::scrub(mfn * PAGE_SIZE, (PAGE_SIZE << order) as usize);
        }
        Ok(mfn)
    }

    /// Scrubs dirty free memory, one chunk of at most [`SCRUB_CHUNK_ORDER`] at a time, until
    /// about `max_frames` frames are done or none is dirty; returns the frames scrubbed
    /// (0: all free memory is clean). For the idle loop, and at boot.
    #[allow(clippy::disallowed_methods)] // scrubs free frames, no one's
    pub fn scrub_some(&mut self, max_frames: u64) -> u64 {
        let mut done = 0;
        while done < max_frames {
            let Some((mfn, order)) = self.frames.take_dirty(SCRUB_CHUNK_ORDER) else {
                break;
            };
            phys::scrub(mfn * PAGE_SIZE, (PAGE_SIZE << order) as usize);
            let _ = self.frames.free_clean(mfn, order);
            done += 1 << order;
        }
        done
    }

    /// Allocates and assigns `2^order` frames (reading as zero) to `dom`; returns the first frame.
    pub fn assign_block(&mut self, dom: DomId, order: u32) -> Result<u64, MemoryError> {
        let mfn = self.take_zeroed(order)?;
        if let Err(e) = self.mm.assign(dom, Mfn(mfn), order) {
            let _ = self.frames.free(mfn, order);
            return Err(e.into());
        }
        Ok(mfn)
    }

    /// Gives `dom` `nr_pages` frames as its pseudo-physical memory and returns the p2m.
    ///
    /// With `superpages`, every aligned 512-pfn block is one order-9 assignment (so 512-aligned
    /// pfn blocks are machine-contiguous, 2 MiB-aligned and *enabled* superpages); the tail is
    /// order 0. Without, memory is assigned in blocks of at most order 8, so no extent is ever
    /// enabled (a release inside a block splits it). Frames read as zero: clean ones are not
    /// touched, dirty ones are scrubbed (only those not already zero are written). `adopted`
    /// frames (disjoint pfn runs) are assigned as they are (the caller prepared their
    /// contents) at their pfns; on an error they are the domain's (freed with it) or back in
    /// the allocator.
    pub fn populate(
        &mut self,
        dom: DomId,
        nr_pages: u64,
        superpages: bool,
        adopted: &[AdoptedFrames],
    ) -> Result<Vec<u64>, MemoryError> {
        let mut p2m = vec![0u64; nr_pages as usize];
        for (i, a) in adopted.iter().enumerate() {
            if let Err(e) = self.adopt(dom, *a, nr_pages, superpages, &mut p2m) {
                // Runs not reached yet are no one's: back to the allocator.
                for later in &adopted[i + 1..] {
                    let _ = self.frames.add_range(later.mfn, later.mfn + later.pages);
                }
                return Err(e);
            }
        }
        let mut holes: Vec<(u64, u64)> = adopted.iter().map(|a| (a.pfn, a.pfn + a.pages)).collect();
        holes.sort_unstable();
        let mut holes = holes.into_iter().peekable();
        let mut pfn = 0u64;
        while pfn < nr_pages {
            while holes.next_if(|&(_, end)| end <= pfn).is_some() {}
            let limit = match holes.peek() {
                Some(&(start, end)) if start <= pfn => {
                    pfn = end;
                    continue;
                }
                Some(&(start, _)) => start,
                None => nr_pages,
            };
            let order = (63 - (limit - pfn).leading_zeros())
                .min(9)
                .min(pfn.trailing_zeros());
            let (base, assigned_order) = if superpages && order == 9 {
                (self.assign_block(dom, 9)?, 9)
            } else if superpages {
                (self.assign_block(dom, 0)?, 0)
            } else {
                let order = order.min(SUPERPAGE_ORDER - 1);
                (self.assign_block(dom, order)?, order)
            };
            for i in 0..(1u64 << assigned_order) {
                self.set_m2p(base + i, pfn + i);
                p2m[(pfn + i) as usize] = base + i;
            }
            pfn += 1 << assigned_order;
        }
        Ok(p2m)
    }

    /// Assigns `a`'s frames to `dom` at their pfns in the blocks `populate` would use (order 9
    /// where pfn and frame are both 512-aligned and superpages are allowed, else order 0; up to
    /// order 8 without superpages); frames not yet assigned when an error stops it go back to
    /// the allocator.
    fn adopt(
        &mut self,
        dom: DomId,
        a: AdoptedFrames,
        nr_pages: u64,
        superpages: bool,
        p2m: &mut [u64],
    ) -> Result<(), MemoryError> {
        if a.pfn.checked_add(a.pages).is_none_or(|end| end > nr_pages) {
            let _ = self.frames.add_range(a.mfn, a.mfn + a.pages);
            return Err(MemoryError::AdoptedOutOfRange);
        }
        let mut i = 0;
        while i < a.pages {
            let (pfn, mfn) = (a.pfn + i, a.mfn + i);
            let fit = (63 - (a.pages - i).leading_zeros()).min((pfn | mfn).trailing_zeros());
            let order = if superpages {
                if fit >= SUPERPAGE_ORDER {
                    SUPERPAGE_ORDER
                } else {
                    0
                }
            } else {
                fit.min(SUPERPAGE_ORDER - 1)
            };
            if let Err(e) = self.mm.assign(dom, Mfn(mfn), order) {
                let _ = self.frames.add_range(mfn, a.mfn + a.pages);
                return Err(e.into());
            }
            for k in 0..(1u64 << order) {
                self.set_m2p(mfn + k, pfn + k);
                p2m[(pfn + k) as usize] = mfn + k;
            }
            i += 1 << order;
        }
        Ok(())
    }

    /// Takes `2^order` frames at `mfn` back from `dom` (they must be unused) and frees them.
    pub fn release_block(&mut self, dom: DomId, mfn: u64, order: u32) -> Result<(), MemoryError> {
        self.mm.release_extent(dom, Mfn(mfn), order)?;
        self.free_released(mfn, order);
        Ok(())
    }

    /// Frees frames `release_extent` already took from their domain.
    pub fn free_released(&mut self, mfn: u64, order: u32) {
        for i in 0..(1u64 << order) {
            self.set_m2p(mfn + i, INVALID_M2P);
        }
        if self.mm.take_flush_needed() {
            crate::arch::cpu::flush_tlb();
        }
        let _ = self.frames.free(mfn, order);
    }

    /// Machine frames backing the M2P, one per 2 MiB of it (`XENMEM_machphys_mfn_list`).
    pub fn m2p_chunks(&self) -> Vec<u64> {
        let bytes = self.max_mfn * 8;
        (0..bytes.div_ceil(2 << 20))
            .map(|i| (self.m2p_base_ma + i * (2 << 20)) / PAGE_SIZE)
            .collect()
    }

    /// Allocates a zeroed hypervisor frame and lets `dom` map it (shared_info, grant frames).
    pub fn share_new_frame(&mut self, dom: DomId) -> Result<u64, MemoryError> {
        let mfn = self.take_zeroed(0)?;
        if let Err(e) = self.mm.share_xen_frame(dom, Mfn(mfn)) {
            let _ = self.frames.free(mfn, 0);
            return Err(e.into());
        }
        Ok(mfn)
    }

    /// Takes a shared hypervisor frame back from `dom` and frees it.
    pub fn unshare_frame(&mut self, dom: DomId, mfn: u64) {
        if self.mm.unshare_xen_frame(dom, Mfn(mfn)).is_ok() {
            if self.mm.take_flush_needed() {
                crate::arch::cpu::flush_tlb();
            }
            let _ = self.frames.free(mfn, 0);
        }
    }

    /// Tears a domain's memory down and returns every frame to the allocator: how many
    /// frames were returned, the domain's MMU counters and what was left over (frames the
    /// allocator would not take back count as leaked).
    pub fn destroy_domain(&mut self, dom: DomId) -> Result<Destroyed, MemoryError> {
        let teardown = self.mm.destroy_domain(dom, &mut DirectMapMemory)?;
        let mut done = Destroyed {
            freed: 0,
            stats: teardown.stats,
            check: teardown.check,
        };
        for (base, order) in teardown.blocks {
            for i in 0..(1u64 << order) {
                self.set_m2p(base.0 + i, INVALID_M2P);
            }
            match self.frames.free(base.0, order) {
                Ok(_) => done.freed += 1u64 << order,
                Err(_) => done.check.frames_leaked += 1u64 << order,
            }
        }
        for mfn in teardown.xen_frames {
            match self.frames.free(mfn.0, 0) {
                Ok(_) => done.freed += 1,
                Err(_) => done.check.frames_leaked += 1,
            }
        }
        if self.mm.take_flush_needed() {
            crate::arch::cpu::flush_tlb();
        }
        done.freed += self.reap_orphans();
        Ok(done)
    }

    /// Frees the granted frames that outlived their domain and lost their last mapping
    /// (`Mm::take_freed_orphans`), after the TLB flush; the number freed.
    pub fn reap_orphans(&mut self) -> u64 {
        if !self.mm.has_freed_orphans() {
            return 0;
        }
        if self.mm.take_flush_needed() {
            crate::arch::cpu::flush_tlb();
        }
        let mut freed = 0;
        for mfn in self.mm.take_freed_orphans() {
            self.set_m2p(mfn.0, INVALID_M2P);
            if self.frames.free(mfn.0, 0).is_ok() {
                freed += 1;
            }
        }
        if freed > 0 {
            log::info!("{freed} orphaned granted frames freed");
        }
        freed
    }
}
