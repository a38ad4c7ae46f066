//! A simple in-memory [`FrameMemory`] for host tests and micro-benchmarks: frames are created
//! (zeroed) on first write; unwritten frames read as zero.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;

use super::memory::FrameMemory;
use super::types::{Mfn, ENTRIES_PER_TABLE};

/// Sparse frame contents keyed by frame number.
#[derive(Clone, Debug, Default)]
pub struct VecMemory {
    frames: BTreeMap<u64, Box<[u64; ENTRIES_PER_TABLE]>>,
}

impl VecMemory {
    /// An empty memory (every frame reads as zero).
    pub fn new() -> Self {
        Self::default()
    }

    fn frame_mut(&mut self, mfn: Mfn) -> &mut [u64; ENTRIES_PER_TABLE] {
        self.frames
            .entry(mfn.0)
            .or_insert_with(|| Box::new([0; ENTRIES_PER_TABLE]))
    }
}

impl FrameMemory for VecMemory {
    fn read_entry(&self, mfn: Mfn, index: usize) -> u64 {
        self.frames
            .get(&mfn.0)
            .and_then(|f| f.get(index).copied())
            .unwrap_or(0)
    }

    fn write_entry(&mut self, mfn: Mfn, index: usize, value: u64) {
        if let Some(slot) = self.frame_mut(mfn).get_mut(index) {
            *slot = value;
        }
    }

    fn zero_frame(&mut self, mfn: Mfn) {
        self.frames.remove(&mfn.0);
    }

    fn copy_frame(&mut self, dst: Mfn, src: Mfn) {
        match self.frames.get(&src.0).cloned() {
            Some(contents) => {
                self.frames.insert(dst.0, contents);
            }
            None => self.zero_frame(dst),
        }
    }
}
