//! [`GuestPage`]: the only way the hypervisor writes a guest frame by machine address.
//!
//! ```text
//!   Memory::hold_page(dom, mfn) ──▶ GuestPage { HeldFrame, ma, words } ──Memory::release_page──▶
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
    /// The frame checked once for the word accessors (`vcpu_info`, event bits: every return
    /// to a guest reads one), valid while the frame is held.
    words: phys::MappedPage,
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
        (end <= PAGE_SIZE as usize).then_some(self.ma + offset as u64)
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
    #[inline]
    pub fn read_u64(&self, offset: usize) -> u64 {
        self.words.read_u64(offset)
    }

    /// Writes the aligned u64 at `offset` (dropped if misaligned or outside).
    #[inline]
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn write_u64(&self, offset: usize, value: u64) {
        self.words.write_u64(offset, value)
    }

    /// Writes the byte at `offset` with a plain store (dropped if outside).
    #[inline]
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn write_u8(&self, offset: usize, value: u8) {
        self.words.write_u8(offset, value)
    }

    /// Atomically ORs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[inline]
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn fetch_or_u64(&self, offset: usize, bits: u64) -> u64 {
        self.words.fetch_or_u64(offset, bits)
    }

    /// Atomically ANDs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[inline]
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn fetch_and_u64(&self, offset: usize, bits: u64) -> u64 {
        self.words.fetch_and_u64(offset, bits)
    }

    /// Atomic compare-and-exchange of the u64 at `offset`: `Ok(old)` or `Err(found)`
    /// (`Err(0)` if outside).
    #[inline]
    #[allow(clippy::disallowed_methods)] // The held-page writer itself.
    pub fn cmpxchg_u64(&self, offset: usize, old: u64, new: u64) -> Result<u64, u64> {
        self.words.cmpxchg_u64(offset, old, new)
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
        let ma = mfn * PAGE_SIZE;
        Ok(GuestPage {
            frame,
            ma,
            words: phys::MappedPage::new(ma),
        })
    }

    /// Gives a held page back (a page of a domain already destroyed changes nothing).
    pub fn release_page(&mut self, page: GuestPage) {
        self.mm.release_frame(page.frame, &mut DirectMapMemory);
    }
}
