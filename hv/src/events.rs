//! Event delivery to guests: the event-channel registry (`hv_core::evtchn`) reaching each
//! domain's `shared_info` page, and the upcall into the guest's event callback.
//!
//! ```text
//!  shared_info page (per domain)
//!  0     vcpu_info[32] × 64 B:  +0 upcall_pending  +1 upcall_mask  +8 pending_sel  +16 cr2 …
//!  2048  evtchn_pending[64] (u64)
//!  2560  evtchn_mask[64] (u64)
//! ```
//! All accesses are atomic: the guest changes the same words concurrently (on other vCPUs, or
//! around our reads when it is interrupted).

use alloc::collections::BTreeMap;

use hv_core::evtchn::{self, EventBits, Notified, Port, SharedInfoPages, VcpuId};

use crate::arch::phys;
use crate::domain::{Domain, DomainId};
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::mem::PAGE_SIZE;

const PENDING_OFFSET: u64 = 2048;
const MASK_OFFSET: u64 = 2560;

/// Byte offset of `vcpu_info[vcpu]` in shared_info.
pub fn vcpu_info_offset(vcpu: u32) -> u64 {
    64 * u64::from(vcpu)
}

/// The event bits of one domain's shared_info page.
pub struct SharedInfoBits {
    ma: u64,
}

impl SharedInfoBits {
    /// The page at machine frame `mfn`.
    pub fn new(mfn: u64) -> Self {
        Self {
            ma: mfn * PAGE_SIZE,
        }
    }

    fn word(&self, base: u64, port: Port) -> (u64, u64) {
        (
            self.ma + base + 8 * u64::from(port.0 / 64),
            1 << (port.0 % 64),
        )
    }

    /// Reads `evtchn_upcall_mask` of `vcpu`.
    pub fn upcall_mask(&self, vcpu: u32) -> bool {
        phys::read_u64(self.ma + vcpu_info_offset(vcpu)) & 0xFF00 != 0
    }

    /// Reads `evtchn_upcall_pending` of `vcpu`.
    pub fn upcall_pending(&self, vcpu: u32) -> bool {
        phys::read_u64(self.ma + vcpu_info_offset(vcpu)) & 0xFF != 0
    }

    /// Whether an upcall is due for `vcpu`: `evtchn_upcall_pending` set and
    /// `evtchn_upcall_mask` clear (both bytes from one read of their word).
    pub fn upcall_due(&self, vcpu: u32) -> bool {
        let word = phys::read_u64(self.ma + vcpu_info_offset(vcpu));
        word & 0xFF != 0 && word & 0xFF00 == 0
    }

    /// Sets `evtchn_upcall_mask` of `vcpu` to `masked`; returns the old mask byte.
    pub fn set_upcall_mask(&self, vcpu: u32, masked: bool) -> u8 {
        let at = self.ma + vcpu_info_offset(vcpu);
        let old = if masked {
            phys::fetch_or_u64(at, 0x100)
        } else {
            phys::fetch_and_u64(at, !0xFF00)
        };
        ((old >> 8) & 0xFF) as u8
    }

    /// Writes `vcpu_info[vcpu].arch.cr2`.
    pub fn set_cr2(&self, vcpu: u32, cr2: u64) {
        phys::write_u64(self.ma + vcpu_info_offset(vcpu) + 16, cr2);
    }
}

impl EventBits for SharedInfoBits {
    fn test_and_set_pending(&mut self, port: Port) -> bool {
        let (at, bit) = self.word(PENDING_OFFSET, port);
        phys::fetch_or_u64(at, bit) & bit != 0
    }

    fn clear_pending(&mut self, port: Port) {
        let (at, bit) = self.word(PENDING_OFFSET, port);
        phys::fetch_and_u64(at, !bit);
    }

    fn test_pending(&self, port: Port) -> bool {
        let (at, bit) = self.word(PENDING_OFFSET, port);
        phys::read_u64(at) & bit != 0
    }

    fn test_mask(&self, port: Port) -> bool {
        let (at, bit) = self.word(MASK_OFFSET, port);
        phys::read_u64(at) & bit != 0
    }

    fn test_and_clear_mask(&mut self, port: Port) -> bool {
        let (at, bit) = self.word(MASK_OFFSET, port);
        phys::fetch_and_u64(at, !bit) & bit != 0
    }

    fn test_and_set_pending_sel(&mut self, vcpu: VcpuId, word: u32) -> bool {
        let at = self.ma + vcpu_info_offset(vcpu.0) + 8;
        let bit = 1u64 << (word % 64);
        phys::fetch_or_u64(at, bit) & bit != 0
    }

    fn test_and_set_upcall_pending(&mut self, vcpu: VcpuId) -> bool {
        phys::fetch_or_u64(self.ma + vcpu_info_offset(vcpu.0), 1) & 1 != 0
    }
}

/// The shared_info pages of all live domains.
pub struct DomainPages<'a>(pub &'a BTreeMap<DomainId, Domain>);

impl SharedInfoPages for DomainPages<'_> {
    type Bits<'a>
        = SharedInfoBits
    where
        Self: 'a;

    fn event_bits(&mut self, dom: evtchn::DomId) -> Option<SharedInfoBits> {
        let d = self.0.get(&dom.0)?;
        d.is_running()
            .then(|| SharedInfoBits::new(d.shared_info_mfn))
    }
}

impl Hypervisor {
    /// Acts on a raised port: wakes the vCPU it targets (a blocked vCPU resumes; the upcall
    /// itself is delivered on its way back into the guest).
    pub fn kick(&mut self, n: Notified) {
        let v: VcpuRef = (n.dom.0, n.vcpu.0 as usize);
        self.wake_for_event(v, n.port.0);
    }

    /// Raises `virq` on vCPU `v` if the guest bound it.
    pub fn raise_virq(&mut self, v: VcpuRef, virq: u32) {
        let r = self.events.raise_virq(
            evtchn::DomId(v.0),
            VcpuId(v.1 as u32),
            evtchn::Virq(virq),
            &mut DomainPages(&self.domains),
        );
        if let Ok(Some(n)) = r {
            self.kick(n);
        }
    }

    /// The event bits of domain `id`.
    pub fn shared_info(&self, id: DomainId) -> Option<SharedInfoBits> {
        self.domains
            .get(&id)
            .map(|d| SharedInfoBits::new(d.shared_info_mfn))
    }
}
