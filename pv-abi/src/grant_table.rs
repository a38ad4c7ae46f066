//! Grant tables: `HYPERVISOR_grant_table_op` (hypercall 20), mirroring
//! `xen/include/public/grant_table.h`.
//!
//! A domain *grants* another domain access to one of its frames by filling an entry of its
//! grant table, a set of frames shared between the domain and the hypervisor. Version 1
//! entries are 8 bytes, so one 4 KiB frame holds [`GRANT_ENTRIES_V1_PER_FRAME`] of them:
//!
//! ```text
//!   grant_entry_v1 (8 B)
//!   +--------+--------+----------------+
//!   | flags  | domid  | frame          |
//!   +--------+--------+----------------+
//!   0        2        4                8
//!   flags: bits 0-1 type (GTF_invalid/permit_access/accept_transfer/transitive)
//!          bit 2 readonly, 3 reading, 4 writing (set by the hypervisor), 5-7 cache attrs,
//!          bit 8 sub_page (v2)
//! ```
//!
//! Operations that act on a batch of structures (`count` > 1) report per-item outcomes in a
//! `status` field holding a `GNTST_*` code; the hypercall itself returns 0 or a Xen errno.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `GNTTABOP_map_grant_ref`: map a foreign grant.
pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
/// `GNTTABOP_unmap_grant_ref`: remove a grant mapping.
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
/// `GNTTABOP_setup_table`: grow the grant table and return its frames.
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
/// `GNTTABOP_dump_table`: debug dump.
pub const GNTTABOP_DUMP_TABLE: u32 = 3;
/// `GNTTABOP_transfer`: transfer page ownership.
pub const GNTTABOP_TRANSFER: u32 = 4;
/// `GNTTABOP_copy`: hypervisor-mediated copy between grants/frames.
pub const GNTTABOP_COPY: u32 = 5;
/// `GNTTABOP_query_size`: current and maximum number of grant frames.
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
/// `GNTTABOP_unmap_and_replace`: unmap a grant, replacing the PTE with another mapping.
pub const GNTTABOP_UNMAP_AND_REPLACE: u32 = 7;
/// `GNTTABOP_set_version`: select the grant-entry format (1 or 2).
pub const GNTTABOP_SET_VERSION: u32 = 8;
/// `GNTTABOP_get_status_frames`: frames of the v2 status array.
pub const GNTTABOP_GET_STATUS_FRAMES: u32 = 9;
/// `GNTTABOP_get_version`: current grant-entry format.
pub const GNTTABOP_GET_VERSION: u32 = 10;
/// `GNTTABOP_swap_grant_ref`: swap two grant entries.
pub const GNTTABOP_SWAP_GRANT_REF: u32 = 11;
/// `GNTTABOP_cache_flush`: cache maintenance on a grant (Arm).
pub const GNTTABOP_CACHE_FLUSH: u32 = 12;

/// Version-1 grant entries per 4 KiB frame.
pub const GRANT_ENTRIES_V1_PER_FRAME: u32 = 4096 / 8;
/// `GNTTAB_NR_RESERVED_ENTRIES`: entries 0..8 are reserved for the toolstack.
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// `GNTTAB_RESERVED_CONSOLE`: reserved entry granting the console ring.
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
/// `GNTTAB_RESERVED_XENSTORE`: reserved entry granting the xenstore ring.
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

/// `GTF_invalid`: the entry grants nothing.
pub const GTF_INVALID: u16 = 0;
/// `GTF_permit_access`: `domid` may map/access `frame`.
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// `GTF_accept_transfer`: `domid` may transfer a page into `frame`.
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
/// `GTF_transitive`: transitive grant (v2 only).
pub const GTF_TRANSITIVE: u16 = 3;
/// `GTF_type_mask`: the type field, bits 0–1.
pub const GTF_TYPE_MASK: u16 = 3;
/// `GTF_readonly`: the grantee may only map read-only.
pub const GTF_READONLY: u16 = 1 << 2;
/// `GTF_reading`: set by the hypervisor while the grant is mapped (any access).
pub const GTF_READING: u16 = 1 << 3;
/// `GTF_writing`: set by the hypervisor while the grant is mapped writable.
pub const GTF_WRITING: u16 = 1 << 4;
/// `GTF_PWT`: map with page write-through.
pub const GTF_PWT: u16 = 1 << 5;
/// `GTF_PCD`: map with page cache disable.
pub const GTF_PCD: u16 = 1 << 6;
/// `GTF_PAT`: map with the PAT bit.
pub const GTF_PAT: u16 = 1 << 7;
/// `GTF_sub_page`: sub-page grant (v2 only).
pub const GTF_SUB_PAGE: u16 = 1 << 8;
/// `GTF_transfer_committed` (accept_transfer entries): a transfer is under way.
pub const GTF_TRANSFER_COMMITTED: u16 = 1 << 2;
/// `GTF_transfer_completed` (accept_transfer entries): `frame` now holds the new MFN.
pub const GTF_TRANSFER_COMPLETED: u16 = 1 << 3;

/// `GNTMAP_device_map`: map for device (I/O MMU) access.
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
/// `GNTMAP_host_map`: map for CPU access.
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// `GNTMAP_readonly`: map read-only.
pub const GNTMAP_READONLY: u32 = 1 << 2;
/// `GNTMAP_application_map`: the host mapping is also usable by the current application.
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << 3;
/// `GNTMAP_contains_pte`: `host_addr` is the machine address of the PTE to write.
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;
/// `GNTMAP_guest_avail_mask`: bits 16–31 are copied into the PTE's available bits.
pub const GNTMAP_GUEST_AVAIL_MASK: u32 = !0 << 16;

/// `GNTCOPY_source_gref`: `source.u` is a grant reference, not a frame.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
/// `GNTCOPY_dest_gref`: `dest.u` is a grant reference, not a frame.
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// `GNTST_okay`.
pub const GNTST_OKAY: i16 = 0;
/// `GNTST_general_error`: undefined error.
pub const GNTST_GENERAL_ERROR: i16 = -1;
/// `GNTST_bad_domain`: unrecognised domain id.
pub const GNTST_BAD_DOMAIN: i16 = -2;
/// `GNTST_bad_gntref`: unrecognised or inappropriate grant reference.
pub const GNTST_BAD_GNTREF: i16 = -3;
/// `GNTST_bad_handle`: unrecognised or inappropriate mapping handle.
pub const GNTST_BAD_HANDLE: i16 = -4;
/// `GNTST_bad_virt_addr`: inappropriate virtual address to map.
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
/// `GNTST_bad_dev_addr`: inappropriate device address to unmap.
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
/// `GNTST_no_device_space`: out of space in the I/O MMU.
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
/// `GNTST_permission_denied`: not enough privilege for the operation.
pub const GNTST_PERMISSION_DENIED: i16 = -8;
/// `GNTST_bad_page`: the page is invalid for the operation.
pub const GNTST_BAD_PAGE: i16 = -9;
/// `GNTST_bad_copy_arg`: copy arguments cross a page boundary.
pub const GNTST_BAD_COPY_ARG: i16 = -10;
/// `GNTST_address_too_big`: transfer page address too large.
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
/// `GNTST_eagain`: operation not done; try again.
pub const GNTST_EAGAIN: i16 = -12;
/// `GNTST_no_space`: out of space (handles etc.).
pub const GNTST_NO_SPACE: i16 = -13;

/// `struct grant_entry_v1` (8 B): one entry of a version-1 grant table, written by the granting
/// guest (`domid`, `frame`, type/readonly flags) and by the hypervisor (`GTF_reading`,
/// `GTF_writing`, and `frame` on a completed transfer).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct GrantEntryV1 {
    /// `GTF_*` type and flags.
    pub flags: u16,
    /// The domain granted access.
    pub domid: u16,
    /// The granted frame (a GFN; for a PV guest its MFN).
    pub frame: u32,
}
crate::abi_layout!(GrantEntryV1, 8, flags @ 0, domid @ 2, frame @ 4);

/// `struct gnttab_map_grant_ref` (32 B): map grant `ref` of domain `dom` at `host_addr`.
/// IN `host_addr`, `flags` (`GNTMAP_*`), `ref`, `dom`; OUT `status`, `handle`, `dev_bus_addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabMapGrantRef {
    /// IN: virtual address, or PTE machine address with `GNTMAP_contains_pte`.
    pub host_addr: u64,
    /// IN: `GNTMAP_*`.
    pub flags: u32,
    /// IN: grant reference in `dom`'s table.
    pub r#ref: u32,
    /// IN: granting domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: handle for the unmap.
    pub handle: u32,
    /// OUT: bus address for device mappings.
    pub dev_bus_addr: u64,
}
crate::abi_layout!(GnttabMapGrantRef, 32, host_addr @ 0, flags @ 8, r#ref @ 12, dom @ 16,
    status @ 18, handle @ 20, dev_bus_addr @ 24);

/// `struct gnttab_unmap_grant_ref` (24 B): remove the mapping `handle`.
/// IN `host_addr`, `dev_bus_addr`, `handle`; OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabUnmapGrantRef {
    /// IN: address the grant is mapped at (0 = none).
    pub host_addr: u64,
    /// IN: device address (0 = none).
    pub dev_bus_addr: u64,
    /// IN: handle returned by the map.
    pub handle: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
}
crate::abi_layout!(GnttabUnmapGrantRef, 24, host_addr @ 0, dev_bus_addr @ 8, handle @ 16,
    status @ 20, _pad0 @ 22);

/// `struct gnttab_setup_table` (24 B): grow `dom`'s table to at least `nr_frames` and write the
/// frame numbers of its first `nr_frames` frames (MFNs for a PV guest) to `frame_list`.
/// IN `dom`, `nr_frames`, `frame_list` (guest handle); OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabSetupTable {
    /// IN: domain (usually `DOMID_SELF`).
    pub dom: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad1: [u8; 6],
    /// IN: guest address of an array of `nr_frames` `xen_pfn_t` (u64).
    pub frame_list: u64,
}
crate::abi_layout!(GnttabSetupTable, 24, dom @ 0, nr_frames @ 4, status @ 8, _pad1 @ 10,
    frame_list @ 16);

/// `struct gnttab_dump_table` (4 B): debug dump of `dom`'s table. IN `dom`; OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabDumpTable {
    /// IN: domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
}
crate::abi_layout!(GnttabDumpTable, 4, dom @ 0, status @ 2);

/// `struct gnttab_transfer` (24 B): give page `mfn` to `domid` through its grant `ref`.
/// IN `mfn`, `domid`, `ref`; OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabTransfer {
    /// IN: frame to transfer.
    pub mfn: u64,
    /// IN: receiving domain.
    pub domid: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
    /// IN: receiver's `GTF_accept_transfer` grant.
    pub r#ref: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad1: [u8; 6],
}
crate::abi_layout!(GnttabTransfer, 24, mfn @ 0, domid @ 8, r#ref @ 12, status @ 16, _pad1 @ 18);

/// `struct gnttab_copy_ptr` (16 B): one side of a [`GnttabCopy`]. `u` holds a grant reference
/// (low 32 bits) when the matching `GNTCOPY_*_gref` flag is set, else a frame number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabCopyPtr {
    /// Union `{ grant_ref_t ref; xen_pfn_t gmfn; }`.
    pub u: u64,
    /// Domain owning the grant or frame.
    pub domid: u16,
    /// Byte offset in the page.
    pub offset: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u32,
}
crate::abi_layout!(GnttabCopyPtr, 16, u @ 0, domid @ 8, offset @ 10, _pad0 @ 12);

/// `struct gnttab_copy` (40 B): copy `len` bytes from `source` to `dest`, neither crossing a
/// page. IN `source`, `dest`, `len`, `flags` (`GNTCOPY_*`); OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabCopy {
    /// IN: where to copy from.
    pub source: GnttabCopyPtr,
    /// IN: where to copy to.
    pub dest: GnttabCopyPtr,
    /// IN: byte count.
    pub len: u16,
    /// IN: `GNTCOPY_*`.
    pub flags: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: [u8; 2],
}
crate::abi_layout!(GnttabCopy, 40, source @ 0, dest @ 16, len @ 32, flags @ 34, status @ 36,
    _pad0 @ 38);

/// `struct gnttab_query_size` (16 B): current and maximum table size of `dom`, in frames.
/// IN `dom`; OUT `nr_frames`, `max_nr_frames`, `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabQuerySize {
    /// IN: domain (usually `DOMID_SELF`).
    pub dom: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
    /// OUT: frames in the table now.
    pub nr_frames: u32,
    /// OUT: frames the table may grow to.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad1: u16,
}
crate::abi_layout!(GnttabQuerySize, 16, dom @ 0, nr_frames @ 4, max_nr_frames @ 8,
    status @ 12, _pad1 @ 14);

/// `struct gnttab_unmap_and_replace` (24 B): unmap `handle` at `host_addr` and move the mapping
/// at `new_addr` there. IN `host_addr`, `new_addr`, `handle`; OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabUnmapAndReplace {
    /// IN: address of the grant mapping.
    pub host_addr: u64,
    /// IN: address whose mapping replaces it.
    pub new_addr: u64,
    /// IN: handle returned by the map.
    pub handle: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
}
crate::abi_layout!(GnttabUnmapAndReplace, 24, host_addr @ 0, new_addr @ 8, handle @ 16,
    status @ 20, _pad0 @ 22);

/// `struct gnttab_set_version` (4 B): IN the wanted version (1 or 2); OUT the version in force
/// afterwards (written back whether or not the change succeeded).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabSetVersion {
    /// IN/OUT: grant-entry format version.
    pub version: u32,
}
crate::abi_layout!(GnttabSetVersion, 4, version @ 0);

/// `struct gnttab_get_status_frames` (16 B): frames of `dom`'s v2 status array.
/// IN `nr_frames`, `dom`, `frame_list` (guest handle of u64); OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabGetStatusFrames {
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// IN: domain.
    pub dom: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// IN: guest address of the output array.
    pub frame_list: u64,
}
crate::abi_layout!(GnttabGetStatusFrames, 16, nr_frames @ 0, dom @ 4, status @ 6,
    frame_list @ 8);

/// `struct gnttab_get_version` (8 B): IN `dom`; OUT `version`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabGetVersion {
    /// IN: domain.
    pub dom: u16,
    /// Padding (`pad` in C).
    pub pad: u16,
    /// OUT: grant-entry format version.
    pub version: u32,
}
crate::abi_layout!(GnttabGetVersion, 8, dom @ 0, pad @ 2, version @ 4);

/// `struct gnttab_swap_grant_ref` (12 B): swap entries `ref_a` and `ref_b` of the caller.
/// IN both refs; OUT `status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GnttabSwapGrantRef {
    /// IN: first grant reference.
    pub ref_a: u32,
    /// IN: second grant reference.
    pub ref_b: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
}
crate::abi_layout!(GnttabSwapGrantRef, 12, ref_a @ 0, ref_b @ 4, status @ 8, _pad0 @ 10);
