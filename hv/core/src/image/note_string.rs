//! A short, fixed-capacity byte string for the string-valued Xen notes (GUEST_OS, LOADER, ...).
//!
//! Note strings come from the guest and need not be UTF-8, so they are kept as bytes. They are
//! cut at the first NUL and at [`NOTE_STRING_CAPACITY`] bytes (Xen's libelf keeps only 15),
//! which keeps [`XenNotes`](super::notes::XenNotes) `Copy` and free of allocation.

use core::fmt;

/// Bytes kept of a string note.
pub const NOTE_STRING_CAPACITY: usize = 32;

/// A string note value: at most [`NOTE_STRING_CAPACITY`] bytes, no NUL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NoteString {
    len: u8,
    bytes: [u8; NOTE_STRING_CAPACITY],
}

impl NoteString {
    /// The empty string (an absent note).
    pub const EMPTY: Self = Self {
        len: 0,
        bytes: [0; NOTE_STRING_CAPACITY],
    };

    /// The bytes of `raw` before its first NUL, truncated to the capacity.
    pub fn new(raw: &[u8]) -> Self {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let kept = &raw[..end.min(NOTE_STRING_CAPACITY)];
        let mut bytes = [0; NOTE_STRING_CAPACITY];
        bytes[..kept.len()].copy_from_slice(kept);
        Self {
            // kept.len() <= NOTE_STRING_CAPACITY = 32, so it fits a u8.
            len: kept.len() as u8,
            bytes,
        }
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The string, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// Whether the string begins with `prefix` (Xen compares notes with `strncmp`).
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        self.as_bytes().starts_with(prefix)
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for NoteString {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl fmt::Debug for NoteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}
