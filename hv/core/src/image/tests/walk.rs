//! A software page walk over generated bootstrap page tables, for checking them.

use std::collections::{BTreeMap, BTreeSet};

use crate::image::pagetables::{
    bootstrap_page_table_writes, L1_FLAGS, PTE_PRESENT, PTE_RW, UPPER_FLAGS,
};
use crate::image::{P2mPlacement, StartOfDayLayout};

/// A non-monotonic pfn → mfn bijection, so contiguity assumptions show up.
pub fn mfn_of(pfn: u64) -> Option<u64> {
    Some((pfn ^ 0x2_a5a5) + 0x100_0000)
}

pub fn pfn_of(mfn: u64) -> u64 {
    (mfn - 0x100_0000) ^ 0x2_a5a5
}

/// The generated tables, by pfn.
pub struct Tables(pub BTreeMap<u64, [u64; 512]>);

impl Tables {
    /// Generates the tables of `layout`; checks that every write lands in a reserved table
    /// frame and no entry is written twice.
    pub fn build(layout: &StartOfDayLayout) -> Self {
        let mut tables = BTreeMap::new();
        for mapping in layout.mappings() {
            for pfn in mapping.first_table_pfn..mapping.first_table_pfn + mapping.table_frames {
                tables.insert(pfn, [0u64; 512]);
            }
        }
        for write in bootstrap_page_table_writes(layout, mfn_of).unwrap() {
            let table = tables
                .get_mut(&write.table_pfn)
                .unwrap_or_else(|| panic!("write outside the table frames: {write:?}"));
            let entry = &mut table[usize::from(write.index)];
            assert_eq!(*entry, 0, "entry written twice: {write:?}");
            assert_ne!(write.value, 0);
            *entry = write.value;
        }
        Self(tables)
    }

    /// Walks `va` from the L4; returns the mapped pfn and the L1 flags. Adds the tables it
    /// passes through to `visited`.
    pub fn walk_visiting(
        &self,
        layout: &StartOfDayLayout,
        va: u64,
        visited: &mut BTreeSet<u64>,
    ) -> Option<(u64, u64)> {
        visited.insert(layout.pt_base_pfn());
        let mut table = self.0.get(&layout.pt_base_pfn())?;
        for level in (1..4).rev() {
            let entry = table[((va >> (12 + 9 * level)) & 511) as usize];
            if entry & PTE_PRESENT == 0 {
                return None;
            }
            assert_eq!(entry & 0xfff, UPPER_FLAGS, "upper flags at {va:#x}");
            let next = pfn_of(entry >> 12);
            visited.insert(next);
            table = self
                .0
                .get(&next)
                .expect("upper entry points at a non-table frame");
        }
        let entry = table[((va >> 12) & 511) as usize];
        (entry & PTE_PRESENT != 0).then(|| (pfn_of(entry >> 12), entry & 0xfff))
    }

    /// [`Self::walk_visiting`] without recording.
    pub fn walk(&self, layout: &StartOfDayLayout, va: u64) -> Option<(u64, u64)> {
        self.walk_visiting(layout, va, &mut BTreeSet::new())
    }

    /// Present entries of all tables, by level of the table holding them.
    pub fn present_entries(&self) -> usize {
        self.0
            .values()
            .map(|t| t.iter().filter(|&&e| e & PTE_PRESENT != 0).count())
            .sum()
    }
}

/// Checks the full contract of the bootstrap tables of `layout`: every page of
/// `[virt_base, v_end)` maps to `(va - virt_base) >> 12`, read-only exactly for table frames;
/// the INIT_P2M list maps onto its frames; nothing else is mapped; every table but the L4 is
/// referenced exactly once.
pub fn check_bootstrap_tables(layout: &StartOfDayLayout) {
    let tables = Tables::build(layout);
    let is_table = |pfn| layout.mappings().any(|m| m.is_table_frame(pfn));
    let mut leaves = 0;
    let mut visited = BTreeSet::new();
    for pfn in 0..layout.mapped_pages() {
        let va = layout.mapped_va(pfn).unwrap();
        let (mapped, flags) = tables
            .walk_visiting(layout, va, &mut visited)
            .expect("unmapped page");
        assert_eq!(mapped, pfn, "va {va:#x}");
        let expected = if is_table(pfn) {
            L1_FLAGS & !PTE_RW
        } else {
            L1_FLAGS
        };
        assert_eq!(flags, expected, "flags of pfn {pfn:#x}");
        leaves += 1;
    }
    assert!(tables.walk(layout, layout.v_end).is_none());
    if let P2mPlacement::InitP2m { va, list, .. } = layout.p2m {
        for i in 0..list.pages {
            let (mapped, flags) = tables
                .walk_visiting(layout, va + i * 4096, &mut visited)
                .expect("p2m unmapped");
            assert_eq!((mapped, flags), (list.pfn + i, L1_FLAGS));
            leaves += 1;
        }
        assert!(tables.walk(layout, va + list.pages * 4096).is_none());
    }
    let table_count: u64 = layout.mappings().map(|m| m.table_frames).sum();
    assert_eq!(tables.0.len() as u64, table_count);
    assert_eq!(visited.len() as u64, table_count, "unused table frames");
    // Each table except the L4 is pointed to by exactly one upper entry.
    assert_eq!(tables.present_entries(), leaves + table_count as usize - 1);
}
