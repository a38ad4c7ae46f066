//! `vcpu_info`: the 64 bytes per vCPU through which events and time reach the guest, and the
//! one accessor every user goes through ([`Domain::vcpu_info`]).
//!
//! ```text
//!  vcpu_info (64 B, in shared_info at 64·v, or where the guest registered it)
//!  +0 evtchn_upcall_pending  +1 evtchn_upcall_mask  +8 evtchn_pending_sel  +16 arch.cr2
//!  +32 vcpu_time_info: +0 version +8 tsc_timestamp +16 system_time +24 mul +28 shift +29 flags
//! ```
//! All accesses are atomic or volatile: the guest changes the same words concurrently.

use crate::domain::Domain;
use crate::guest_page::GuestPage;

/// Size of one `vcpu_info`.
pub const VCPU_INFO_SIZE: usize = 64;
/// Offset of `vcpu_time_info` inside `vcpu_info`.
const TIME_OFFSET: usize = 32;

/// One vCPU's `vcpu_info`: a view into a held page.
#[derive(Clone, Copy)]
pub struct VcpuInfo<'a> {
    page: &'a GuestPage,
    base: usize,
}

impl<'a> VcpuInfo<'a> {
    /// The `vcpu_info` at byte `base` of `page` (`base + 64 <= 4096`, checked by the caller;
    /// an out-of-page access would only read zeros and drop writes).
    pub fn new(page: &'a GuestPage, base: usize) -> Self {
        Self { page, base }
    }

    /// Reads `evtchn_upcall_pending`.
    pub fn upcall_pending(&self) -> bool {
        self.page.read_u64(self.base) & 0xFF != 0
    }

    /// Reads `evtchn_upcall_mask`.
    pub fn upcall_mask(&self) -> bool {
        self.page.read_u64(self.base) & 0xFF00 != 0
    }

    /// Sets `evtchn_upcall_mask` to `masked`; returns the old mask byte.
    pub fn set_upcall_mask(&self, masked: bool) -> u8 {
        let old = match masked {
            true => self.page.fetch_or_u64(self.base, 0x100),
            false => self.page.fetch_and_u64(self.base, !0xFF00),
        };
        ((old >> 8) & 0xFF) as u8
    }

    /// Sets `evtchn_upcall_pending`; returns whether it was already set.
    pub fn test_and_set_upcall_pending(&self) -> bool {
        self.page.fetch_or_u64(self.base, 1) & 1 != 0
    }

    /// Sets bit `word % 64` of `evtchn_pending_sel`; returns whether it was already set.
    pub fn test_and_set_pending_sel(&self, word: u32) -> bool {
        let bit = 1u64 << (word % 64);
        self.page.fetch_or_u64(self.base + 8, bit) & bit != 0
    }

    /// Writes `arch.cr2`.
    pub fn set_cr2(&self, cr2: u64) {
        self.page.write_u64(self.base + 16, cr2);
    }

    /// Reads word `index` (0..4) of `vcpu_time_info`.
    pub fn time_word(&self, index: usize) -> u64 {
        self.page
            .read_u64(self.base + TIME_OFFSET + 8 * (index % 4))
    }

    /// Writes word `index` (0..4) of `vcpu_time_info`.
    pub fn set_time_word(&self, index: usize, value: u64) {
        self.page
            .write_u64(self.base + TIME_OFFSET + 8 * (index % 4), value);
    }
}

impl Domain {
    /// vCPU `vcpu`'s `vcpu_info`, wherever it lives; `None` if there is no such vCPU or it
    /// has no slot in shared_info and registered none.
    pub fn vcpu_info(&self, vcpu: usize) -> Option<VcpuInfo<'_>> {
        self.vcpus.get(vcpu)?;
        (vcpu < pv_abi::xen::XEN_LEGACY_MAX_VCPUS)
            .then(|| VcpuInfo::new(&self.shared_info, VCPU_INFO_SIZE * vcpu))
    }
}
