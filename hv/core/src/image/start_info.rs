//! The start_info page's values and the boot vCPU's registers for a laid-out domain.
//!
//! Mirrors the toolstack's `start_info_x86_64` and `vcpu_x86_64`. The values that only the
//! platform knows (machine addresses of shared_info, the store and console rings, their event
//! channels, privilege flags) come in as [`PlatformStartInfo`]. [`StartInfoValues::encode`]
//! lays the page out as `struct start_info` (1168 bytes; `pv_abi::xen::StartInfo` will replace
//! this plain struct on merge):
//!
//! ```text
//!    0 magic[32]     32 nr_pages     40 shared_info   48 flags(u32)   56 store_mfn
//!   64 store_evtchn  72 console.mfn  80 console.evtchn 88 pt_base     96 nr_pt_frames
//!  104 mfn_list     112 mod_start   120 mod_len      128 cmd_line[1024]
//! 1152 first_p2m_pfn 1160 nr_p2m_frames
//! ```

pub use pv_abi::xen::{SIF_INITDOMAIN, SIF_MOD_START_PFN, SIF_PRIVILEGED, START_INFO_MAGIC};

use super::layout::{P2mPlacement, RamdiskPlacement, StartOfDayLayout};
use super::segments::PAGE_SIZE;

/// Size of `cmd_line` (`MAX_GUEST_CMDLINE`), including the terminating NUL.
pub const MAX_GUEST_CMDLINE: usize = 1024;
/// Size of `struct start_info` on x86-64.
pub const START_INFO_SIZE: usize = 1168;

/// What the platform supplies: machine-level facts the layout does not decide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlatformStartInfo {
    /// Machine address of the shared_info page.
    pub shared_info_maddr: u64,
    /// MFN of the xenstore ring (the layout's `xenstore_pfn` translated).
    pub store_mfn: u64,
    /// Event channel of the xenstore ring (0 = none).
    pub store_evtchn: u32,
    /// MFN of the console ring (the layout's `console_pfn` translated).
    pub console_mfn: u64,
    /// Event channel of the console ring.
    pub console_evtchn: u32,
    /// Extra `SIF_*` flags (`SIF_PRIVILEGED`, `SIF_INITDOMAIN`).
    pub flags: u32,
}

/// Every field of `struct start_info` for one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartInfoValues {
    /// `"xen-3.0-x86_64"`, NUL-padded.
    pub magic: [u8; 32],
    /// Pages of the domain.
    pub nr_pages: u64,
    /// Machine address of shared_info.
    pub shared_info: u64,
    /// `SIF_*`.
    pub flags: u32,
    /// MFN of the xenstore ring.
    pub store_mfn: u64,
    /// Its event channel.
    pub store_evtchn: u32,
    /// MFN of the console ring.
    pub console_mfn: u64,
    /// Its event channel.
    pub console_evtchn: u32,
    /// VA of the bootstrap L4.
    pub pt_base: u64,
    /// Frames of the bootstrap page tables.
    pub nr_pt_frames: u64,
    /// VA of the p2m list.
    pub mfn_list: u64,
    /// VA of the initrd, or its pfn with `SIF_MOD_START_PFN`; 0 without initrd.
    pub mod_start: u64,
    /// Initrd length in bytes (whole pages when unmapped); 0 without initrd.
    pub mod_len: u64,
    /// Command line, NUL-terminated and NUL-padded.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First pfn of the INIT_P2M list and its tables (0 otherwise).
    pub first_p2m_pfn: u64,
    /// Frames of the INIT_P2M list and its tables (0 otherwise).
    pub nr_p2m_frames: u64,
}

/// `cmdline` up to its first NUL, cut to 1023 bytes, NUL-terminated and padded.
pub fn encode_cmdline(cmdline: &[u8]) -> [u8; MAX_GUEST_CMDLINE] {
    let end = cmdline
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(cmdline.len());
    let kept = &cmdline[..end.min(MAX_GUEST_CMDLINE - 1)];
    let mut out = [0; MAX_GUEST_CMDLINE];
    out[..kept.len()].copy_from_slice(kept);
    out
}

impl StartInfoValues {
    /// The start_info of `layout` with the platform's values and command line.
    pub fn new(layout: &StartOfDayLayout, platform: &PlatformStartInfo, cmdline: &[u8]) -> Self {
        let mut magic = [0; 32];
        magic[..START_INFO_MAGIC.len()].copy_from_slice(START_INFO_MAGIC);
        let mut flags = platform.flags;
        let (mod_start, mod_len) = match layout.ramdisk {
            None => (0, 0),
            Some(RamdiskPlacement::Mapped { frames, len }) => {
                (layout.virt_base + frames.pfn * PAGE_SIZE, len)
            }
            Some(RamdiskPlacement::Unmapped { frames }) => {
                flags |= SIF_MOD_START_PFN;
                (frames.pfn, frames.pages * PAGE_SIZE)
            }
        };
        let (first_p2m_pfn, nr_p2m_frames) = match layout.p2m {
            P2mPlacement::Mapped { .. } => (0, 0),
            P2mPlacement::InitP2m { list, mapping, .. } => {
                (list.pfn, list.pages + mapping.table_frames)
            }
        };
        Self {
            magic,
            nr_pages: layout.nr_pages,
            shared_info: platform.shared_info_maddr,
            flags,
            store_mfn: platform.store_mfn,
            store_evtchn: platform.store_evtchn,
            console_mfn: platform.console_mfn,
            console_evtchn: platform.console_evtchn,
            pt_base: layout.pt_base_va(),
            nr_pt_frames: layout.nr_pt_frames(),
            mfn_list: layout.mfn_list_va(),
            mod_start,
            mod_len,
            cmd_line: encode_cmdline(cmdline),
            first_p2m_pfn,
            nr_p2m_frames,
        }
    }

    /// The little-endian bytes of `struct start_info` (padding zero).
    pub fn encode(&self) -> [u8; START_INFO_SIZE] {
        let mut out = [0u8; START_INFO_SIZE];
        let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.magic);
        put(32, &self.nr_pages.to_le_bytes());
        put(40, &self.shared_info.to_le_bytes());
        put(48, &self.flags.to_le_bytes());
        put(56, &self.store_mfn.to_le_bytes());
        put(64, &self.store_evtchn.to_le_bytes());
        put(72, &self.console_mfn.to_le_bytes());
        put(80, &self.console_evtchn.to_le_bytes());
        put(88, &self.pt_base.to_le_bytes());
        put(96, &self.nr_pt_frames.to_le_bytes());
        put(104, &self.mfn_list.to_le_bytes());
        put(112, &self.mod_start.to_le_bytes());
        put(120, &self.mod_len.to_le_bytes());
        put(128, &self.cmd_line);
        put(1152, &self.first_p2m_pfn.to_le_bytes());
        put(1160, &self.nr_p2m_frames.to_le_bytes());
        out
    }
}
