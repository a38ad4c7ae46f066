//! Walks of a guest's 4-level tables from a root L4: `update_va_mapping` (find the L1 slot for
//! a virtual address and update it) and `translate` (read-only lookup for guest-memory copies).
//!
//! ```text
//!   va: | sign | L4 idx (47..39) | L3 idx (38..30) | L2 idx (29..21) | L1 idx (20..12) | off |
//!   refused: non-canonical va, and the hypervisor hole 0xFFFF8000_00000000..0xFFFF8800_00000000
//! ```
//! Both walks start from a *live* L4 (validated, type count > 0), so every table reached is a
//! validated table of the same domain — or, through a read-only linear L4 entry, one of the
//! hypervisor's L4 slots. `translate` therefore requires USER at every level, like the
//! guest's own (ring-3) access: every guest entry carries USER after adjustment, while the
//! hypervisor's entries (except the guest-readable M2P) must not, so a linear self-map cannot
//! lead a hypervisor copy into hypervisor memory. Frame numbers are range-checked before use.

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::pte::{
    entry_mfn, is_canonical, is_guest_l4_slot, is_present, va_slot, ADDR_MASK, HYPERVISOR_L4_LAST,
    PSE, RW, USER,
};
use super::types::{DomId, Mfn, PageLevel};
use super::Mm;

/// The end of the lower canonical half: guest addresses below it lie in guest L4 slots.
const LOWER_HALF_END: u64 = 1 << 47;
/// The first address above the hypervisor's L4 slots (slot `HYPERVISOR_L4_LAST + 1`).
const ABOVE_HYPERVISOR_SLOTS: u64 = (u64::MAX << 47) | ((HYPERVISOR_L4_LAST as u64 + 1) << 39);

/// Offset mask of a 2 MiB page.
const SUPERPAGE_OFFSET: u64 = (1 << 21) - 1;
/// Offset mask of a 4 KiB page.
const PAGE_OFFSET: u64 = (1 << 12) - 1;

/// `Ok` if `va` is canonical and outside the hypervisor's L4 slots.
fn check_guest_va(va: u64) -> Result<(), MmError> {
    if !is_canonical(va) || !is_guest_l4_slot(va_slot(va, PageLevel::L4)) {
        return Err(MmError::BadAddress);
    }
    Ok(())
}

impl Mm<'_> {
    /// `Ok` if `root` is a live L4 table (optionally of `dom`).
    fn check_root(&self, root: Mfn, dom: Option<DomId>) -> Result<(), MmError> {
        let frame = match dom {
            Some(dom) => self.owned_frame(dom, root)?,
            None => *self.frame(root)?,
        };
        if !frame.is_live(PageType::L4) {
            return Err(MmError::Invalid);
        }
        Ok(())
    }

    /// `update_va_mapping`: set the L1 entry mapping `va` in the tables rooted at `root_l4`
    /// (the vCPU's current kernel root) to `val`, with the rules of `mod_entry`.
    ///
    /// Errors: `BadAddress` (non-canonical or hypervisor va, an absent L4/L3/L2 entry, a PSE
    /// L2 entry, or the frame reached is not a live L1 of `dom`), `Invalid` (root is not a
    /// live L4), `NotOwner`, `NoDomain`, or the L1 entry rules' errors.
    pub fn update_va_mapping<M: FrameMemory>(
        &mut self,
        dom: DomId,
        root_l4: Mfn,
        va: u64,
        val: u64,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let (table, slot) = self.l1_slot(dom, root_l4, va, mem)?;
        self.mod_entry(PageLevel::L1, dom, table, slot, val, false, mem)
    }

    /// The live L1 table of `dom` and the slot in it that maps `va` in the tables rooted at
    /// `root_l4` (the walk of `update_va_mapping`, with its errors).
    pub(super) fn l1_slot<M: FrameMemory>(
        &self,
        dom: DomId,
        root_l4: Mfn,
        va: u64,
        mem: &M,
    ) -> Result<(Mfn, usize), MmError> {
        self.domain(dom)?;
        check_guest_va(va)?;
        self.check_root(root_l4, Some(dom))?;
        let mut table = root_l4;
        for level in [PageLevel::L4, PageLevel::L3, PageLevel::L2] {
            let entry = mem.read_entry(table, va_slot(va, level));
            if !is_present(entry) || entry & PSE != 0 {
                return Err(MmError::BadAddress);
            }
            table = entry_mfn(entry);
            self.frame(table).map_err(|_| MmError::BadAddress)?;
        }
        match self.owned_frame(dom, table) {
            Ok(f) if f.is_live(PageType::L1) => {}
            _ => return Err(MmError::BadAddress),
        }
        Ok((table, va_slot(va, PageLevel::L1)))
    }

    /// Translates `va` through the tables rooted at the live L4 `root_l4` to a machine
    /// address, requiring PRESENT and USER (and RW when `write`) at every level; a PSE L2
    /// entry maps 2 MiB, a PSE L3 entry is refused. No state changes.
    ///
    /// Errors: `BadAddress` (non-canonical or hypervisor va), `Invalid` (root not a live L4),
    /// `NotMapped` (absent, not USER, read-only for a write, L3 PSE, or beyond `max_mfn`).
    pub fn translate<M: FrameMemory>(
        &self,
        root_l4: Mfn,
        va: u64,
        write: bool,
        mem: &M,
    ) -> Result<u64, MmError> {
        match self.translate_rw(root_l4, va, mem)? {
            (_, false) if write => Err(MmError::NotMapped),
            (maddr, _) => Ok(maddr),
        }
    }

    /// One walk for both questions: `translate(root_l4, va, false, mem)`'s machine address
    /// and whether `translate(root_l4, va, true, mem)` would succeed (RW at every level).
    pub fn translate_rw<M: FrameMemory>(
        &self,
        root_l4: Mfn,
        va: u64,
        mem: &M,
    ) -> Result<(u64, bool), MmError> {
        check_guest_va(va)?;
        self.check_root(root_l4, None)?;
        let mut table = root_l4;
        let mut writable = true;
        for level in [PageLevel::L4, PageLevel::L3, PageLevel::L2, PageLevel::L1] {
            let entry = mem.read_entry(table, va_slot(va, level));
            if !is_present(entry) || entry & USER == 0 {
                return Err(MmError::NotMapped);
            }
            writable &= entry & RW != 0;
            let leaf = match level {
                PageLevel::L1 => Some((entry & ADDR_MASK) | (va & PAGE_OFFSET)),
                PageLevel::L2 if entry & PSE != 0 => {
                    Some((entry & ADDR_MASK & !SUPERPAGE_OFFSET) | (va & SUPERPAGE_OFFSET))
                }
                PageLevel::L3 | PageLevel::L4 if entry & PSE != 0 => {
                    return Err(MmError::NotMapped)
                }
                _ => None,
            };
            if let Some(maddr) = leaf {
                if maddr >> 12 >= self.config.max_mfn {
                    return Err(MmError::NotMapped);
                }
                return Ok((maddr, writable));
            }
            table = entry_mfn(entry);
            self.frame(table).map_err(|_| MmError::NotMapped)?;
        }
        Err(MmError::NotMapped)
    }

    /// Whether a ring-0 copy of `len` bytes at `va` may go through the hardware MMU with
    /// `root_l4` loaded in CR3, instead of [`Mm::translate`]: it then reaches exactly what
    /// `translate` allows, so the platform only has to turn a fault into "not mapped".
    ///
    /// That holds when
    /// - the whole range lies in guest L4 slots (below the lower half's end, or above the
    ///   hypervisor's slots; checked without overflow), so the walk starts at a guest entry;
    /// - no L4 linear entry was ever accepted: then every entry a walk from a guest L4 slot
    ///   meets is a guest entry, and those all carry USER (the hypervisor's entries, which do
    ///   not, sit only in its own L4 slots), so USER at every level holds by construction, and
    ///   RW at every level is the CPU's own check for a ring-0 write (CR0.WP);
    /// - no TLB flush is pending: a stale translation of a frame whose use changed, or which
    ///   was released, could otherwise still be used (stale ones that remain point at frames
    ///   the guest itself may still reach the same way);
    /// - `root_l4` is a live L4 (the caller checks it is the loaded one).
    ///
    /// `translate`'s other refusals (PSE L3 entries, frames beyond `max_mfn`) cannot occur in
    /// validated guest tables.
    // Inlined into the hypervisor's guest copies (every hypercall argument, bounce frame and
    // `iret` frame): a cross-crate call is an indirect call through the GOT.
    #[inline]
    pub fn copy_through_mmu_ok(&self, root_l4: Mfn, va: u64, len: u64) -> bool {
        let Some(end) = va.checked_add(len) else {
            return false;
        };
        let in_guest_slots = end <= LOWER_HALF_END || va >= ABOVE_HYPERVISOR_SLOTS;
        in_guest_slots
            && !self.linear_l4_made
            && !self.flush_needed
            && self.frame(root_l4).is_ok_and(|f| f.is_live(PageType::L4))
    }
}
