//! Access to the contents of machine frames, implemented by the platform (through its direct
//! map) and by tests ([`super::testkit::VecMemory`]).
//!
//! The memory manager only ever calls these with a frame number below `max_mfn` that it has
//! checked, and an index below 512.

use super::types::Mfn;

/// Reads and writes 64-bit page-table entries and whole frames.
pub trait FrameMemory {
    /// Reads entry `index` (< 512) of frame `mfn`.
    fn read_entry(&self, mfn: Mfn, index: usize) -> u64;
    /// Writes entry `index` (< 512) of frame `mfn`.
    fn write_entry(&mut self, mfn: Mfn, index: usize, value: u64);
    /// Fills frame `mfn` with zeros.
    fn zero_frame(&mut self, mfn: Mfn);
    /// Copies frame `src` over frame `dst`.
    fn copy_frame(&mut self, dst: Mfn, src: Mfn);
    /// Reads all 512 entries of frame `mfn` (whole-table validation reads each once; a
    /// platform can do it in one bulk copy instead of 512 checked accesses).
    fn read_table(&self, mfn: Mfn, out: &mut [u64; 512]) {
        for (index, e) in out.iter_mut().enumerate() {
            *e = self.read_entry(mfn, index);
        }
    }
}
