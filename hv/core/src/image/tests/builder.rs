//! Builds small synthetic ELF64 x86-64 kernels for the tests (headers, segments, sections,
//! notes), plus ready-made Mini-OS-, Linux- and legacy-shaped images.

use pv_abi::elfnote::*;

/// One program header; `data` is placed in the file and `p_filesz = data.len()`.
pub struct Segment {
    pub p_type: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub paddr: u64,
    pub data: Vec<u8>,
    pub memsz: u64,
}

/// One section (besides the null section and `.shstrtab`, which are added).
pub struct Section {
    pub name: &'static str,
    pub sh_type: u32,
    pub data: Vec<u8>,
}

pub struct ElfBuilder {
    pub entry: u64,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// One ELF note with 4-byte padding.
pub fn note(name: &[u8], note_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&note_type.to_le_bytes());
    out.extend_from_slice(name);
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// A Xen string note (NUL-terminated).
pub fn xen_str(note_type: u32, text: &str) -> Vec<u8> {
    let mut desc = text.as_bytes().to_vec();
    desc.push(0);
    note(b"Xen", note_type, &desc)
}

/// A Xen 8-byte numeric note.
pub fn xen_u64(note_type: u32, value: u64) -> Vec<u8> {
    note(b"Xen", note_type, &value.to_le_bytes())
}

impl ElfBuilder {
    pub fn new(entry: u64) -> Self {
        Self {
            entry,
            segments: Vec::new(),
            sections: Vec::new(),
        }
    }

    pub fn load(mut self, vaddr: u64, paddr: u64, data: Vec<u8>, memsz: u64) -> Self {
        self.segments.push(Segment {
            p_type: 1,
            flags: 5,
            vaddr,
            paddr,
            data,
            memsz,
        });
        self
    }

    pub fn note_segment(mut self, notes: Vec<u8>) -> Self {
        let memsz = notes.len() as u64;
        self.segments.push(Segment {
            p_type: 4,
            flags: 4,
            vaddr: 0,
            paddr: 0,
            data: notes,
            memsz,
        });
        self
    }

    pub fn section(mut self, name: &'static str, sh_type: u32, data: Vec<u8>) -> Self {
        self.sections.push(Section {
            name,
            sh_type,
            data,
        });
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let phoff = 64;
        let mut out = vec![0u8; phoff + 56 * self.segments.len()];
        let mut seg_offsets = Vec::new();
        for seg in &self.segments {
            out.resize(out.len().next_multiple_of(16), 0);
            seg_offsets.push(out.len());
            out.extend_from_slice(&seg.data);
        }
        let mut shstrtab = vec![0u8];
        let mut sec_entries = Vec::new(); // (name offset, type, offset, size)
        for sec in &self.sections {
            out.resize(out.len().next_multiple_of(16), 0);
            sec_entries.push((shstrtab.len(), sec.sh_type, out.len(), sec.data.len()));
            shstrtab.extend_from_slice(sec.name.as_bytes());
            shstrtab.push(0);
            out.extend_from_slice(&sec.data);
        }
        let strtab_name = shstrtab.len();
        shstrtab.extend_from_slice(b".shstrtab\0");
        let strtab_offset = out.len();
        out.extend_from_slice(&shstrtab);
        sec_entries.push((strtab_name, 3, strtab_offset, shstrtab.len()));
        out.resize(out.len().next_multiple_of(8), 0);
        let shoff = out.len();
        out.resize(shoff + 64 * (sec_entries.len() + 1), 0);
        for (i, &(name, sh_type, offset, size)) in sec_entries.iter().enumerate() {
            let at = shoff + 64 * (i + 1);
            put(&mut out, at, &(name as u32).to_le_bytes());
            put(&mut out, at + 4, &sh_type.to_le_bytes());
            put(&mut out, at + 24, &(offset as u64).to_le_bytes());
            put(&mut out, at + 32, &(size as u64).to_le_bytes());
        }
        for (i, seg) in self.segments.iter().enumerate() {
            let at = phoff + 56 * i;
            put(&mut out, at, &seg.p_type.to_le_bytes());
            put(&mut out, at + 4, &seg.flags.to_le_bytes());
            put(&mut out, at + 8, &(seg_offsets[i] as u64).to_le_bytes());
            put(&mut out, at + 16, &seg.vaddr.to_le_bytes());
            put(&mut out, at + 24, &seg.paddr.to_le_bytes());
            put(&mut out, at + 32, &(seg.data.len() as u64).to_le_bytes());
            put(&mut out, at + 40, &seg.memsz.to_le_bytes());
            put(&mut out, at + 48, &0x1000u64.to_le_bytes());
        }
        put(&mut out, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1]);
        put(&mut out, 16, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut out, 18, &62u16.to_le_bytes()); // EM_X86_64
        put(&mut out, 20, &1u32.to_le_bytes());
        put(&mut out, 24, &self.entry.to_le_bytes());
        put(&mut out, 32, &(phoff as u64).to_le_bytes());
        put(&mut out, 40, &(shoff as u64).to_le_bytes());
        put(&mut out, 52, &64u16.to_le_bytes());
        put(&mut out, 54, &56u16.to_le_bytes());
        put(&mut out, 56, &(self.segments.len() as u16).to_le_bytes());
        put(&mut out, 58, &64u16.to_le_bytes());
        put(&mut out, 60, &(sec_entries.len() as u16 + 1).to_le_bytes());
        put(&mut out, 62, &(sec_entries.len() as u16).to_le_bytes());
        out
    }
}

/// Mini-OS's notes (no ENTRY, VIRT_BASE, ...), as found in its `.note` section.
pub fn minios_notes() -> Vec<u8> {
    [
        xen_str(XEN_ELFNOTE_GUEST_OS, "Mini-OS"),
        xen_str(XEN_ELFNOTE_LOADER, "generic"),
        xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, 0x2000),
        xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
    ]
    .concat()
}

/// Shaped like Mini-OS 2025: linked at 0, two PT_LOADs ending at 0x7db08, notes only in a
/// non-allocated SHT_NOTE `.note` section.
pub fn minios_image() -> Vec<u8> {
    ElfBuilder::new(0)
        .load(0, 0, vec![0x90; 0x1f4b3], 0x1f4b3)
        .load(0x20060, 0x20060, vec![0x11; 0x580], 0x5daa8)
        .section(".note", 7, minios_notes())
        .build()
}

pub const LINUX_VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
pub const LINUX_KSTART: u64 = 0xffff_ffff_8100_0000;
pub const LINUX_ENTRY: u64 = LINUX_KSTART + 0x1c0;
pub const LINUX_HYPERCALL_PAGE: u64 = LINUX_KSTART + 0x2000;

/// Linux 6.1's notes (`arch/x86/xen/xen-head.S`), in a PT_NOTE segment.
pub fn linux_notes() -> Vec<u8> {
    let l1_mfn_valid = [1u64.to_le_bytes(), 1u64.to_le_bytes()].concat();
    [
        xen_str(XEN_ELFNOTE_GUEST_OS, "linux"),
        xen_str(XEN_ELFNOTE_GUEST_VERSION, "2.6"),
        xen_str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"),
        xen_u64(XEN_ELFNOTE_VIRT_BASE, LINUX_VIRT_BASE),
        xen_u64(XEN_ELFNOTE_INIT_P2M, 0x80_0000_0000),
        xen_u64(XEN_ELFNOTE_ENTRY, LINUX_ENTRY),
        xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, LINUX_HYPERCALL_PAGE),
        xen_str(
            XEN_ELFNOTE_FEATURES,
            "!writable_page_tables|pae_pgdir_above_4gb",
        ),
        note(
            b"Xen",
            XEN_ELFNOTE_SUPPORTED_FEATURES,
            &((1u32 << 0) | (1 << 11) | (1 << 15)).to_le_bytes(),
        ),
        xen_str(XEN_ELFNOTE_PAE_MODE, "yes"),
        xen_str(XEN_ELFNOTE_LOADER, "generic"),
        note(b"Xen", XEN_ELFNOTE_L1_MFN_VALID, &l1_mfn_valid),
        note(b"Xen", XEN_ELFNOTE_SUSPEND_CANCEL, &1u32.to_le_bytes()),
        note(b"Xen", XEN_ELFNOTE_MOD_START_PFN, &1u32.to_le_bytes()),
        xen_u64(XEN_ELFNOTE_HV_START_LOW, 0xffff_8000_0000_0000),
        xen_u64(XEN_ELFNOTE_PADDR_OFFSET, 0),
    ]
    .concat()
}

/// Shaped like a Linux vmlinux: p_paddr physical (0x1000000), linked at 0xffffffff81000000,
/// 42 MiB in memory (only a little of it in the file), notes in a PT_NOTE segment.
pub fn linux_image() -> Vec<u8> {
    ElfBuilder::new(LINUX_KSTART)
        .load(LINUX_KSTART, 0x100_0000, vec![0xcc; 0x3000], 0x1c0_0000)
        .load(
            LINUX_KSTART + 0x1c0_0000,
            0x100_0000 + 0x1c0_0000,
            vec![0x22; 0x100],
            0x100_0000,
        )
        .note_segment(linux_notes())
        .build()
}

/// An image with only the legacy `__xen_guest` string.
pub fn legacy_image(guest: &str) -> Vec<u8> {
    let mut text = guest.as_bytes().to_vec();
    text.push(0);
    ElfBuilder::new(LINUX_KSTART)
        .load(LINUX_KSTART, LINUX_KSTART, vec![0x90; 0x4000], 0x10_0000)
        .section("__xen_guest", 1, text)
        .build()
}
