//! A shared ring page (console, xenstore) of a guest, reached through the direct map.
//!
//! The page is the guest's own memory: every access is a volatile copy, bounds come from the
//! ring protocol code in the core, and index reads/writes are fenced so the data they publish
//! is visible in order.

use core::sync::atomic::{fence, Ordering};

use crate::arch::phys;
use crate::mem::PAGE_SIZE;

/// One 4 KiB ring page at machine frame `mfn`.
pub struct PageRing {
    ma: u64,
}

impl PageRing {
    /// The ring page at `mfn`.
    pub fn new(mfn: u64) -> Self {
        Self {
            ma: mfn * PAGE_SIZE,
        }
    }

    fn clamp(offset: usize, len: usize) -> Option<u64> {
        (offset.checked_add(len)? <= PAGE_SIZE as usize).then_some(offset as u64)
    }

    /// Reads bytes at `offset` (out-of-page requests read zeros).
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        match Self::clamp(offset, buf.len()) {
            Some(off) => phys::read_bytes(self.ma + off, buf),
            None => buf.fill(0),
        }
    }

    /// Writes bytes at `offset` (out-of-page requests are dropped).
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        if let Some(off) = Self::clamp(offset, data.len()) {
            phys::write_bytes(self.ma + off, data);
        }
    }

    /// Reads a ring index with acquire ordering.
    pub fn read_index(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset, &mut b);
        fence(Ordering::Acquire);
        u32::from_le_bytes(b)
    }

    /// Writes a ring index with release ordering.
    pub fn write_index(&mut self, offset: usize, value: u32) {
        fence(Ordering::Release);
        self.write(offset, &value.to_le_bytes());
    }
}

impl hv_core::console::ConsoleRing for PageRing {
    fn read_u32(&self, offset: usize) -> u32 {
        self.read_index(offset)
    }

    fn write_u32(&mut self, offset: usize, value: u32) {
        self.write_index(offset, value);
    }

    fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
        self.read(offset, buf);
    }

    fn write_bytes(&mut self, offset: usize, bytes: &[u8]) {
        self.write(offset, bytes);
    }
}
