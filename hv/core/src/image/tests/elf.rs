//! ELF reader and note iteration.

use super::builder::*;
use crate::image::elf::{ElfError, ElfFile, PT_LOAD, SHT_NOTE};
use crate::image::elf_note::notes;

#[test]
fn reads_headers_sections_and_notes_of_minios_shape() {
    let bytes = minios_image();
    let elf = ElfFile::parse(&bytes).unwrap();
    assert_eq!(elf.header().entry, 0);
    let loads: Vec<_> = elf
        .program_headers()
        .filter(|p| p.p_type == PT_LOAD)
        .collect();
    assert_eq!(loads.len(), 2);
    assert_eq!(loads[1].p_paddr, 0x20060);
    assert_eq!(loads[1].p_memsz, 0x5daa8);
    assert_eq!(elf.segment_data(&loads[1]).unwrap(), &[0x11; 0x580][..]);
    let note_section = elf.section_by_name(b".note").unwrap();
    assert_eq!(note_section.sh_type, SHT_NOTE);
    let found: Vec<_> = notes(elf.section_data(&note_section).unwrap())
        .map(Result::unwrap)
        .collect();
    assert_eq!(found.len(), 4);
    assert_eq!(found[0].name, b"Xen");
    assert_eq!(found[0].note_type, 6);
    assert_eq!(found[0].desc, b"Mini-OS\0");
    assert_eq!(found[2].desc, &0x2000u64.to_le_bytes());
    assert!(elf.section_by_name(b"__xen_guest").is_none());
}

#[test]
fn rejects_bad_headers() {
    let good = minios_image();
    assert_eq!(ElfFile::parse(&good[..63]).unwrap_err(), ElfError::TooShort);
    assert_eq!(
        ElfFile::parse(b"root:x:0:0").unwrap_err(),
        ElfError::BadMagic
    );
    assert_eq!(ElfFile::parse(b"").unwrap_err(), ElfError::BadMagic);
    let patch = |at: usize, value: &[u8]| {
        let mut bytes = good.clone();
        bytes[at..at + value.len()].copy_from_slice(value);
        ElfFile::parse(&bytes).unwrap_err()
    };
    assert_eq!(patch(0, b"\x7fELG"), ElfError::BadMagic);
    assert_eq!(patch(4, &[1]), ElfError::NotElf64);
    assert_eq!(patch(5, &[2]), ElfError::NotLittleEndian);
    assert_eq!(patch(6, &[0]), ElfError::BadVersion);
    assert_eq!(patch(16, &1u16.to_le_bytes()), ElfError::NotExecutable);
    assert_eq!(patch(18, &3u16.to_le_bytes()), ElfError::NotX86_64);
    assert_eq!(
        patch(54, &32u16.to_le_bytes()),
        ElfError::BadHeaderEntrySize
    );
    assert_eq!(
        patch(56, &0xffffu16.to_le_bytes()),
        ElfError::ExtendedNumbering
    );
    assert_eq!(
        patch(56, &0x7fffu16.to_le_bytes()),
        ElfError::TableOutOfFile
    );
    assert_eq!(patch(32, &u64::MAX.to_le_bytes()), ElfError::TableOutOfFile);
    assert_eq!(
        patch(40, &(u64::MAX - 8).to_le_bytes()),
        ElfError::TableOutOfFile
    );
    // A truncated file loses its section table.
    assert_eq!(
        ElfFile::parse(&good[..good.len() - 1]).unwrap_err(),
        ElfError::TableOutOfFile
    );
}

#[test]
fn segment_and_section_ranges_are_checked() {
    let mut bytes = minios_image();
    // p_filesz of the first program header beyond the file.
    bytes[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
    let elf = ElfFile::parse(&bytes).unwrap();
    let first = elf.program_headers().next().unwrap();
    assert_eq!(elf.segment_data(&first), Err(ElfError::RangeOutOfFile));
}

#[test]
fn note_iteration_handles_padding_and_truncation() {
    let mut area = [xen_str(5, "xen-3.0"), note(b"GNU", 3, &[1, 2, 3])].concat();
    let all: Vec<_> = notes(&area).collect();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].unwrap().name, b"GNU");
    assert_eq!(all[1].unwrap().desc, &[1, 2, 3]);
    // Trailing bytes shorter than a header are padding.
    area.extend_from_slice(&[0; 11]);
    assert_eq!(notes(&area).count(), 2);
    // The last descriptor's padding may be missing.
    let short = note(b"Xen", 1, &[7]);
    let found: Vec<_> = notes(&short[..short.len() - 3]).collect();
    assert_eq!(
        found,
        vec![Ok(crate::image::elf_note::Note {
            name: b"Xen",
            note_type: 1,
            desc: &[7],
        })]
    );
    // A descriptor running past the area is an error, and ends the iteration.
    let cut = &short[..short.len() - 4];
    let found: Vec<_> = notes(cut).collect();
    assert_eq!(found, vec![Err(ElfError::BadNote)]);
    // Huge sizes do not overflow.
    let mut huge = note(b"Xen", 1, &[7]);
    huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(notes(&huge).next(), Some(Err(ElfError::BadNote)));
    let mut huge = note(b"Xen", 1, &[7]);
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(notes(&huge).next(), Some(Err(ElfError::BadNote)));
}
