//! The error of the image layer: why a guest kernel image cannot be loaded as a 64-bit PV guest.
//!
//! One small `Copy` enum for ELF-note parsing, the Xen checks and the load plan. The domain
//! builder turns it into a log line and a failed domain creation (there is no guest yet to
//! return an errno to). Layout problems (the domain is too small) are a separate
//! [`LayoutError`](super::layout::LayoutError): they depend on the domain, not on the image.

use super::elf::ElfError;

/// Why an image is not a loadable Xen PV kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The ELF container itself is malformed.
    Elf(ElfError),
    /// No Xen notes and no legacy `__xen_guest` section: not built for Xen.
    NotXenImage,
    /// LOADER is not `"generic"` and GUEST_OS is not `"linux"`.
    UnsupportedLoader,
    /// XEN_VERSION is not `"xen-3.0"`.
    UnsupportedXenVersion,
    /// A numeric note whose descriptor is not 1, 2, 4 or 8 bytes (or, for
    /// SUPPORTED_FEATURES, not a non-empty multiple of 4 bytes).
    BadNumericNote {
        /// The `XEN_ELFNOTE_*` type.
        note_type: u32,
    },
    /// More than `MAX_TOTAL_NOTES` notes (overlapping note areas).
    TooManyNotes,
    /// A required (`!name`) feature whose name is unknown.
    UnknownRequiredFeature,
    /// PADDR_OFFSET is given but VIRT_BASE is not.
    PaddrOffsetWithoutVirtBase,
    /// No `PT_LOAD` segment with R, W or X permission.
    NoLoadableSegments,
    /// A segment's file bytes lie outside the file.
    SegmentOutOfFile,
    /// A segment has `p_filesz > p_memsz`.
    FileSizeExceedsMemSize,
    /// An address computation overflowed 64 bits (or a page number shifted out).
    AddressOverflow,
    /// The kernel's virtual range is non-canonical or crosses the canonical gap.
    NonCanonicalAddress,
    /// The kernel's virtual range overlaps Xen's hole `0xFFFF800000000000..0xFFFF880000000000`.
    InHypervisorHole,
    /// The image starts below VIRT_BASE.
    VirtBaseAboveImage,
    /// The entry point is outside `[virt_kstart, virt_kend]`.
    EntryOutsideImage,
    /// The INIT_P2M address lies inside the kernel image.
    InitP2mInsideImage,
    /// The hypercall page is not one of the kernel image's pages.
    HypercallPageOutsideImage,
    /// The segments' total memory size exceeds twice the image size (libelf's copy bound).
    SegmentsTooLarge,
}

impl From<ElfError> for ImageError {
    fn from(error: ElfError) -> Self {
        Self::Elf(error)
    }
}
