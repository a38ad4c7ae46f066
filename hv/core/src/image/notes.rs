//! Xen notes → [`XenNotes`]: what a PV kernel says about itself, with Xen's defaults and checks.
//!
//! Where the information comes from, first match wins (as in Xen's `libelf-dominfo.c`):
//! 1. Xen notes in `PT_NOTE` segments (segments with `p_offset == 0` are skipped: old binutils
//!    emitted such broken note segments);
//! 2. if none of those held a Xen note: Xen notes in `SHT_NOTE` sections (Mini-OS keeps its
//!    notes only in a non-allocated `.note` section);
//! 3. if still none: the legacy `__xen_guest` section (see `legacy`);
//! 4. otherwise the image is rejected (`NotXenImage`).
//!
//! At most [`MAX_TOTAL_NOTES`] notes are read in all. A later note of the same type overrides an earlier one; feature notes accumulate.
//! Defaults: VIRT_BASE 0; PADDR_OFFSET 0 (VIRT_BASE in legacy mode); ENTRY `e_entry`.
//! Checks: LOADER starts with `"generic"` or GUEST_OS with `"linux"`; XEN_VERSION starts with
//! `"xen-3.0"`; PADDR_OFFSET needs VIRT_BASE. Numeric notes must be 1, 2, 4 or 8 bytes
//! (libelf reads other sizes as 0; we reject them). Address checks against the segments are
//! in `segments`.

use pv_abi::elfnote::*;

use super::elf::{ElfFile, PT_NOTE, SHT_NOTE};
use super::elf_note::{notes, Note};
use super::error::ImageError;
use super::legacy;
use super::note_string::NoteString;
use super::xenfeat::XenFeatures;

/// Where the kernel's Xen information was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteSource {
    /// Notes in `PT_NOTE` segments.
    ProgramHeaders,
    /// Notes in `SHT_NOTE` sections.
    SectionHeaders,
    /// The legacy `__xen_guest` string section.
    LegacyXenGuest,
}

/// The PAE_MODE note (meaningful for 32-bit guests only; recorded, not used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaeMode {
    /// Absent or `"no"`.
    #[default]
    No,
    /// Legacy `PAE=yes`.
    Yes,
    /// `"yes"` (or legacy `yes[extended-cr3]`).
    ExtendedCr3,
    /// Contains `"bimodal"`.
    Bimodal,
}

/// First mask/value pair of the L1_MFN_VALID note: a non-present L1 entry `e` still carries a
/// valid MFN when `e & mask == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L1MfnValid {
    /// Bits to look at.
    pub mask: u64,
    /// Their expected value.
    pub value: u64,
}

/// Notes as found, before defaults (`None` = absent). Filled by notes or the legacy string.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawNotes {
    pub(crate) entry: Option<u64>,
    pub(crate) virt_base: Option<u64>,
    pub(crate) paddr_offset: Option<u64>,
    pub(crate) hypercall_page: Option<u64>,
    pub(crate) init_p2m: Option<u64>,
    pub(crate) hv_start_low: Option<u64>,
    pub(crate) phys32_entry: Option<u64>,
    pub(crate) guest_os: NoteString,
    pub(crate) guest_version: NoteString,
    pub(crate) xen_version: NoteString,
    pub(crate) loader: NoteString,
    pub(crate) pae_mode: PaeMode,
    pub(crate) bsd_symtab: bool,
    pub(crate) features: XenFeatures,
    pub(crate) mod_start_pfn: bool,
    pub(crate) suspend_cancel: bool,
    pub(crate) l1_mfn_valid: Option<L1MfnValid>,
}

/// What a 64-bit PV kernel declares, with Xen's defaults applied and notes checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenNotes {
    /// Where this came from.
    pub source: NoteSource,
    /// Entry point VA (ENTRY, default `e_entry`).
    pub entry: u64,
    /// VA of pseudo-physical frame 0 (VIRT_BASE, default 0).
    pub virt_base: u64,
    /// Subtracted from `p_paddr` (PADDR_OFFSET; default 0, or VIRT_BASE in legacy mode).
    pub paddr_offset: u64,
    /// VA of the page to fill with hypercall stubs (HYPERCALL_PAGE), if any.
    pub hypercall_page: Option<u64>,
    /// GUEST_OS.
    pub guest_os: NoteString,
    /// GUEST_VERSION.
    pub guest_version: NoteString,
    /// XEN_VERSION (checked: starts with `"xen-3.0"`).
    pub xen_version: NoteString,
    /// LOADER.
    pub loader: NoteString,
    /// PAE_MODE (32-bit only; recorded).
    pub pae_mode: PaeMode,
    /// BSD_SYMTAB: the kernel wants its symbol table loaded (not supported; recorded).
    pub bsd_symtab: bool,
    /// FEATURES + SUPPORTED_FEATURES.
    pub features: XenFeatures,
    /// INIT_P2M: VA at which to place the initial p2m list, if any.
    pub init_p2m: Option<u64>,
    /// MOD_START_PFN: the initrd may be passed unmapped, by frame number.
    pub mod_start_pfn: bool,
    /// HV_START_LOW (recorded; the 64-bit hole is fixed).
    pub hv_start_low: Option<u64>,
    /// SUSPEND_CANCEL.
    pub suspend_cancel: bool,
    /// L1_MFN_VALID, first pair.
    pub l1_mfn_valid: Option<L1MfnValid>,
    /// PHYS32_ENTRY (PVH only; recorded).
    pub phys32_entry: Option<u64>,
}

/// Value of a numeric note: little-endian, 1/2/4/8 bytes.
fn numeric(note: &Note<'_>) -> Result<u64, ImageError> {
    let bad = ImageError::BadNumericNote {
        note_type: note.note_type,
    };
    if !matches!(note.desc.len(), 1 | 2 | 4 | 8) {
        return Err(bad);
    }
    let mut raw = [0u8; 8];
    raw[..note.desc.len()].copy_from_slice(note.desc);
    Ok(u64::from_le_bytes(raw))
}

fn read_u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Applies one Xen note to `raw`. Unknown types (and INFO, PHYS32_RELOC) are ignored.
fn apply(raw: &mut RawNotes, note: &Note<'_>) -> Result<(), ImageError> {
    let text = || NoteString::new(note.desc);
    match note.note_type {
        XEN_ELFNOTE_ENTRY => raw.entry = Some(numeric(note)?),
        XEN_ELFNOTE_HYPERCALL_PAGE => raw.hypercall_page = Some(numeric(note)?),
        XEN_ELFNOTE_VIRT_BASE => raw.virt_base = Some(numeric(note)?),
        XEN_ELFNOTE_PADDR_OFFSET => raw.paddr_offset = Some(numeric(note)?),
        XEN_ELFNOTE_INIT_P2M => raw.init_p2m = Some(numeric(note)?),
        XEN_ELFNOTE_HV_START_LOW => raw.hv_start_low = Some(numeric(note)?),
        XEN_ELFNOTE_PHYS32_ENTRY => raw.phys32_entry = Some(numeric(note)?),
        XEN_ELFNOTE_MOD_START_PFN => raw.mod_start_pfn = numeric(note)? != 0,
        XEN_ELFNOTE_SUSPEND_CANCEL => raw.suspend_cancel = numeric(note)? != 0,
        XEN_ELFNOTE_XEN_VERSION => raw.xen_version = text(),
        XEN_ELFNOTE_GUEST_OS => raw.guest_os = text(),
        XEN_ELFNOTE_GUEST_VERSION => raw.guest_version = text(),
        XEN_ELFNOTE_LOADER => raw.loader = text(),
        XEN_ELFNOTE_PAE_MODE => {
            let mode = text();
            if mode.as_bytes() == b"yes" {
                raw.pae_mode = PaeMode::ExtendedCr3;
            }
            if mode.as_bytes().windows(7).any(|w| w == b"bimodal") {
                raw.pae_mode = PaeMode::Bimodal;
            }
        }
        XEN_ELFNOTE_BSD_SYMTAB => raw.bsd_symtab = text().as_bytes() == b"yes",
        XEN_ELFNOTE_FEATURES => {
            let end = note.desc.iter().position(|&b| b == 0);
            raw.features
                .add_list(&note.desc[..end.unwrap_or(note.desc.len())])?;
        }
        XEN_ELFNOTE_SUPPORTED_FEATURES => {
            let len = note.desc.len();
            if len == 0 || !len.is_multiple_of(4) {
                return Err(ImageError::BadNumericNote {
                    note_type: note.note_type,
                });
            }
            let submap0 = [note.desc[0], note.desc[1], note.desc[2], note.desc[3]];
            raw.features.add_supported(u32::from_le_bytes(submap0));
        }
        XEN_ELFNOTE_L1_MFN_VALID => {
            raw.l1_mfn_valid = read_u64_at(note.desc, 0)
                .zip(read_u64_at(note.desc, 8))
                .map(|(mask, value)| L1MfnValid { mask, value });
        }
        _ => {}
    }
    Ok(())
}

/// Most notes (of any owner) read from one image, as in libelf: note areas may overlap, so
/// without a bound a crafted image could make the scan quadratic.
pub const MAX_TOTAL_NOTES: usize = 65536;

/// Applies every Xen note of a note area; returns how many there were. `seen` counts all
/// notes read so far, against [`MAX_TOTAL_NOTES`].
fn apply_area(raw: &mut RawNotes, area: &[u8], seen: &mut usize) -> Result<usize, ImageError> {
    let mut count = 0;
    for note in notes(area) {
        *seen += 1;
        if *seen > MAX_TOTAL_NOTES {
            return Err(ImageError::TooManyNotes);
        }
        let note = note?;
        if note.name == XEN_ELFNOTE_NAME {
            apply(raw, &note)?;
            count += 1;
        }
    }
    Ok(count)
}

/// Finds the Xen information of `elf` (notes, else the legacy section).
fn collect(elf: &ElfFile<'_>) -> Result<(RawNotes, NoteSource), ImageError> {
    let mut raw = RawNotes::default();
    let (mut found, mut seen) = (0, 0);
    for phdr in elf.program_headers() {
        if phdr.p_type == PT_NOTE && phdr.p_offset != 0 {
            found += apply_area(&mut raw, elf.segment_data(&phdr)?, &mut seen)?;
        }
    }
    if found > 0 {
        return Ok((raw, NoteSource::ProgramHeaders));
    }
    for shdr in elf.section_headers().skip(1) {
        if shdr.sh_type == SHT_NOTE {
            found += apply_area(&mut raw, elf.section_data(&shdr)?, &mut seen)?;
        }
    }
    if found > 0 {
        return Ok((raw, NoteSource::SectionHeaders));
    }
    let section = elf
        .section_by_name(XEN_GUEST_LEGACY_SECTION)
        .ok_or(ImageError::NotXenImage)?;
    legacy::apply_xen_guest(&mut raw, elf.section_data(&section)?)?;
    Ok((raw, NoteSource::LegacyXenGuest))
}

impl XenNotes {
    /// Reads and checks the Xen information of a parsed ELF kernel.
    pub fn parse(elf: &ElfFile<'_>) -> Result<Self, ImageError> {
        let (raw, source) = collect(elf)?;
        Self::finish(raw, source, elf.header().entry)
    }

    /// Applies the loader checks and defaults to what was found.
    pub(crate) fn finish(
        raw: RawNotes,
        source: NoteSource,
        e_entry: u64,
    ) -> Result<Self, ImageError> {
        if !raw.loader.starts_with(b"generic") && !raw.guest_os.starts_with(b"linux") {
            return Err(ImageError::UnsupportedLoader);
        }
        if !raw.xen_version.starts_with(b"xen-3.0") {
            return Err(ImageError::UnsupportedXenVersion);
        }
        if raw.paddr_offset.is_some() && raw.virt_base.is_none() {
            return Err(ImageError::PaddrOffsetWithoutVirtBase);
        }
        let virt_base = raw.virt_base.unwrap_or(0);
        let default_paddr_offset = match source {
            NoteSource::LegacyXenGuest => virt_base,
            _ => 0,
        };
        Ok(Self {
            source,
            entry: raw.entry.unwrap_or(e_entry),
            virt_base,
            paddr_offset: raw.paddr_offset.unwrap_or(default_paddr_offset),
            hypercall_page: raw.hypercall_page,
            guest_os: raw.guest_os,
            guest_version: raw.guest_version,
            xen_version: raw.xen_version,
            loader: raw.loader,
            pae_mode: raw.pae_mode,
            bsd_symtab: raw.bsd_symtab,
            features: raw.features,
            init_p2m: raw.init_p2m,
            mod_start_pfn: raw.mod_start_pfn,
            hv_start_low: raw.hv_start_low,
            suspend_cancel: raw.suspend_cancel,
            l1_mfn_valid: raw.l1_mfn_valid,
            phys32_entry: raw.phys32_entry,
        })
    }
}
