//! The contents of the bootstrap page tables, as `(table_pfn, index, value)` writes.
//!
//! Mirrors the toolstack's `setup_pgtables_pv`: for every level from L4 down and every mapping
//! (the initial one, then the INIT_P2M one), each table entry whose reach overlaps a child
//! range points at the child's frame — a lower-level table, or at L1 the mapped page:
//!
//! ```text
//!  L4/L3/L2 entry = mfn(child table) << 12 | P|RW|A|D|U   (0x67)
//!  L1 entry       = mfn(pfn) << 12         | P|RW|A       (0x23)
//!                                            P|A          (0x21) for page-table frames
//! ```
//!
//! Every other entry of the reserved table frames stays zero (the platform zeroes them).
//! Xen adds `_PAGE_USER` to L1 entries itself when it validates them (`adjust_guest_l1e`).
//! Writes stay inside the frames the layout reserved (the counts make that hold by
//! construction; it is re-checked and reported as `AddressOverflow` if ever violated).

use alloc::vec::Vec;

use crate::mm::PageLevel;

use super::layout::{LayoutError, StartOfDayLayout};
use super::mapping::{entry_shift, LevelTables, Mapping, LEVELS};

/// Present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User.
pub const PTE_USER: u64 = 1 << 2;
/// Accessed.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const PTE_DIRTY: u64 = 1 << 6;
/// Flags of L1 entries (RW cleared for page-table frames).
pub const L1_FLAGS: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED;
/// Flags of L2, L3 and L4 entries.
pub const UPPER_FLAGS: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_USER;
/// Entries per table.
pub const ENTRIES: u64 = 512;
/// Table level of each `level` index (0 = L1).
const LEVEL_OF: [PageLevel; LEVELS] = [PageLevel::L1, PageLevel::L2, PageLevel::L3, PageLevel::L4];
/// Highest mfn a PTE can hold (52-bit physical addresses).
const MAX_MFN: u64 = (1 << 40) - 1;

/// One page-table entry to write: `table[index] = value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTableWrite {
    /// Pfn of the table frame.
    pub table_pfn: u64,
    /// Entry index, `0..512`.
    pub index: u16,
    /// Entry value (machine address | flags).
    pub value: u64,
    /// The level of the table written.
    pub level: PageLevel,
}

impl PageTableWrite {
    /// The value as the page-type system stores it once the table is validated (Xen's
    /// `adjust_guest_lNe`): writing this instead of [`Self::value`] spares validation a
    /// rewrite of every entry and leaves the same table behind.
    pub fn adjusted_value(&self) -> u64 {
        crate::mm::pte::adjust(self.level, self.value)
    }
}

/// The range a level's entries point into: child tables, or at L1 the mapped pages.
fn child_range(mapping: &Mapping, level: usize) -> LevelTables {
    match level {
        0 => LevelTables {
            from: mapping.from,
            to: mapping.to,
            first_pfn: mapping.pfn,
            count: 1,
        },
        _ => mapping.levels[level - 1],
    }
}

/// Calls `emit` for every non-zero bootstrap page-table entry of `layout`, translating pfns
/// with `pfn_to_mfn`. Errors: `MissingMfn`, `MfnTooLarge`.
pub fn for_each_bootstrap_pte(
    layout: &StartOfDayLayout,
    mut pfn_to_mfn: impl FnMut(u64) -> Option<u64>,
    mut emit: impl FnMut(PageTableWrite),
) -> Result<(), LayoutError> {
    let is_table_frame = |pfn| layout.mappings().any(|m| m.is_table_frame(pfn));
    for level in (0..LEVELS).rev() {
        let shift = entry_shift(level);
        for parent in layout.mappings() {
            let tables = parent.levels[level];
            if tables.count == 0 {
                continue;
            }
            for child_mapping in layout.mappings() {
                let child = child_range(child_mapping, level);
                if child.count == 0 || child.from >= tables.to || child.to <= tables.from {
                    continue;
                }
                let start = tables.from.max(child.from);
                let end = tables.to.min(child.to);
                let first_slot = (start - tables.from) >> shift;
                let last_slot = (end - tables.from) >> shift;
                let first_pfn = ((start - child.from) >> shift) + child.first_pfn;
                for (slot, pfn) in (first_slot..=last_slot).zip(first_pfn..) {
                    if slot / ENTRIES >= tables.count {
                        return Err(LayoutError::AddressOverflow);
                    }
                    let mfn = pfn_to_mfn(pfn).ok_or(LayoutError::MissingMfn { pfn })?;
                    if mfn > MAX_MFN {
                        return Err(LayoutError::MfnTooLarge { pfn });
                    }
                    let flags = match level {
                        0 if is_table_frame(pfn) => L1_FLAGS & !PTE_RW,
                        0 => L1_FLAGS,
                        _ => UPPER_FLAGS,
                    };
                    emit(PageTableWrite {
                        table_pfn: tables.first_pfn + slot / ENTRIES,
                        // slot % 512 < 512 fits in u16.
                        index: (slot % ENTRIES) as u16,
                        value: (mfn << 12) | flags,
                        level: LEVEL_OF[level],
                    });
                }
            }
        }
    }
    Ok(())
}

/// All bootstrap page-table writes of `layout`, collected (see [`for_each_bootstrap_pte`]).
pub fn bootstrap_page_table_writes(
    layout: &StartOfDayLayout,
    pfn_to_mfn: impl FnMut(u64) -> Option<u64>,
) -> Result<Vec<PageTableWrite>, LayoutError> {
    let mut writes = Vec::new();
    for_each_bootstrap_pte(layout, pfn_to_mfn, |write| writes.push(write))?;
    Ok(writes)
}
