//! Xen ELF notes: the note types a PV kernel uses to describe itself to the domain builder.
//!
//! Mirrors `xen/include/public/elfnote.h`. A Xen note is an ordinary ELF note (`Elf64_Nhdr`:
//! `namesz`, `descsz`, `type`, each a 32-bit word, then the name and the descriptor, each padded
//! to 4 bytes) whose name is [`XEN_ELFNOTE_NAME`] (`"Xen"`, `namesz` = 4 with the NUL).
//!
//! Descriptor kinds:
//! - *numeric*: a little-endian unsigned integer of 1, 2, 4 or 8 bytes;
//! - *string*: NUL-terminated ASCII;
//! - *array*: the few notes documented as lists (e.g. [`XEN_ELFNOTE_L1_MFN_VALID`]).
//!
//! Each constant notes its kind and, where one exists, the key of the legacy `__xen_guest`
//! section string ([`XEN_GUEST_LEGACY_SECTION`]) that carries the same information.

/// Name of every Xen note (`namesz` = 4: `"Xen\0"`).
pub const XEN_ELFNOTE_NAME: &[u8] = b"Xen";

/// Name of the legacy (pre-note) section holding a `KEY=VALUE,KEY=VALUE` string. Only used by
/// loaders when an image carries no Xen notes at all.
pub const XEN_GUEST_LEGACY_SECTION: &[u8] = b"__xen_guest";

/// Free-form `NAME=VALUE` pair (string). Unused by loaders.
pub const XEN_ELFNOTE_INFO: u32 = 0;

/// Virtual address of the kernel entry point (numeric). Default: the ELF header's `e_entry`.
/// Legacy key: `VIRT_ENTRY`.
pub const XEN_ELFNOTE_ENTRY: u32 = 1;

/// Virtual address of the page the loader fills with hypercall stubs (numeric).
/// Legacy key: `HYPERCALL_PAGE`, whose value is a *page number relative to `VIRT_BASE`*, not an
/// address.
pub const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;

/// Virtual address at which pseudo-physical frame 0 is mapped (numeric). Default 0.
/// Legacy key: `VIRT_BASE`.
pub const XEN_ELFNOTE_VIRT_BASE: u32 = 3;

/// Offset subtracted from each segment's `p_paddr` to get its pseudo-physical address
/// (numeric). Default 0 — but `VIRT_BASE` when the legacy section is used.
/// Legacy key: `ELF_PADDR_OFFSET`.
pub const XEN_ELFNOTE_PADDR_OFFSET: u32 = 4;

/// Xen interface version the kernel was built for (string; loaders require `"xen-3.0"`).
/// Legacy key: `XEN_VER`.
pub const XEN_ELFNOTE_XEN_VERSION: u32 = 5;

/// Guest operating system name (string), e.g. `"linux"`, `"Mini-OS"`. Legacy key: `GUEST_OS`.
pub const XEN_ELFNOTE_GUEST_OS: u32 = 6;

/// Guest operating system version (string). Legacy key: `GUEST_VER`.
pub const XEN_ELFNOTE_GUEST_VERSION: u32 = 7;

/// Loader type (string; loaders accept `"generic"`). Legacy key: `LOADER`.
pub const XEN_ELFNOTE_LOADER: u32 = 8;

/// PAE support, meaningful for 32-bit guests only (string: `"yes"`, `"no"`, `"bimodal"`,
/// `"yes,bimodal"`). Legacy key: `PAE` (`"yes"`, `"yes[extended-cr3]"`).
pub const XEN_ELFNOTE_PAE_MODE: u32 = 9;

/// Supported and required features (string): `XENFEAT_*` names without the prefix, separated
/// by `'|'`; a leading `'!'` marks a feature the kernel cannot run without.
/// Legacy key: `FEATURES`.
pub const XEN_ELFNOTE_FEATURES: u32 = 10;

/// Whether the kernel wants its symbol table loaded after the image (string `"yes"`/`"no"`).
/// Legacy key: `BSD_SYMTAB` (presence alone means yes).
pub const XEN_ELFNOTE_BSD_SYMTAB: u32 = 11;

/// Lowest virtual address the hypervisor hole may start at (numeric); its presence also says
/// the kernel copes with a hole starting higher.
pub const XEN_ELFNOTE_HV_START_LOW: u32 = 12;

/// List of `maddr_t`-sized (8-byte on x86-64) mask/value pairs that identify non-present L1
/// entries which still carry a valid MFN (array).
pub const XEN_ELFNOTE_L1_MFN_VALID: u32 = 13;

/// Whether the guest supports cooperative suspend cancellation (numeric boolean). Default 0.
pub const XEN_ELFNOTE_SUSPEND_CANCEL: u32 = 14;

/// Non-default virtual address for the initial p2m list (numeric, x86-64 only). The kernel
/// must cope with that mapping using large pages and with its page tables being unmapped.
pub const XEN_ELFNOTE_INIT_P2M: u32 = 15;

/// Whether the kernel accepts an initrd that is not mapped by the initial page tables and is
/// passed by frame number (numeric boolean; see `SIF_MOD_START_PFN`).
pub const XEN_ELFNOTE_MOD_START_PFN: u32 = 16;

/// Supported features as a bitmap (numeric: an array of 32-bit `XENFEAT` submaps), ORed into
/// the set from [`XEN_ELFNOTE_FEATURES`].
pub const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;

/// 32-bit physical entry point for PVH (numeric). Ignored for PV.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// PVH relocation constraints (array of up to three u32: alignment, minimum, maximum).
/// Ignored for PV.
pub const XEN_ELFNOTE_PHYS32_RELOC: u32 = 19;

/// The highest loader-visible Xen note number.
pub const XEN_ELFNOTE_MAX: u32 = XEN_ELFNOTE_PHYS32_RELOC;

/// kexec/kdump: system information written on a crash (one note per crash).
pub const XEN_ELFNOTE_CRASH_INFO: u32 = 0x0100_0001;

/// kexec/kdump: per-CPU registers not in the `CORE` note.
pub const XEN_ELFNOTE_CRASH_REGS: u32 = 0x0100_0002;

/// Dump-core marker note (no payload): this file is a Xen dump-core file.
pub const XEN_ELFNOTE_DUMPCORE_NONE: u32 = 0x0200_0000;

/// Dump-core header note.
pub const XEN_ELFNOTE_DUMPCORE_HEADER: u32 = 0x0200_0001;

/// Dump-core note carrying the Xen version (`XENVER_*` results).
pub const XEN_ELFNOTE_DUMPCORE_XEN_VERSION: u32 = 0x0200_0002;

/// Dump-core note carrying the dump format version.
pub const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION: u32 = 0x0200_0003;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_elfnote_h() {
        let table = [
            XEN_ELFNOTE_INFO,
            XEN_ELFNOTE_ENTRY,
            XEN_ELFNOTE_HYPERCALL_PAGE,
            XEN_ELFNOTE_VIRT_BASE,
            XEN_ELFNOTE_PADDR_OFFSET,
            XEN_ELFNOTE_XEN_VERSION,
            XEN_ELFNOTE_GUEST_OS,
            XEN_ELFNOTE_GUEST_VERSION,
            XEN_ELFNOTE_LOADER,
            XEN_ELFNOTE_PAE_MODE,
            XEN_ELFNOTE_FEATURES,
            XEN_ELFNOTE_BSD_SYMTAB,
            XEN_ELFNOTE_HV_START_LOW,
            XEN_ELFNOTE_L1_MFN_VALID,
            XEN_ELFNOTE_SUSPEND_CANCEL,
            XEN_ELFNOTE_INIT_P2M,
            XEN_ELFNOTE_MOD_START_PFN,
            XEN_ELFNOTE_SUPPORTED_FEATURES,
            XEN_ELFNOTE_PHYS32_ENTRY,
            XEN_ELFNOTE_PHYS32_RELOC,
        ];
        for (number, value) in table.iter().enumerate() {
            assert_eq!(*value as usize, number);
        }
        assert_eq!(XEN_ELFNOTE_MAX, 19);
    }
}
