//! Page-table entry bits, the per-level disallow masks, the fast-path whitelist and Xen's
//! 64-bit PV entry adjustments. Masks are in raw PTE bit positions (not Xen's 24-bit form).
//!
//! ```text
//!  63   62      61..53  52            51 ........ 12  11..9  8  7       6  5  4   3   2  1  0
//!  NX | GNTTAB | avail | GUEST_KERNEL | frame number | avail | G | PSE/PAT | D | A | PCD | PWT | US | RW | P
//! ```

use super::types::{Mfn, PageLevel};

/// Present.
pub const PRESENT: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User-accessible (forced on: the PV guest kernel runs in ring 3).
pub const USER: u64 = 1 << 2;
/// Write-through caching.
pub const PWT: u64 = 1 << 3;
/// Cache disable.
pub const PCD: u64 = 1 << 4;
/// Accessed.
pub const ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const DIRTY: u64 = 1 << 6;
/// Large page at L2/L3 (`_PAGE_PSE`); PAT in an L1 entry (same bit).
pub const PSE: u64 = 1 << 7;
/// PAT selector bit of a 4 KiB L1 entry.
pub const PAT: u64 = 1 << 7;
/// Global.
pub const GLOBAL: u64 = 1 << 8;
/// Software-available bits 9..=11.
pub const AVAIL: u64 = 0x7 << 9;
/// Software-available bits 52..=62 (Xen's `_PAGE_AVAIL_HIGH`).
pub const AVAIL_HIGH: u64 = 0x7FF << 52;
/// Xen's marker of guest-kernel-only L1 mappings (bit 52).
pub const GUEST_KERNEL: u64 = 1 << 52;
/// Reserved by Xen for grant mappings (bit 62).
pub const GNTTAB: u64 = 1 << 62;
/// No-execute.
pub const NX: u64 = 1 << 63;
/// The frame-number field (bits 12..=51).
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Cache-attribute bits of an L1 entry.
pub const CACHE_ATTRS: u64 = PWT | PCD | PAT;

/// Flags a guest may use at any level (`base_disallow_mask` is the complement).
const BASE_ALLOWED: u64 = PRESENT | RW | USER | ACCESSED | DIRTY | AVAIL | AVAIL_HIGH | NX;
/// PWT, PCD, PSE/PAT, GLOBAL.
const BASE_DISALLOW: u64 = !ADDR_MASK & !BASE_ALLOWED;
/// Xen's `L1_DISALLOW_MASK`: GLOBAL allowed, GNTTAB reserved.
pub const L1_DISALLOW: u64 = (BASE_DISALLOW | GNTTAB) & !GLOBAL;
/// Xen's `L2/L3/L4_DISALLOW_MASK` (PSE included).
pub const PDE_DISALLOW: u64 = BASE_DISALLOW;
/// Flags that may change on a live entry without re-validation (Xen's
/// `FASTPATH_FLAG_WHITELIST`). PRESENT, RW, PSE and the frame number are *not* here (XSA-148).
pub const FASTPATH_WHITELIST: u64 = NX | AVAIL_HIGH | AVAIL | GLOBAL | DIRTY | ACCESSED | USER;

/// The frame number an entry points at.
pub fn entry_mfn(entry: u64) -> Mfn {
    Mfn((entry & ADDR_MASK) >> 12)
}

/// Whether the entry is present.
pub fn is_present(entry: u64) -> bool {
    entry & PRESENT != 0
}

/// Whether `new` differs from `old` in the frame number or any non-whitelisted flag.
pub fn needs_revalidation(old: u64, new: u64) -> bool {
    (old ^ new) & !FASTPATH_WHITELIST != 0
}

/// The flags a guest may not set in a present entry of `level` in a domain with these rights.
pub fn disallow_mask(level: PageLevel, allow_superpages: bool, privileged: bool) -> u64 {
    match level {
        PageLevel::L1 if privileged => L1_DISALLOW & !CACHE_ATTRS,
        PageLevel::L1 => L1_DISALLOW,
        PageLevel::L2 if allow_superpages => PDE_DISALLOW & !PSE,
        PageLevel::L2 | PageLevel::L3 | PageLevel::L4 => PDE_DISALLOW,
    }
}

/// Xen's 64-bit PV adjustment of a present entry before it is stored (`adjust_guest_lNe`):
/// L1 kernel entries (no USER) become USER|GUEST_KERNEL, user entries become USER|GLOBAL;
/// L2/L3 gain USER; L4 gains USER|ACCESSED. Non-present entries are unchanged.
pub fn adjust(level: PageLevel, entry: u64) -> u64 {
    if !is_present(entry) {
        return entry;
    }
    match level {
        PageLevel::L1 => {
            let mut e = entry;
            if e & USER == 0 {
                e |= GUEST_KERNEL | USER;
            }
            if e & GUEST_KERNEL == 0 {
                e |= GLOBAL | USER;
            }
            e
        }
        PageLevel::L2 | PageLevel::L3 => entry | USER,
        PageLevel::L4 => entry | USER | ACCESSED,
    }
}

/// Whether an L4 slot belongs to the guest (0..=255 and 272..=511), not the hypervisor.
pub fn is_guest_l4_slot(slot: usize) -> bool {
    !(HYPERVISOR_L4_FIRST..=HYPERVISOR_L4_LAST).contains(&slot)
}

/// First hypervisor-owned L4 slot (0xFFFF8000_00000000).
pub const HYPERVISOR_L4_FIRST: usize = 256;
/// Last hypervisor-owned L4 slot (up to 0xFFFF87FF_FFFFFFFF).
pub const HYPERVISOR_L4_LAST: usize = 271;

/// The slot index of `va` at `level`.
pub fn va_slot(va: u64, level: PageLevel) -> usize {
    // 9-bit index: always < 512.
    ((va >> level.va_shift()) & 0x1FF) as usize
}

/// Whether `va` is canonical (bits 63..=47 all equal).
pub fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1_FFFF
}

/// Whether every byte of `[va, va + len)` (`len >= 1`) is a guest address: canonical and
/// outside the hypervisor's L4 slots (Xen's `__addr_ok`/`access_ok` for a 64-bit PV guest).
/// A range that wraps or crosses a hole is refused.
pub fn is_guest_range(va: u64, len: u64) -> bool {
    let Some(last) = len.checked_sub(1).and_then(|n| va.checked_add(n)) else {
        return false;
    };
    let ok = |a: u64| is_canonical(a) && is_guest_l4_slot(va_slot(a, PageLevel::L4));
    // The guest ranges are [0, 2^47) and [end of the hypervisor slots, 2^64): both ends in
    // the same one means every byte between is too.
    ok(va) && ok(last) && (va >> 63) == (last >> 63)
}

#[cfg(test)]
mod guest_range_tests {
    use super::*;

    #[test]
    fn guest_ranges() {
        assert!(is_guest_range(0x1000, 32));
        assert!(is_guest_range(0xFFFF_FFFF_8100_0000, 32));
        assert!(
            is_guest_range(0xFFFF_8800_0000_0000, 8),
            "first address after the hypervisor"
        );
        assert!(!is_guest_range(0xFFFF_8000_0000_0000, 8), "hypervisor");
        assert!(
            !is_guest_range(0xFFFF_87FF_FFFF_FFF8, 16),
            "ends in the hypervisor's slots"
        );
        assert!(
            !is_guest_range(0x7FFF_FFFF_FFF0, 32),
            "crosses the non-canonical hole"
        );
        assert!(!is_guest_range(u64::MAX - 7, 32), "wraps");
        assert!(!is_guest_range(0x1000, 0));
    }
}
