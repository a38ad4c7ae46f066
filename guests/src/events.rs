//! 2-level event channels over `shared_info`.
//!
//! [`map_shared_info`] maps the page at a `.bss` slot (`update_va_mapping` to
//! `start_info.shared_info | 7`, like Mini-OS). Delivery (B.3): the hypervisor sets a port's
//! bit in `evtchn_pending`; if its `evtchn_mask` bit is clear it also sets the word's bit in
//! `vcpu_info.evtchn_pending_sel` and `evtchn_upcall_pending`, and bounces to the event
//! callback unless `evtchn_upcall_mask` is set. `upcall` clears `upcall_pending`, takes
//! the selector, and for each pending unmasked port clears its bit and counts it; code waits
//! on those counts ([`count`]).
//!
//! `evtchn_upcall_mask` is the guest's interrupt flag ([`irq_disable`], [`irq_enable`]).
//! Every field shared with the hypervisor is accessed atomically.

use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use pv_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindVirq, EvtchnClose,
    EvtchnSend, EvtchnStatus, EvtchnUnmask, EVTCHNOP_ALLOC_UNBOUND, EVTCHNOP_BIND_INTERDOMAIN,
    EVTCHNOP_BIND_IPI, EVTCHNOP_BIND_VIRQ, EVTCHNOP_CLOSE, EVTCHNOP_SEND, EVTCHNOP_STATUS,
    EVTCHNOP_UNMASK, EVTCHN_2L_NR_CHANNELS,
};
use pv_abi::vcpu::{VcpuRegisterVcpuInfo, VCPUOP_REGISTER_VCPU_INFO};
use pv_abi::xen::{hypercall as nr, SharedInfo, StartInfo, VcpuInfo, DOMID_SELF};

use crate::ring::{self, PageSlot};
use crate::traps::{self, TrapFrame};

static mut SHARED_INFO_SLOT: PageSlot = PageSlot([0; 4096]);
static MAPPED: AtomicBool = AtomicBool::new(false);
/// Where vCPU 0's `vcpu_info` is, once registered elsewhere (0: `vcpu_info[0]` in shared_info).
static VCPU_INFO_VA: AtomicU64 = AtomicU64::new(0);

const NR_PORTS: usize = EVTCHN_2L_NR_CHANNELS as usize;
static COUNTS: [AtomicU32; NR_PORTS] = [const { AtomicU32::new(0) }; NR_PORTS];

/// Maps `start_info.shared_info` over our slot (`update_va_mapping(va, ma | 7,
/// UVMF_INVLPG)`). Returns the hypercall result.
pub fn map_shared_info(si: &StartInfo) -> i64 {
    let va = shared_info_va();
    let rc = ring::map_frame(va, si.shared_info >> 12);
    MAPPED.store(rc == 0, Ordering::SeqCst);
    rc
}

/// VA of the shared_info page (once mapped).
pub fn shared_info_va() -> u64 {
    &raw const SHARED_INFO_SLOT as u64
}

/// Whether [`map_shared_info`] succeeded.
pub fn is_mapped() -> bool {
    MAPPED.load(Ordering::SeqCst)
}

fn field_ptr(offset: usize) -> u64 {
    shared_info_va() + offset as u64
}

fn vcpu0(offset: usize) -> u64 {
    match VCPU_INFO_VA.load(Ordering::SeqCst) {
        0 => field_ptr(offset_of!(SharedInfo, vcpu_info) + offset),
        va => va + offset as u64,
    }
}

/// VA of vCPU 0's `vcpu_info` (in shared_info unless [`register_vcpu_info`] moved it).
pub fn vcpu_info_va() -> u64 {
    vcpu0(0)
}

/// `VCPUOP_register_vcpu_info(0, mfn, offset)`; on success our event and time code use the
/// new location, our mapping `va` of `mfn` + `offset`. Returns the hypercall result.
///
/// # Safety
/// `va` must map `mfn` + `offset` for the rest of the program (except while events are
/// masked), writable, with no Rust reference to those 64 bytes.
pub unsafe fn register_vcpu_info(mfn: u64, offset: u32, va: u64) -> i64 {
    let mut arg = VcpuRegisterVcpuInfo {
        mfn,
        offset,
        rsvd: 0,
    };
    let cmd = u64::from(VCPUOP_REGISTER_VCPU_INFO);
    // SAFETY: `arg` is the structure VCPUOP_register_vcpu_info reads.
    let rc = unsafe { traps::hypercall(nr::VCPU_OP, [cmd, 0, &raw mut arg as u64, 0, 0]) };
    if rc == 0 {
        VCPU_INFO_VA.store(va, Ordering::SeqCst);
    }
    rc
}

/// A u32 field of vCPU 0's `vcpu_info` (for `time`): byte offset inside it.
pub(crate) fn vcpu_u32(offset: usize) -> &'static AtomicU32 {
    u32_at(vcpu0(offset))
}

/// A u64 field of vCPU 0's `vcpu_info` (for `time`): byte offset inside it.
pub(crate) fn vcpu_u64(offset: usize) -> &'static AtomicU64 {
    u64_at(vcpu0(offset))
}

fn u8_at(addr: u64) -> &'static AtomicU8 {
    // SAFETY: `addr` lies in the shared_info page mapped at our slot for the program's life,
    // or in the registered vcpu_info (mapped as `register_vcpu_info` requires); the
    // hypervisor writes it concurrently, so only atomic access is used.
    unsafe { AtomicU8::from_ptr(addr as *mut u8) }
}

fn u32_at(addr: u64) -> &'static AtomicU32 {
    // SAFETY: as `u8_at`; callers pass 4-aligned field offsets.
    unsafe { AtomicU32::from_ptr(addr as *mut u32) }
}

fn u64_at(addr: u64) -> &'static AtomicU64 {
    // SAFETY: as `u8_at`; callers pass 8-aligned field offsets.
    unsafe { AtomicU64::from_ptr(addr as *mut u64) }
}

fn upcall_pending() -> &'static AtomicU8 {
    u8_at(vcpu0(offset_of!(VcpuInfo, evtchn_upcall_pending)))
}

fn upcall_mask() -> &'static AtomicU8 {
    u8_at(vcpu0(offset_of!(VcpuInfo, evtchn_upcall_mask)))
}

fn pending_sel() -> &'static AtomicU64 {
    u64_at(vcpu0(offset_of!(VcpuInfo, evtchn_pending_sel)))
}

fn pending_word(word: usize) -> &'static AtomicU64 {
    u64_at(field_ptr(offset_of!(SharedInfo, evtchn_pending) + word * 8))
}

fn mask_word(word: usize) -> &'static AtomicU64 {
    u64_at(field_ptr(offset_of!(SharedInfo, evtchn_mask) + word * 8))
}

/// A u32 field of shared_info or vcpu_info 0 (for `time`): `shared_info` byte offset.
pub(crate) fn shared_u32(offset: usize) -> &'static AtomicU32 {
    u32_at(field_ptr(offset))
}

/// `vcpu_info[0].arch.cr2`: the address of the last #PF (0 before shared_info is mapped).
pub fn cr2() -> u64 {
    if !is_mapped() {
        return 0;
    }
    u64_at(vcpu0(offset_of!(VcpuInfo, arch))).load(Ordering::SeqCst)
}

/// Current `evtchn_upcall_mask`.
pub fn upcall_mask_value() -> u8 {
    upcall_mask().load(Ordering::SeqCst)
}

/// Current `evtchn_upcall_pending`.
pub fn upcall_pending_value() -> u8 {
    upcall_pending().load(Ordering::SeqCst)
}

/// Masks events; returns whether they were enabled.
pub fn irq_disable() -> bool {
    upcall_mask().swap(1, Ordering::SeqCst) == 0
}

/// Unmasks events; if one is already pending, forces delivery with a trivial hypercall
/// (`xen_version(0)`, as Linux does): the hypervisor bounces on the way back.
pub fn irq_enable() {
    upcall_mask().store(0, Ordering::SeqCst);
    if upcall_pending().load(Ordering::SeqCst) != 0 {
        force_callback();
    }
}

/// Restores the state [`irq_disable`] returned.
pub fn irq_restore(was_enabled: bool) {
    if was_enabled {
        irq_enable();
    }
}

/// `xen_version(XENVER_version, NULL)`: a no-op hypercall whose return path delivers
/// pending events.
pub fn force_callback() {
    // SAFETY: XENVER_version takes no buffer.
    unsafe { traps::hypercall(nr::XEN_VERSION, [0; 5]) };
}

/// Masks every port (Mini-OS `init_events`).
pub fn mask_all() {
    for word in 0..NR_PORTS / 64 {
        mask_word(word).store(!0, Ordering::SeqCst);
    }
}

/// Sets `port`'s mask bit.
pub fn mask(port: u32) {
    let (w, b) = split(port);
    mask_word(w).fetch_or(b, Ordering::SeqCst);
}

/// Whether `port`'s pending bit is set.
pub fn is_pending(port: u32) -> bool {
    let (w, b) = split(port);
    pending_word(w).load(Ordering::SeqCst) & b != 0
}

/// Clears `port`'s pending bit.
pub fn clear_pending(port: u32) {
    let (w, b) = split(port);
    pending_word(w).fetch_and(!b, Ordering::SeqCst);
}

/// Unmasks `port` in shared memory the Linux 2-level way: clear the mask bit; if the port is
/// pending, set its selector bit and `upcall_pending` ourselves and force delivery.
pub fn unmask(port: u32) {
    let (w, b) = split(port);
    mask_word(w).fetch_and(!b, Ordering::SeqCst);
    if pending_word(w).load(Ordering::SeqCst) & b != 0 {
        pending_sel().fetch_or(1 << w, Ordering::SeqCst);
        upcall_pending().store(1, Ordering::SeqCst);
        if upcall_mask().load(Ordering::SeqCst) == 0 {
            force_callback();
        }
    }
}

fn split(port: u32) -> (usize, u64) {
    let port = port as usize % NR_PORTS;
    (port / 64, 1 << (port % 64))
}

/// How many upcalls found `port` pending.
pub fn count(port: u32) -> u32 {
    COUNTS
        .get(port as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Observations from upcall entries: (upcalls, entries with `upcall_mask != 1`, entries whose
/// frame had IF clear, entries whose frame's saved mask was non-zero).
pub fn upcall_stats() -> [u64; 4] {
    STATS.each_ref().map(|s| s.load(Ordering::SeqCst))
}

static STATS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// The event callback (from `traps`): demultiplex, count, re-enable if the frame had events
/// enabled, and go round again while something is pending.
pub(crate) fn upcall(frame: &mut TrapFrame) {
    let bad = [
        true,
        upcall_mask().load(Ordering::SeqCst) != 1,
        !frame.interrupts_enabled(),
        frame.saved_upcall_mask() != 0,
    ];
    for (stat, hit) in STATS.iter().zip(bad) {
        if hit {
            stat.fetch_add(1, Ordering::SeqCst);
        }
    }
    upcall_mask().store(1, Ordering::SeqCst);
    loop {
        while upcall_pending().swap(0, Ordering::SeqCst) != 0 {
            let mut sel = pending_sel().swap(0, Ordering::SeqCst);
            while sel != 0 {
                let w = sel.trailing_zeros() as usize;
                sel &= sel - 1;
                let mut bits =
                    pending_word(w).load(Ordering::SeqCst) & !mask_word(w).load(Ordering::SeqCst);
                while bits != 0 {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    pending_word(w).fetch_and(!(1 << b), Ordering::SeqCst);
                    COUNTS[w * 64 + b].fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        if !frame.interrupts_enabled() {
            return;
        }
        upcall_mask().store(0, Ordering::SeqCst);
        if upcall_pending().load(Ordering::SeqCst) == 0 {
            return;
        }
        upcall_mask().store(1, Ordering::SeqCst);
    }
}

fn op<T>(cmd: u32, arg: &mut T) -> i64 {
    // SAFETY: every caller passes the structure `cmd` reads and writes (event_channel.h).
    unsafe {
        traps::hypercall(
            nr::EVENT_CHANNEL_OP,
            [u64::from(cmd), arg as *mut T as u64, 0, 0, 0],
        )
    }
}

fn port_or_err(rc: i64, port: u32) -> Result<u32, i64> {
    if rc == 0 {
        Ok(port)
    } else {
        Err(rc)
    }
}

/// `EVTCHNOP_bind_virq(virq, vcpu 0)` → the new port.
pub fn bind_virq(virq: u32) -> Result<u32, i64> {
    let mut a = EvtchnBindVirq {
        virq,
        vcpu: 0,
        port: 0,
    };
    let rc = op(EVTCHNOP_BIND_VIRQ, &mut a);
    port_or_err(rc, a.port)
}

/// `EVTCHNOP_bind_ipi(vcpu 0)` → the new port (a send on it notifies our vCPU 0).
pub fn bind_ipi() -> Result<u32, i64> {
    let mut a = EvtchnBindIpi { vcpu: 0, port: 0 };
    let rc = op(EVTCHNOP_BIND_IPI, &mut a);
    port_or_err(rc, a.port)
}

/// `EVTCHNOP_alloc_unbound(DOMID_SELF, remote)` → the new port.
pub fn alloc_unbound(remote: u16) -> Result<u32, i64> {
    let mut a = EvtchnAllocUnbound {
        dom: DOMID_SELF,
        remote_dom: remote,
        port: 0,
    };
    let rc = op(EVTCHNOP_ALLOC_UNBOUND, &mut a);
    port_or_err(rc, a.port)
}

/// `EVTCHNOP_bind_interdomain(remote_dom, remote_port)` → the new local port.
pub fn bind_interdomain(remote_dom: u16, remote_port: u32) -> Result<u32, i64> {
    let mut a = EvtchnBindInterdomain {
        remote_dom,
        _pad0: 0,
        remote_port,
        local_port: 0,
    };
    let rc = op(EVTCHNOP_BIND_INTERDOMAIN, &mut a);
    port_or_err(rc, a.local_port)
}

/// `EVTCHNOP_send(port)`.
pub fn send(port: u32) -> i64 {
    op(EVTCHNOP_SEND, &mut EvtchnSend { port })
}

/// `EVTCHNOP_close(port)`.
pub fn close(port: u32) -> i64 {
    op(EVTCHNOP_CLOSE, &mut EvtchnClose { port })
}

/// `EVTCHNOP_unmask(port)`: the hypervisor clears the mask and re-delivers if pending.
pub fn unmask_op(port: u32) -> i64 {
    op(EVTCHNOP_UNMASK, &mut EvtchnUnmask { port })
}

/// `EVTCHNOP_status(DOMID_SELF, port)`.
pub fn status(port: u32) -> Result<EvtchnStatus, i64> {
    let mut a = EvtchnStatus {
        dom: DOMID_SELF,
        port,
        ..Default::default()
    };
    match op(EVTCHNOP_STATUS, &mut a) {
        0 => Ok(a),
        rc => Err(rc),
    }
}

/// Sets up events the Mini-OS way: map shared_info, mask every port, enable upcalls.
/// Callbacks must be registered first. Returns the `update_va_mapping` result.
pub fn init(si: &StartInfo) -> i64 {
    let rc = map_shared_info(si);
    if rc == 0 {
        mask_all();
        irq_enable();
    }
    rc
}
