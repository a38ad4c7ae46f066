//! Reading the boot loader's information (multiboot1 from QEMU `-kernel`, multiboot2 from GRUB)
//! into one loader-independent [`BootInfo`]: RAM regions, the command line, boot modules (the
//! guest kernel first, an optional ramdisk second) and where the ACPI root is.
//!
//! Runs before the heap exists, so everything is copied into fixed-size arrays.

use hv_core::memmap::Range;

use super::phys;

/// Multiboot1 loader magic (in `eax`).
pub const MB1_MAGIC: u32 = 0x2BAD_B002;
/// Multiboot2 loader magic (in `eax`).
pub const MB2_MAGIC: u32 = 0x36D7_6289;

/// A string copied out of loader memory into a fixed buffer (truncated if longer).
#[derive(Clone, Copy)]
pub struct FixedStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedStr<N> {
    const EMPTY: Self = Self {
        buf: [0; N],
        len: 0,
    };

    fn from_bytes(bytes: &[u8]) -> Self {
        let mut s = Self::EMPTY;
        let text = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
        let len = text.len().min(N);
        s.buf[..len].copy_from_slice(&text[..len]);
        // Keep only a valid UTF-8 prefix.
        s.len = match core::str::from_utf8(&s.buf[..len]) {
            Ok(_) => len,
            Err(e) => e.valid_up_to(),
        };
        s
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// A boot module: a file the loader put in memory.
#[derive(Clone, Copy)]
pub struct Module {
    /// Where it lies in machine memory.
    pub range: Range,
    /// Its command line (for GRUB `module2 FILE ARGS…`, the path and the arguments).
    pub cmdline: FixedStr<512>,
}

const MAX_RAM: usize = 64;
/// Boot modules kept (the loader's table is read before the heap exists). Many domains of one
/// kernel need only two: the kernel and a `domains` table (`hv_core::domain_config`).
pub const MAX_MODULES: usize = 64;

/// What the boot loader told us.
pub struct BootInfo {
    /// "multiboot1" or "multiboot2".
    pub loader: &'static str,
    /// The hypervisor's command line.
    pub cmdline: FixedStr<1024>,
    ram: [Range; MAX_RAM],
    nr_ram: usize,
    modules: [Module; MAX_MODULES],
    nr_modules: usize,
    /// Modules beyond [`MAX_MODULES`] that had to be left out (booting refuses them).
    pub dropped_modules: usize,
    /// The bytes of the loader's information structure (to keep them reserved while parsing).
    pub info: Range,
    /// Address of the ACPI RSDT (revision 0) or XSDT (revision ≥ 2), when the loader gave one.
    pub acpi_root: Option<(u8, u64)>,
}

impl BootInfo {
    /// Usable RAM regions.
    pub fn ram(&self) -> &[Range] {
        &self.ram[..self.nr_ram]
    }

    /// Boot modules, in loader order.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.nr_modules]
    }

    fn push_ram(&mut self, r: Range) {
        if self.nr_ram < MAX_RAM && !r.is_empty() {
            self.ram[self.nr_ram] = r;
            self.nr_ram += 1;
        }
    }

    fn push_module(&mut self, range: Range, cmdline: &[u8]) {
        if self.nr_modules < MAX_MODULES {
            self.modules[self.nr_modules] = Module {
                range,
                cmdline: FixedStr::from_bytes(cmdline),
            };
            self.nr_modules += 1;
        } else {
            self.dropped_modules += 1;
        }
    }

    const fn empty(loader: &'static str) -> Self {
        Self {
            loader,
            cmdline: FixedStr::EMPTY,
            ram: [Range::new(0, 0); MAX_RAM],
            nr_ram: 0,
            modules: [Module {
                range: Range::new(0, 0),
                cmdline: FixedStr::EMPTY,
            }; MAX_MODULES],
            nr_modules: 0,
            dropped_modules: 0,
            info: Range::new(0, 0),
            acpi_root: None,
        }
    }
}

/// Why the boot information could not be read.
#[derive(Debug)]
pub enum BootInfoError {
    /// `eax` held neither loader magic.
    UnknownMagic(u32),
    /// The multiboot2 structure was malformed.
    Multiboot2,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::UnknownMagic(m) => {
                write!(f, "unknown boot loader magic {m:#x} (not multiboot1/2)")
            }
            BootInfoError::Multiboot2 => write!(f, "malformed multiboot2 information"),
        }
    }
}

/// Parses the loader's information at physical `info` according to `magic`.
pub fn parse(magic: u32, info: u32) -> Result<BootInfo, BootInfoError> {
    match magic {
        MB1_MAGIC => Ok(parse_mb1(u64::from(info))),
        MB2_MAGIC => parse_mb2(u64::from(info)),
        other => Err(BootInfoError::UnknownMagic(other)),
    }
}

fn read_u32(ma: u64) -> u32 {
    let mut b = [0u8; 4];
    phys::read_bytes(ma, &mut b);
    u32::from_le_bytes(b)
}

fn read_u64(ma: u64) -> u64 {
    let mut b = [0u8; 8];
    phys::read_bytes(ma, &mut b);
    u64::from_le_bytes(b)
}

fn read_cstr(ma: u64, buf: &mut [u8]) -> &[u8] {
    if ma == 0 {
        return &[];
    }
    phys::read_bytes(ma, buf);
    buf
}

/// Multiboot1 (`struct multiboot_info`): flags @0, cmdline @16, mods_count @20, mods_addr @24,
/// mmap_length @44, mmap_addr @48.
fn parse_mb1(info: u64) -> BootInfo {
    let mut bi = BootInfo::empty("multiboot1");
    bi.info = Range::new(info, info + 88);
    let flags = read_u32(info);
    let mut buf = [0u8; 1024];
    if flags & (1 << 2) != 0 {
        bi.cmdline = FixedStr::from_bytes(read_cstr(u64::from(read_u32(info + 16)), &mut buf));
    }
    if flags & (1 << 3) != 0 {
        let count = read_u32(info + 20) as usize;
        let addr = u64::from(read_u32(info + 24));
        bi.dropped_modules = count.saturating_sub(MAX_MODULES);
        for i in 0..count.min(MAX_MODULES) {
            let m = addr + 16 * i as u64;
            let (start, end) = (u64::from(read_u32(m)), u64::from(read_u32(m + 4)));
            let mut sbuf = [0u8; 512];
            let cmd = read_cstr(u64::from(read_u32(m + 8)), &mut sbuf);
            bi.push_module(Range::new(start, end), cmd);
        }
    }
    if flags & (1 << 6) != 0 {
        let len = u64::from(read_u32(info + 44));
        let addr = u64::from(read_u32(info + 48));
        let mut off = 0;
        while off + 24 <= len {
            let size = u64::from(read_u32(addr + off));
            let base = read_u64(addr + off + 4);
            let length = read_u64(addr + off + 12);
            let typ = read_u32(addr + off + 20);
            if typ == 1 {
                bi.push_ram(Range::new(base, base.saturating_add(length)));
            }
            off += size + 4;
        }
    } else if flags & 1 != 0 {
        // Only mem_lower/mem_upper (KiB): RAM from 1 MiB up.
        let upper = u64::from(read_u32(info + 8));
        bi.push_ram(Range::new(0x10_0000, 0x10_0000 + upper * 1024));
    }
    bi
}

fn parse_mb2(info: u64) -> Result<BootInfo, BootInfoError> {
    let mut bi = BootInfo::empty("multiboot2");
    let ptr = (phys::DIRECTMAP_BASE + info) as *const multiboot2::BootInformationHeader;
    // SAFETY: GRUB left a multiboot2 information structure at `info` (below 4 GiB, so mapped
    // by the boot page tables); it stays intact while we copy out of it.
    let mbi =
        unsafe { multiboot2::BootInformation::load(ptr) }.map_err(|_| BootInfoError::Multiboot2)?;
    bi.info = Range::new(info, info + mbi.total_size() as u64);
    if let Some(Ok(cmd)) = mbi.command_line_tag().map(|t| t.cmdline()) {
        bi.cmdline = FixedStr::from_bytes(cmd.as_bytes());
    }
    for m in mbi.module_tags() {
        let cmd = m.cmdline().unwrap_or("");
        bi.push_module(
            Range::new(u64::from(m.start_address()), u64::from(m.end_address())),
            cmd.as_bytes(),
        );
    }
    if let Some(mmap) = mbi.memory_map_tag() {
        for area in mmap.memory_areas() {
            if area.typ() == multiboot2::MemoryAreaType::Available {
                bi.push_ram(Range::new(area.start_address(), area.end_address()));
            }
        }
    }
    if let Some(r) = mbi.rsdp_v2_tag() {
        bi.acpi_root = Some((r.revision(), r.xsdt_address() as u64));
    } else if let Some(r) = mbi.rsdp_v1_tag() {
        bi.acpi_root = Some((0, r.rsdt_address() as u64));
    }
    Ok(bi)
}
