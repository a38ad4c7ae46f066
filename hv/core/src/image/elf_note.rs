//! Iteration over ELF notes packed in a note area (a `PT_NOTE` segment or `SHT_NOTE` section).
//!
//! ```text
//!  | namesz u32 | descsz u32 | type u32 | name (namesz), pad to 4 | desc (descsz), pad to 4 |
//! ```
//!
//! The header words are 32-bit in ELF64 too, and Xen notes use 4-byte alignment. Every size is
//! bounds-checked against the area, so garbage yields `Err(BadNote)`, never a panic.

use super::elf::{read_u32, ElfError};

const NHDR_SIZE: usize = 12;

/// One ELF note. `name` stops before the first NUL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    /// Owner name (e.g. `b"Xen"`), without the terminating NUL.
    pub name: &'a [u8],
    /// `n_type`.
    pub note_type: u32,
    /// Descriptor bytes (`descsz` of them, padding excluded).
    pub desc: &'a [u8],
}

/// Iterates over the notes packed in a note area (a `PT_NOTE` segment or `SHT_NOTE` section).
///
/// Trailing bytes too short for a note header are ignored (linker padding). A note whose name
/// or descriptor runs past the area yields `Err(BadNote)` and ends the iteration. The padding
/// after the last descriptor may be missing.
pub fn notes(area: &[u8]) -> NoteIter<'_> {
    NoteIter { rest: area }
}

/// Iterator returned by [`notes`].
#[derive(Clone, Debug)]
pub struct NoteIter<'a> {
    rest: &'a [u8],
}

const fn align4(value: usize) -> usize {
    value.saturating_add(3) & !3
}

impl<'a> Iterator for NoteIter<'a> {
    type Item = Result<Note<'a>, ElfError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.len() < NHDR_SIZE {
            return None;
        }
        // u32 -> usize never truncates on the 64-bit targets we build for; `usize::MAX` makes
        // any oversized value fail the bounds checks below.
        let size = |at| usize::try_from(read_u32(rest, at).unwrap_or(0)).unwrap_or(usize::MAX);
        let (namesz, descsz) = (size(0), size(4));
        let note_type = read_u32(rest, 8).unwrap_or(0);
        let desc_start = NHDR_SIZE.saturating_add(align4(namesz));
        let name = rest.get(NHDR_SIZE..NHDR_SIZE.saturating_add(namesz));
        let desc = match descsz {
            0 => Some(&rest[..0]),
            _ => rest.get(desc_start..desc_start.saturating_add(descsz)),
        };
        let (Some(name), Some(desc)) = (name, desc) else {
            self.rest = &[];
            return Some(Err(ElfError::BadNote));
        };
        let next = desc_start.saturating_add(align4(descsz));
        self.rest = rest.get(next..).unwrap_or(&[]);
        let name_len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(Ok(Note {
            name: &name[..name_len],
            note_type,
            desc,
        }))
    }
}
