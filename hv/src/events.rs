//! Event delivery to guests: the event-channel registry (`hv_core::evtchn`) reaching each
//! domain's `shared_info` page, and the upcall into the guest's event callback.
//!
//! ```text
//!  shared_info page (per domain, held as a GuestPage)
//!  0     vcpu_info[32] × 64 B (unless registered elsewhere: see vcpu_info.rs)
//!  2048  evtchn_pending[64] (u64)
//!  2560  evtchn_mask[64] (u64)
//! ```
//! All accesses are atomic: the guest changes the same words concurrently (on other vCPUs, or
//! around our reads when it is interrupted).

use hv_core::evtchn::{self, EventBits, Notified, Port, SharedInfoPages, VcpuId};

use crate::domain::{Domain, DomainId};
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::vcpu_info::VcpuInfo;

const PENDING_OFFSET: usize = 2048;
const MASK_OFFSET: usize = 2560;

/// The event bits of one domain: the pending and mask arrays in its held shared_info page,
/// and each vCPU's selector and upcall flag in its `vcpu_info` (wherever that lives).
pub struct SharedInfoBits<'a> {
    dom: &'a Domain,
}

impl<'a> SharedInfoBits<'a> {
    /// The event bits of `dom`.
    pub fn new(dom: &'a Domain) -> Self {
        Self { dom }
    }

    fn word(port: Port) -> (usize, u64) {
        (8 * (port.0 / 64) as usize, 1 << (port.0 % 64))
    }

    fn vcpu_info(&self, vcpu: VcpuId) -> Option<VcpuInfo<'a>> {
        self.dom.vcpu_info(vcpu.0 as usize)
    }
}

impl EventBits for SharedInfoBits<'_> {
    fn test_and_set_pending(&mut self, port: Port) -> bool {
        let (off, bit) = Self::word(port);
        self.dom.shared_info.fetch_or_u64(PENDING_OFFSET + off, bit) & bit != 0
    }

    fn clear_pending(&mut self, port: Port) {
        let (off, bit) = Self::word(port);
        self.dom
            .shared_info
            .fetch_and_u64(PENDING_OFFSET + off, !bit);
    }

    fn test_pending(&self, port: Port) -> bool {
        let (off, bit) = Self::word(port);
        self.dom.shared_info.read_u64(PENDING_OFFSET + off) & bit != 0
    }

    fn test_mask(&self, port: Port) -> bool {
        let (off, bit) = Self::word(port);
        self.dom.shared_info.read_u64(MASK_OFFSET + off) & bit != 0
    }

    fn test_and_clear_mask(&mut self, port: Port) -> bool {
        let (off, bit) = Self::word(port);
        self.dom.shared_info.fetch_and_u64(MASK_OFFSET + off, !bit) & bit != 0
    }

    fn test_and_set_pending_sel(&mut self, vcpu: VcpuId, word: u32) -> bool {
        // No vcpu_info: report "already set" so no upcall is attempted.
        self.vcpu_info(vcpu)
            .is_none_or(|v| v.test_and_set_pending_sel(word))
    }

    fn test_and_set_upcall_pending(&mut self, vcpu: VcpuId) -> bool {
        self.vcpu_info(vcpu)
            .is_none_or(|v| v.test_and_set_upcall_pending())
    }

    // One `vcpu_info` lookup for both words (the send path's common case).
    fn test_and_set_sel_then_upcall(&mut self, vcpu: VcpuId, word: u32) -> bool {
        self.vcpu_info(vcpu)
            .is_none_or(|v| v.test_and_set_pending_sel(word) || v.test_and_set_upcall_pending())
    }
}

/// The shared_info pages of all live domains.
pub struct DomainPages<'a>(pub &'a hv_core::idtable::IdTable<Domain>);

impl SharedInfoPages for DomainPages<'_> {
    type Bits<'a>
        = SharedInfoBits<'a>
    where
        Self: 'a;

    fn event_bits(&mut self, dom: evtchn::DomId) -> Option<SharedInfoBits<'_>> {
        let d = self.0.get(&dom.0)?;
        d.is_running().then(|| SharedInfoBits::new(d))
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
    pub fn shared_info(&self, id: DomainId) -> Option<SharedInfoBits<'_>> {
        self.domains.get(&id).map(SharedInfoBits::new)
    }

    /// vCPU `v`'s `vcpu_info`, if the vCPU exists.
    pub fn vcpu_info(&self, v: VcpuRef) -> Option<VcpuInfo<'_>> {
        self.domains.get(&v.0)?.vcpu_info(v.1)
    }
}
