//! A bounds-checked reader for ELF64 little-endian x86-64 executables (guest kernels).
//!
//! Reads the file header, the program headers, and the section headers with their name string
//! table (notes are iterated by `elf_note`). Nothing here trusts a size or offset in the file: every table and
//! every range is checked against the input before it is sliced, with checked arithmetic, so
//! any byte string — truncated, mutated or random — yields an [`ElfError`], never a panic.
//!
//! ```text
//!  0        64                         e_phoff               e_shoff
//!  +--------+-- ... --+----------------+----- ... -----------+-------------------+
//!  | Ehdr   | sections / segment bytes | Phdr[e_phnum] (56B) | Shdr[e_shnum] (64B)|
//!  +--------+-------------------------------------------------+-------------------+
//! ```
//!
//! Extended numbering (`e_phnum == PN_XNUM`, `e_shnum == 0` with a section table,
//! `e_shstrndx == SHN_XINDEX`) is rejected: no PV kernel needs it.

use core::ops::Range;

/// `\x7fELF`.
const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const EM_X86_64: u16 = 62;
/// Executable file.
pub const ET_EXEC: u16 = 2;
/// Shared object / position-independent executable.
pub const ET_DYN: u16 = 3;
/// Loadable segment.
pub const PT_LOAD: u32 = 1;
/// Note segment.
pub const PT_NOTE: u32 = 4;
/// Segment permission bits (`p_flags`).
pub const PF_X: u32 = 1;
/// Writable segment.
pub const PF_W: u32 = 2;
/// Readable segment.
pub const PF_R: u32 = 4;
/// Note section.
pub const SHT_NOTE: u32 = 7;
/// Section occupying no file bytes (`.bss`).
pub const SHT_NOBITS: u32 = 8;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SHDR_SIZE: usize = 64;
/// Longest section name [`ElfFile::section_name`] returns.
pub const MAX_SECTION_NAME: usize = 255;
const PN_XNUM: u16 = 0xffff;
const SHN_XINDEX: u16 = 0xffff;

/// Why a byte string is not an ELF file we can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// Shorter than the 64-byte file header.
    #[error("it is too short to be an ELF file")]
    TooShort,
    /// Does not start with `\x7fELF`.
    #[error("it is not an ELF file")]
    BadMagic,
    /// Not ELFCLASS64.
    #[error("it is a 32-bit ELF file; only 64-bit PV kernels are supported")]
    NotElf64,
    /// Not little-endian.
    #[error("it is a big-endian ELF file; an x86-64 kernel is little-endian")]
    NotLittleEndian,
    /// `EI_VERSION` is not 1.
    #[error("its ELF header has an unknown version")]
    BadVersion,
    /// `e_machine` is not x86-64.
    #[error("it is an ELF file for another machine, not x86-64")]
    NotX86_64,
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    #[error("it is an ELF object or core file, not an executable kernel")]
    NotExecutable,
    /// `e_phentsize` / `e_shentsize` is not the ELF64 size.
    #[error("its ELF header gives the wrong program or section header size (a damaged file?)")]
    BadHeaderEntrySize,
    /// Extended program/section numbering, which we do not support.
    #[error("it uses extended ELF section numbering, which is not supported")]
    ExtendedNumbering,
    /// The program or section header table lies (partly) outside the file.
    #[error("its ELF header tables lie beyond the end of the file (a truncated file?)")]
    TableOutOfFile,
    /// A segment's or section's file range lies (partly) outside the file.
    #[error("an ELF segment or section lies beyond the end of the file (a truncated file?)")]
    RangeOutOfFile,
    /// A note's header claims more bytes than its note area holds.
    #[error("an ELF note is larger than its note area (a damaged file?)")]
    BadNote,
}

/// The fields of the ELF file header that a loader needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfHeader {
    /// `e_type`: [`ET_EXEC`] or [`ET_DYN`].
    pub file_type: u16,
    /// `e_entry`: entry point virtual address.
    pub entry: u64,
    /// `e_phoff`: file offset of the program header table.
    pub phoff: u64,
    /// `e_phnum`: number of program headers.
    pub phnum: u16,
    /// `e_shoff`: file offset of the section header table.
    pub shoff: u64,
    /// `e_shnum`: number of section headers.
    pub shnum: u16,
    /// `e_shstrndx`: index of the section holding section names.
    pub shstrndx: u16,
}

/// One program header (`Elf64_Phdr`), as read from the file (unvalidated values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    /// `p_type` (`PT_*`).
    pub p_type: u32,
    /// `p_flags` (`PF_*`).
    pub p_flags: u32,
    /// `p_offset`: file offset of the segment's bytes.
    pub p_offset: u64,
    /// `p_vaddr`: link-time virtual address.
    pub p_vaddr: u64,
    /// `p_paddr`: "physical" address — what Xen's loader places by.
    pub p_paddr: u64,
    /// `p_filesz`: bytes present in the file.
    pub p_filesz: u64,
    /// `p_memsz`: bytes in memory (the rest zero-filled).
    pub p_memsz: u64,
    /// `p_align`.
    pub p_align: u64,
}

impl ProgramHeader {
    /// Whether Xen's loader loads this segment: `PT_LOAD` with at least one of R/W/X.
    pub fn is_loadable(&self) -> bool {
        self.p_type == PT_LOAD && self.p_flags & (PF_R | PF_W | PF_X) != 0
    }
}

/// One section header (`Elf64_Shdr`), as read from the file (unvalidated values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeader {
    /// `sh_name`: offset of the name in the section-name string table.
    pub sh_name: u32,
    /// `sh_type` (`SHT_*`).
    pub sh_type: u32,
    /// `sh_flags`.
    pub sh_flags: u64,
    /// `sh_addr`.
    pub sh_addr: u64,
    /// `sh_offset`: file offset of the section's bytes.
    pub sh_offset: u64,
    /// `sh_size`: size in bytes (no file bytes for [`SHT_NOBITS`]).
    pub sh_size: u64,
}

/// A parsed ELF64 x86-64 file borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct ElfFile<'a> {
    bytes: &'a [u8],
    header: ElfHeader,
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let raw = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([raw[0], raw[1]]))
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

/// `offset..offset + len` as a `usize` range, if it lies inside `total` bytes.
pub(crate) fn checked_range(offset: u64, len: u64, total: usize) -> Option<Range<usize>> {
    let end = offset.checked_add(len)?;
    let (start, end) = (usize::try_from(offset).ok()?, usize::try_from(end).ok()?);
    (end <= total).then_some(start..end)
}

impl<'a> ElfFile<'a> {
    /// Checks the file header and that both header tables lie inside `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        // A short file that is not ELF at all is "not ELF", not "a short ELF".
        if !ELF_MAGIC.starts_with(&bytes[..bytes.len().min(4)]) || bytes.is_empty() {
            return Err(ElfError::BadMagic);
        }
        let ident = bytes.get(..EHDR_SIZE).ok_or(ElfError::TooShort)?;
        if ident[4] != ELFCLASS64 {
            return Err(ElfError::NotElf64);
        }
        if ident[5] != ELFDATA2LSB {
            return Err(ElfError::NotLittleEndian);
        }
        if ident[6] != EV_CURRENT {
            return Err(ElfError::BadVersion);
        }
        // The header is 64 bytes long, so every fixed-offset read below succeeds.
        let field16 = |at| read_u16(ident, at).unwrap_or(0);
        let field64 = |at| read_u64(ident, at).unwrap_or(0);
        let file_type = field16(16);
        if file_type != ET_EXEC && file_type != ET_DYN {
            return Err(ElfError::NotExecutable);
        }
        if field16(18) != EM_X86_64 {
            return Err(ElfError::NotX86_64);
        }
        let header = ElfHeader {
            file_type,
            entry: field64(24),
            phoff: field64(32),
            shoff: field64(40),
            phnum: field16(56),
            shnum: field16(60),
            shstrndx: field16(62),
        };
        let (phentsize, shentsize) = (field16(54), field16(58));
        if header.phnum == PN_XNUM
            || (header.shnum == 0 && header.shoff != 0)
            || header.shstrndx == SHN_XINDEX
        {
            return Err(ElfError::ExtendedNumbering);
        }
        if (header.phnum > 0 && usize::from(phentsize) != PHDR_SIZE)
            || (header.shnum > 0 && usize::from(shentsize) != SHDR_SIZE)
        {
            return Err(ElfError::BadHeaderEntrySize);
        }
        let ph_bytes = u64::from(header.phnum) * PHDR_SIZE as u64;
        let sh_bytes = u64::from(header.shnum) * SHDR_SIZE as u64;
        if checked_range(header.phoff, ph_bytes, bytes.len()).is_none()
            || checked_range(header.shoff, sh_bytes, bytes.len()).is_none()
        {
            return Err(ElfError::TableOutOfFile);
        }
        Ok(Self { bytes, header })
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The file header.
    pub fn header(&self) -> &ElfHeader {
        &self.header
    }

    /// The program headers, in file order.
    pub fn program_headers(&self) -> impl Iterator<Item = ProgramHeader> + 'a {
        let (bytes, phoff) = (self.bytes, self.header.phoff as usize);
        (0..usize::from(self.header.phnum)).map(move |index| {
            // In bounds: `parse` checked the whole table.
            let at = phoff + index * PHDR_SIZE;
            let word = |off| read_u32(bytes, at + off).unwrap_or(0);
            let dword = |off| read_u64(bytes, at + off).unwrap_or(0);
            ProgramHeader {
                p_type: word(0),
                p_flags: word(4),
                p_offset: dword(8),
                p_vaddr: dword(16),
                p_paddr: dword(24),
                p_filesz: dword(32),
                p_memsz: dword(40),
                p_align: dword(48),
            }
        })
    }

    /// The section headers, in file order (including the null section 0).
    pub fn section_headers(&self) -> impl Iterator<Item = SectionHeader> + 'a {
        let elf = *self;
        (0..usize::from(self.header.shnum)).filter_map(move |index| elf.section_header(index))
    }

    /// Section header number `index`, if it exists.
    pub fn section_header(&self, index: usize) -> Option<SectionHeader> {
        if index >= usize::from(self.header.shnum) {
            return None;
        }
        // In bounds: `parse` checked the whole table.
        let at = self.header.shoff as usize + index * SHDR_SIZE;
        let word = |off| read_u32(self.bytes, at + off).unwrap_or(0);
        let dword = |off| read_u64(self.bytes, at + off).unwrap_or(0);
        Some(SectionHeader {
            sh_name: word(0),
            sh_type: word(4),
            sh_flags: dword(8),
            sh_addr: dword(16),
            sh_offset: dword(24),
            sh_size: dword(32),
        })
    }

    /// The file bytes of a segment (`p_filesz` bytes at `p_offset`).
    pub fn segment_data(&self, phdr: &ProgramHeader) -> Result<&'a [u8], ElfError> {
        let range = checked_range(phdr.p_offset, phdr.p_filesz, self.bytes.len())
            .ok_or(ElfError::RangeOutOfFile)?;
        Ok(&self.bytes[range])
    }

    /// The file bytes of a section (empty for [`SHT_NOBITS`]).
    pub fn section_data(&self, shdr: &SectionHeader) -> Result<&'a [u8], ElfError> {
        if shdr.sh_type == SHT_NOBITS {
            return Ok(&[]);
        }
        let range = checked_range(shdr.sh_offset, shdr.sh_size, self.bytes.len())
            .ok_or(ElfError::RangeOutOfFile)?;
        Ok(&self.bytes[range])
    }

    /// A section's name from the section-name string table, without the NUL; `None` if there
    /// is no usable string table, or the name is not NUL-terminated within
    /// [`MAX_SECTION_NAME`] bytes (which bounds the work per lookup).
    pub fn section_name(&self, shdr: &SectionHeader) -> Option<&'a [u8]> {
        if self.header.shstrndx == 0 {
            return None;
        }
        let strtab = self.section_header(usize::from(self.header.shstrndx))?;
        let table = self.section_data(&strtab).ok()?;
        let tail = table.get(usize::try_from(shdr.sh_name).ok()?..)?;
        let tail = &tail[..tail.len().min(MAX_SECTION_NAME + 1)];
        let len = tail.iter().position(|&b| b == 0)?;
        Some(&tail[..len])
    }

    /// The first section called `name`.
    pub fn section_by_name(&self, name: &[u8]) -> Option<SectionHeader> {
        self.section_headers()
            .find(|shdr| self.section_name(shdr) == Some(name))
    }
}
