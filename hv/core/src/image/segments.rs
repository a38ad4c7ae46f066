//! The load plan: where each `PT_LOAD` segment of the kernel goes in the guest's virtual space.
//!
//! Xen's loader places segments by `p_paddr` ("load by paddr"), not by `p_vaddr`:
//!
//! ```text
//!   dest VA = p_paddr - paddr_offset + virt_base
//!   [dest, dest + p_filesz)           <- file bytes [p_offset, p_offset + p_filesz)
//!   [dest + p_filesz, dest + p_memsz) <- zero
//!   virt_kstart = min(dest) rounded down to 4 KiB,  virt_kend = max(dest + memsz) rounded up
//! ```
//!
//! Loadable means `PT_LOAD` with at least one of R/W/X. Segments are copied in header order;
//! overlapping segments are allowed (the later one wins), but as in libelf their total memory
//! size may not exceed twice the image's size. Checks: file range inside the file,
//! `filesz ≤ memsz`, no arithmetic overflow, the image range canonical and outside Xen's hole,
//! `virt_base ≤ virt_kstart`, entry in `[start, end]` of the unrounded image (libelf's bound),
//! INIT_P2M not inside the image, the hypercall page one of the image's pages.

pub use pv_abi::arch_x86::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};

use alloc::vec::Vec;

use super::elf::{checked_range, ElfFile};
use super::error::ImageError;
use super::notes::XenNotes;

/// 4 KiB.
pub const PAGE_SIZE: u64 = 4096;
/// First non-canonical address of the lower half (48-bit virtual addresses).
const LOWER_HALF_END: u64 = 0x0000_8000_0000_0000;

/// One segment to copy into the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Destination virtual address.
    pub dest_va: u64,
    /// Offset of the bytes to copy in the image file.
    pub file_offset: u64,
    /// Bytes to copy (the rest of `mem_size` is zero-filled). `file_size ≤ mem_size`.
    pub file_size: u64,
    /// Bytes the segment occupies at `dest_va`.
    pub mem_size: u64,
}

/// The kernel's segments and the page-aligned virtual range they occupy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    segments: Vec<LoadSegment>,
    virt_kstart: u64,
    virt_kend: u64,
}

/// Rounds up to a page boundary, failing on overflow.
pub(crate) fn page_round_up(value: u64) -> Option<u64> {
    Some(value.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))
}

/// Checks that the non-empty VA range `[start, end)` is canonical and avoids Xen's hole.
pub(crate) fn check_guest_range(start: u64, end: u64) -> Result<(), ImageError> {
    let last = end.checked_sub(1).ok_or(ImageError::AddressOverflow)?;
    let lower = last < LOWER_HALF_END;
    let upper = start >= HYPERVISOR_VIRT_START;
    if !lower && !upper {
        return Err(ImageError::NonCanonicalAddress);
    }
    if upper && start < HYPERVISOR_VIRT_END {
        return Err(ImageError::InHypervisorHole);
    }
    Ok(())
}

impl LoadPlan {
    /// Builds and checks the load plan of `elf` as described by `notes`.
    pub fn new(elf: &ElfFile<'_>, notes: &XenNotes) -> Result<Self, ImageError> {
        let mut segments = Vec::new();
        let (mut low, mut high) = (u64::MAX, 0u64);
        let mut total_mem: u64 = 0;
        for phdr in elf.program_headers().filter(|p| p.is_loadable()) {
            checked_range(phdr.p_offset, phdr.p_filesz, elf.bytes().len())
                .ok_or(ImageError::SegmentOutOfFile)?;
            if phdr.p_filesz > phdr.p_memsz {
                return Err(ImageError::FileSizeExceedsMemSize);
            }
            // p_paddr below PADDR_OFFSET would land below VIRT_BASE.
            let dest_va = phdr
                .p_paddr
                .checked_sub(notes.paddr_offset)
                .ok_or(ImageError::VirtBaseAboveImage)?
                .checked_add(notes.virt_base)
                .ok_or(ImageError::AddressOverflow)?;
            let dest_end = dest_va
                .checked_add(phdr.p_memsz)
                .ok_or(ImageError::AddressOverflow)?;
            total_mem = total_mem
                .checked_add(phdr.p_memsz)
                .ok_or(ImageError::SegmentsTooLarge)?;
            low = low.min(dest_va);
            high = high.max(dest_end);
            segments.push(LoadSegment {
                dest_va,
                file_offset: phdr.p_offset,
                file_size: phdr.p_filesz,
                mem_size: phdr.p_memsz,
            });
        }
        if segments.is_empty() {
            return Err(ImageError::NoLoadableSegments);
        }
        let virt_kstart = low & !(PAGE_SIZE - 1);
        let virt_kend =
            page_round_up(high.max(low.saturating_add(1))).ok_or(ImageError::AddressOverflow)?;
        check_guest_range(virt_kstart, virt_kend)?;
        if total_mem > (virt_kend - virt_kstart).saturating_mul(2) {
            return Err(ImageError::SegmentsTooLarge);
        }
        if notes.virt_base > virt_kstart {
            return Err(ImageError::VirtBaseAboveImage);
        }
        if notes.entry < low || notes.entry > high {
            return Err(ImageError::EntryOutsideImage);
        }
        if notes
            .init_p2m
            .is_some_and(|p2m| (virt_kstart..virt_kend).contains(&p2m))
        {
            return Err(ImageError::InitP2mInsideImage);
        }
        if notes
            .hypercall_page
            .is_some_and(|page| !(virt_kstart..virt_kend).contains(&page))
        {
            return Err(ImageError::HypercallPageOutsideImage);
        }
        Ok(Self {
            segments,
            virt_kstart,
            virt_kend,
        })
    }

    /// The segments, in the order to copy them.
    pub fn segments(&self) -> &[LoadSegment] {
        &self.segments
    }

    /// Page-aligned first VA of the image.
    pub fn virt_kstart(&self) -> u64 {
        self.virt_kstart
    }

    /// Page-aligned end (exclusive) of the image.
    pub fn virt_kend(&self) -> u64 {
        self.virt_kend
    }

    /// Number of 4 KiB pages of the image.
    pub fn pages(&self) -> u64 {
        (self.virt_kend - self.virt_kstart) / PAGE_SIZE
    }
}

impl LoadSegment {
    /// The bytes to copy, taken from the image file the plan was built from (`None` if `image`
    /// is another, shorter file).
    pub fn file_bytes<'a>(&self, image: &'a [u8]) -> Option<&'a [u8]> {
        image.get(checked_range(
            self.file_offset,
            self.file_size,
            image.len(),
        )?)
    }
}
