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
use pv_abi::xen::{StartInfo, StartInfoConsole};

/// Size of `cmd_line` (`MAX_GUEST_CMDLINE`), including the terminating NUL.
pub const MAX_GUEST_CMDLINE: usize = 1024;

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

/// The start_info page of `layout` with the platform's values and command line (`struct
/// start_info`, to be copied into the guest page as `zerocopy` bytes).
pub fn start_info(
    layout: &StartOfDayLayout,
    platform: &PlatformStartInfo,
    cmdline: &[u8],
) -> StartInfo {
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
    StartInfo {
        magic,
        nr_pages: layout.nr_pages,
        shared_info: platform.shared_info_maddr,
        flags,
        store_mfn: platform.store_mfn,
        pad0: 0,
        store_evtchn: platform.store_evtchn,
        pad1: 0,
        console: StartInfoConsole {
            mfn: platform.console_mfn,
            evtchn: platform.console_evtchn,
            pad0: 0,
        },
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
