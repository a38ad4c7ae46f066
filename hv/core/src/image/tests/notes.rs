//! Xen notes, the legacy `__xen_guest` string, defaults and checks.

use pv_abi::elfnote::*;

use super::builder::*;
use crate::image::legacy::parse_c_number;
use crate::image::notes::{L1MfnValid, NoteSource, PaeMode, XenNotes};
use crate::image::{ElfFile, ImageError};

fn parse(bytes: &[u8]) -> Result<XenNotes, ImageError> {
    XenNotes::parse(&ElfFile::parse(bytes)?)
}

#[test]
fn minios_notes_from_section_with_defaults() {
    let notes = parse(&minios_image()).unwrap();
    assert_eq!(notes.source, NoteSource::SectionHeaders);
    assert_eq!(notes.guest_os.as_str(), Some("Mini-OS"));
    assert_eq!(notes.loader.as_bytes(), b"generic");
    assert_eq!(notes.xen_version.as_bytes(), b"xen-3.0");
    assert_eq!(notes.hypercall_page, Some(0x2000));
    assert_eq!(
        (notes.virt_base, notes.paddr_offset, notes.entry),
        (0, 0, 0)
    );
    assert_eq!(notes.init_p2m, None);
    assert!(!notes.mod_start_pfn && !notes.suspend_cancel && !notes.bsd_symtab);
    assert_eq!(notes.features.supported, 0);
    assert_eq!(notes.pae_mode, PaeMode::No);
}

#[test]
fn linux_notes_from_segment() {
    let notes = parse(&linux_image()).unwrap();
    assert_eq!(notes.source, NoteSource::ProgramHeaders);
    assert_eq!(notes.guest_os.as_bytes(), b"linux");
    assert_eq!(notes.guest_version.as_bytes(), b"2.6");
    assert_eq!(notes.virt_base, LINUX_VIRT_BASE);
    assert_eq!(notes.paddr_offset, 0);
    assert_eq!(notes.entry, LINUX_ENTRY);
    assert_eq!(notes.hypercall_page, Some(LINUX_HYPERCALL_PAGE));
    assert_eq!(notes.init_p2m, Some(0x80_0000_0000));
    assert!(notes.mod_start_pfn && notes.suspend_cancel);
    assert_eq!(notes.hv_start_low, Some(0xffff_8000_0000_0000));
    assert_eq!(notes.pae_mode, PaeMode::ExtendedCr3);
    assert_eq!(notes.l1_mfn_valid, Some(L1MfnValid { mask: 1, value: 1 }));
    // FEATURES: !writable_page_tables (0) | pae_pgdir_above_4gb (4); SUPPORTED: 0, 11, 15.
    assert_eq!(notes.features.required, 1 << 0);
    assert_eq!(
        notes.features.supported,
        (1 << 0) | (1 << 4) | (1 << 11) | (1 << 15)
    );
    assert_eq!(notes.features.missing(1 << 0), 0);
    assert_eq!(notes.features.missing(0), 1);
}

#[test]
fn segment_notes_win_over_section_notes() {
    let bytes = ElfBuilder::new(0)
        .load(0, 0, vec![0; 0x100], 0x100)
        .note_segment(minios_notes())
        .section(
            ".note",
            7,
            [minios_notes(), xen_u64(XEN_ELFNOTE_VIRT_BASE, 1)].concat(),
        )
        .build();
    let notes = parse(&bytes).unwrap();
    assert_eq!(notes.source, NoteSource::ProgramHeaders);
    assert_eq!(notes.virt_base, 0);
}

#[test]
fn note_segment_without_xen_notes_falls_back_to_sections() {
    let bytes = ElfBuilder::new(0)
        .load(0, 0, vec![0; 0x100], 0x100)
        .note_segment(note(b"GNU", 3, &[0xab; 20]))
        .section(".note", 7, minios_notes())
        .build();
    assert_eq!(parse(&bytes).unwrap().source, NoteSource::SectionHeaders);
}

#[test]
fn legacy_xen_guest_string() {
    let bytes = legacy_image(
        "GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,\
         ELF_PADDR_OFFSET=0xffffffff80000000,HYPERCALL_PAGE=0x1002,LOADER=generic,\
         FEATURES=writable_page_tables|!pae_pgdir_above_4gb,PAE=yes[extended-cr3],BSD_SYMTAB",
    );
    let notes = parse(&bytes).unwrap();
    assert_eq!(notes.source, NoteSource::LegacyXenGuest);
    assert_eq!(notes.virt_base, LINUX_VIRT_BASE);
    assert_eq!(notes.paddr_offset, LINUX_VIRT_BASE);
    // A page number relative to VIRT_BASE.
    assert_eq!(notes.hypercall_page, Some(LINUX_VIRT_BASE + 0x1002 * 4096));
    assert_eq!(notes.entry, LINUX_KSTART);
    assert_eq!(notes.features.supported, 0b10001);
    assert_eq!(notes.features.required, 0b10000);
    assert_eq!(notes.pae_mode, PaeMode::ExtendedCr3);
    assert!(notes.bsd_symtab);
}

#[test]
fn legacy_paddr_offset_defaults_to_virt_base() {
    let bytes = legacy_image("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000");
    let notes = parse(&bytes).unwrap();
    assert_eq!(notes.paddr_offset, LINUX_VIRT_BASE);
    let bytes = legacy_image("LOADER=generic,XEN_VER=xen-3.0,PAE=yes");
    let notes = parse(&bytes).unwrap();
    assert_eq!((notes.virt_base, notes.paddr_offset), (0, 0));
    assert_eq!(notes.pae_mode, PaeMode::Yes);
}

#[test]
fn no_notes_is_not_a_xen_image() {
    let bytes = ElfBuilder::new(0).load(0, 0, vec![0; 16], 16).build();
    assert_eq!(parse(&bytes), Err(ImageError::NotXenImage));
}

fn with_notes(notes: Vec<u8>) -> Vec<u8> {
    ElfBuilder::new(0)
        .load(0, 0, vec![0; 0x100], 0x100)
        .note_segment(notes)
        .build()
}

#[test]
fn loader_and_version_checks() {
    let version = || xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0");
    let foo = xen_str(XEN_ELFNOTE_LOADER, "foo");
    assert_eq!(
        parse(&with_notes([foo.clone(), version()].concat())),
        Err(ImageError::UnsupportedLoader)
    );
    // GUEST_OS "linux..." is accepted whatever the loader.
    let linux = xen_str(XEN_ELFNOTE_GUEST_OS, "linux-ish");
    assert!(parse(&with_notes([foo, linux, version()].concat())).is_ok());
    let generic = || xen_str(XEN_ELFNOTE_LOADER, "generic");
    assert_eq!(
        parse(&with_notes(generic())),
        Err(ImageError::UnsupportedXenVersion)
    );
    let old = xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-2.0");
    assert_eq!(
        parse(&with_notes([generic(), old].concat())),
        Err(ImageError::UnsupportedXenVersion)
    );
}

fn minimal_with(extra: Vec<u8>) -> Result<XenNotes, ImageError> {
    parse(&with_notes([minios_notes(), extra].concat()))
}

#[test]
fn note_value_checks() {
    assert_eq!(
        minimal_with(note(b"Xen", XEN_ELFNOTE_ENTRY, &[1, 2, 3])),
        Err(ImageError::BadNumericNote { note_type: 1 })
    );
    assert_eq!(
        minimal_with(note(b"Xen", XEN_ELFNOTE_SUPPORTED_FEATURES, &[1, 2])),
        Err(ImageError::BadNumericNote { note_type: 17 })
    );
    assert_eq!(
        minimal_with(xen_u64(XEN_ELFNOTE_PADDR_OFFSET, 0)),
        Err(ImageError::PaddrOffsetWithoutVirtBase)
    );
    assert_eq!(
        minimal_with(xen_str(XEN_ELFNOTE_FEATURES, "dom0|!no_such_feature")),
        Err(ImageError::UnknownRequiredFeature)
    );
    // Unknown supported names, empty entries, unknown note types and other owners are ignored.
    let notes = minimal_with(
        [
            xen_str(XEN_ELFNOTE_FEATURES, "no_such_feature||dom0"),
            xen_u64(999, 1),
            note(b"Xenx", XEN_ELFNOTE_VIRT_BASE, &[1; 8]),
            note(b"Xen", XEN_ELFNOTE_ENTRY, &[0x40]),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(notes.features.supported, 1 << 11);
    assert_eq!(notes.virt_base, 0);
    assert_eq!(notes.entry, 0x40);
}

#[test]
fn strtoull_like_numbers() {
    assert_eq!(parse_c_number(b"0x1F"), 31);
    assert_eq!(parse_c_number(b"  017"), 15);
    assert_eq!(parse_c_number(b"42abc"), 42);
    assert_eq!(parse_c_number(b"0x"), 0);
    assert_eq!(parse_c_number(b""), 0);
    assert_eq!(parse_c_number(b"-1"), u64::MAX);
    assert_eq!(parse_c_number(b"99999999999999999999999"), u64::MAX);
}

/// An ELF whose `sections` section headers all describe the same area, of type `sh_type`;
/// with `names`, that area is also the section-name table (else there is none).
fn overlapping_sections(area: &[u8], sh_type: u32, sections: u16, names: bool) -> Vec<u8> {
    let mut bytes = ElfBuilder::new(0)
        .load(0, 0, vec![0; 16], 16)
        .section(".note", sh_type, area.to_vec())
        .build();
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    // Section 1 is the area; repeat it (its sh_name is 1: inside the area).
    let note_header = bytes[shoff + 64..shoff + 128].to_vec();
    bytes.truncate(shoff + 64);
    for _ in 1..sections {
        bytes.extend_from_slice(&note_header);
    }
    bytes[60..62].copy_from_slice(&sections.to_le_bytes());
    bytes[62..64].copy_from_slice(&u16::from(names).to_le_bytes());
    bytes
}

#[test]
fn note_scanning_is_bounded() {
    // 4096 foreign notes, seen through 65000 section headers: stops after 65536 notes.
    let area = note(b"GNU", 1, &[]).repeat(4096);
    let bytes = overlapping_sections(&area, 7, 65000, false);
    assert_eq!(parse(&bytes), Err(ImageError::TooManyNotes));
    // Below the bound the notes are found.
    let bytes = overlapping_sections(&minios_notes(), 7, 100, false);
    assert_eq!(parse(&bytes).unwrap().source, NoteSource::SectionHeaders);
}

#[test]
fn section_name_lookup_is_bounded() {
    // 65000 sections named by a 1 MiB string without NUL: the legacy-section lookup reads at
    // most 256 bytes per name.
    let bytes = overlapping_sections(&[b'a'; 1 << 20], 1, 65000, true);
    assert_eq!(parse(&bytes), Err(ImageError::NotXenImage));
}
