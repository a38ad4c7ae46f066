//! Frames: pfn ↔ mfn, the bootstrap mapping, a pool of free frames.
//!
//! ```text
//!  pfn 0            pt_pfn      pt_pfn+nr_pt_frames+1                mapped_pages    nr_pages
//!  | kernel, p2m,   | bootstrap  |  free, mapped RW 4 KiB at           |  free, unmapped  |
//!  | start_info ... | tables (RO)|  VIRT_BASE + pfn * 4096            |                  |
//! ```
//!
//! The start-of-day region maps pfn `p` at `VIRT_BASE + p * 4096` up to `v_end`, which the
//! guest learns by walking its bootstrap tables ([`Bootstrap`]). Tables are read through that
//! mapping: every table frame we build comes from the mapped part and is read-only there.

use core::sync::atomic::{AtomicU64, Ordering};

use pv_abi::errno::{neg, EINVAL};
use pv_abi::xen::{StartInfo, UVMF_INVLPG};

use super::ops;
use super::pte::{entry, entry_mfn, is_present, DATA_RO, PSE};
use super::tables::{slot, Level};
use crate::ring;

/// Where pfn 0 is mapped (our linker script's `VIRT_BASE`).
pub const VIRT_BASE: u64 = ring::VIRT_BASE;
/// Frames in a 2 MiB superpage.
pub const SUPERPAGE_FRAMES: u64 = 512;

/// The VA of `pfn` in the start-of-day region (mapped only below [`Bootstrap::mapped_pages`]).
pub fn pfn_to_va(pfn: u64) -> u64 {
    VIRT_BASE + pfn * 4096
}

/// The largest mfn the M2P covers (`XENMEM_machphys_mapping`, asked once); 0 = unknown.
static M2P_MAX_MFN: AtomicU64 = AtomicU64::new(u64::MAX);

/// The pfn of machine frame `mfn`, from the read-only M2P; `u64::MAX` for frames beyond it
/// (the M2P is mapped only up to its `max_mfn`: reading further would fault).
pub fn m2p(mfn: u64) -> u64 {
    let mut max = M2P_MAX_MFN.load(Ordering::Relaxed);
    if max == u64::MAX {
        max = ops::machphys_mapping().map_or(0, |m| m.max_mfn);
        M2P_MAX_MFN.store(max, Ordering::Relaxed);
    }
    if mfn > max {
        return u64::MAX;
    }
    ring::mfn_to_pfn(mfn)
}

/// The mfn of our `pfn`, from the p2m list (`None` beyond `nr_pages`).
pub fn p2m(si: &StartInfo, pfn: u64) -> Option<u64> {
    ring::pfn_to_mfn(si, pfn)
}

/// Records `pfn → mfn` in the p2m list (after populate/exchange gave us a new frame).
pub fn set_p2m(si: &StartInfo, pfn: u64, mfn: u64) {
    if pfn < si.nr_pages {
        let slot = (si.mfn_list + pfn * 8) as *mut u64;
        // SAFETY: `mfn_list` is the builder's writable array of `nr_pages` u64s; nothing
        // holds a Rust reference into it (all accesses are volatile).
        unsafe { slot.write_volatile(mfn) };
    }
}

/// Whether `mfn` is one of ours (M2P and p2m agree).
pub fn is_own(si: &StartInfo, mfn: u64) -> bool {
    p2m(si, m2p(mfn)) == Some(mfn)
}

/// The pfn of the bootstrap L4 (`pt_base`).
pub fn pt_pfn(si: &StartInfo) -> u64 {
    (si.pt_base - VIRT_BASE) >> 12
}

/// The first pfn after the bootstrap tables and the boot stack page: free RAM from here.
pub fn first_free_pfn(si: &StartInfo) -> u64 {
    pt_pfn(si) + si.nr_pt_frames + 1
}

/// The first mfn of pfns `first..first + 512` if they are one 2 MiB-aligned, machine-
/// contiguous block (a superpage candidate); `None` otherwise.
pub fn superpage_mfn(si: &StartInfo, first: u64) -> Option<u64> {
    let base = p2m(si, first)?;
    if !first.is_multiple_of(SUPERPAGE_FRAMES) || !base.is_multiple_of(SUPERPAGE_FRAMES) {
        return None;
    }
    (1..SUPERPAGE_FRAMES)
        .all(|i| p2m(si, first + i) == Some(base + i))
        .then_some(base)
}

/// The bootstrap page tables, read through the start-of-day mapping.
#[derive(Clone, Copy, Debug)]
pub struct Bootstrap {
    /// The bootstrap L4 (also the current base pointer).
    pub l4_mfn: u64,
    /// Pfns `0..mapped_pages` are mapped at [`pfn_to_va`].
    pub mapped_pages: u64,
    nr_pages: u64,
}

impl Bootstrap {
    /// Finds the L4 and the extent of the start-of-day mapping.
    pub fn new(si: &StartInfo) -> Bootstrap {
        let pt_end = pt_pfn(si) + si.nr_pt_frames;
        let mut boot = Bootstrap {
            l4_mfn: p2m(si, pt_pfn(si)).unwrap_or(0),
            mapped_pages: pt_end,
            nr_pages: si.nr_pages,
        };
        let mut mapped = 0;
        while mapped < si.nr_pages {
            let pte = boot.lookup(si, pfn_to_va(mapped));
            if pte.map(entry_mfn) != p2m(si, mapped) || pte.is_some_and(|e| e & PSE != 0) {
                break;
            }
            mapped += 1;
        }
        boot.mapped_pages = mapped.max(pt_end);
        boot
    }

    /// The VA at which table frame `mfn` can be read, if it is ours and mapped.
    pub fn table_va(&self, si: &StartInfo, mfn: u64) -> Option<u64> {
        let pfn = m2p(mfn);
        (pfn < self.mapped_pages && pfn < self.nr_pages && p2m(si, pfn) == Some(mfn))
            .then(|| pfn_to_va(pfn))
    }

    /// Entry `index` of table frame `mfn`, read through the bootstrap mapping.
    pub fn read_entry(&self, si: &StartInfo, mfn: u64, index: usize) -> Option<u64> {
        let va = self.table_va(si, mfn)? + (index as u64 % 512) * 8;
        // SAFETY: `va` lies in a page of the start-of-day mapping (checked above); page-table
        // frames are mapped read-only there and the hypervisor may change them, so read
        // volatile, never through a reference.
        Some(unsafe { (va as *const u64).read_volatile() })
    }

    /// The L1 entry mapping `va`: its machine address and value. `None` if an upper level
    /// is absent, a PSE entry, or unreadable.
    pub fn l1_entry(&self, si: &StartInfo, va: u64) -> Option<(u64, u64)> {
        let mut table = self.l4_mfn;
        for level in [Level::L4, Level::L3, Level::L2] {
            let e = self.read_entry(si, table, slot(va, level))?;
            if !is_present(e) || e & PSE != 0 {
                return None;
            }
            table = entry_mfn(e);
        }
        let index = slot(va, Level::L1);
        Some((
            (table << 12) + index as u64 * 8,
            self.read_entry(si, table, index)?,
        ))
    }

    /// The present leaf entry mapping `va` in the current tables: an L1 entry, or a PSE L2
    /// entry. `None` if unmapped or a table is unreadable.
    pub fn lookup(&self, si: &StartInfo, va: u64) -> Option<u64> {
        let mut table = self.l4_mfn;
        for level in [Level::L4, Level::L3, Level::L2, Level::L1] {
            let e = self.read_entry(si, table, slot(va, level))?;
            if !is_present(e) {
                return None;
            }
            if level == Level::L1 || (level == Level::L2 && e & PSE != 0) {
                return Some(e);
            }
            table = entry_mfn(e);
        }
        None
    }
}

/// A bump allocator over a range of free pfns.
#[derive(Clone, Copy, Debug)]
pub struct FramePool {
    next: u64,
    end: u64,
}

impl FramePool {
    /// The pool of pfns `start..end`.
    pub fn new(start: u64, end: u64) -> FramePool {
        FramePool { next: start, end }
    }

    /// Takes one pfn.
    pub fn alloc(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Pfns left.
    pub fn remaining(&self) -> u64 {
        self.end - self.next
    }
}

/// Makes our frame `pfn` read-only in the start-of-day mapping (`update_va_mapping` of its
/// VA), so that it can become a page table. No-op for pfns outside the mapping.
pub fn make_readonly(si: &StartInfo, boot: &Bootstrap, pfn: u64) -> Result<(), i64> {
    if pfn >= boot.mapped_pages {
        return Ok(());
    }
    let mfn = p2m(si, pfn).ok_or(neg(EINVAL))?;
    // SAFETY: the same frame stays mapped at the same VA, only without write access: a later
    // write faults, nothing is aliased or lost.
    unsafe { ops::update_va_mapping(pfn_to_va(pfn), entry(mfn, DATA_RO), UVMF_INVLPG) }
}
