//! The error of the image layer: why a guest kernel image cannot be loaded as a 64-bit PV guest.
//!
//! One small `Copy` enum for ELF-note parsing, the Xen checks and the load plan. The domain
//! builder turns it into a log line and a failed domain creation (there is no guest yet to
//! return an errno to). Layout problems (the domain is too small) are a separate
//! [`LayoutError`](super::layout::LayoutError): they depend on the domain, not on the image.
//!
//! `Display` says what is wrong with the image in a clause about it ("it is not an ELF file"),
//! for the person who chose the file; `Debug` is the machine-readable cause for the log.

use super::elf::ElfError;

/// Why an image is not a loadable Xen PV kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The ELF container itself is malformed.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// No Xen notes and no legacy `__xen_guest` section: not built for Xen.
    #[error(
        "it is an ELF file but not a Xen PV kernel (no Xen ELF notes and no __xen_guest section)"
    )]
    NotXenImage,
    /// LOADER is not `"generic"` and GUEST_OS is not `"linux"`.
    #[error(
        "its Xen notes name a loader other than \"generic\" and a guest OS other than \"linux\""
    )]
    UnsupportedLoader,
    /// XEN_VERSION is not `"xen-3.0"`.
    #[error("its Xen notes ask for a Xen interface other than \"xen-3.0\"")]
    UnsupportedXenVersion,
    /// A numeric note whose descriptor is not 1, 2, 4 or 8 bytes (or, for
    /// SUPPORTED_FEATURES, not a non-empty multiple of 4 bytes).
    #[error("its Xen ELF note {note_type} has a malformed value")]
    BadNumericNote {
        /// The `XEN_ELFNOTE_*` type.
        note_type: u32,
    },
    /// More than `MAX_TOTAL_NOTES` notes (overlapping note areas).
    #[error("it has more Xen ELF notes than any kernel needs (overlapping note areas?)")]
    TooManyNotes,
    /// A required (`!name`) feature whose name is unknown.
    #[error("it requires a Xen feature this hypervisor does not know")]
    UnknownRequiredFeature,
    /// PADDR_OFFSET is given but VIRT_BASE is not.
    #[error("its Xen notes give PADDR_OFFSET without VIRT_BASE")]
    PaddrOffsetWithoutVirtBase,
    /// No `PT_LOAD` segment with R, W or X permission.
    #[error("it has no loadable ELF segment")]
    NoLoadableSegments,
    /// A segment's file bytes lie outside the file.
    #[error("an ELF segment lies beyond the end of the file (a truncated file?)")]
    SegmentOutOfFile,
    /// A segment has `p_filesz > p_memsz`.
    #[error("an ELF segment has more file bytes than memory bytes")]
    FileSizeExceedsMemSize,
    /// An address computation overflowed 64 bits (or a page number shifted out).
    #[error("its addresses overflow 64 bits")]
    AddressOverflow,
    /// The kernel's virtual range is non-canonical or crosses the canonical gap.
    #[error("its virtual address range is not canonical x86-64")]
    NonCanonicalAddress,
    /// The kernel's virtual range overlaps Xen's hole `0xFFFF800000000000..0xFFFF880000000000`.
    #[error("its virtual address range overlaps the hypervisor's hole (0xffff800000000000..0xffff880000000000)")]
    InHypervisorHole,
    /// The image starts below VIRT_BASE.
    #[error("it starts below its own VIRT_BASE")]
    VirtBaseAboveImage,
    /// The entry point is outside `[virt_kstart, virt_kend]`.
    #[error("its entry point lies outside the kernel image")]
    EntryOutsideImage,
    /// The INIT_P2M address lies inside the kernel image.
    #[error("its INIT_P2M address lies inside the kernel image")]
    InitP2mInsideImage,
    /// The hypercall page is not one of the kernel image's pages.
    #[error("its HYPERCALL_PAGE lies outside the kernel image")]
    HypercallPageOutsideImage,
    /// The segments' total memory size exceeds twice the image size (libelf's copy bound).
    #[error("its segments claim more memory than twice the image size")]
    SegmentsTooLarge,
}
