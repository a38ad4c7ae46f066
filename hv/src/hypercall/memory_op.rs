//! `memory_op`: reservations (with `extent_order` — order 9 gives an enabled superpage),
//! exchange, and the read-only queries (reservation sizes, memory map, M2P location).
//!
//! For a PV guest the guest's "gmfn" is the machine frame, so `decrease_reservation` and
//! `exchange` take MFNs, and `populate_physmap` takes the guest's pfns, sets the M2P for them
//! and writes the MFNs back into the guest's list.
//!
//! Reservations and exchanges are preempted and continued as Xen's are
//! (`hv_core::continuation`): the extents done go above `MEMOP_EXTENT_SHIFT` in `cmd`, an
//! exchange's progress in its `nr_exchanged`.

use alloc::vec::Vec;

use hv_core::continuation::MemoryOpCmd;
use hv_core::mm::{DomId, Mfn, TakenExtent};
use pv_abi::arch_x86::MACH2PHYS_VIRT_START;
use pv_abi::errno;
use pv_abi::memory::*;
use pv_abi::xen::DOMID_SELF;

use super::{Call, Ret};
use crate::arch::cpu;
use crate::mem::PAGE_SIZE;
use crate::memory::MemoryError;

/// Largest `extent_order` an ordinary domain may use (Xen's `CONFIG_DOMU_MAX_ORDER`).
pub const MAX_ORDER: u32 = 9;

fn own_domain(call: &Call, domid: u16) -> bool {
    domid == DOMID_SELF || domid == call.dom()
}

fn errno_of(e: MemoryError) -> i64 {
    match e {
        MemoryError::OutOfMemory => errno::neg(errno::ENOMEM),
        MemoryError::Mm(e) => i64::from(e.errno()),
        // Only the domain builder adopts frames.
        MemoryError::AdoptedOutOfRange => errno::neg(errno::EINVAL),
    }
}

/// The reservation operations: returns the number of extents done.
fn reservation(call: &mut Call, op: u32, start: u64, arg: u64) -> Ret {
    let r: XenMemoryReservation = match call.guest().read_obj(arg) {
        Ok(r) => r,
        Err(f) => return f.into(),
    };
    if !own_domain(call, r.domid) {
        return Ret::Value(errno::neg(errno::EPERM));
    }
    if r.extent_order > MAX_ORDER || r.nr_extents > (1 << 30) {
        return Ret::Value(start as i64);
    }
    let dom = DomId(call.dom());
    let order = r.extent_order;
    let mut done = start;
    while done < r.nr_extents {
        if done > start && call.preempt_due() {
            if call.hv.memory.mm.take_flush_needed() {
                cpu::flush_tlb();
            }
            return Ret::Continue(
                MemoryOpCmd {
                    op,
                    start_extent: start,
                }
                .continuation(done, arg),
            );
        }
        let ok = match op {
            XENMEM_INCREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
                let gpfn: u64 = if op == XENMEM_POPULATE_PHYSMAP {
                    match call.guest().read_elem(r.extent_start, done) {
                        Ok(g) => g,
                        Err(_) => break,
                    }
                } else {
                    0
                };
                match call.hv.memory.assign_block(dom, order) {
                    Ok(mfn) => {
                        if op == XENMEM_POPULATE_PHYSMAP {
                            for i in 0..(1u64 << order) {
                                call.hv.memory.set_m2p(mfn + i, gpfn.wrapping_add(i));
                            }
                        }
                        if r.extent_start != 0
                            && call.guest().write_elem(r.extent_start, done, &mfn).is_err()
                        {
                            // The guest can't learn the frame: give it back.
                            let _ = call.hv.memory.release_block(dom, mfn, order);
                            break;
                        }
                        true
                    }
                    Err(e) => {
                        log::debug!(
                            "d{}: {} order {order}: {e:?}",
                            dom.0,
                            if op == 0 { "increase" } else { "populate" }
                        );
                        false
                    }
                }
            }
            _ => {
                let mfn: u64 = match call.guest().read_elem(r.extent_start, done) {
                    Ok(m) => m,
                    Err(_) => break,
                };
                match call.hv.memory.release_block(dom, mfn, order) {
                    Ok(()) => true,
                    Err(e) => {
                        log::debug!(
                            "d{}: decrease_reservation mfn {mfn:#x} order {order}: {e:?}",
                            dom.0
                        );
                        false
                    }
                }
            }
        };
        if !ok {
            break;
        }
        done += 1;
    }
    if call.hv.memory.mm.take_flush_needed() {
        cpu::flush_tlb();
    }
    Ret::Value(done as i64)
}

/// `XENMEM_exchange`: trade extents of one order for extents of another, chunk by chunk;
/// a chunk is all-or-nothing.
fn exchange(call: &mut Call, arg: u64) -> Ret {
    let mut x: XenMemoryExchange = match call.guest().read_obj(arg) {
        Ok(x) => x,
        Err(f) => return f.into(),
    };
    let (inp, out) = (x.r#in, x.out);
    if !own_domain(call, inp.domid) || !own_domain(call, out.domid) {
        return Ret::Value(errno::neg(errno::EPERM));
    }
    if inp.extent_order > MAX_ORDER
        || out.extent_order > MAX_ORDER
        || inp.nr_extents.checked_shl(inp.extent_order)
            != out.nr_extents.checked_shl(out.extent_order)
        || inp.nr_extents > (1 << 30)
        || out.nr_extents > (1 << 30)
    {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let dom = DomId(call.dom());
    let big = inp.extent_order.max(out.extent_order);
    let in_per_chunk = 1u64 << (big - inp.extent_order);
    let out_per_chunk = 1u64 << (big - out.extent_order);
    let mut rc = 0;
    let mut preempted = false;
    // Like Xen, `nr_exchanged` counts input extents, whole chunks at a time.
    if !inp.nr_extents.is_multiple_of(in_per_chunk) || !x.nr_exchanged.is_multiple_of(in_per_chunk)
    {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let first = x.nr_exchanged;
    while x.nr_exchanged < inp.nr_extents {
        if x.nr_exchanged > first && call.preempt_due() {
            // Xen: progress in `nr_exchanged`, the call re-issued unchanged.
            preempted = true;
            break;
        }
        let chunk = x.nr_exchanged / in_per_chunk;
        // Take the input extents back, remembering them (blocks and `enabled` as they were)
        // to undo on failure.
        let mut taken: Vec<TakenExtent> = Vec::new();
        for k in 0..in_per_chunk {
            let idx = chunk * in_per_chunk + k;
            let r = call
                .guest()
                .read_elem::<u64>(inp.extent_start, idx)
                .map_err(|_| errno::neg(errno::EFAULT));
            let r = r.and_then(|mfn| {
                call.hv
                    .memory
                    .mm
                    .take_extent(dom, Mfn(mfn), inp.extent_order)
                    // Xen's steal_page failure: the frame is in use (or held).
                    .map_err(|_| errno::neg(errno::EINVAL))
            });
            match r {
                Ok(t) => taken.push(t),
                Err(e) => {
                    rc = e;
                    break;
                }
            }
        }
        // Hand out the new extents.
        let mut given: Vec<(u64, u64, u64)> = Vec::new();
        if rc == 0 {
            for k in 0..out_per_chunk {
                let idx = chunk * out_per_chunk + k;
                let gpfn = match call.guest().read_elem::<u64>(out.extent_start, idx) {
                    Ok(g) => g,
                    Err(_) => {
                        rc = errno::neg(errno::EFAULT);
                        break;
                    }
                };
                match call.hv.memory.assign_block(dom, out.extent_order) {
                    Ok(mfn) => given.push((idx, gpfn, mfn)),
                    Err(e) => {
                        rc = errno_of(e);
                        break;
                    }
                }
            }
        }
        if rc != 0 {
            // Undo: return the new extents, give the old ones back unchanged.
            for (_, _, mfn) in given {
                let _ = call.hv.memory.release_block(dom, mfn, out.extent_order);
            }
            for t in taken {
                let (base, order) = (t.base().0, t.order());
                if call.hv.memory.mm.restore_extent(t).is_err() {
                    // Cannot happen (the frames were never handed out): free, not leak.
                    log::warn!("d{}: exchange undo of {base:#x} failed", dom.0);
                    call.hv.memory.free_released(base, order);
                }
            }
            break;
        }
        for t in taken {
            call.hv.memory.free_released(t.base().0, t.order());
        }
        for (idx, gpfn, mfn) in given {
            for i in 0..(1u64 << out.extent_order) {
                call.hv.memory.set_m2p(mfn + i, gpfn.wrapping_add(i));
            }
            let _ = call.guest().write_elem(out.extent_start, idx, &mfn);
        }
        x.nr_exchanged += in_per_chunk;
    }
    if call.hv.memory.mm.take_flush_needed() {
        cpu::flush_tlb();
    }
    let nr = x.nr_exchanged;
    let off = core::mem::offset_of!(XenMemoryExchange, nr_exchanged) as u64;
    if call.guest().write_obj(arg + off, &nr).is_err() {
        return Ret::Value(errno::neg(errno::EFAULT));
    }
    if preempted {
        let cmd = MemoryOpCmd {
            op: XENMEM_EXCHANGE,
            start_extent: 0,
        };
        return Ret::Continue(cmd.continuation(0, arg));
    }
    Ret::Value(rc)
}

/// `memory_op(cmd, arg)`.
pub fn memory_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    let op = memop_cmd(cmd);
    let start = memop_start_extent(cmd);
    match op {
        XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION | XENMEM_POPULATE_PHYSMAP => {
            reservation(call, op, start, arg)
        }
        XENMEM_EXCHANGE => exchange(call, arg),
        XENMEM_MAXIMUM_RAM_PAGE => Ret::Value(call.hv.memory.max_mfn() as i64),
        XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
            let domid: u16 = match call.guest().read_obj(arg) {
                Ok(d) => d,
                Err(f) => return f.into(),
            };
            if !own_domain(call, domid) {
                return Ret::Value(errno::neg(errno::EPERM));
            }
            let dom = DomId(call.dom());
            let v = if op == XENMEM_CURRENT_RESERVATION {
                call.hv.memory.mm.domain_pages(dom).unwrap_or(0)
            } else {
                call.hv.domains.get(&dom.0).map_or(0, |d| d.max_pages)
            };
            Ret::Value(v as i64)
        }
        XENMEM_MEMORY_MAP => {
            let map: XenMemoryMap = match call.guest().read_obj(arg) {
                Ok(m) => m,
                Err(f) => return f.into(),
            };
            if map.nr_entries < 1 {
                return Ret::Value(errno::neg(errno::EINVAL));
            }
            let max_pages = call.hv.domains.get(&call.dom()).map_or(0, |d| d.max_pages);
            // One RAM region covering the reservation ceiling plus the toolstack's 8 MiB slack.
            let e = E820Entry {
                addr: 0,
                size: max_pages * PAGE_SIZE + (8 << 20),
                r#type: E820_RAM,
            };
            let g = call.guest();
            if g.write_obj(map.buffer, &e).is_err() || g.write_obj(arg, &1u32).is_err() {
                return Ret::Value(errno::neg(errno::EFAULT));
            }
            Ret::Value(0)
        }
        XENMEM_MACHINE_MEMORY_MAP => Ret::Value(errno::neg(errno::EPERM)),
        XENMEM_MACHPHYS_MFN_LIST => {
            let mut l: XenMachphysMfnList = match call.guest().read_obj(arg) {
                Ok(l) => l,
                Err(f) => return f.into(),
            };
            let chunks = call.hv.memory.m2p_chunks();
            let n = (l.max_extents as usize).min(chunks.len());
            for (i, mfn) in chunks.iter().take(n).enumerate() {
                if call
                    .guest()
                    .write_elem(l.extent_start, i as u64, mfn)
                    .is_err()
                {
                    return Ret::Value(errno::neg(errno::EFAULT));
                }
            }
            l.nr_extents = n as u32;
            call.guest()
                .write_obj(arg, &l)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        XENMEM_MACHPHYS_MAPPING => {
            let max_mfn = call.hv.memory.max_mfn();
            let m = XenMachphysMapping {
                v_start: MACH2PHYS_VIRT_START,
                v_end: MACH2PHYS_VIRT_START + (max_mfn * 8).next_multiple_of(PAGE_SIZE),
                max_mfn: max_mfn - 1,
            };
            call.guest()
                .write_obj(arg, &m)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
