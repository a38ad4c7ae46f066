//! Plain values of the memory manager: frame numbers, domain ids, levels and configuration.
//!
//! ```text
//!   machine address  = mfn << 12 | offset            (4 KiB frames)
//!   2 MiB extent      = mfn >> 9                       (512 frames, one `SpageInfo` each)
//! ```

pub use crate::types::{PAGE_SHIFT, SUPERPAGE_ORDER};
/// Number of entries in one page table (every level).
pub const ENTRIES_PER_TABLE: usize = 512;
/// Frames in one 2 MiB extent.
pub const FRAMES_PER_SUPERPAGE: u64 = 1 << SUPERPAGE_ORDER;
/// First domain id Xen reserves for itself (`DOMID_FIRST_RESERVED`); real domains are below it.
pub const DOMID_FIRST_RESERVED: u16 = 0x7FF0;
/// Largest allocation order `assign` accepts (1 TiB); keeps every shift in range.
pub const MAX_ASSIGN_ORDER: u32 = 28;

pub use crate::types::{DomId, Mfn};

/// A page-table level, for pinning and for per-level rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageLevel {
    /// Page table (4 KiB leaf entries).
    L1,
    /// Page directory (L1 pointers or 2 MiB PSE leaves).
    L2,
    /// Page-directory-pointer table.
    L3,
    /// Root table (PML4).
    L4,
}

impl PageLevel {
    /// The level below, whose tables this level's entries point at (`None` for L1).
    pub fn child(self) -> Option<PageLevel> {
        match self {
            PageLevel::L1 => None,
            PageLevel::L2 => Some(PageLevel::L1),
            PageLevel::L3 => Some(PageLevel::L2),
            PageLevel::L4 => Some(PageLevel::L3),
        }
    }

    /// The virtual-address shift of this level's index (12, 21, 30, 39).
    pub fn va_shift(self) -> u32 {
        match self {
            PageLevel::L1 => 12,
            PageLevel::L2 => 21,
            PageLevel::L3 => 30,
            PageLevel::L4 => 39,
        }
    }
}

/// Which of a vCPU's two 64-bit PV root tables (`MMUEXT_NEW_BASEPTR` / `NEW_USER_BASEPTR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BaseKind {
    /// The kernel-mode root (`guest_table`).
    Kernel,
    /// The user-mode root (`guest_table_user`); may be absent.
    User,
}

/// Per-domain memory policy, fixed at `create_domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// Whether the domain may install 2 MiB PSE entries in its L2 tables.
    pub allow_superpages: bool,
    /// Upper bound on the domain's allocated frames (`tot_pages`).
    pub max_pages: u64,
    /// Whether the domain may use cache attributes (PWT/PCD/PAT) in L1 entries.
    pub privileged: bool,
}

/// Machine-wide configuration of the memory manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmConfig {
    /// One past the highest machine frame the frame table describes.
    pub max_mfn: u64,
    /// Entries for L4 slots 256..=271 (the hypervisor's), installed into every validated L4.
    pub hypervisor_l4_slots: [u64; 16],
}

impl MmConfig {
    /// Number of `SpageInfo` entries needed to cover `0..max_mfn`.
    pub fn spage_entries(&self) -> u64 {
        self.max_mfn.div_ceil(FRAMES_PER_SUPERPAGE)
    }
}
