//! Typed wrappers for the PV MMU and reservation hypercalls (Xen ABI, `xen.h`/`memory.h`).
//!
//! Errors are the hypercall's negative Xen errno (`-22` = `-EINVAL`). Calls that can change
//! what a virtual address Rust code uses maps to (`mmu_update`, `update_va_mapping`, the
//! base-pointer and page-content `mmuext_op`s) are `unsafe`; pinning, unpinning, TLB flushes
//! and the reservation calls cannot touch live memory (the hypervisor refuses to release a
//! frame that is still mapped) and are safe.

use pv_abi::memory::{
    XenMachphysMapping, XenMemoryExchange, XenMemoryReservation, XENMEM_DECREASE_RESERVATION,
    XENMEM_EXCHANGE, XENMEM_MACHPHYS_MAPPING, XENMEM_MAXIMUM_RAM_PAGE, XENMEM_POPULATE_PHYSMAP,
};
use pv_abi::xen::{
    hypercall as nr, MmuUpdate, MmuextOp, DOMID_SELF, MMUEXT_INVLPG_LOCAL, MMUEXT_TLB_FLUSH_LOCAL,
    MMUEXT_UNPIN_TABLE,
};

use super::tables::Level;
use crate::traps::hypercall;

/// A batch call that stopped early: the negative errno and how many items were done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    /// The hypercall's return value (a negative Xen errno).
    pub errno: i64,
    /// Items completed before the failing one (the `done` output).
    pub done: u32,
}

/// `mmu_update(reqs, count, &done, DOMID_SELF)`.
///
/// # Safety
/// No request may change the mapping of a virtual address that Rust code uses (code, stack,
/// statics, anything behind a live reference).
pub unsafe fn mmu_update(reqs: &[MmuUpdate]) -> Result<(), BatchError> {
    let mut done = 0u32;
    let args = [
        reqs.as_ptr() as u64,
        reqs.len() as u64,
        &raw mut done as u64,
        u64::from(DOMID_SELF),
        0,
    ];
    // SAFETY: the hypervisor reads `reqs` and writes `done`, both ours; the caller vouches
    // for the effect of the requests.
    let rc = unsafe { hypercall(nr::MMU_UPDATE, args) };
    match rc {
        0 => Ok(()),
        errno => Err(BatchError { errno, done }),
    }
}

/// One `mmu_update` request `*ptr = val` (`ptr` carries the `MMU_*` command in bits 1:0).
///
/// # Safety
/// As [`mmu_update`].
pub unsafe fn mmu_update_one(ptr: u64, val: u64) -> Result<(), i64> {
    // SAFETY: forwarded from the caller.
    unsafe { mmu_update(&[MmuUpdate { ptr, val }]) }.map_err(|e| e.errno)
}

/// `mmuext_op(ops, count, &done, DOMID_SELF)`.
///
/// # Safety
/// No operation may change what a virtual address Rust code uses maps to, or the contents of
/// a frame Rust code uses (`NEW_BASEPTR`, `CLEAR_PAGE`, `COPY_PAGE`, `SET_LDT` ...).
pub unsafe fn mmuext_op(ops: &[MmuextOp]) -> Result<(), BatchError> {
    let mut done = 0u32;
    let args = [
        ops.as_ptr() as u64,
        ops.len() as u64,
        &raw mut done as u64,
        u64::from(DOMID_SELF),
        0,
    ];
    // SAFETY: the hypervisor reads `ops` and writes `done`; the caller vouches for the ops.
    let rc = unsafe { hypercall(nr::MMUEXT_OP, args) };
    match rc {
        0 => Ok(()),
        errno => Err(BatchError { errno, done }),
    }
}

/// One `mmuext_op` with command `cmd` and arguments `arg1`, `arg2`.
///
/// # Safety
/// As [`mmuext_op`].
pub unsafe fn mmuext(cmd: u32, arg1: u64, arg2: u64) -> Result<(), i64> {
    let op = MmuextOp {
        cmd,
        pad0: 0,
        arg1,
        arg2,
    };
    // SAFETY: forwarded from the caller.
    unsafe { mmuext_op(&[op]) }.map_err(|e| e.errno)
}

/// `MMUEXT_PIN_Ln_TABLE`: validate frame `mfn` as a `level` table and keep it typed.
pub fn pin(level: Level, mfn: u64) -> Result<(), i64> {
    // SAFETY: pinning changes the frame's type, never a mapping; a frame Rust code writes is
    // mapped writable, which the hypervisor refuses to type as a page table.
    unsafe { mmuext(level.pin_cmd(), mfn, 0) }
}

/// `MMUEXT_UNPIN_TABLE`.
pub fn unpin(mfn: u64) -> Result<(), i64> {
    // SAFETY: dropping a pin changes no mapping.
    unsafe { mmuext(MMUEXT_UNPIN_TABLE, mfn, 0) }
}

/// `MMUEXT_TLB_FLUSH_LOCAL`.
pub fn tlb_flush_local() -> Result<(), i64> {
    // SAFETY: a TLB flush changes no mapping.
    unsafe { mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0, 0) }
}

/// `MMUEXT_INVLPG_LOCAL` of `va`.
pub fn invlpg_local(va: u64) -> Result<(), i64> {
    // SAFETY: a TLB flush changes no mapping.
    unsafe { mmuext(MMUEXT_INVLPG_LOCAL, va, 0) }
}

/// `update_va_mapping(va, val, flags)`: set the L1 entry that maps `va`.
///
/// # Safety
/// As [`mmu_update`] for the page at `va`.
pub unsafe fn update_va_mapping(va: u64, val: u64, flags: u64) -> Result<(), i64> {
    // SAFETY: scalar arguments; the caller vouches for the new mapping.
    match unsafe { hypercall(nr::UPDATE_VA_MAPPING, [va, val, flags, 0, 0]) } {
        0 => Ok(()),
        errno => Err(errno),
    }
}

fn reservation(list: u64, nr_extents: usize, order: u32) -> XenMemoryReservation {
    XenMemoryReservation {
        extent_start: list,
        nr_extents: nr_extents as u64,
        extent_order: order,
        mem_flags: 0,
        domid: DOMID_SELF,
        pad0: [0; 6],
    }
}

fn memory_op(cmd: u32, arg: u64) -> i64 {
    // SAFETY: `arg` points at a reservation/exchange structure and lists owned by the caller
    // for the duration of the call; these sub-operations never change a mapping.
    unsafe { hypercall(nr::MEMORY_OP, [u64::from(cmd), arg, 0, 0, 0]) }
}

fn extents_done(rc: i64) -> Result<u64, i64> {
    u64::try_from(rc).map_err(|_| rc)
}

/// `XENMEM_populate_physmap`: `list` holds the first pfn of each wanted extent of
/// `2^order` pages; on return its first `n` entries hold the new extents' first mfns.
/// `Ok(n)` = extents done (fewer than asked on partial failure), `Err` = negative errno.
pub fn populate_physmap(list: &mut [u64], order: u32) -> Result<u64, i64> {
    let r = reservation(list.as_mut_ptr() as u64, list.len(), order);
    extents_done(memory_op(XENMEM_POPULATE_PHYSMAP, &raw const r as u64))
}

/// `XENMEM_decrease_reservation`: give back the extents whose first mfns are in `mfns`.
/// `Ok(n)` = extents released (the hypervisor stops at the first it refuses).
pub fn decrease_reservation(mfns: &[u64], order: u32) -> Result<u64, i64> {
    let r = reservation(mfns.as_ptr() as u64, mfns.len(), order);
    extents_done(memory_op(XENMEM_DECREASE_RESERVATION, &raw const r as u64))
}

/// The outcome of [`exchange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchanged {
    /// The hypercall's return value (0 or a negative errno).
    pub rc: i64,
    /// `nr_exchanged`: input extents exchanged (Xen counts *input extents*).
    pub nr_exchanged: u64,
}

/// `XENMEM_exchange`: trade the extents of order `in_order` at `in_mfns` for extents of order
/// `out_order`; `out` holds the wanted first pfns and receives the new first mfns.
pub fn exchange(in_mfns: &[u64], in_order: u32, out: &mut [u64], out_order: u32) -> Exchanged {
    let mut x = XenMemoryExchange {
        r#in: reservation(in_mfns.as_ptr() as u64, in_mfns.len(), in_order),
        out: reservation(out.as_mut_ptr() as u64, out.len(), out_order),
        nr_exchanged: 0,
    };
    let rc = memory_op(XENMEM_EXCHANGE, &raw mut x as u64);
    Exchanged {
        rc,
        nr_exchanged: x.nr_exchanged,
    }
}

/// `XENMEM_maximum_ram_page`: Xen's `max_page`, the bound of machine frame numbers (every
/// RAM frame is below it); a negative errno on failure.
pub fn maximum_ram_page() -> i64 {
    memory_op(XENMEM_MAXIMUM_RAM_PAGE, 0)
}

/// `XENMEM_machphys_mapping`: where the read-only M2P is and the largest mfn it covers.
pub fn machphys_mapping() -> Result<XenMachphysMapping, i64> {
    let mut m = XenMachphysMapping {
        v_start: 0,
        v_end: 0,
        max_mfn: 0,
    };
    match memory_op(XENMEM_MACHPHYS_MAPPING, &raw mut m as u64) {
        0 => Ok(m),
        errno => Err(errno),
    }
}
