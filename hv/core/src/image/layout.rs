//! The start-of-day layout of a 64-bit PV guest, exactly as the Xen toolstack builds it
//! (`xc_dom_build_image`, `alloc_pgtables_pv`, `alloc_p2m_list_x86_64`).
//!
//! Pseudo-physical frames are handed out in order from pfn 0; the initial mapping maps
//! `[virt_base, v_end)` onto pfns `0..` so that `va = virt_base + pfn * 4096`:
//!
//! ```text
//!  pfn 0                                                              v_end (4 MiB aligned)
//!  | pad | kernel | ramdisk* | p2m* | start_info | xenstore | console | L4 L3.. L2.. L1.. |
//!  | boot stack | >= 512 KiB slack |  -- end of the initial mapping --
//!  | ramdisk** (unmapped, by pfn) | p2m list + its own L3/L2/L1 at INIT_P2M *** | free ...
//!
//!  *   ramdisk mapped here unless the kernel has MOD_START_PFN
//!  *   p2m here unless the kernel has a usable INIT_P2M (below virt_base, page aligned)
//!  **  with MOD_START_PFN: start_info.mod_start = pfn, flags |= SIF_MOD_START_PFN
//!  *** with INIT_P2M: first_p2m_pfn / nr_p2m_frames cover the list and its tables
//! ```
//!
//! The page-table count is found by iteration: guess the end of the mapping (everything so
//! far + tables + boot stack + 512 KiB, rounded up to 4 MiB), count the tables needed to map
//! up to it, and retry until the tables fit. Mini-OS relies on the store and console pages
//! lying below `pt_base` and treats every pfn from `pt_base + nr_pt_frames` on as free.

use super::mapping::Mapping;
use super::segments::PAGE_SIZE;

/// Mapped slack after the boot stack (`alloc_pgtables_pv`'s padding).
pub(crate) const SLACK_PAGES: u64 = 512 * 1024 / PAGE_SIZE;
/// The initial mapping ends on a 4 MiB boundary (inclusive-end mask).
pub(crate) const V_END_ALIGN_MASK: u64 = (4 << 20) - 1;
/// Bytes per p2m entry.
pub(crate) const P2M_ENTRY_SIZE: u64 = 8;
/// Bound on the table-count iteration (it converges in two or three rounds).
pub(crate) const MAX_ROUNDS: u32 = 16;

/// Why a layout (or its bootstrap page tables) cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The domain has too few pages for the start-of-day layout.
    #[error(
        "the domain's memory is too small for this kernel, its ramdisk and the start-of-day tables"
    )]
    OutOfMemory,
    /// An address or frame computation overflowed.
    #[error("an address of the start-of-day layout overflows 64 bits")]
    AddressOverflow,
    /// VIRT_BASE or the kernel start is not page aligned.
    #[error("the kernel's VIRT_BASE or start is not page aligned")]
    Unaligned,
    /// A mapped range is non-canonical, crosses the canonical gap or touches Xen's hole.
    #[error(
        "the kernel's initial mapping would be non-canonical or overlap the hypervisor's hole"
    )]
    BadVirtualRange,
    /// The INIT_P2M range overlaps the initial mapping.
    #[error("the kernel's INIT_P2M range overlaps its initial mapping")]
    P2mOverlapsMapping,
    /// The table count did not settle (cannot happen for sane inputs).
    #[error("the start-of-day layout did not settle (a builder bug)")]
    NoConvergence,
    /// `pfn → mfn` has no frame for a pfn the page tables need.
    #[error("pfn {pfn:#x} has no machine frame (a builder bug)")]
    MissingMfn {
        /// The pfn without a frame.
        pfn: u64,
    },
    /// An mfn does not fit a page-table entry (52-bit physical addresses).
    #[error("the machine frame of pfn {pfn:#x} is above 52 bits")]
    MfnTooLarge {
        /// The pfn whose frame is too high.
        pfn: u64,
    },
}

/// Where the kernel sits, from the image (see `GuestImage::placement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelPlacement {
    /// VA of pfn 0.
    pub virt_base: u64,
    /// Page-aligned first VA of the kernel.
    pub virt_kstart: u64,
    /// Page-aligned end of the kernel.
    pub virt_kend: u64,
    /// INIT_P2M note.
    pub init_p2m: Option<u64>,
    /// MOD_START_PFN note.
    pub mod_start_pfn: bool,
}

/// Consecutive pfns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRange {
    /// First pfn.
    pub pfn: u64,
    /// Number of frames.
    pub pages: u64,
}

impl FrameRange {
    /// One past the last pfn (saturating; ranges from a layout never come near).
    pub fn end(&self) -> u64 {
        self.pfn.saturating_add(self.pages)
    }
}

/// Where the initrd goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamdiskPlacement {
    /// Mapped right after the kernel: `mod_start` = its VA, `mod_len` = its exact length.
    Mapped {
        /// Its frames.
        frames: FrameRange,
        /// Its length in bytes.
        len: u64,
    },
    /// After the initial mapping, unmapped: `mod_start` = first pfn, `mod_len` = whole pages
    /// (the toolstack reports the page-rounded length), `SIF_MOD_START_PFN` set.
    Unmapped {
        /// Its frames.
        frames: FrameRange,
    },
}

/// Where the p2m list (`mfn_list`, 8 bytes per pfn) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P2mPlacement {
    /// Inside the initial mapping, before start_info.
    Mapped {
        /// Its frames.
        frames: FrameRange,
    },
    /// At the INIT_P2M VA, after everything else, followed by its own page tables.
    InitP2m {
        /// VA of the list (`mfn_list`).
        va: u64,
        /// The list's frames.
        list: FrameRange,
        /// The list's mapping and its table frames (right after `list`).
        mapping: Mapping,
    },
}

/// The complete start-of-day layout of one domain, as computed by [`StartOfDayLayout::new`]
/// (the accessors rely on its invariants: the frame ranges are disjoint, in allocation order,
/// below `nr_pages`, and every mapped element lies in `[virt_base, v_end)` without overflow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartOfDayLayout {
    /// VA of pfn 0.
    pub virt_base: u64,
    /// Pages of the domain.
    pub nr_pages: u64,
    /// The kernel image's frames (`(virt_kstart - virt_base) >> 12` on).
    pub kernel: FrameRange,
    /// The initrd, if any.
    pub ramdisk: Option<RamdiskPlacement>,
    /// The p2m list.
    pub p2m: P2mPlacement,
    /// start_info page (`rsi` at entry).
    pub start_info_pfn: u64,
    /// xenstore ring page (zeroed).
    pub xenstore_pfn: u64,
    /// console ring page (initialised).
    pub console_pfn: u64,
    /// The initial mapping `[virt_base, v_end)` and its table frames (`pt_base` = its L4).
    pub initial: Mapping,
    /// Boot stack page (`rsp` = its top).
    pub boot_stack_pfn: u64,
    /// End (exclusive) of the initial mapping, 4 MiB aligned.
    pub v_end: u64,
    /// First pfn not used by the layout.
    pub first_free_pfn: u64,
}

/// The toolstack's allocator: pfns and VAs handed out in order.
pub(crate) struct Allocator {
    pub(crate) virt_base: u64,
    pub(crate) nr_pages: u64,
    pub(crate) next_pfn: u64,
}

impl Allocator {
    pub(crate) fn va(&self) -> Result<u64, LayoutError> {
        pfn_va(self.virt_base, self.next_pfn)
    }

    pub(crate) fn alloc(&mut self, pages: u64) -> Result<FrameRange, LayoutError> {
        let end = self.next_pfn.checked_add(pages);
        let end = end.filter(|&end| end <= self.nr_pages);
        let range = FrameRange {
            pfn: self.next_pfn,
            pages,
        };
        self.next_pfn = end.ok_or(LayoutError::OutOfMemory)?;
        Ok(range)
    }

    pub(crate) fn pad_to(&mut self, va: u64) -> Result<(), LayoutError> {
        let gap = va
            .checked_sub(self.va()?)
            .ok_or(LayoutError::BadVirtualRange)?;
        self.alloc(gap / PAGE_SIZE).map(drop)
    }
}

fn pfn_va(virt_base: u64, pfn: u64) -> Result<u64, LayoutError> {
    pfn.checked_mul(PAGE_SIZE)
        .and_then(|offset| offset.checked_add(virt_base))
        .ok_or(LayoutError::AddressOverflow)
}

impl StartOfDayLayout {
    /// VA of a pfn inside the initial mapping (`None` beyond `v_end`).
    pub fn mapped_va(&self, pfn: u64) -> Option<u64> {
        (pfn < self.mapped_pages()).then(|| self.virt_base + pfn * PAGE_SIZE)
    }

    /// Pages mapped by the initial page tables (`(v_end - virt_base) / 4096`).
    pub fn mapped_pages(&self) -> u64 {
        (self.v_end - self.virt_base) / PAGE_SIZE
    }

    /// Pfn of the bootstrap L4 (its MFN goes in CR3).
    pub fn pt_base_pfn(&self) -> u64 {
        self.initial.first_table_pfn
    }

    /// VA of the bootstrap L4 (`start_info.pt_base`).
    pub fn pt_base_va(&self) -> u64 {
        self.virt_base + self.pt_base_pfn() * PAGE_SIZE
    }

    /// Frames of the bootstrap page tables (`start_info.nr_pt_frames`; the INIT_P2M tables are
    /// not included).
    pub fn nr_pt_frames(&self) -> u64 {
        self.initial.table_frames
    }

    /// VA of start_info (`rsi` at entry).
    pub fn start_info_va(&self) -> u64 {
        self.virt_base + self.start_info_pfn * PAGE_SIZE
    }

    /// Initial stack pointer: the top of the boot stack page.
    pub fn boot_stack_top(&self) -> u64 {
        self.virt_base + (self.boot_stack_pfn + 1) * PAGE_SIZE
    }

    /// VA of the p2m list (`start_info.mfn_list`).
    pub fn mfn_list_va(&self) -> u64 {
        match self.p2m {
            P2mPlacement::Mapped { frames } => self.virt_base + frames.pfn * PAGE_SIZE,
            P2mPlacement::InitP2m { va, .. } => va,
        }
    }

    /// The mappings the bootstrap page tables implement: the initial one, then the INIT_P2M
    /// one if used.
    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        let p2m = match &self.p2m {
            P2mPlacement::InitP2m { mapping, .. } => Some(mapping),
            P2mPlacement::Mapped { .. } => None,
        };
        core::iter::once(&self.initial).chain(p2m)
    }
}
