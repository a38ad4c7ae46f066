//! `memory_op` (`xen/include/public/memory.h`): growing and shrinking a domain's memory,
//! querying the M2P and the memory map, and (for translated guests) the physmap.
//!
//! Prototype: `memory_op(cmd, arg)`. The low [`MEMOP_EXTENT_SHIFT`] bits of `cmd` are the
//! `XENMEM_*` sub-operation; the bits above are the extent to resume from when Xen
//! continues a preempted call (a guest normally passes 0 there). Reservation operations
//! return the number of extents processed. Constant names are Xen's, upper-cased.

use crate::xen::DomId;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bits of `memory_op`'s `cmd` below this shift are the sub-operation (Xen-internal
/// continuation encoding, `xen/hypercall.h`, but visible in the guest's `rdi`).
pub const MEMOP_EXTENT_SHIFT: u32 = 6;
/// Mask of the sub-operation in `memory_op`'s `cmd`.
pub const MEMOP_CMD_MASK: u64 = (1 << MEMOP_EXTENT_SHIFT) - 1;

/// The `XENMEM_*` sub-operation of a `memory_op` `cmd`.
pub const fn memop_cmd(cmd: u64) -> u32 {
    (cmd & MEMOP_CMD_MASK) as u32
}

/// The extent a continued `memory_op` resumes from (`cmd >> MEMOP_EXTENT_SHIFT`).
pub const fn memop_start_extent(cmd: u64) -> u64 {
    cmd >> MEMOP_EXTENT_SHIFT
}

/// Allocate extents to the domain; `arg` → [`XenMemoryReservation`], `extent_start` OUT:
/// the MFNs allocated.
pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
/// Free extents; `arg` → [`XenMemoryReservation`], `extent_start` IN: GMFNs to release.
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
/// Highest MFN of mapped RAM on the host (returned; never fails). `arg` is NULL.
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
/// Current page count of a domain; `arg` → [`XenMemoryDomain`] (the count is returned).
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// Maximum page count of a domain; `arg` → [`XenMemoryDomain`].
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
/// MFNs of the 2 MiB extents holding the M2P; `arg` → [`XenMachphysMfnList`].
pub const XENMEM_MACHPHYS_MFN_LIST: u32 = 5;
/// Populate GPFNs with memory; `arg` → [`XenMemoryReservation`], `extent_start` IN: GPFN
/// bases, OUT: GMFN bases; also updates the M2P.
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;
/// Place a special page (shared_info, grant frame, ...) at a GPFN (translated guests);
/// `arg` → [`XenAddToPhysmap`].
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// The domain's pseudo-physical E820 map; `arg` → [`XenMemoryMap`].
pub const XENMEM_MEMORY_MAP: u32 = 9;
/// The host's E820 map (privileged); `arg` → [`XenMemoryMap`].
pub const XENMEM_MACHINE_MEMORY_MAP: u32 = 10;
/// Atomically trade extents for others (PV only); `arg` → [`XenMemoryExchange`].
pub const XENMEM_EXCHANGE: u32 = 11;
/// Where the read-only M2P is mapped; `arg` → [`XenMachphysMapping`].
pub const XENMEM_MACHPHYS_MAPPING: u32 = 12;
/// Set a domain's E820 map (toolstack); `arg` → [`XenForeignMemoryMap`].
pub const XENMEM_SET_MEMORY_MAP: u32 = 13;
/// Highest GPFN of a domain; `arg` → [`XenMemoryDomain`].
pub const XENMEM_MAXIMUM_GPFN: u32 = 14;
/// Remove the page at a GPFN (translated guests); `arg` → [`XenRemoveFromPhysmap`].
pub const XENMEM_REMOVE_FROM_PHYSMAP: u32 = 15;
/// Set the populate-on-demand target (toolstack).
pub const XENMEM_SET_POD_TARGET: u32 = 16;
/// Get the populate-on-demand target (toolstack).
pub const XENMEM_GET_POD_TARGET: u32 = 17;
/// Number of pages freed by sharing.
pub const XENMEM_GET_SHARING_FREED_PAGES: u32 = 18;
/// Number of shared pages.
pub const XENMEM_GET_SHARING_SHARED_PAGES: u32 = 19;
/// Paging operations (toolstack).
pub const XENMEM_PAGING_OP: u32 = 20;
/// Memory access operations (toolstack).
pub const XENMEM_ACCESS_OP: u32 = 21;
/// Sharing operations (toolstack).
pub const XENMEM_SHARING_OP: u32 = 22;
/// Batched [`XENMEM_ADD_TO_PHYSMAP`].
pub const XENMEM_ADD_TO_PHYSMAP_BATCH: u32 = 23;
/// Stake a claim on host memory (privileged).
pub const XENMEM_CLAIM_PAGES: u32 = 24;
/// M2P MFN list of the 32-bit compatibility M2P.
pub const XENMEM_MACHPHYS_COMPAT_MFN_LIST: u32 = 25;
/// Virtual NUMA topology.
pub const XENMEM_GET_VNUMAINFO: u32 = 26;
/// Reserved device memory regions.
pub const XENMEM_RESERVED_DEVICE_MEMORY_MAP: u32 = 27;
/// Map a resource (ioreq server, grant table, ...) of another domain.
pub const XENMEM_ACQUIRE_RESOURCE: u32 = 28;

/// [`XenMemoryReservation::mem_flags`]: restrict allocations to `bits`-bit machine
/// addresses (0: no restriction; bits 7:0).
pub const fn xenmemf_address_bits(bits: u32) -> u32 {
    bits & 0xFF
}

/// The address-width restriction in `mem_flags` (0: none).
pub const fn xenmemf_get_address_bits(flags: u32) -> u32 {
    flags & 0xFF
}

/// `mem_flags`: allocate from NUMA node `node` (stored as node + 1 in bits 15:8; nodes
/// above 254 do not fit and wrap).
pub const fn xenmemf_node(node: u32) -> u32 {
    (node.wrapping_add(1) & 0xFF) << 8
}

/// The NUMA node requested in `mem_flags`, or `None` if none is.
pub const fn xenmemf_get_node(flags: u32) -> Option<u32> {
    match (flags >> 8) & 0xFF {
        0 => None,
        encoded => Some(encoded - 1),
    }
}

/// `mem_flags`: populate with populate-on-demand entries.
pub const XENMEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
/// `mem_flags`: allocate only from the requested node.
pub const XENMEMF_EXACT_NODE_REQUEST: u32 = 1 << 17;
/// `mem_flags`: the node is a virtual node.
pub const XENMEMF_VNODE: u32 = 1 << 18;

/// `mem_flags`: exactly node `node` ([`xenmemf_node`] | [`XENMEMF_EXACT_NODE_REQUEST`]).
pub const fn xenmemf_exact_node(node: u32) -> u32 {
    xenmemf_node(node) | XENMEMF_EXACT_NODE_REQUEST
}

/// Argument of the reservation sub-operations (`struct xen_memory_reservation`,
/// `memory.h`; 32 bytes).
///
/// Each extent is `2^extent_order` pages, naturally aligned. `extent_start` is the guest
/// address of an array of `nr_extents` frame numbers (IN and/or OUT per sub-operation). An
/// unprivileged domain may only name `DOMID_SELF`. The hypercall returns the number of
/// extents done, which is less than `nr_extents` on partial failure.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMemoryReservation {
    /// Guest address of the `xen_pfn_t` array.
    pub extent_start: u64,
    /// Number of extents.
    pub nr_extents: u64,
    /// log2 of the pages per extent.
    pub extent_order: u32,
    /// `XENMEMF_*` flags (formerly `address_bits`).
    pub mem_flags: u32,
    /// Target domain.
    pub domid: DomId,
    /// Padding (implicit in C).
    pub pad0: [u8; 6],
}
crate::abi_layout!(XenMemoryReservation, 32,
    extent_start @ 0, nr_extents @ 8, extent_order @ 16, mem_flags @ 20, domid @ 24, pad0 @ 26);

/// Argument of `XENMEM_exchange` (`struct xen_memory_exchange`, `memory.h`; 72 bytes).
///
/// Requires `in.domid == out.domid`, `in.nr_extents << in.extent_order ==
/// out.nr_extents << out.extent_order`, non-overlapping extent lists, and `nr_exchanged`
/// initialised to 0 by the caller. On return the first `nr_exchanged` input extents are
/// freed and the same number of output entries hold the new GMFNs.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMemoryExchange {
    /// Extents to give up (GMFN bases); `mem_flags` ignored.
    pub r#in: XenMemoryReservation,
    /// Extents wanted: IN GPFN bases, OUT GMFN bases.
    pub out: XenMemoryReservation,
    /// OUT: input extents exchanged so far.
    pub nr_exchanged: u64,
}
crate::abi_layout!(XenMemoryExchange, 72, r#in @ 0, out @ 32, nr_exchanged @ 64);

/// Argument of `XENMEM_{current,maximum}_reservation` and `XENMEM_maximum_gpfn`
/// (`struct xen_memory_domain`, `memory.h`; 2 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMemoryDomain {
    /// Domain queried (`DOMID_SELF` allowed).
    pub domid: DomId,
}
crate::abi_layout!(XenMemoryDomain, 2, domid @ 0);

/// Argument of `XENMEM_machphys_mfn_list` (`struct xen_machphys_mfn_list`, `memory.h`;
/// 24 bytes): fills `extent_start[0..max_extents]` with the MFN of each 2 MiB M2P extent
/// (0 for a hole) and sets `nr_extents`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMachphysMfnList {
    /// Capacity of the `extent_start` array.
    pub max_extents: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// Guest address of the `xen_pfn_t` array.
    pub extent_start: u64,
    /// OUT: entries written.
    pub nr_extents: u32,
    /// Padding (implicit in C).
    pub pad1: u32,
}
crate::abi_layout!(XenMachphysMfnList, 24,
    max_extents @ 0, pad0 @ 4, extent_start @ 8, nr_extents @ 16, pad1 @ 20);

/// Result of `XENMEM_machphys_mapping` (`struct xen_machphys_mapping`, `memory.h`;
/// 24 bytes): the read-only M2P's virtual range and the largest MFN it covers.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMachphysMapping {
    /// Start virtual address (`MACH2PHYS_VIRT_START`).
    pub v_start: u64,
    /// End virtual address.
    pub v_end: u64,
    /// Largest MFN that can be looked up.
    pub max_mfn: u64,
}
crate::abi_layout!(XenMachphysMapping, 24, v_start @ 0, v_end @ 8, max_mfn @ 16);

/// `XenAddToPhysmap::space`: the shared_info page (`idx` 0).
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// `space`: grant-table frame `idx` (| [`XENMAPIDX_GRANT_TABLE_STATUS`] for v2 status).
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
/// `space`: the guest's own GMFN `idx`.
pub const XENMAPSPACE_GMFN: u32 = 2;
/// `space`: `size` GMFNs from `idx` (`add_to_physmap` only).
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
/// `space`: a GMFN of another domain (`add_to_physmap_batch` only).
pub const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;
/// `space`: device MMIO (Arm only).
pub const XENMAPSPACE_DEV_MMIO: u32 = 5;
/// `idx` flag for [`XENMAPSPACE_GRANT_TABLE`]: a v2 status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 0x8000_0000;

/// Argument of `XENMEM_add_to_physmap` (`struct xen_add_to_physmap`, `memory.h`;
/// 24 bytes): make page `idx` of `space` appear at `gpfn` in `domid`. Translated guests
/// only; a 64-bit PV guest gets an error.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenAddToPhysmap {
    /// Domain whose physmap changes.
    pub domid: DomId,
    /// Page count for [`XENMAPSPACE_GMFN_RANGE`].
    pub size: u16,
    /// A `XENMAPSPACE_*`.
    pub space: u32,
    /// Index into the space.
    pub idx: u64,
    /// Destination GPFN.
    pub gpfn: u64,
}
crate::abi_layout!(XenAddToPhysmap, 24, domid @ 0, size @ 2, space @ 4, idx @ 8, gpfn @ 16);

/// Argument of `XENMEM_remove_from_physmap` (`struct xen_remove_from_physmap`,
/// `memory.h`; 16 bytes). Translated guests only.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenRemoveFromPhysmap {
    /// Domain whose physmap changes.
    pub domid: DomId,
    /// Padding (implicit in C).
    pub pad0: [u8; 6],
    /// GPFN to unmap.
    pub gpfn: u64,
}
crate::abi_layout!(XenRemoveFromPhysmap, 16, domid @ 0, pad0 @ 2, gpfn @ 8);

/// Argument of `XENMEM_memory_map` / `XENMEM_machine_memory_map` (`struct xen_memory_map`,
/// `memory.h`; 16 bytes).
///
/// IN: `nr_entries` is the capacity of `buffer`, an array of [`E820Entry`]. OUT: the
/// number of entries written.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenMemoryMap {
    /// IN capacity, OUT count.
    pub nr_entries: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// Guest address of the [`E820Entry`] array.
    pub buffer: u64,
}
crate::abi_layout!(XenMemoryMap, 16, nr_entries @ 0, pad0 @ 4, buffer @ 8);

/// Argument of `XENMEM_set_memory_map` (`struct xen_foreign_memory_map`, `memory.h`;
/// 24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenForeignMemoryMap {
    /// Domain whose map is set.
    pub domid: DomId,
    /// Padding (implicit in C).
    pub pad0: [u8; 6],
    /// The map.
    pub map: XenMemoryMap,
}
crate::abi_layout!(XenForeignMemoryMap, 24, domid @ 0, pad0 @ 2, map @ 8);

/// E820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// E820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// E820 type: ACPI tables (reclaimable).
pub const E820_ACPI: u32 = 3;
/// E820 type: ACPI non-volatile storage.
pub const E820_NVS: u32 = 4;
/// E820 type: unusable (bad) memory.
pub const E820_UNUSABLE: u32 = 5;

/// One memory-map entry in the BIOS INT 15h/E820 format (`struct e820entry`, packed;
/// 20 bytes), as returned by `XENMEM_memory_map`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// An `E820_*` type.
    pub r#type: u32,
}
crate::abi_layout!(E820Entry, 20, addr @ 0, size @ 8, r#type @ 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memop_cmd_split() {
        let cmd = (5u64 << MEMOP_EXTENT_SHIFT) | u64::from(XENMEM_POPULATE_PHYSMAP);
        assert_eq!(memop_cmd(cmd), XENMEM_POPULATE_PHYSMAP);
        assert_eq!(memop_start_extent(cmd), 5);
        assert_eq!(memop_cmd(u64::MAX), 63);
    }

    #[test]
    fn xenmemf_encoding() {
        let flags = xenmemf_address_bits(32) | xenmemf_exact_node(2);
        assert_eq!(xenmemf_get_address_bits(flags), 32);
        assert_eq!(xenmemf_get_node(flags), Some(2));
        assert_ne!(flags & XENMEMF_EXACT_NODE_REQUEST, 0);
        assert_eq!(xenmemf_get_node(xenmemf_address_bits(32)), None);
        assert_eq!(xenmemf_node(0), 1 << 8);
        // Out-of-range values are masked, never overflow.
        assert_eq!(xenmemf_node(u32::MAX), 0);
        assert_eq!(xenmemf_address_bits(0x1FF), 0xFF);
    }

    #[test]
    fn e820_entry_is_packed() {
        let entry = E820Entry {
            addr: 0x1000,
            size: 0x9F000,
            r#type: E820_RAM,
        };
        let bytes = entry.as_bytes();
        assert_eq!(bytes.len(), 20);
        assert_eq!(bytes[16..20], 1u32.to_le_bytes());
        let entries = [entry; 3];
        assert_eq!(entries.as_bytes().len(), 60);
    }
}
