//! Host-side helpers for tests and micro-benchmarks: [`Storage`] (zeroed frame and spage
//! tables in `Vec`s) and [`VecMemory`], an in-memory [`FrameMemory`] whose frames are created
//! (zeroed) on first write; unwritten frames read as zero.
//!
//! ```ignore
//! let mut storage = Storage::new(&config);
//! let mut mm = storage.mm(config)?;
//! let mut mem = VecMemory::new();
//! ```

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::error::MmError;
use super::frame::FrameInfo;
use super::memory::FrameMemory;
use super::spage::SpageInfo;
use super::types::{Mfn, MmConfig, ENTRIES_PER_TABLE};
use super::Mm;

/// Free frame and spage tables sized for a configuration.
#[derive(Clone, Debug)]
pub struct Storage {
    /// One entry per frame below `max_mfn`.
    pub frames: Vec<FrameInfo>,
    /// One entry per 2 MiB extent.
    pub spages: Vec<SpageInfo>,
}

impl Storage {
    /// All-free tables for `config` (saturating at the address-space size on absurd values).
    pub fn new(config: &MmConfig) -> Storage {
        let frames = usize::try_from(config.max_mfn).unwrap_or(usize::MAX);
        let spages = usize::try_from(config.spage_entries()).unwrap_or(usize::MAX);
        Storage {
            frames: vec![FrameInfo::FREE; frames],
            spages: vec![SpageInfo::FREE; spages],
        }
    }

    /// A memory manager over these tables.
    pub fn mm(&mut self, config: MmConfig) -> Result<Mm<'_>, MmError> {
        Mm::new(config, &mut self.frames, &mut self.spages)
    }
}

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
