//! The legacy `__xen_guest` section: `"KEY=VALUE,KEY=VALUE,..."`, used only without Xen notes.
//!
//! The section holds one NUL-terminated ASCII string (a missing NUL ends it at the section's
//! end). Keys, as read by Xen's `elf_xen_parse_guest_info`:
//!
//! | key                | meaning                                                    |
//! |--------------------|------------------------------------------------------------|
//! | `GUEST_OS`, `GUEST_VER`, `XEN_VER`, `LOADER` | strings                          |
//! | `PAE`              | `yes[extended-cr3]` → extended CR3, other `yes...` → yes  |
//! | `BSD_SYMTAB`       | present → yes                                              |
//! | `VIRT_BASE`, `VIRT_ENTRY`, `ELF_PADDR_OFFSET` | numbers (C `strtoull` base 0)   |
//! | `HYPERCALL_PAGE`   | a *page number relative to VIRT_BASE* (not an address)    |
//! | `FEATURES`         | `'|'`-separated feature list, as in the FEATURES note      |
//!
//! Unknown keys are ignored. Numbers take an optional sign, `0x` (hex) or `0` (octal) prefix
//! and stop at the first non-digit; an overflowing number saturates, like `strtoull`.

use super::error::ImageError;
use super::note_string::NoteString;
use super::notes::{PaeMode, RawNotes};

const PAGE_SHIFT: u32 = 12;

/// C `strtoull(text, NULL, 0)` on bytes: never fails, reads 0 when there are no digits.
pub(crate) fn parse_c_number(text: &[u8]) -> u64 {
    let text = text.trim_ascii_start();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (radix, digits) = match text {
        [b'0', b'x' | b'X', rest @ ..] if rest.first().is_some_and(u8::is_ascii_hexdigit) => {
            (16, rest)
        }
        [b'0', ..] => (8, text),
        _ => (10, text),
    };
    let mut value: u64 = 0;
    for digit in digits.iter().map_while(|&b| char::from(b).to_digit(radix)) {
        value = match value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
        {
            Some(next) => next,
            None => return u64::MAX,
        };
    }
    if negative {
        value.wrapping_neg()
    } else {
        value
    }
}

/// Applies the `__xen_guest` string in `section` to `raw`.
///
/// Post: `raw.hypercall_page`, if set, is a VA (`(page << 12) + VIRT_BASE`, VIRT_BASE 0 when
/// absent). Errors: `UnknownRequiredFeature`, `AddressOverflow` for a page number too large.
pub(crate) fn apply_xen_guest(raw: &mut RawNotes, section: &[u8]) -> Result<(), ImageError> {
    let end = section
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(section.len());
    let mut hypercall_page_number = None;
    for entry in section[..end].split(|&b| b == b',') {
        let (key, value) = match entry.iter().position(|&b| b == b'=') {
            Some(eq) => (&entry[..eq], &entry[eq + 1..]),
            None => (entry, &entry[entry.len()..]),
        };
        match key {
            b"LOADER" => raw.loader = NoteString::new(value),
            b"GUEST_OS" => raw.guest_os = NoteString::new(value),
            b"GUEST_VER" => raw.guest_version = NoteString::new(value),
            b"XEN_VER" => raw.xen_version = NoteString::new(value),
            b"PAE" if value == b"yes[extended-cr3]" => raw.pae_mode = PaeMode::ExtendedCr3,
            b"PAE" if value.starts_with(b"yes") => raw.pae_mode = PaeMode::Yes,
            b"BSD_SYMTAB" => raw.bsd_symtab = true,
            b"VIRT_BASE" => raw.virt_base = Some(parse_c_number(value)),
            b"VIRT_ENTRY" => raw.entry = Some(parse_c_number(value)),
            b"ELF_PADDR_OFFSET" => raw.paddr_offset = Some(parse_c_number(value)),
            b"HYPERCALL_PAGE" => hypercall_page_number = Some(parse_c_number(value)),
            b"FEATURES" => raw.features.add_list(value)?,
            _ => {}
        }
    }
    if let Some(page) = hypercall_page_number {
        let offset = page
            .checked_mul(1 << PAGE_SHIFT)
            .ok_or(ImageError::AddressOverflow)?;
        let va = offset
            .checked_add(raw.virt_base.unwrap_or(0))
            .ok_or(ImageError::AddressOverflow)?;
        raw.hypercall_page = Some(va);
    }
    Ok(())
}
