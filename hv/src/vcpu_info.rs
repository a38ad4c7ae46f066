//! `vcpu_info`: the 64 bytes per vCPU through which events and time reach the guest, where
//! they live ([`VcpuInfoLoc`]), `VCPUOP_register_vcpu_info`, and the one accessor every user
//! goes through ([`Domain::vcpu_info`]).
//!
//! ```text
//!  vcpu_info (64 B, in shared_info at 64·v, or where the guest registered it)
//!  +0 evtchn_upcall_pending  +1 evtchn_upcall_mask  +8 evtchn_pending_sel  +16 arch.cr2
//!  +32 vcpu_time_info: +0 version +8 tsc_timestamp +16 system_time +24 mul +28 shift +29 flags
//!
//!  Shared ──register_vcpu_info(mfn, offset)──▶ Registered(held page, offset)   (once; the
//!                                               page is held until the domain is destroyed)
//! ```
//! All accesses are atomic or volatile: the guest changes the same words concurrently.

use core::sync::atomic::{fence, Ordering};

use hv_core::mm::DomId;
use pv_abi::errno;

use crate::domain::Domain;
use crate::guest_page::GuestPage;
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::mem::PAGE_SIZE;

/// Size of one `vcpu_info`.
pub const VCPU_INFO_SIZE: usize = 64;
/// Offset of `vcpu_time_info` inside `vcpu_info`.
const TIME_OFFSET: usize = 32;

/// Where a vCPU's `vcpu_info` lives.
#[derive(Debug, Default)]
pub enum VcpuInfoLoc {
    /// In shared_info, at `64 * vcpu` (vCPUs below `XEN_LEGACY_MAX_VCPUS` only).
    #[default]
    Shared,
    /// Registered with `VCPUOP_register_vcpu_info`: at this byte offset of a guest page the
    /// hypervisor holds.
    Registered(GuestPage, u16),
}

/// One vCPU's `vcpu_info`: a view into a held page.
#[derive(Clone, Copy)]
pub struct VcpuInfo<'a> {
    page: &'a GuestPage,
    base: usize,
}

impl<'a> VcpuInfo<'a> {
    /// The `vcpu_info` at byte `base` of `page` (`base` 8-aligned and `base + 64 <= 4096`,
    /// checked by the caller: [`Domain::vcpu_info`] and `register_vcpu_info`).
    pub fn new(page: &'a GuestPage, base: usize) -> Self {
        debug_assert!(base.is_multiple_of(8) && base + VCPU_INFO_SIZE <= PAGE_SIZE as usize);
        Self { page, base }
    }

    /// The page offset of the word at byte `field` of this `vcpu_info`. The mask changes
    /// nothing for a base as [`Self::new`] requires; it proves the word aligned and inside
    /// the page to the compiler, so the page's own range check (a branch on every return to
    /// a guest) folds away. A base that broke the rule could only reach another word of the
    /// same held page.
    #[inline(always)]
    fn at(&self, field: usize) -> usize {
        (self.base + field) & (PAGE_SIZE as usize - 8)
    }

    /// Reads `evtchn_upcall_pending`.
    pub fn upcall_pending(&self) -> bool {
        self.page.read_u64(self.at(0)) & 0xFF != 0
    }

    /// Whether an upcall is due: `evtchn_upcall_pending` set and `evtchn_upcall_mask` clear
    /// (both bytes from one read of their word). Checked on every return to a guest.
    #[inline(always)]
    pub fn upcall_due(&self) -> bool {
        // Pending byte 1..=0xFF and mask byte 0: the low 16 bits in 1..=0xFF (one compare).
        let word = self.page.read_u64(self.at(0));
        (word & 0xFFFF).wrapping_sub(1) < 0xFF
    }

    /// Sets `evtchn_upcall_mask` to `masked` (1 or 0); returns the old mask byte. A read and
    /// a plain byte store, as Xen's (`vcpu_info(v, evtchn_upcall_mask) = ...`): the mask byte
    /// is written only by the vCPU and by the hypervisor working for it, never concurrently
    /// (the pending byte beside it, which event senders set atomically, is left alone).
    /// No locked instruction: under QEMU's TCG one costs some hundreds of cycles.
    #[inline(always)]
    pub fn set_upcall_mask(&self, masked: bool) -> u8 {
        let old = self.page.read_u64(self.at(0));
        self.page.write_u8(self.at(0) + 1, u8::from(masked));
        ((old >> 8) & 0xFF) as u8
    }

    /// Sets `evtchn_upcall_mask` when `mask` (leaves it as it is otherwise); returns the mask
    /// byte as it was. The old byte ORed with the bit stored back: no branch, no locked
    /// instruction (as [`Self::set_upcall_mask`]; Xen's `create_bounce_frame` reads, then
    /// stores).
    #[inline(always)]
    pub fn or_upcall_mask(&self, mask: bool) -> u8 {
        let old = ((self.page.read_u64(self.at(0)) >> 8) & 0xFF) as u8;
        self.page.write_u8(self.at(0) + 1, old | u8::from(mask));
        old
    }

    /// Sets `evtchn_upcall_pending`; returns whether it was already set.
    pub fn test_and_set_upcall_pending(&self) -> bool {
        self.page.fetch_or_u64(self.at(0), 1) & 1 != 0
    }

    /// Sets bit `word % 64` of `evtchn_pending_sel`; returns whether it was already set.
    pub fn test_and_set_pending_sel(&self, word: u32) -> bool {
        let bit = 1u64 << (word % 64);
        self.page.fetch_or_u64(self.at(8), bit) & bit != 0
    }

    /// Writes `arch.cr2`.
    pub fn set_cr2(&self, cr2: u64) {
        self.page.write_u64(self.at(16), cr2);
    }

    /// Reads word `index` (0..4) of `vcpu_time_info`.
    pub fn time_word(&self, index: usize) -> u64 {
        self.page.read_u64(self.at(TIME_OFFSET + 8 * (index % 4)))
    }

    /// Writes word `index` (0..4) of `vcpu_time_info`.
    pub fn set_time_word(&self, index: usize, value: u64) {
        self.page
            .write_u64(self.at(TIME_OFFSET + 8 * (index % 4)), value);
    }

    fn read_all(&self) -> [u8; VCPU_INFO_SIZE] {
        let mut b = [0u8; VCPU_INFO_SIZE];
        self.page.read(self.base, &mut b);
        b
    }

    fn write_all(&self, bytes: &[u8; VCPU_INFO_SIZE]) {
        self.page.write(self.base, bytes);
    }
}

impl Domain {
    /// vCPU `vcpu`'s `vcpu_info`, wherever it lives; `None` if there is no such vCPU or it
    /// has no slot in shared_info and registered none.
    pub fn vcpu_info(&self, vcpu: usize) -> Option<VcpuInfo<'_>> {
        let (info, present) = self.vcpu_info_slot(vcpu, self.vcpus.get(vcpu)?);
        present.then_some(info)
    }

    /// Whether an event upcall is due for vCPU `vcpu` (`v`, already looked up):
    /// `evtchn_upcall_pending` set and `evtchn_upcall_mask` clear in its `vcpu_info`; false
    /// when it has none. Runs on every return to a guest, without a branch: the word is read
    /// even when the slot does not exist (then some word of the held shared_info page) and
    /// the answer masked.
    #[inline(always)]
    pub fn upcall_due(&self, vcpu: usize, v: &crate::domain::Vcpu) -> bool {
        let (info, present) = self.vcpu_info_slot(vcpu, v);
        present & info.upcall_due()
    }

    /// Where vCPU `vcpu`'s (`v`) `vcpu_info` would be, and whether it exists:
    /// [`slot_or_stand_in`].
    #[inline(always)]
    fn vcpu_info_slot<'a>(
        &'a self,
        vcpu: usize,
        v: &'a crate::domain::Vcpu,
    ) -> (VcpuInfo<'a>, bool) {
        slot_or_stand_in(&self.shared_info, vcpu, &v.vcpu_info)
    }
}

/// vCPU `vcpu`'s `vcpu_info` given its domain's `shared_info` and its location `loc` (for a
/// caller holding the vCPU mutably: the fields borrowed apart).
#[inline(always)]
pub fn slot<'a>(
    shared_info: &'a GuestPage,
    vcpu: usize,
    loc: &'a VcpuInfoLoc,
) -> Option<VcpuInfo<'a>> {
    let (info, present) = slot_or_stand_in(shared_info, vcpu, loc);
    present.then_some(info)
}

/// Where vCPU `vcpu`'s `vcpu_info` would be, and whether it exists: the registered one, or
/// its slot in shared_info (vCPUs below `XEN_LEGACY_MAX_VCPUS` only; for others the view is
/// of slot `vcpu % XEN_LEGACY_MAX_VCPUS`, in range but not theirs, and the flag is false:
/// only read through it, never written). A select, not a branch, between the two places.
#[inline(always)]
fn slot_or_stand_in<'a>(
    shared_info: &'a GuestPage,
    vcpu: usize,
    loc: &'a VcpuInfoLoc,
) -> (VcpuInfo<'a>, bool) {
    use pv_abi::xen::XEN_LEGACY_MAX_VCPUS;
    match loc {
        VcpuInfoLoc::Registered(page, offset) => (VcpuInfo::new(page, usize::from(*offset)), true),
        VcpuInfoLoc::Shared => (
            VcpuInfo::new(shared_info, VCPU_INFO_SIZE * (vcpu % XEN_LEGACY_MAX_VCPUS)),
            vcpu < XEN_LEGACY_MAX_VCPUS,
        ),
    }
}

impl Hypervisor {
    /// `VCPUOP_register_vcpu_info`: moves vCPU `v`'s `vcpu_info` to byte `offset` of the
    /// domain's frame `mfn`, as Xen's `map_vcpu_info`: the page is held (general reference +
    /// Writable type, so it can never become a page table) until the domain is destroyed; the
    /// current 64 bytes are copied there; then `evtchn_pending_sel` is set to all ones and
    /// `evtchn_upcall_pending` to 1, so the guest rescans every port.
    ///
    /// Errors (`-EINVAL`, nothing changed): `offset + 64 > 4096` or not 8-aligned, already
    /// registered, no such vCPU, or the frame cannot be held (not the domain's, a page table
    /// or descriptor page, under a writable superpage).
    pub fn register_vcpu_info(&mut self, v: VcpuRef, mfn: u64, offset: u32) -> Result<(), i64> {
        let einval = errno::neg(errno::EINVAL);
        let offset = usize::try_from(offset).map_err(|_| einval)?;
        if offset + VCPU_INFO_SIZE > PAGE_SIZE as usize || !offset.is_multiple_of(8) {
            return Err(einval);
        }
        let d = self.domains.get_mut(&v.0).ok_or(einval)?;
        let vcpu = d.vcpus.get(v.1).ok_or(einval)?;
        if matches!(vcpu.vcpu_info, VcpuInfoLoc::Registered(..)) {
            return Err(einval);
        }
        let page = self.memory.hold_page(DomId(v.0), mfn).map_err(|_| einval)?;
        // Without a slot in shared_info the vCPU starts masked, as Xen's dummy vcpu_info.
        let mut current = [0u8; VCPU_INFO_SIZE];
        current[1] = 1;
        let current = d.vcpu_info(v.1).map_or(current, |old| old.read_all());
        let new = VcpuInfo::new(&page, offset);
        new.write_all(&current);
        fence(Ordering::SeqCst);
        new.page.write_u64(offset + 8, !0);
        new.test_and_set_upcall_pending();
        // `offset` < 4096 fits in u16.
        d.vcpus[v.1].vcpu_info = VcpuInfoLoc::Registered(page, offset as u16);
        log::debug!("d{}v{}: vcpu_info at mfn {mfn:#x} + {offset}", v.0, v.1);
        Ok(())
    }
}
