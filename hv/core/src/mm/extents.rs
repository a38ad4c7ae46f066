//! The set of naturally aligned blocks `(base, order)` a domain owns, so teardown can hand
//! them back to the buddy allocator whole, and releases inside a block split it buddy-wise.
//!
//! ```text
//!  release frame 5 from block (0, order 3):   [0 1 2 3 4 5 6 7]
//!    → keeps (0, order 2) [0..3], (6, order 1) [6 7], (4, order 0) [4]
//! ```
//! Blocks are disjoint; any two aligned blocks are either nested or disjoint, so a released
//! aligned range is either inside one block or a union of whole blocks.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::error::MmError;
use super::types::Mfn;

/// Disjoint aligned blocks, keyed by base frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extents {
    blocks: BTreeMap<u64, u32>,
}

impl Extents {
    /// Records a newly assigned block. Pre: aligned, disjoint from every recorded block.
    pub(crate) fn insert(&mut self, base: u64, order: u32) {
        self.blocks.insert(base, order);
    }

    /// Forgets the aligned range `[base, base + 2^order)`, splitting a larger block that
    /// contains it. Returns the blocks as recorded before (the one containing block, or the
    /// blocks that make up the range), for [`Extents::restore`]. `Err(Invalid)` (nothing
    /// changed) unless the range is entirely recorded.
    pub(crate) fn remove(&mut self, base: u64, order: u32) -> Result<Vec<(u64, u32)>, MmError> {
        let size = 1u64.checked_shl(order).ok_or(MmError::Invalid)?;
        let end = base.checked_add(size).ok_or(MmError::Invalid)?;
        if let Some((&b, &o)) = self.blocks.range(..=base).next_back() {
            if o >= order && b.saturating_add(1u64 << o) > base {
                self.blocks.remove(&b);
                self.split_around(b, o, base, order);
                return Ok(alloc::vec![(b, o)]);
            }
        }
        let inside: Vec<(u64, u32)> = self
            .blocks
            .range(base..end)
            .map(|(&b, &o)| (b, o))
            .collect();
        let covered: u64 = inside.iter().map(|&(_, o)| 1u64 << o).sum();
        if covered != size {
            return Err(MmError::Invalid);
        }
        for &(b, _) in &inside {
            self.blocks.remove(&b);
        }
        Ok(inside)
    }

    /// Undoes a `remove` whose result was `before`: drops the remnants a split left inside
    /// those blocks and records them exactly as they were.
    /// Pre: the removed range was not recorded again since.
    pub(crate) fn restore(&mut self, before: &[(u64, u32)]) {
        for &(b, o) in before {
            let end = b.saturating_add(1u64 << o);
            let remnants: Vec<u64> = self.blocks.range(b..end).map(|(&r, _)| r).collect();
            for r in remnants {
                self.blocks.remove(&r);
            }
            self.blocks.insert(b, o);
        }
    }

    /// Re-records the parts of block `(b, o)` outside `(base, order)` as aligned blocks.
    fn split_around(&mut self, b: u64, o: u32, base: u64, order: u32) {
        let (mut cur, mut cur_order) = (b, o);
        while cur_order > order {
            cur_order -= 1;
            let half = 1u64 << cur_order;
            if base >= cur + half {
                self.blocks.insert(cur, cur_order);
                cur += half;
            } else {
                self.blocks.insert(cur + half, cur_order);
            }
        }
    }

    /// Whether the block containing `mfn` has order >= `order`.
    pub(crate) fn contained_in_order(&self, mfn: u64, order: u32) -> bool {
        match self.blocks.range(..=mfn).next_back() {
            Some((&b, &o)) => o >= order && b.saturating_add(1u64 << o) > mfn,
            None => false,
        }
    }

    /// The recorded blocks as `(base, order)`.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = (Mfn, u32)> + '_ {
        self.blocks.iter().map(|(&b, &o)| (Mfn(b), o))
    }

    /// Every recorded frame, in order.
    pub(crate) fn frames(&self) -> impl Iterator<Item = Mfn> + '_ {
        self.blocks
            .iter()
            .flat_map(|(&b, &o)| (b..b + (1u64 << o)).map(Mfn))
    }

    /// Total recorded frames.
    pub(crate) fn total(&self) -> u64 {
        self.blocks.values().map(|&o| 1u64 << o).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_one_frame_out_of_a_block() {
        let mut e = Extents::default();
        e.insert(0, 3);
        e.remove(5, 0).unwrap();
        let blocks: Vec<_> = e.blocks().map(|(m, o)| (m.0, o)).collect();
        assert_eq!(blocks, [(0, 2), (4, 0), (6, 1)]);
        assert_eq!(e.total(), 7);
    }

    #[test]
    fn restore_undoes_a_split_and_a_union() {
        let mut e = Extents::default();
        e.insert(0, 3);
        let before = e.remove(5, 0).unwrap();
        assert_eq!(before, [(0, 3)]);
        e.restore(&before);
        assert!(e.contained_in_order(0, 3));
        assert_eq!(e.total(), 8);
        let mut u = Extents::default();
        u.insert(512, 0);
        u.insert(513, 0);
        let before = u.remove(512, 1).unwrap();
        u.restore(&before);
        let blocks: Vec<_> = u.blocks().map(|(m, o)| (m.0, o)).collect();
        assert_eq!(blocks, [(512, 0), (513, 0)]);
    }

    #[test]
    fn remove_union_of_blocks() {
        let mut e = Extents::default();
        e.insert(512, 0);
        e.insert(513, 0);
        e.insert(514, 1);
        e.remove(512, 2).unwrap();
        assert_eq!(e.total(), 0);
    }

    #[test]
    fn remove_unrecorded_fails_unchanged() {
        let mut e = Extents::default();
        e.insert(512, 0);
        assert_eq!(e.remove(512, 1), Err(MmError::Invalid));
        assert_eq!(e.remove(7, 0), Err(MmError::Invalid));
        assert_eq!(e.remove(0, 64), Err(MmError::Invalid));
        assert_eq!(e.total(), 1);
    }
}
