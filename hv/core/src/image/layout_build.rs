//! Computing a [`StartOfDayLayout`]: the toolstack's allocation order, step by step.
//!
//! 1. padding up to the kernel, the kernel's pages;
//! 2. the ramdisk, if it must be mapped;
//! 3. the p2m list, unless INIT_P2M is usable (below `virt_base` and page aligned — otherwise
//!    the note is ignored, as the toolstack does);
//! 4. start_info, xenstore, console;
//! 5. the bootstrap page tables (count found by iteration, see `layout`), the boot stack, and
//!    padding up to `v_end`;
//! 6. the ramdisk, if passed unmapped (MOD_START_PFN);
//! 7. the INIT_P2M list and its own page tables.

use super::layout::{
    Allocator, FrameRange, KernelPlacement, LayoutError, P2mPlacement, RamdiskPlacement,
    StartOfDayLayout, MAX_ROUNDS, P2M_ENTRY_SIZE, SLACK_PAGES, V_END_ALIGN_MASK,
};
use super::mapping::{Mapping, VADDR_MASK};
use super::segments::{check_guest_range, PAGE_SIZE};

fn pages_for(bytes: u64) -> Result<u64, LayoutError> {
    Ok(bytes
        .checked_add(PAGE_SIZE - 1)
        .ok_or(LayoutError::AddressOverflow)?
        / PAGE_SIZE)
}

fn check_range(start: u64, end: u64) -> Result<(), LayoutError> {
    check_guest_range(start, end).map_err(|_| LayoutError::BadVirtualRange)
}

/// The initial mapping and its end: tables enough to map everything allocated so far, the
/// tables themselves, the boot stack and the slack, rounded up to 4 MiB.
fn initial_mapping(alloc: &Allocator) -> Result<(Mapping, u64), LayoutError> {
    let extra = 1 + SLACK_PAGES;
    let mut pages = extra;
    for _ in 0..MAX_ROUNDS {
        let last = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|bytes| bytes.checked_add(alloc.va().ok()?))
            .ok_or(LayoutError::AddressOverflow)?
            | V_END_ALIGN_MASK;
        let v_end = last.checked_add(1).ok_or(LayoutError::AddressOverflow)?;
        if (v_end - alloc.virt_base) / PAGE_SIZE > alloc.nr_pages {
            return Err(LayoutError::OutOfMemory);
        }
        let mapping = Mapping::new(alloc.virt_base, last, 0, alloc.next_pfn, &[])?;
        pages = mapping.table_frames + extra;
        let needed_end = pages
            .checked_mul(PAGE_SIZE)
            .and_then(|bytes| bytes.checked_add(alloc.va().ok()?))
            .ok_or(LayoutError::AddressOverflow)?;
        if needed_end <= v_end {
            return Ok((mapping, v_end));
        }
    }
    Err(LayoutError::NoConvergence)
}

/// The INIT_P2M list at `va` for `nr_pages` entries, then its own tables.
fn init_p2m(
    alloc: &mut Allocator,
    va: u64,
    initial: &Mapping,
) -> Result<P2mPlacement, LayoutError> {
    let list_pages = pages_for(alloc.nr_pages.saturating_mul(P2M_ENTRY_SIZE))?;
    let bytes = list_pages * PAGE_SIZE;
    let end = va.checked_add(bytes).ok_or(LayoutError::AddressOverflow)?;
    check_range(va, end)?;
    let (from, to) = (va & VADDR_MASK, (end - 1) & VADDR_MASK);
    if from <= initial.to && to >= initial.from {
        return Err(LayoutError::P2mOverlapsMapping);
    }
    let first_table = alloc
        .next_pfn
        .checked_add(list_pages)
        .ok_or(LayoutError::AddressOverflow)?;
    let mapping = Mapping::new(va, end - 1, alloc.next_pfn, first_table, &[*initial])?;
    let total = list_pages
        .checked_add(mapping.table_frames)
        .ok_or(LayoutError::AddressOverflow)?;
    let all = alloc.alloc(total)?;
    Ok(P2mPlacement::InitP2m {
        va,
        list: FrameRange {
            pfn: all.pfn,
            pages: list_pages,
        },
        mapping,
    })
}

impl StartOfDayLayout {
    /// Lays out a domain of `nr_pages` pages for `kernel`, with an initrd of `ramdisk_len`
    /// bytes (0 = none).
    ///
    /// Errors: `Unaligned` (VIRT_BASE or kernel start), `BadVirtualRange`, `OutOfMemory` when
    /// the layout does not fit in `nr_pages`, `P2mOverlapsMapping`, `AddressOverflow`.
    pub fn new(
        kernel: KernelPlacement,
        nr_pages: u64,
        ramdisk_len: u64,
    ) -> Result<Self, LayoutError> {
        let virt_base = kernel.virt_base;
        if !virt_base.is_multiple_of(PAGE_SIZE) || !kernel.virt_kstart.is_multiple_of(PAGE_SIZE) {
            return Err(LayoutError::Unaligned);
        }
        let mut alloc = Allocator {
            virt_base,
            nr_pages,
            next_pfn: 0,
        };
        alloc.pad_to(kernel.virt_kstart)?;
        let kernel_len = kernel
            .virt_kend
            .checked_sub(kernel.virt_kstart)
            .ok_or(LayoutError::BadVirtualRange)?;
        let kernel_frames = alloc.alloc(pages_for(kernel_len)?)?;

        let unmapped_ramdisk = kernel.mod_start_pfn;
        let mut ramdisk = None;
        if ramdisk_len > 0 && !unmapped_ramdisk {
            let frames = alloc.alloc(pages_for(ramdisk_len)?)?;
            ramdisk = Some(RamdiskPlacement::Mapped {
                frames,
                len: ramdisk_len,
            });
        }

        let p2m_base = kernel
            .init_p2m
            .filter(|&base| base < virt_base && base.is_multiple_of(PAGE_SIZE));
        let mapped_p2m = match p2m_base {
            None => alloc.alloc(pages_for(nr_pages.saturating_mul(P2M_ENTRY_SIZE))?)?,
            Some(_) => FrameRange::default(),
        };
        let start_info_pfn = alloc.alloc(1)?.pfn;
        let xenstore_pfn = alloc.alloc(1)?.pfn;
        let console_pfn = alloc.alloc(1)?.pfn;

        let (initial, v_end) = initial_mapping(&alloc)?;
        check_range(virt_base, v_end)?;
        alloc.alloc(initial.table_frames)?;
        let boot_stack_pfn = alloc.alloc(1)?.pfn;
        alloc.pad_to(v_end)?;

        if ramdisk_len > 0 && unmapped_ramdisk {
            let frames = alloc.alloc(pages_for(ramdisk_len)?)?;
            ramdisk = Some(RamdiskPlacement::Unmapped { frames });
        }
        let p2m = match p2m_base {
            None => P2mPlacement::Mapped { frames: mapped_p2m },
            Some(va) => init_p2m(&mut alloc, va, &initial)?,
        };
        Ok(Self {
            virt_base,
            nr_pages,
            kernel: kernel_frames,
            ramdisk,
            p2m,
            start_info_pfn,
            xenstore_pfn,
            console_pfn,
            initial,
            boot_stack_pfn,
            v_end,
            first_free_pfn: alloc.next_pfn,
        })
    }

    /// The fewest pages with which [`StartOfDayLayout::new`] fits `kernel` and an initrd of
    /// `ramdisk_len` bytes (what a domain refused with `OutOfMemory` needs at least), or
    /// `None` if it fits no domain up to 64 GiB (or fails for another reason).
    pub fn min_pages(kernel: KernelPlacement, ramdisk_len: u64) -> Option<u64> {
        const LIMIT: u64 = 1 << 24;
        let fits = |n| Self::new(kernel, n, ramdisk_len).is_ok();
        // Double up to a size that fits, then bisect: more pages never make a fitting layout
        // fail below the limit (the p2m grows by one page per 512).
        let mut high = 1u64;
        while !fits(high) {
            high = high.checked_mul(2).filter(|&h| h <= LIMIT)?;
        }
        let mut low = high / 2;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if fits(mid) {
                high = mid;
            } else {
                low = mid;
            }
        }
        Some(high)
    }
}
