//! Page-table frames needed to map a virtual range, counted like the Xen toolstack's
//! `count_pgtables` (`tools/libs/guest/xg_dom_x86.c`).
//!
//! A [`Mapping`] maps the VA range `[from, to]` (inclusive, 48-bit) onto consecutive pfns from
//! `pfn`. For each level below the top it needs the tables covering the range rounded out to
//! that level's reach; the top-level table (one L4) belongs to the first mapping only. Tables
//! that an earlier mapping already provides at a level are not counted again (the new range is
//! trimmed against the earlier one). The table frames are consecutive pfns, top level first:
//!
//! ```text
//!  first_table_pfn: [L4][L3 ...][L2 ...][L1 ...]      level reach: L1 table 2 MiB,
//!                                                      L2 1 GiB, L3 512 GiB, L4 256 TiB
//! ```

use super::layout::LayoutError;

/// Virtual addresses are 48 bits; page-table indices use the address with the sign bits cut.
pub const VADDR_MASK: u64 = (1 << 48) - 1;
const PAGE_SHIFT: u32 = 12;
const LEVEL_SHIFT: u32 = 9;
/// Page-table levels of x86-64 (L1..L4).
pub const LEVELS: usize = 4;

/// The tables of one level for one mapping: `count` frames from `first_pfn`, covering the VA
/// range `[from, to]`. `count == 0` means this mapping needs no table at this level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelTables {
    /// First VA (48-bit) covered by the first table.
    pub from: u64,
    /// Last VA (48-bit, inclusive) covered by the last table.
    pub to: u64,
    /// Frame of the first table.
    pub first_pfn: u64,
    /// Number of tables.
    pub count: u64,
}

/// A VA range mapped onto consecutive pfns, with the page-table frames it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First VA (48-bit).
    pub from: u64,
    /// Last VA (48-bit, inclusive).
    pub to: u64,
    /// Pfn mapped at `from`.
    pub pfn: u64,
    /// Tables per level: index 0 = L1 ... 3 = L4.
    pub levels: [LevelTables; LEVELS],
    /// First of this mapping's table frames (the top level's, if it has one).
    pub first_table_pfn: u64,
    /// Number of table frames of all levels.
    pub table_frames: u64,
}

/// Bits of VA covered by one entry of a level-`level` table (0 = L1).
pub(crate) const fn entry_shift(level: usize) -> u32 {
    PAGE_SHIFT + LEVEL_SHIFT * level as u32
}

impl Mapping {
    /// Counts the tables for mapping `[from, to]` (inclusive, any sign bits) onto pfns from
    /// `pfn`, given the `earlier` mappings of the same address space; table frames are numbered
    /// from `first_table_pfn`. Pre: `from <= to`.
    pub fn new(
        from: u64,
        to: u64,
        pfn: u64,
        first_table_pfn: u64,
        earlier: &[Mapping],
    ) -> Result<Self, LayoutError> {
        let (from, to) = (from & VADDR_MASK, to & VADDR_MASK);
        if from > to {
            return Err(LayoutError::BadVirtualRange);
        }
        let mut levels = [LevelTables::default(); LEVELS];
        let mut next_pfn = first_table_pfn;
        for level in (0..LEVELS).rev() {
            let tables = if level == LEVELS - 1 {
                // One L4, for the first mapping only.
                let count = u64::from(earlier.is_empty());
                let to = if count == 1 { VADDR_MASK } else { 0 };
                LevelTables {
                    from: 0,
                    to,
                    first_pfn: next_pfn,
                    count,
                }
            } else {
                trimmed_level(from, to, level, next_pfn, earlier)
            };
            next_pfn = next_pfn
                .checked_add(tables.count)
                .ok_or(LayoutError::AddressOverflow)?;
            levels[level] = tables;
        }
        Ok(Self {
            from,
            to,
            pfn,
            levels,
            first_table_pfn,
            table_frames: next_pfn - first_table_pfn,
        })
    }

    /// Whether `pfn` is one of this mapping's page-table frames.
    pub fn is_table_frame(&self, pfn: u64) -> bool {
        pfn >= self.first_table_pfn && pfn - self.first_table_pfn < self.table_frames
    }
}

/// The level-`level` (< L4) tables of `[from, to]`, minus those the earlier mappings provide.
fn trimmed_level(
    from: u64,
    to: u64,
    level: usize,
    first_pfn: u64,
    earlier: &[Mapping],
) -> LevelTables {
    // One table at this level covers 2^reach bytes.
    let reach = entry_shift(level + 1);
    let mask = (1u64 << reach) - 1;
    let (mut lo, mut hi) = (from & !mask, to | mask);
    for other in earlier.iter().map(|m| m.levels[level]) {
        if other.from == other.to {
            continue;
        }
        if lo >= other.from && hi <= other.to {
            return LevelTables {
                first_pfn,
                ..LevelTables::default()
            };
        }
        if lo >= other.from && lo <= other.to {
            lo = other.to.saturating_add(1);
        }
        if hi >= other.from && hi <= other.to {
            match other.from.checked_sub(1) {
                Some(below) => hi = below,
                // Nothing below an earlier range starting at 0: all shared.
                None => {
                    return LevelTables {
                        first_pfn,
                        ..LevelTables::default()
                    }
                }
            }
        }
    }
    let count = if lo < hi { ((hi - lo) >> reach) + 1 } else { 0 };
    LevelTables {
        from: lo,
        to: hi,
        first_pfn,
        count,
    }
}
