//! Building our own page tables in one L4 slot of the current (bootstrap) address space.
//!
//! ```text
//!   va: | sign | L4 slot (47..39) | L3 (38..30) | L2 (29..21) | L1 (20..12) | offset |
//!
//!   new table:  pool frame → read-only in the bootstrap mapping → MMUEXT_CLEAR_PAGE
//!               → mmu_update(parent entry = mfn | TABLE)   (the hypervisor validates it)
//!   4 KiB page: L1 entry = mfn << 12 | flags
//!   2 MiB page: L2 entry = mfn << 12 | PSE | flags   (mfn 512-aligned, enabled extent)
//! ```

use pv_abi::xen::{
    StartInfo, MMUEXT_CLEAR_PAGE, MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE, MMUEXT_PIN_L3_TABLE,
    MMUEXT_PIN_L4_TABLE,
};

use super::frames::{make_readonly, p2m, Bootstrap, FramePool};
use super::ops;
use super::pte::{entry, entry_mfn, is_present, superpage, PSE, TABLE};

/// A page-table level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// 4 KiB leaf entries.
    L1,
    /// L1 pointers or 2 MiB PSE leaves.
    L2,
    /// L2 pointers.
    L3,
    /// The root.
    L4,
}

impl Level {
    /// The VA shift of this level's index (12, 21, 30, 39).
    pub const fn shift(self) -> u32 {
        match self {
            Level::L1 => 12,
            Level::L2 => 21,
            Level::L3 => 30,
            Level::L4 => 39,
        }
    }

    /// The `MMUEXT_PIN_Ln_TABLE` command for this level.
    pub const fn pin_cmd(self) -> u32 {
        match self {
            Level::L1 => MMUEXT_PIN_L1_TABLE,
            Level::L2 => MMUEXT_PIN_L2_TABLE,
            Level::L3 => MMUEXT_PIN_L3_TABLE,
            Level::L4 => MMUEXT_PIN_L4_TABLE,
        }
    }

    /// The level below (`None` for L1).
    pub const fn child(self) -> Option<Level> {
        match self {
            Level::L1 => None,
            Level::L2 => Some(Level::L1),
            Level::L3 => Some(Level::L2),
            Level::L4 => Some(Level::L3),
        }
    }
}

/// The index of `va` in its `level` table.
pub const fn slot(va: u64, level: Level) -> usize {
    ((va >> level.shift()) & 0x1FF) as usize
}

/// The machine address of entry `index` of table frame `mfn` (an `mmu_update` `ptr`).
pub const fn entry_maddr(mfn: u64, index: usize) -> u64 {
    (mfn << 12) | ((index as u64 & 0x1FF) * 8)
}

/// Why a window operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The hypervisor refused (negative Xen errno).
    Xen(i64),
    /// The frame pool is empty.
    NoFrames,
    /// The address is outside the window, misaligned, or the slot is not usable.
    BadAddress,
    /// A table on the way is missing (or is a superpage) and was not to be created.
    NotMapped,
}

impl From<i64> for MapError {
    fn from(errno: i64) -> Self {
        MapError::Xen(errno)
    }
}

/// Takes a pool frame and prepares it as an empty, not yet typed page table: read-only in
/// the bootstrap mapping, zeroed. Returns its mfn.
pub fn new_table(si: &StartInfo, boot: &Bootstrap, pool: &mut FramePool) -> Result<u64, MapError> {
    let pfn = pool.alloc().ok_or(MapError::NoFrames)?;
    let mfn = p2m(si, pfn).ok_or(MapError::NoFrames)?;
    make_readonly(si, boot, pfn)?;
    // SAFETY: a frame from the pool holds nothing Rust code uses.
    unsafe { ops::mmuext(MMUEXT_CLEAR_PAGE, mfn, 0) }?;
    Ok(mfn)
}

/// One L4 slot of the current address space whose tables we build and change ourselves.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    si: &'static StartInfo,
    boot: Bootstrap,
    l4_slot: usize,
}

impl Window {
    /// Takes L4 slot `l4_slot` of the bootstrap L4. `BadAddress` if it is a hypervisor slot
    /// (256..=271) or already in use.
    ///
    /// # Safety
    /// Nothing may use virtual addresses of the slot except through raw pointers derived from
    /// this window's mappings (mapping changes there must not pull memory from under Rust).
    pub unsafe fn new(
        si: &'static StartInfo,
        boot: Bootstrap,
        l4_slot: usize,
    ) -> Result<Window, MapError> {
        if l4_slot >= 512 || (256..=271).contains(&l4_slot) {
            return Err(MapError::BadAddress);
        }
        match boot.read_entry(si, boot.l4_mfn, l4_slot) {
            Some(0) => Ok(Window { si, boot, l4_slot }),
            _ => Err(MapError::BadAddress),
        }
    }

    /// The first VA of the window.
    pub fn base(&self) -> u64 {
        let va = (self.l4_slot as u64) << 39;
        if self.l4_slot >= 256 {
            va | 0xFFFF_0000_0000_0000
        } else {
            va
        }
    }

    /// Whether `va` lies in the window.
    pub fn contains(&self, va: u64) -> bool {
        va.wrapping_sub(self.base()) < (1 << 39)
    }

    /// The bootstrap-table reader the window uses.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.boot
    }

    /// The mfn of the `level` table covering `va` (`None` if a table above is absent or a
    /// superpage).
    pub fn table(&self, va: u64, level: Level) -> Option<u64> {
        if !self.contains(va) {
            return None;
        }
        let mut table = self.boot.l4_mfn;
        let mut at = Level::L4;
        while at != level {
            let e = self.boot.read_entry(self.si, table, slot(va, at))?;
            if !is_present(e) || e & PSE != 0 {
                return None;
            }
            table = entry_mfn(e);
            at = at.child()?;
        }
        Some(table)
    }

    /// The machine address of the `level` entry for `va`.
    pub fn entry_ptr(&self, va: u64, level: Level) -> Option<u64> {
        Some(entry_maddr(self.table(va, level)?, slot(va, level)))
    }

    /// The current `level` entry for `va`.
    pub fn read(&self, va: u64, level: Level) -> Option<u64> {
        self.boot
            .read_entry(self.si, self.table(va, level)?, slot(va, level))
    }

    /// Writes the `level` entry for `va` with one `mmu_update` (the hypervisor validates it).
    pub fn set(&self, va: u64, level: Level, val: u64) -> Result<(), MapError> {
        let ptr = self.entry_ptr(va, level).ok_or(MapError::NotMapped)?;
        // SAFETY: the entry belongs to the window (or is its L4 slot): it only maps window
        // addresses, which Rust code does not use (`Window::new`'s contract).
        unsafe { ops::mmu_update_one(ptr, val) }.map_err(MapError::Xen)
    }

    /// Makes sure the `level` table covering `va` exists, creating the missing tables from
    /// the pool top-down; returns its mfn.
    pub fn ensure(&self, pool: &mut FramePool, va: u64, level: Level) -> Result<u64, MapError> {
        if !self.contains(va) {
            return Err(MapError::BadAddress);
        }
        let mut at = Level::L4;
        let mut table = self.boot.l4_mfn;
        while at != level {
            let e = self
                .boot
                .read_entry(self.si, table, slot(va, at))
                .ok_or(MapError::NotMapped)?;
            if e & PSE != 0 {
                return Err(MapError::BadAddress);
            }
            table = if is_present(e) {
                entry_mfn(e)
            } else {
                let new = new_table(self.si, &self.boot, pool)?;
                self.set(va, at, entry(new, TABLE))?;
                new
            };
            at = at.child().ok_or(MapError::BadAddress)?;
        }
        Ok(table)
    }

    /// Maps the 4 KiB page at `va` to frame `mfn` with `flags`.
    pub fn map_4k(
        &self,
        pool: &mut FramePool,
        va: u64,
        mfn: u64,
        flags: u64,
    ) -> Result<(), MapError> {
        self.ensure(pool, va, Level::L1)?;
        self.set(va, Level::L1, entry(mfn, flags))
    }

    /// Unmaps the 4 KiB page at `va` and flushes it from the TLB.
    pub fn unmap_4k(&self, va: u64) -> Result<(), MapError> {
        self.set(va, Level::L1, 0)?;
        Ok(ops::invlpg_local(va)?)
    }

    /// Maps the 2 MiB at `va` (2 MiB-aligned) to the superpage starting at `mfn`: one PSE
    /// L2 entry `mfn << 12 | PSE | flags`.
    pub fn map_2m(
        &self,
        pool: &mut FramePool,
        va: u64,
        mfn: u64,
        flags: u64,
    ) -> Result<(), MapError> {
        if va & ((1 << 21) - 1) != 0 {
            return Err(MapError::BadAddress);
        }
        self.ensure(pool, va, Level::L2)?;
        self.set(va, Level::L2, superpage(mfn, flags))
    }

    /// Unmaps the 2 MiB at `va` and flushes the TLB.
    pub fn unmap_2m(&self, va: u64) -> Result<(), MapError> {
        self.set(va, Level::L2, 0)?;
        Ok(ops::tlb_flush_local()?)
    }
}
