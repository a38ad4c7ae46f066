//! The machine-frame allocator: a binary buddy system over frame numbers.
//!
//! Free memory is kept as naturally aligned blocks of `2^order` frames, one ordered set per
//! order. Allocation takes the lowest-addressed block of the smallest order that fits and
//! splits it; freeing merges a block with its buddy as long as the buddy is free too. The
//! allocator only does arithmetic on frame numbers — it never touches the frames.
//!
//! ```text
//!  order 2 block at frame 8:  [8 9 10 11]
//!  split ->  order 1: [8 9]  (allocated further)   order 1: [10 11] (free list)
//!  buddy of block b at order k = b XOR 2^k
//! ```
//!
//! Order-9 blocks are 2 MiB superpages: a domain that allows superpages gets its memory as
//! order-9 allocations, which is what makes a superpage *enabled* (see `mm::spage`).

use alloc::collections::BTreeSet;

/// Largest order the allocator manages (2^18 frames = 1 GiB).
pub const MAX_ORDER: u32 = 18;

/// Errors of the frame allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuddyError {
    /// `order` is above [`MAX_ORDER`].
    OrderTooLarge,
    /// The block is not aligned to its order.
    Misaligned,
    /// The block (or part of it) is already free.
    DoubleFree,
}

/// A buddy allocator over machine frame numbers.
#[derive(Debug, Default)]
pub struct BuddyAllocator {
    free: [BTreeSet<u64>; MAX_ORDER as usize + 1],
    free_frames: u64,
}

impl BuddyAllocator {
    /// An allocator with no free memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Number of free blocks of exactly `order` (for reporting).
    pub fn free_blocks(&self, order: u32) -> usize {
        self.free.get(order as usize).map_or(0, BTreeSet::len)
    }

    /// Adds the frames `[start, end)` to the free pool, as the largest aligned blocks that fit.
    ///
    /// Pre: no frame of the range is already free (returns `DoubleFree` otherwise, after adding
    /// the blocks before the conflict).
    pub fn add_range(&mut self, start: u64, end: u64) -> Result<(), BuddyError> {
        let mut frame = start;
        while frame < end {
            let align = if frame == 0 {
                MAX_ORDER
            } else {
                frame.trailing_zeros().min(MAX_ORDER)
            };
            let fit = (63 - (end - frame).leading_zeros()).min(MAX_ORDER);
            let order = align.min(fit);
            self.free(frame, order)?;
            frame += 1 << order;
        }
        Ok(())
    }

    /// Allocates a naturally aligned block of `2^order` frames; returns its first frame.
    ///
    /// Post: the block is no longer free. `None` when no block of that order is available.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        if order > MAX_ORDER {
            return None;
        }
        let from = (order..=MAX_ORDER).find(|&o| !self.free[o as usize].is_empty())?;
        let block = self.free[from as usize].pop_first()?;
        // Split down to the requested order, returning the upper halves.
        for o in (order..from).rev() {
            self.free[o as usize].insert(block + (1 << o));
        }
        self.free_frames -= 1 << order;
        Some(block)
    }

    /// Allocates the specific block `[frame, frame + 2^order)` if all of it is free.
    pub fn alloc_at(&mut self, frame: u64, order: u32) -> bool {
        if order > MAX_ORDER || frame & ((1 << order) - 1) != 0 {
            return false;
        }
        // Find the free block that contains `frame` at some order >= `order`.
        let Some(from) = (order..=MAX_ORDER)
            .find(|&o| self.free[o as usize].contains(&(frame & !((1u64 << o) - 1))))
        else {
            return false;
        };
        let mut block = frame & !((1u64 << from) - 1);
        self.free[from as usize].remove(&block);
        for o in (order..from).rev() {
            // Keep the half that holds `frame`, free the other.
            let half = 1u64 << o;
            if frame >= block + half {
                self.free[o as usize].insert(block);
                block += half;
            } else {
                self.free[o as usize].insert(block + half);
            }
        }
        self.free_frames -= 1 << order;
        true
    }

    /// Returns the block `[frame, frame + 2^order)` to the pool, merging with free buddies.
    pub fn free(&mut self, frame: u64, order: u32) -> Result<(), BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::OrderTooLarge);
        }
        if frame & ((1 << order) - 1) != 0 {
            return Err(BuddyError::Misaligned);
        }
        if self.overlaps_free(frame, order) {
            return Err(BuddyError::DoubleFree);
        }
        self.free_frames += 1 << order;
        let (mut block, mut o) = (frame, order);
        while o < MAX_ORDER && self.free[o as usize].remove(&(block ^ (1 << o))) {
            block &= !(1 << o);
            o += 1;
        }
        self.free[o as usize].insert(block);
        Ok(())
    }

    /// Whether any frame of `[frame, frame + 2^order)` is free.
    fn overlaps_free(&self, frame: u64, order: u32) -> bool {
        let end = frame + (1 << order);
        self.free.iter().enumerate().any(|(o, set)| {
            // A free block of order `o` overlaps if it starts before `end` and ends after `frame`.
            let size = 1u64 << o;
            set.range(frame.saturating_sub(size - 1)..end)
                .next()
                .is_some()
        })
    }

    /// Iterates over all free blocks as `(first_frame, order)`, lowest order first.
    pub fn blocks(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.free
            .iter()
            .enumerate()
            .flat_map(|(o, set)| set.iter().map(move |&b| (b, o as u32)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet as Set;

    #[test]
    fn add_range_splits_into_aligned_blocks() {
        let mut b = BuddyAllocator::new();
        b.add_range(3, 1030).unwrap();
        assert_eq!(b.free_frames(), 1027);
        for (frame, order) in b.blocks() {
            assert_eq!(frame % (1 << order), 0);
        }
    }

    #[test]
    fn order9_allocation_is_2mib_aligned() {
        let mut b = BuddyAllocator::new();
        b.add_range(100, 5000).unwrap();
        let f = b.alloc(9).unwrap();
        assert_eq!(f % 512, 0);
        assert!(f >= 100 && f + 512 <= 5000);
    }

    #[test]
    fn free_merges_back_to_one_block() {
        let mut b = BuddyAllocator::new();
        b.add_range(0, 1024).unwrap();
        let frames: Vec<u64> = (0..1024).map(|_| b.alloc(0).unwrap()).collect();
        assert_eq!(b.alloc(0), None);
        for f in frames {
            b.free(f, 0).unwrap();
        }
        assert_eq!(b.blocks().collect::<Vec<_>>(), vec![(0, 10)]);
    }

    #[test]
    fn double_free_and_misaligned_are_refused() {
        let mut b = BuddyAllocator::new();
        b.add_range(0, 64).unwrap();
        assert_eq!(b.free(8, 0), Err(BuddyError::DoubleFree));
        let f = b.alloc(3).unwrap();
        assert_eq!(b.free(f + 1, 3), Err(BuddyError::Misaligned));
        assert_eq!(b.free(f, MAX_ORDER + 1), Err(BuddyError::OrderTooLarge));
        b.free(f, 3).unwrap();
        assert_eq!(b.free(f, 3), Err(BuddyError::DoubleFree));
    }

    #[test]
    fn alloc_at_takes_exactly_that_block() {
        let mut b = BuddyAllocator::new();
        b.add_range(0, 4096).unwrap();
        assert!(b.alloc_at(1536, 9));
        assert!(!b.alloc_at(1536, 0));
        assert_eq!(b.free_frames(), 4096 - 512);
        b.free(1536, 9).unwrap();
        assert_eq!(b.blocks().collect::<Vec<_>>(), vec![(0, 12)]);
    }

    proptest! {
        /// Random alloc/free sequences never hand out a frame twice, never lose a frame, and
        /// always return aligned blocks inside the managed range.
        #[test]
        fn never_overlaps_never_leaks(ops in prop::collection::vec((0u32..11, any::<bool>(), any::<prop::sample::Index>()), 1..200)) {
            let (start, end) = (7u64, 7 + 3000);
            let mut b = BuddyAllocator::new();
            b.add_range(start, end).unwrap();
            let mut live: Vec<(u64, u32)> = Vec::new();
            let mut used: Set<u64> = Set::new();
            for (order, do_alloc, idx) in ops {
                if do_alloc || live.is_empty() {
                    if let Some(f) = b.alloc(order) {
                        prop_assert_eq!(f % (1 << order), 0);
                        prop_assert!(f >= start && f + (1 << order) <= end);
                        for x in f..f + (1 << order) {
                            prop_assert!(used.insert(x), "frame {} handed out twice", x);
                        }
                        live.push((f, order));
                    }
                } else {
                    let (f, o) = live.swap_remove(idx.index(live.len()));
                    b.free(f, o).unwrap();
                    for x in f..f + (1 << o) {
                        used.remove(&x);
                    }
                }
                prop_assert_eq!(b.free_frames() + used.len() as u64, end - start);
            }
        }
    }
}
