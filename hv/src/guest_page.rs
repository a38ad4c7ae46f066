//! [`GuestPage`]: the only way the hypervisor writes a guest frame by machine address.
//!
//! ```text
//!   Memory::hold_page(dom, mfn) ──▶ GuestPage { HeldFrame, ma } ──Memory::release_page──▶
//!        Mm::hold_frame: general ref,         │ bounded, volatile/atomic accessors
//!        Writable type, extent Nosuper        │ (views: PageRing, SharedInfoBits, VcpuInfo)
//! ```
//!
//! A page is held from the MMU core for as long as the handle lives, so the frame the
//! hypervisor writes can never be a page table, a descriptor page, under a writable
//! superpage, or back in the allocator (issue 7: the console and xenstore rings were written
//! by MFN, and a guest could pin one as an L1 and have the hypervisor forge its entries).
//! Every accessor is bounded to the page: an out-of-page read returns zeros, an out-of-page
//! write is dropped; nothing panics on a guest-chosen offset. Other `arch::phys` writers are
//! banned outside a few reviewed places by clippy's `disallowed-methods` (`clippy.toml`).

use hv_core::mm::{DomId, HeldFrame, Mfn};

use crate::arch::phys;
use crate::mem::PAGE_SIZE;
use crate::memory::{DirectMapMemory, Memory, MemoryError};

/// A guest frame the hypervisor holds (general reference + Writable type) and may write.
/// Not `Clone`; give it back with [`Memory::release_page`] (a handle dropped instead leaks
/// its references until the domain is destroyed).
#[must_use = "give a held page back with Memory::release_page"]
#[derive(Debug)]
pub struct GuestPage {
    frame: HeldFrame,
    ma: u64,
}

impl GuestPage {
    /// The domain that owns the frame.
    pub fn dom(&self) -> DomId {
        self.frame.dom()
    }

    /// The machine frame.
    pub fn mfn(&self) -> u64 {
        self.frame.mfn().0
    }

    /// Machine address of `len` bytes at `offset`, if they lie inside the page.
    #[inline]
    fn at(&self, offset: usize, len: usize) -> Option<u64> {
        let end = offset.checked_add(len)?;
        // `ma` is page-aligned by construction; masking says so to the compiler, which then
        // drops `phys`'s alignment assertion on the word accessors (every `vcpu_info` read,
        // one per return to a guest).
        let page = self.ma & !(PAGE_SIZE - 1);
        (end <= PAGE_SIZE as usize).then_some(page + offset as u64)
    }

    /// Machine address of the aligned u64 at `offset`, if inside the page.
    #[inline]
    fn word(&self, offset: usize) -> Option<u64> {
        offset.is_multiple_of(8).then_some(())?;
        self.at(offset, 8)
    }

    /// Copies bytes at `offset` into `buf` (zeros if the range leaves the page).
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        match self.at(offset, buf.len()) {
            Some(ma) => phys::read_bytes(ma, buf),
            None => buf.fill(0),
        }
    }

    /// Copies `data` to `offset` (dropped if the range leaves the page).
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn write(&self, offset: usize, data: &[u8]) {
        if let Some(ma) = self.at(offset, data.len()) {
            phys::write_bytes(ma, data);
        }
    }

    /// Reads the aligned u64 at `offset` (0 if misaligned or outside).
    pub fn read_u64(&self, offset: usize) -> u64 {
        self.word(offset).map_or(0, phys::read_u64)
    }

    /// Writes the aligned u64 at `offset` (dropped if misaligned or outside).
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn write_u64(&self, offset: usize, value: u64) {
        if let Some(ma) = self.word(offset) {
            phys::write_u64(ma, value);
        }
    }

    /// Atomically ORs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn fetch_or_u64(&self, offset: usize, bits: u64) -> u64 {
        self.word(offset)
            .map_or(0, |ma| phys::fetch_or_u64(ma, bits))
    }

    /// Atomically ANDs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn fetch_and_u64(&self, offset: usize, bits: u64) -> u64 {
        self.word(offset)
            .map_or(0, |ma| phys::fetch_and_u64(ma, bits))
    }

    /// Atomic compare-and-exchange of the u64 at `offset`: `Ok(old)` or `Err(found)`
    /// (`Err(0)` if outside).
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn cmpxchg_u64(&self, offset: usize, old: u64, new: u64) -> Result<u64, u64> {
        self.word(offset)
            .map_or(Err(0), |ma| phys::cmpxchg_u64(ma, old, new))
    }
}

impl Memory {
    /// Holds frame `mfn` of `dom` for the hypervisor to write (`Mm::hold_frame`). Errors: the
    /// frame is not `dom`'s, is a page table or descriptor page, or lies under a writable
    /// superpage mapping.
    pub fn hold_page(&mut self, dom: DomId, mfn: u64) -> Result<GuestPage, MemoryError> {
        let frame = self.mm.hold_frame(dom, Mfn(mfn), &mut DirectMapMemory)?;
        if self.mm.take_flush_needed() {
            crate::arch::cpu::flush_tlb();
        }
        Ok(GuestPage {
            frame,
            ma: mfn * PAGE_SIZE,
        })
    }

    /// Gives a held page back (a page of a domain already destroyed changes nothing).
    pub fn release_page(&mut self, page: GuestPage) {
        self.mm.release_frame(page.frame, &mut DirectMapMemory);
    }
}
