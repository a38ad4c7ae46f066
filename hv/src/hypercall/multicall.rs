//! `multicall(entries, nr)`: run a batch of hypercalls, storing each result in its entry.
//!
//! Nested multicalls are refused; a call that does not return (the domain died) ends the batch.
//! Long batches are preempted as Xen's are (`hv_core::continuation`): before an entry after
//! the first when `Call::preempt_due`, and when an entry's own call is preempted — its
//! continuation arguments are written into the entry, which is then run again first.

use hv_core::continuation::MulticallBatch;
use pv_abi::errno;
use pv_abi::xen::{hypercall as nr, MulticallEntry};

use hv_core::profile::Kind;

use super::{Call, Ret};

/// Bytes per entry.
const ENTRY_SIZE: u64 = core::mem::size_of::<MulticallEntry>() as u64;
/// Where an entry's `result` lies in it.
const RESULT_OFFSET: u64 = core::mem::offset_of!(MulticallEntry, result) as u64;

/// The TLB flushes the calls owe are collected and done once at the end (or at a
/// continuation): Linux's pin and unpin multicalls change the type of every page-table page
/// they name (`hv_core::mm::tlb`).
pub fn multicall(call: &mut Call) -> Ret {
    super::mmu::flush_batch(call, run)
}

fn run(call: &mut Call) -> Ret {
    let batch = MulticallBatch::from_args(call.args);
    let list = batch.list;
    // Batch size in the profile's items (a continued batch counts its rest again).
    let dom = call.dom();
    call.hv
        .prof_items(dom, Kind::hypercall(nr::MULTICALL), u64::from(batch.count));
    for i in 0..u64::from(batch.count) {
        if i > 0 && call.preempt_due() {
            return Ret::Continue(batch.continuation(i as u32));
        }
        let mut e: MulticallEntry = match call.guest().read_elem(list, i) {
            Ok(e) => e,
            Err(f) => return f.into(),
        };
        let args = [e.args[0], e.args[1], e.args[2], e.args[3], e.args[4]];
        let ret = if e.op == nr::MULTICALL {
            Ret::Value(errno::neg(errno::EINVAL))
        } else {
            let mut inner = Call {
                hv: call.hv,
                who: call.who,
                args,
            };
            // Each call's time is its own; the multicall keeps only its overhead.
            let dom = inner.dom();
            inner.hv.prof_switch(dom, Kind::hypercall(e.op), true);
            let ret = super::call_one(&mut inner, e.op);
            inner
                .hv
                .prof_switch(dom, Kind::hypercall(nr::MULTICALL), false);
            ret
        };
        match ret {
            Ret::Value(v) => {
                // Only the result field goes back (Xen's way): 8 bytes, not the whole entry.
                let at = (i * ENTRY_SIZE)
                    .checked_add(RESULT_OFFSET)
                    .and_then(|off| list.checked_add(off));
                let written = at.is_some_and(|at| call.guest().write_obj(at, &(v as u64)).is_ok());
                if !written {
                    return Ret::Value(errno::neg(errno::EFAULT));
                }
            }
            Ret::Continue(rest) => {
                e.args[..5].copy_from_slice(&rest);
                if call.guest().write_elem(list, i, &e).is_err() {
                    return Ret::Value(errno::neg(errno::EFAULT));
                }
                return Ret::Continue(batch.continuation(i as u32));
            }
            Ret::NoReturn => return Ret::NoReturn,
        }
    }
    Ret::Value(0)
}
