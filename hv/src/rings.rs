//! A shared ring page (console, xenstore) of a guest: a view over a held [`GuestPage`].
//!
//! The page is the guest's own memory: every access is a volatile copy, bounds come from the
//! ring protocol code in the core (and the page's own bounds), and index reads/writes are
//! fenced so the data they publish is visible in order.

use core::sync::atomic::{fence, Ordering};

use crate::guest_page::GuestPage;

/// One 4 KiB ring page, held by its domain's [`crate::domain::Domain`].
pub struct PageRing<'a> {
    page: &'a GuestPage,
}

impl<'a> PageRing<'a> {
    /// The ring in `page`.
    pub fn new(page: &'a GuestPage) -> Self {
        Self { page }
    }

    /// Reads bytes at `offset` (out-of-page requests read zeros).
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        self.page.read(offset, buf);
    }

    /// Writes bytes at `offset` (out-of-page requests are dropped).
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        self.page.write(offset, data);
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

impl hv_core::console::ConsoleRing for PageRing<'_> {
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
