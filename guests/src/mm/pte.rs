//! Page-table entry bits (x86-64 long mode, as a 64-bit PV guest writes them) and small
//! constructors. The hypervisor adds `_PAGE_USER` itself (the guest kernel runs in ring 3).
//!
//! ```text
//!  63 | 62..52 avail | 51 ........ 12 frame number | 11..9 | 8 G | 7 PSE | 6 D | 5 A | 4 PCD | 3 PWT | 2 US | 1 RW | 0 P
//! ```

/// Present.
pub const PRESENT: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User (forced on by the hypervisor for PV guests).
pub const USER: u64 = 1 << 2;
/// Accessed.
pub const ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const DIRTY: u64 = 1 << 6;
/// 2 MiB page in an L2 entry.
pub const PSE: u64 = 1 << 7;
/// The frame-number field (bits 51..12).
pub const FRAME_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Flags of a non-leaf entry (L4/L3/L2 pointing at the next table).
pub const TABLE: u64 = PRESENT | RW | USER | ACCESSED;
/// Flags of a writable data mapping.
pub const DATA_RW: u64 = PRESENT | RW | USER | ACCESSED | DIRTY;
/// Flags of a read-only data mapping.
pub const DATA_RO: u64 = PRESENT | USER | ACCESSED;

/// An entry mapping frame `mfn` with `flags`.
pub const fn entry(mfn: u64, flags: u64) -> u64 {
    (mfn << 12) | flags
}

/// A 2 MiB PSE L2 entry: `mfn << 12 | PSE | flags` (`mfn` should be 512-aligned).
pub const fn superpage(mfn: u64, flags: u64) -> u64 {
    (mfn << 12) | PSE | flags
}

/// The frame an entry points at.
pub const fn entry_mfn(entry: u64) -> u64 {
    (entry & FRAME_MASK) >> 12
}

/// Whether an entry is present.
pub const fn is_present(entry: u64) -> bool {
    entry & PRESENT != 0
}
