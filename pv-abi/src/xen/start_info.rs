//! `start_info`: the page a PV guest is born with (see the layout in the parent module).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// ---------------------------------------------------------------------------------------
// start_info
// ---------------------------------------------------------------------------------------

/// `start_info.magic` for a 64-bit PV guest (`"xen-<version>-<platform>"`); the rest of the
/// 32-byte field is NUL.
pub const START_INFO_MAGIC: &[u8; 14] = b"xen-3.0-x86_64";
/// Size of `start_info.cmd_line`, including the terminating NUL.
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// `start_info.flags`: the domain is privileged.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// `start_info.flags`: the domain is the initial control domain (dom0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// `start_info.flags`: `mod_start` points at a multiboot module list.
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// `start_info.flags`: `mod_start` is a PFN (the initrd is not mapped), not a VA.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
/// `start_info.flags`: the tools understand a virtually mapped p2m.
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
/// `start_info.flags`: byte reserved for power-management options.
pub const SIF_PM_MASK: u32 = 0xFF << 8;

/// The `start_info.console` union (`xen.h`), laid out as its domU view.
///
/// For a domU: `mfn` is the machine frame of the console ring and `evtchn` its event
/// channel. For dom0 the same 8 bytes at offset 0 are instead `{ info_off: u32, info_size:
/// u32 }`, locating a `dom0_vga_console_info` inside the start_info page; read them with
/// [`StartInfoConsole::dom0_info_off`] and [`StartInfoConsole::dom0_info_size`].
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartInfoConsole {
    /// domU: MFN of the console ring page.
    pub mfn: u64,
    /// domU: event channel of the console ring.
    pub evtchn: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
}
crate::abi_layout!(StartInfoConsole, 16, mfn @ 0, evtchn @ 8, pad0 @ 12);

impl StartInfoConsole {
    /// dom0 view: offset of the console info inside the start_info page (low half of `mfn`).
    pub const fn dom0_info_off(&self) -> u32 {
        self.mfn as u32
    }

    /// dom0 view: size of the console info (high half of `mfn`).
    pub const fn dom0_info_size(&self) -> u32 {
        (self.mfn >> 32) as u32
    }
}

/// The start-of-day information page (`struct start_info`, `xen.h`; 1168 bytes).
///
/// The domain builder fills it and passes its virtual address in `rsi`. Fields up to
/// `console` are rewritten on resume; the rest are only meaningful at boot. Addresses are
/// machine addresses/frames where the name says so (`shared_info`, `store_mfn`,
/// `console.mfn`) and guest virtual addresses otherwise (`pt_base`, `mfn_list`,
/// `mod_start` unless [`SIF_MOD_START_PFN`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartInfo {
    /// [`START_INFO_MAGIC`], NUL-padded.
    pub magic: [u8; 32],
    /// Total pages allocated to the domain.
    pub nr_pages: u64,
    /// Machine address of the shared_info page.
    pub shared_info: u64,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// MFN of the xenstore ring page.
    pub store_mfn: u64,
    /// Event channel of the xenstore ring (0: none).
    pub store_evtchn: u32,
    /// Padding (implicit in C).
    pub pad1: u32,
    /// Console ring (domU) or console info location (dom0).
    pub console: StartInfoConsole,
    /// Virtual address of the bootstrap L4 page table.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the pfn→mfn list (one `u64` per pfn).
    pub mfn_list: u64,
    /// Virtual address (or PFN, see [`SIF_MOD_START_PFN`]) of the initrd; 0 if none.
    pub mod_start: u64,
    /// Size of the initrd in bytes.
    pub mod_len: u64,
    /// Kernel command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First pfn of a relocated initial p2m (`XEN_ELFNOTE_INIT_P2M`), incl. its page tables.
    pub first_p2m_pfn: u64,
    /// Number of pfns in that relocated p2m region.
    pub nr_p2m_frames: u64,
}
crate::abi_layout!(StartInfo, 1168,
    magic @ 0, nr_pages @ 32, shared_info @ 40, flags @ 48, pad0 @ 52, store_mfn @ 56,
    store_evtchn @ 64, pad1 @ 68, console @ 72, pt_base @ 88, nr_pt_frames @ 96,
    mfn_list @ 104, mod_start @ 112, mod_len @ 120, cmd_line @ 128, first_p2m_pfn @ 1152,
    nr_p2m_frames @ 1160);

impl StartInfo {
    /// The command line: `cmd_line` up to its NUL (all of it if there is none); empty if it
    /// is not UTF-8.
    pub fn cmdline(&self) -> &str {
        let len = self
            .cmd_line
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.cmd_line.len());
        core::str::from_utf8(&self.cmd_line[..len]).unwrap_or("")
    }
}
