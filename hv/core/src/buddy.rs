//! The machine-frame allocator: a binary buddy system over frame numbers that knows which
//! free blocks are *clean* (read as zero) and which are *dirty* (may hold old data).
//!
//! Free memory is kept as naturally aligned blocks of `2^order` frames, one ordered set per
//! order and content. Allocation takes the lowest-addressed block of the smallest order that
//! fits and splits it; freeing merges a block with its buddy as long as the buddy is free
//! *with the same content*. The allocator only does arithmetic on frame numbers — it never
//! touches the frames; whoever zeroes frames says so ([`BuddyAllocator::free_clean`]).
//!
//! ```text
//!  order 2 block at frame 8:  [8 9 10 11]
//!  split ->  order 1: [8 9]  (allocated further)   order 1: [10 11] (free list)
//!  buddy of block b at order k = b XOR 2^k
//!
//!  add_range / free ──► dirty ──take_dirty──► (caller zeroes) ──free_clean──► clean
//!  alloc_clean: clean first (untouched), else dirty (the caller scrubs)
//!  alloc:       dirty first (hypervisor tables the caller fills), else clean
//! ```
//!
//! As in Xen, memory a domain or the hypervisor gave back, and all memory at boot, is dirty;
//! the idle loop scrubs it ([`BuddyAllocator::take_dirty`]) so that building a domain takes
//! clean frames without touching them. Clean and dirty buddies are not merged; when no block
//! of an order is left in either state although merging across them would give one, both
//! allocation calls forget which blocks were clean (all become dirty and merge) and retry —
//! never failing where a content-blind allocator would succeed.
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

/// What a free block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Every frame reads as zero.
    Clean,
    /// Frames may hold old data: scrub before a domain sees them.
    Dirty,
}

type FreeLists = [BTreeSet<u64>; MAX_ORDER as usize + 1];

/// A buddy allocator over machine frame numbers.
#[derive(Debug, Default)]
pub struct BuddyAllocator {
    clean: FreeLists,
    dirty: FreeLists,
    free_frames: u64,
    dirty_frames: u64,
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

    /// Number of free frames that may hold old data.
    pub fn dirty_frames(&self) -> u64 {
        self.dirty_frames
    }

    /// Number of free blocks of exactly `order` (for reporting).
    pub fn free_blocks(&self, order: u32) -> usize {
        let o = order as usize;
        self.clean.get(o).map_or(0, BTreeSet::len) + self.dirty.get(o).map_or(0, BTreeSet::len)
    }

    fn lists(&mut self, content: Content) -> &mut FreeLists {
        match content {
            Content::Clean => &mut self.clean,
            Content::Dirty => &mut self.dirty,
        }
    }

    /// Adds the frames `[start, end)` to the free pool as dirty, as the largest aligned
    /// blocks that fit.
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

    /// Allocates a naturally aligned block of `2^order` frames whose content does not matter
    /// (the caller overwrites or zeroes it); dirty blocks are taken first, to keep clean
    /// memory for domains. Returns its first frame.
    ///
    /// Post: the block is no longer free. `None` when no block of that order is available.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        self.alloc_preferring(order, Content::Dirty).map(|(f, _)| f)
    }

    /// Allocates a block for a domain: a clean one if there is one (the caller need not touch
    /// it), else a dirty one that the caller must scrub. Returns its first frame and content.
    pub fn alloc_clean(&mut self, order: u32) -> Option<(u64, Content)> {
        self.alloc_preferring(order, Content::Clean)
    }

    fn alloc_preferring(&mut self, order: u32, first: Content) -> Option<(u64, Content)> {
        if order > MAX_ORDER {
            return None;
        }
        let second = match first {
            Content::Clean => Content::Dirty,
            Content::Dirty => Content::Clean,
        };
        for content in [first, second] {
            if let Some(block) = self.take_block(order, content) {
                return Some((block, content));
            }
        }
        let some = |lists: &FreeLists| lists.iter().any(|l| !l.is_empty());
        if self.free_frames >= 1 << order && some(&self.clean) && some(&self.dirty) {
            // Clean and dirty halves may hide a block of this order: merge everything as dirty.
            self.forget_clean();
            return self
                .take_block(order, Content::Dirty)
                .map(|b| (b, Content::Dirty));
        }
        None
    }

    /// Takes the lowest block of the smallest order >= `order` with `content`, split down.
    fn take_block(&mut self, order: u32, content: Content) -> Option<u64> {
        let lists = self.lists(content);
        let from = (order..=MAX_ORDER).find(|&o| !lists[o as usize].is_empty())?;
        let block = lists[from as usize].pop_first()?;
        // Split down to the requested order, returning the upper halves.
        for o in (order..from).rev() {
            lists[o as usize].insert(block + (1 << o));
        }
        self.free_frames -= 1 << order;
        if content == Content::Dirty {
            self.dirty_frames -= 1 << order;
        }
        Some(block)
    }

    /// Marks every free clean block dirty, merging it with its free buddies.
    fn forget_clean(&mut self) {
        for o in 0..=MAX_ORDER {
            for block in core::mem::take(&mut self.clean[o as usize]) {
                self.free_frames -= 1 << o;
                self.insert(block, o, Content::Dirty);
            }
        }
    }

    /// Takes the lowest-addressed dirty block for scrubbing, split down to at most `max_order`
    /// (the rest stays free and dirty). The caller zeroes it and gives it back with
    /// [`BuddyAllocator::free_clean`]. `None` when no free memory is dirty.
    pub fn take_dirty(&mut self, max_order: u32) -> Option<(u64, u32)> {
        let max_order = max_order.min(MAX_ORDER);
        let (block, from) = (0..=MAX_ORDER)
            .filter_map(|o| self.dirty[o as usize].first().map(|&b| (b, o)))
            .min()?;
        self.dirty[from as usize].remove(&block);
        let order = from.min(max_order);
        for o in (order..from).rev() {
            self.dirty[o as usize].insert(block + (1 << o));
        }
        self.free_frames -= 1 << order;
        self.dirty_frames -= 1 << order;
        Some((block, order))
    }

    /// Allocates the specific block `[frame, frame + 2^order)` if all of it is free (content
    /// unknown to the caller).
    pub fn alloc_at(&mut self, frame: u64, order: u32) -> bool {
        if order > MAX_ORDER || frame & ((1 << order) - 1) != 0 {
            return false;
        }
        // Find the free block that contains `frame` at some order >= `order`.
        let containing = |lists: &FreeLists| {
            (order..=MAX_ORDER).find(|&o| lists[o as usize].contains(&(frame & !((1u64 << o) - 1))))
        };
        let (content, from) = match (containing(&self.dirty), containing(&self.clean)) {
            (Some(o), _) => (Content::Dirty, o),
            (None, Some(o)) => (Content::Clean, o),
            (None, None) => return false,
        };
        let lists = self.lists(content);
        let mut block = frame & !((1u64 << from) - 1);
        lists[from as usize].remove(&block);
        for o in (order..from).rev() {
            // Keep the half that holds `frame`, free the other.
            let half = 1u64 << o;
            if frame >= block + half {
                lists[o as usize].insert(block);
                block += half;
            } else {
                lists[o as usize].insert(block + half);
            }
        }
        self.free_frames -= 1 << order;
        if content == Content::Dirty {
            self.dirty_frames -= 1 << order;
        }
        true
    }

    /// Returns the block `[frame, frame + 2^order)` to the pool as dirty (it may hold data),
    /// merging with free dirty buddies.
    pub fn free(&mut self, frame: u64, order: u32) -> Result<(), BuddyError> {
        self.check_free(frame, order)?;
        self.insert(frame, order, Content::Dirty);
        Ok(())
    }

    /// Returns a block the caller has zeroed (every frame reads as zero) as clean, merging
    /// with free clean buddies.
    pub fn free_clean(&mut self, frame: u64, order: u32) -> Result<(), BuddyError> {
        self.check_free(frame, order)?;
        self.insert(frame, order, Content::Clean);
        Ok(())
    }

    fn check_free(&self, frame: u64, order: u32) -> Result<(), BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::OrderTooLarge);
        }
        if frame & ((1 << order) - 1) != 0 {
            return Err(BuddyError::Misaligned);
        }
        if self.overlaps_free(frame, order) {
            return Err(BuddyError::DoubleFree);
        }
        Ok(())
    }

    /// Inserts a checked block, merging with same-content buddies.
    fn insert(&mut self, frame: u64, order: u32, content: Content) {
        self.free_frames += 1 << order;
        if content == Content::Dirty {
            self.dirty_frames += 1 << order;
        }
        let lists = self.lists(content);
        let (mut block, mut o) = (frame, order);
        while o < MAX_ORDER && lists[o as usize].remove(&(block ^ (1 << o))) {
            block &= !(1 << o);
            o += 1;
        }
        lists[o as usize].insert(block);
    }

    /// Whether any frame of `[frame, frame + 2^order)` is free.
    fn overlaps_free(&self, frame: u64, order: u32) -> bool {
        let end = frame + (1 << order);
        self.clean
            .iter()
            .enumerate()
            .chain(self.dirty.iter().enumerate())
            .any(|(o, set)| {
                // A free block of order `o` overlaps if it starts before `end` and ends after `frame`.
                let size = 1u64 << o;
                set.range(frame.saturating_sub(size - 1)..end)
                    .next()
                    .is_some()
            })
    }

    /// Iterates over all free blocks as `(first_frame, order)`, lowest order first (clean
    /// blocks of an order before dirty ones).
    pub fn blocks(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.clean
            .iter()
            .zip(self.dirty.iter())
            .enumerate()
            .flat_map(|(o, (c, d))| c.iter().chain(d.iter()).map(move |&b| (b, o as u32)))
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

    #[test]
    fn freed_memory_is_dirty_until_scrubbed() {
        let mut b = BuddyAllocator::new();
        b.add_range(0, 64).unwrap();
        assert_eq!(b.dirty_frames(), 64);
        assert_eq!(b.alloc_clean(0), Some((0, Content::Dirty)));
        b.free(0, 0).unwrap();
        // Scrub everything: the scrubber takes dirty chunks, lowest first.
        let mut taken = 0;
        while let Some((f, o)) = b.take_dirty(2) {
            assert!(o <= 2);
            assert_eq!(f, taken);
            taken += 1 << o;
            b.free_clean(f, o).unwrap();
        }
        assert_eq!((taken, b.dirty_frames()), (64, 0));
        assert_eq!(b.blocks().collect::<Vec<_>>(), vec![(0, 6)]);
        assert_eq!(b.alloc_clean(3), Some((0, Content::Clean)));
        // Hypervisor tables take dirty memory first, domains clean memory first.
        b.free(0, 3).unwrap();
        assert_eq!(b.alloc(0), Some(0));
        assert_eq!(b.alloc_clean(0), Some((8, Content::Clean)));
    }

    #[test]
    fn clean_and_dirty_halves_still_make_a_large_block() {
        let mut b = BuddyAllocator::new();
        b.add_range(0, 16).unwrap();
        let (f, o) = b.take_dirty(3).unwrap();
        b.free_clean(f, o).unwrap();
        assert_eq!(b.free_blocks(3), 2);
        // No block of order 4 in either state; merging across them gives one (dirty).
        assert_eq!(b.alloc_clean(4), Some((0, Content::Dirty)));
        assert_eq!(b.free_frames(), 0);
        // With only clean memory, a failed allocation keeps it clean.
        b.free_clean(0, 3).unwrap();
        assert_eq!(b.alloc_clean(4), None);
        assert_eq!(b.dirty_frames(), 0);
        assert_eq!(b.free_clean(0, 0), Err(BuddyError::DoubleFree));
    }

    /// One step of the model: frames hold a byte each, 0 reads as zero.
    #[derive(Debug, Clone)]
    enum Op {
        /// A domain's allocation (`alloc_clean`); it then writes the frames.
        Domain(u32),
        /// A hypervisor allocation (`alloc`); it fills the frames.
        Hypervisor(u32),
        /// Free a live block (dirty).
        Free(prop::sample::Index),
        /// One scrubber step.
        Scrub(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..10).prop_map(Op::Domain),
            (0u32..10).prop_map(Op::Hypervisor),
            any::<prop::sample::Index>().prop_map(Op::Free),
            (0u32..6).prop_map(Op::Scrub),
        ]
    }

    proptest! {
        /// The security property: every block handed out clean reads as zero — memory that
        /// held anyone's data (at boot, freed by a domain or the hypervisor) comes back clean
        /// only through a scrub; and the clean/dirty counts stay consistent.
        #[test]
        fn every_frame_handed_out_clean_is_zero(ops in prop::collection::vec(op(), 1..300), seed in 1u8..) {
            let (start, end) = (5u64, 5 + 2000);
            let mut mem = vec![seed; end as usize];
            let mut b = BuddyAllocator::new();
            b.add_range(start, end).unwrap();
            let mut live: Vec<(u64, u32)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let stamp = (step % 250) as u8 + 1;
                match op {
                    Op::Domain(order) => {
                        if let Some((f, content)) = b.alloc_clean(order) {
                            let frames = f as usize..(f + (1 << order)) as usize;
                            if content == Content::Clean {
                                prop_assert!(mem[frames.clone()].iter().all(|&x| x == 0),
                                    "block {} order {} handed out clean holds data", f, order);
                            }
                            mem[frames].fill(stamp);
                            live.push((f, order));
                        }
                    }
                    Op::Hypervisor(order) => {
                        if let Some(f) = b.alloc(order) {
                            mem[f as usize..(f + (1 << order)) as usize].fill(stamp);
                            live.push((f, order));
                        }
                    }
                    Op::Free(idx) => {
                        if !live.is_empty() {
                            let (f, o) = live.swap_remove(idx.index(live.len()));
                            b.free(f, o).unwrap();
                        }
                    }
                    Op::Scrub(max) => {
                        if let Some((f, o)) = b.take_dirty(max) {
                            prop_assert!(o <= max);
                            mem[f as usize..(f + (1 << o)) as usize].fill(0);
                            b.free_clean(f, o).unwrap();
                        }
                    }
                }
                let live_frames: u64 = live.iter().map(|&(_, o)| 1u64 << o).sum();
                prop_assert_eq!(b.free_frames() + live_frames, end - start);
                let dirty: u64 = b.dirty.iter().enumerate().map(|(o, l)| (l.len() as u64) << o).sum();
                prop_assert_eq!(b.dirty_frames(), dirty);
                prop_assert!(b.dirty_frames() <= b.free_frames());
            }
        }

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
