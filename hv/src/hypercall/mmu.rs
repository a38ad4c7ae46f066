//! The PV MMU hypercalls: `mmu_update`, `mmuext_op`, `update_va_mapping` (and its refused
//! `_otherdomain` form), `vm_assist`.
//!
//! Every change goes through the page-type state machine (`hv_core::mm`), which validates it
//! with Xen's rules (superpages included). Batches stop at the first bad item, report how many
//! were done through the guest's `done` pointer, and never leave an item half applied. Long
//! batches are preempted and continued as Xen's are (`hv_core::continuation`).

use hv_core::continuation::MmuBatch;
use hv_core::mm::pte::is_canonical;
use hv_core::mm::{BaseKind, DomId, DomRef, GuestFlush, Mfn, MmError, PageLevel, TlbAction};
use hv_core::profile::Kind;
use pv_abi::errno;
use pv_abi::xen::*;
use zerocopy::{FromBytes, IntoBytes};

use super::{Call, Ret};
use crate::arch::{context, cpu};
use crate::memory::DirectMapMemory;

/// The errno an item's closure returns to stop a batch for preemption (never a real errno).
const PREEMPTED: i64 = i64::MIN;

fn mm_err(e: MmError) -> i64 {
    i64::from(e.errno())
}

/// [`mm_err`] out of line, for the per-request path: inlined, the error's `match` merges
/// with the success test into a jump table (an indirect branch, a TB lookup under TCG, on
/// every request).
#[cold]
#[inline(never)]
fn mm_err_cold(e: MmError) -> i64 {
    mm_err(e)
}

/// Checks the `foreigndom` argument: only the caller itself is allowed (we have no
/// privileged domains yet).
fn foreign_ok(call: &Call, foreigndom: u64) -> bool {
    let fd = foreigndom_fd(foreigndom as u32);
    let pfd = foreigndom_pfd(foreigndom as u32);
    (fd == DOMID_SELF || fd == call.dom()) && (pfd == DOMID_SELF || pfd == call.dom())
}

/// Requests copied from the guest at a time: one page walk per page of the array instead of
/// one per request.
const CHUNK: usize = 32;

/// Reads a guest array of `count` `T`s at `va` in chunks of `chunk` (at most [`CHUNK`]) and
/// hands each element to `each` in order until it returns `Err`. Elements are read ahead of
/// the operations on earlier ones: a batch that remaps its own request array sees the old
/// contents, which the guest could read anyway. A chunk that cannot be read whole is read
/// element by element, so a fault stops exactly at the first unreadable element (as Xen's
/// one-at-a-time copies do): `Err(FaultAt(i))`.
fn for_each_elem<T: FromBytes + IntoBytes + Copy>(
    call: &mut Call,
    va: u64,
    count: u64,
    chunk: usize,
    mut each: impl FnMut(&mut Call, u64, T) -> Result<(), i64>,
) -> Result<(), Stop> {
    if count <= 1 || chunk <= 1 {
        // Singles (the common `set_pte` batch of one, and every mmuext_op): no buffer.
        for i in 0..count {
            let elem = call
                .guest()
                .read_elem(va, i)
                .map_err(|_| Stop::FaultAt(i))?;
            each(call, i, elem).map_err(Stop::Failed)?;
        }
        return Ok(());
    }
    let size = core::mem::size_of::<T>() as u64;
    let mut buf = [T::new_zeroed(); CHUNK];
    let mut start = 0;
    while start < count {
        let n = (count - start).min(chunk.clamp(1, CHUNK) as u64) as usize;
        let at = start
            .checked_mul(size)
            .and_then(|off| va.checked_add(off))
            .ok_or(Stop::FaultAt(start))?;
        let whole = call.guest().read(at, buf[..n].as_mut_bytes()).is_ok();
        for (k, slot) in buf[..n].iter_mut().enumerate() {
            let i = start + k as u64;
            if !whole {
                *slot = call
                    .guest()
                    .read_elem(va, i)
                    .map_err(|_| Stop::FaultAt(i))?;
            }
            each(call, i, *slot).map_err(Stop::Failed)?;
        }
        start += n as u64;
    }
    Ok(())
}

/// Why a batch stopped early.
enum Stop {
    /// Element `i` could not be read.
    FaultAt(u64),
    /// An element's operation failed with this errno.
    Failed(i64),
}

/// Does what the TLB needs after an operation and the guest's request `guest` (see
/// `hv_core::mm::tlb`: a full flush waits for the end of a collecting batch).
pub(super) fn tlb_after(call: &mut Call, guest: GuestFlush, va: u64) {
    match call.hv.memory.mm.tlb_after(guest) {
        TlbAction::Nothing => {}
        TlbAction::Invlpg => {
            if is_canonical(va) {
                cpu::invlpg(va);
            }
        }
        TlbAction::Full => cpu::flush_tlb(),
    }
}

/// Flushes the TLB if the page-type state machine asks for it (or leaves it to the batch).
fn flush_if_needed(call: &mut Call) {
    tlb_after(call, GuestFlush::None, 0);
}

/// Runs `body` as a batch whose TLB flushes are collected and done once at its end (the
/// guest resumes only after it, or at a continuation, which ends it too).
pub(super) fn flush_batch(call: &mut Call, body: impl FnOnce(&mut Call) -> Ret) -> Ret {
    if !call.hv.flush_batch_on {
        return body(call);
    }
    let outer = call.hv.memory.mm.begin_flush_batch();
    let ret = body(call);
    if call.hv.memory.mm.end_flush_batch(outer) {
        cpu::flush_tlb();
    }
    ret
}

/// Writes `done` to the guest's `done` pointer (if any) and returns `rc`.
fn finish(call: &Call, done_ptr: u64, done: u32, rc: i64) -> Ret {
    if done_ptr != 0 && call.guest().write_obj(done_ptr, &done).is_err() {
        return Ret::Value(errno::neg(errno::EFAULT));
    }
    Ret::Value(rc)
}

/// Items done before this invocation: `*pdone` of a continued batch (Xen ignores a fault
/// there), else 0.
fn done_before(call: &Call, b: &MmuBatch) -> u32 {
    if !b.resumed || b.done_ptr == 0 {
        return 0;
    }
    call.guest().read_obj(b.done_ptr).unwrap_or(0)
}

/// Ends a batch of `size`-byte items that stopped with `stop` after `done_here` items:
/// `*pdone` gets the total; a preempted batch continues with the rest.
fn end_batch(
    call: &Call,
    b: &MmuBatch,
    size: u64,
    done: u32,
    done_here: u32,
    stop: Result<(), Stop>,
) -> Ret {
    if let Err(Stop::Failed(PREEMPTED)) = stop {
        return match finish(call, b.done_ptr, done, 0) {
            Ret::Value(0) => Ret::Continue(b.continuation(done_here, size)),
            fault => fault,
        };
    }
    let rc = stop_errno(call, stop);
    finish(call, b.done_ptr, done, rc)
}

/// The errno a batch returns: 0, or why it stopped.
fn stop_errno(call: &Call, stop: Result<(), Stop>) -> i64 {
    match stop {
        Ok(()) => 0,
        Err(Stop::Failed(e)) => e,
        Err(Stop::FaultAt(i)) => {
            log::debug!("d{}: cannot read request #{i}", call.dom());
            errno::neg(errno::EFAULT)
        }
    }
}

/// One `mmu_update` request.
fn mmu_update_one(
    call: &mut Call,
    dom: DomId,
    dref: Result<DomRef, MmError>,
    req: &MmuUpdate,
) -> Result<(), i64> {
    // The command is in the low three bits (Xen rejects 4..=7 as unknown commands).
    let cmd = req.ptr & 7;
    match cmd {
        MMU_NORMAL_PT_UPDATE | MMU_PT_UPDATE_PRESERVE_AD => {
            let preserve_ad = cmd == MMU_PT_UPDATE_PRESERVE_AD;
            call.hv
                .memory
                .mm
                .mmu_update_as(
                    dref.map_err(mm_err)?,
                    req.ptr & !MMU_CMD_MASK,
                    req.val,
                    preserve_ad,
                    &mut DirectMapMemory,
                )
                .map_err(mm_err_cold)
        }
        MMU_MACHPHYS_UPDATE => {
            let mfn = req.ptr >> 12;
            let old = call.hv.memory.m2p(mfn);
            match call.hv.memory.mm.m2p_updated(dom, Mfn(mfn), old, req.val) {
                Ok(()) => {
                    call.hv.memory.set_m2p(mfn, req.val);
                    Ok(())
                }
                Err(e) => Err(mm_err(e)),
            }
        }
        _ => Err(errno::neg(errno::ENOSYS)),
    }
}

/// `mmu_update` requests between looks at a due timer or event (Xen looks before every
/// one): the look (a TSC read, the time scale, the vCPU's event flags) cost ~35 of the
/// ~430 instructions of a request under TCG (Mini-OS maps its memory in 512-request
/// batches). A request that validated or devalidated a whole table (unbounded work: a
/// tree) is followed by a look at once, so the look waits for at most 7 requests of a few
/// entries each.
const PREEMPT_EVERY: u64 = 8;

/// `mmu_update(reqs, count, done, foreigndom)`.
#[inline(never)]
pub fn mmu_update(call: &mut Call) -> Ret {
    let b = MmuBatch::from_args(call.args);
    if !foreign_ok(call, b.foreigndom) {
        return Ret::Value(errno::neg(errno::EPERM));
    }
    let dom = DomId(call.dom());
    // The caller's policy, looked up once for the batch (it cannot change meanwhile).
    let dref = call.hv.memory.mm.dom_ref(dom);
    let mut done = done_before(call, &b);
    let mut done_here = 0;
    let count = u64::from(b.count);
    let mut walked = call.hv.memory.mm.tables_walked();
    let stop = for_each_elem(call, b.list, count, CHUNK, |call, i, req: MmuUpdate| {
        let now_walked = call.hv.memory.mm.tables_walked();
        let look = i % PREEMPT_EVERY == 0 || now_walked != walked;
        walked = now_walked;
        if i > 0 && look && call.preempt_due() {
            return Err(PREEMPTED);
        }
        let result = mmu_update_one(call, dom, dref, &req);
        if let Err(e) = result {
            log::debug!(
                "d{}: mmu_update #{i} ptr {:#x} val {:#x}: {e}",
                dom.0,
                req.ptr,
                req.val
            );
        }
        result.map(|()| {
            // Xen's `unsigned int`: a continued batch's `*pdone` is the guest's to choose.
            done = done.wrapping_add(1);
            done_here += 1;
        })
    });
    // Flushes are collected over the batch and done once (Xen's way): the guest does not
    // run before we return, and the hypervisor's own copies walk the tables in software.
    flush_if_needed(call);
    end_batch(call, &b, 16, done, done_here, stop)
}

/// Sets the calling vCPU's kernel or user root after the state machine accepted it, and loads
/// it if the vCPU is running on it.
fn switch_root(call: &mut Call, kind: BaseKind, mfn: u64) {
    let Some(d) = call.hv.domain(call.who.0) else {
        return;
    };
    let v = &mut d.vcpus[call.who.1];
    match kind {
        BaseKind::Kernel => v.kernel_root = mfn,
        // Hypercalls come from guest kernel mode, which runs on the kernel root: the user
        // root is loaded at the next switch to user mode (Xen's NEW_USER_BASEPTR does not
        // touch CR3 either). Nothing to load, so no CR3 read.
        BaseKind::User if v.kernel_mode => {
            v.user_root = mfn;
            return;
        }
        BaseKind::User => v.user_root = mfn,
    }
    let root = v.current_root();
    v.arch.cr3 = root * 4096;
    // A load that drops every translation settles any flush owed so far.
    if context::load_cr3(root * 4096) && cpu::cr3_load_flushes_all() && call.hv.flush_batch_on {
        call.hv.memory.mm.cr3_loaded();
    }
}

fn mmuext_one(call: &mut Call, op: &MmuextOp) -> Result<(), i64> {
    let dom = DomId(call.dom());
    let vcpu = call.who.1 as u32;
    let mut mem = DirectMapMemory;
    let mm = &mut call.hv.memory.mm;
    let level = |cmd| match cmd {
        MMUEXT_PIN_L1_TABLE => PageLevel::L1,
        MMUEXT_PIN_L2_TABLE => PageLevel::L2,
        MMUEXT_PIN_L3_TABLE => PageLevel::L3,
        _ => PageLevel::L4,
    };
    match op.cmd {
        MMUEXT_PIN_L1_TABLE | MMUEXT_PIN_L2_TABLE | MMUEXT_PIN_L3_TABLE | MMUEXT_PIN_L4_TABLE => mm
            .pin(dom, Mfn(op.arg1), level(op.cmd), &mut mem)
            .map_err(mm_err),
        MMUEXT_UNPIN_TABLE => mm.unpin(dom, Mfn(op.arg1), &mut mem).map_err(mm_err),
        MMUEXT_NEW_BASEPTR => {
            mm.set_baseptr(dom, vcpu, BaseKind::Kernel, Some(Mfn(op.arg1)), &mut mem)
                .map_err(mm_err)?;
            switch_root(call, BaseKind::Kernel, op.arg1);
            Ok(())
        }
        MMUEXT_NEW_USER_BASEPTR => {
            let new = (op.arg1 != 0).then_some(Mfn(op.arg1));
            mm.set_baseptr(dom, vcpu, BaseKind::User, new, &mut mem)
                .map_err(mm_err)?;
            switch_root(call, BaseKind::User, op.arg1);
            Ok(())
        }
        MMUEXT_TLB_FLUSH_LOCAL | MMUEXT_TLB_FLUSH_MULTI | MMUEXT_TLB_FLUSH_ALL => {
            tlb_after(call, GuestFlush::Full, 0);
            Ok(())
        }
        MMUEXT_INVLPG_LOCAL | MMUEXT_INVLPG_MULTI | MMUEXT_INVLPG_ALL => {
            tlb_after(call, GuestFlush::Invlpg, op.arg1);
            Ok(())
        }
        MMUEXT_FLUSH_CACHE | MMUEXT_FLUSH_CACHE_GLOBAL => Err(errno::neg(errno::EACCES)),
        MMUEXT_SET_LDT => {
            crate::descriptors::set_ldt(call.hv, call.who, op.arg1, op.nr_ents()).map_err(|e| {
                // Xen answers -EINVAL for a bad LDT (it maps the pages lazily).
                log::debug!("d{}: SET_LDT {:#x}: {e}", call.who.0, op.arg1);
                errno::neg(errno::EINVAL)
            })
        }
        MMUEXT_CLEAR_PAGE => mm.clear_page(dom, Mfn(op.arg1), &mut mem).map_err(mm_err),
        MMUEXT_COPY_PAGE => mm
            .copy_page(dom, Mfn(op.arg1), Mfn(op.arg2), &mut mem)
            .map_err(mm_err),
        MMUEXT_MARK_SUPER | MMUEXT_UNMARK_SUPER => Err(errno::neg(errno::EOPNOTSUPP)),
        _ => Err(errno::neg(errno::ENOSYS)),
    }
}

/// `mmuext_op(ops, count, done, foreigndom)`.
#[inline(never)]
pub fn mmuext_op(call: &mut Call) -> Ret {
    let b = MmuBatch::from_args(call.args);
    if !foreign_ok(call, b.foreigndom) {
        return Ret::Value(errno::neg(errno::EPERM));
    }
    // The batch's flushes are collected (a Linux pin or unpin changes the type of every
    // page-table page it names) and done once; a CR3 load on the way settles them.
    flush_batch(call, |call| mmuext_batch(call, &b))
}

/// The items of an `mmuext_op` batch.
fn mmuext_batch(call: &mut Call, b: &MmuBatch) -> Ret {
    let mut done = done_before(call, b);
    let mut done_here = 0;
    let count = u64::from(b.count);
    // One op at a time: NEW_BASEPTR switches the address space the rest is read through.
    let stop = for_each_elem(call, b.list, count, 1, |call, i, op: MmuextOp| {
        if i > 0 && call.preempt_due() {
            return Err(PREEMPTED);
        }
        // Each item's time is split out by command.
        let (dom, kind) = (call.dom(), Kind::Mmuext(op.cmd.min(255) as u8));
        call.hv.prof_switch(dom, kind, true);
        let result = mmuext_one(call, &op);
        // Owed flushes wait for the batch's end (copies meanwhile walk in software).
        flush_if_needed(call);
        call.hv
            .prof_switch(dom, Kind::hypercall(hypercall::MMUEXT_OP), false);
        if let Err(e) = result {
            log::debug!(
                "d{}: mmuext_op #{i} cmd {} arg1 {:#x}: {e}",
                call.dom(),
                op.cmd,
                op.arg1
            );
        }
        result.map(|()| {
            // Xen's `unsigned int`: a continued batch's `*pdone` is the guest's to choose.
            done = done.wrapping_add(1);
            done_here += 1;
        })
    });
    end_batch(call, b, 24, done, done_here, stop)
}

/// `update_va_mapping(va, val, flags)`: change the L1 entry mapping `va` in the current
/// address space.
#[inline(never)]
pub fn update_va_mapping(call: &mut Call) -> Ret {
    let [va, val, flags, ..] = call.args;
    let dom = DomId(call.dom());
    let root = call
        .hv
        .domains
        .get(&dom.0)
        .map_or(0, |d| d.vcpus[call.who.1].current_root());
    let r = call
        .hv
        .memory
        .mm
        .update_va_mapping(dom, Mfn(root), va, val, &mut DirectMapMemory);
    if let Err(e) = r {
        flush_if_needed(call);
        log::debug!(
            "d{}: update_va_mapping {va:#x} -> {val:#x}: {e} (target frame: {:?})",
            dom.0,
            call.hv
                .memory
                .mm
                .frame_info(Mfn((val & hv_core::mm::ADDR_MASK) >> 12))
        );
        return Ret::Value(mm_err(e));
    }
    let guest = match flags & UVMF_FLUSHTYPE_MASK {
        UVMF_TLB_FLUSH => GuestFlush::Full,
        UVMF_INVLPG => GuestFlush::Invlpg,
        _ => GuestFlush::None,
    };
    tlb_after(call, guest, va);
    Ret::Value(0)
}

/// `update_va_mapping_otherdomain`: only for privileged domains, which we do not have.
pub fn update_va_mapping_otherdomain(_call: &mut Call) -> Ret {
    Ret::Value(errno::neg(errno::EPERM))
}

/// VM assists a 64-bit PV guest may turn on.
const VALID_ASSISTS: u64 = (1 << VMASST_TYPE_4GB_SEGMENTS)
    | (1 << VMASST_TYPE_4GB_SEGMENTS_NOTIFY)
    | (1 << VMASST_TYPE_WRITABLE_PAGETABLES)
    | (1 << VMASST_TYPE_PAE_EXTENDED_CR3)
    | (1 << VMASST_TYPE_ARCHITECTURAL_IOPL)
    | (1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG)
    | (1 << VMASST_TYPE_M2P_STRICT);

/// `vm_assist(cmd, type)`.
pub fn vm_assist(call: &mut Call) -> Ret {
    let [cmd, ty, ..] = call.args;
    if ty >= 64 || VALID_ASSISTS & (1 << ty) == 0 {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let Some(d) = call.hv.domain(call.dom()) else {
        return Ret::NoReturn;
    };
    match cmd as u32 {
        VMASST_CMD_ENABLE => d.vm_assist |= 1 << ty,
        VMASST_CMD_DISABLE => d.vm_assist &= !(1 << ty),
        _ => return Ret::Value(errno::neg(errno::ENOSYS)),
    }
    Ret::Value(0)
}
