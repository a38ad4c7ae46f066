//! Names and platform hooks of the grant-table layer: frames, grant references, mapping
//! handles, the frame allocator and the accessor for entries in guest-shared frames.

use pv_abi::grant_table::GRANT_ENTRIES_V1_PER_FRAME;

use crate::types::DomId;

pub use crate::types::Mfn;

/// A grant reference (`grant_ref_t`): an index into the granting domain's table, not yet
/// validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

impl GrantRef {
    /// Which table frame holds the entry, and the entry's byte offset in it (v1, 8 B each).
    pub fn location(self) -> (usize, usize) {
        let per_frame = GRANT_ENTRIES_V1_PER_FRAME;
        (
            (self.0 / per_frame) as usize,
            (self.0 % per_frame) as usize * 8,
        )
    }
}

/// A grant mapping handle (`grant_handle_t`), returned by a map and named by the unmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantHandle(pub u32);

/// Frames for grant tables. The platform zeroes each frame and shares it read-write with the
/// domain (so the guest can map it), like Xen's `share_xen_page_with_guest`.
pub trait GrantFrameAllocator {
    /// A zeroed frame shared with `dom`; `None` when memory is exhausted.
    fn alloc_frame(&mut self, dom: DomId) -> Option<Mfn>;
    /// Takes back a frame this allocator gave for `dom` (used when a grow fails half-way).
    fn free_frame(&mut self, dom: DomId, frame: Mfn);
}

/// Atomic access to version-1 entries inside grant-table frames, which the granting guest
/// writes concurrently.
///
/// An entry's first 4 bytes, read as one little-endian `u32`, are its *header*:
/// `flags | domid << 16`. `offset` is the entry's byte offset in `frame` (a multiple of 8,
/// below 4096); the core only passes frames of the granter's own table.
pub trait GrantEntryAccess {
    /// Reads the header of the entry at `offset` in `frame`.
    fn read_header(&self, frame: Mfn, offset: usize) -> u32;
    /// Compare-and-exchange on the header; returns the value found (equal to `old` on success).
    fn cmpxchg_header(&mut self, frame: Mfn, offset: usize, old: u32, new: u32) -> u32;
    /// Reads the entry's `frame` field (bytes 4..8).
    fn read_frame(&self, frame: Mfn, offset: usize) -> u32;
    /// Atomically clears `flags` bits of the entry's flags.
    fn clear_flags(&mut self, frame: Mfn, offset: usize, flags: u16);
}

/// Splits a header into (flags, domid).
pub(super) fn split_header(header: u32) -> (u16, u16) {
    (header as u16, (header >> 16) as u16)
}

/// Joins (flags, domid) into a header.
pub(super) fn join_header(flags: u16, domid: u16) -> u32 {
    u32::from(flags) | (u32::from(domid) << 16)
}
