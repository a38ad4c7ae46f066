//! `multicall(entries, nr)`: run a batch of hypercalls, storing each result in its entry.
//!
//! Nested multicalls are refused; a call that does not return (the domain died) ends the batch.

use pv_abi::errno;
use pv_abi::xen::{hypercall as nr, MulticallEntry};

use hv_core::profile::Kind;

use super::{Call, Ret};

/// Entries handled per call.
const MAX_ENTRIES: u64 = 1 << 16;

pub fn multicall(call: &mut Call) -> Ret {
    let [list, count, ..] = call.args;
    if count > MAX_ENTRIES {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    for i in 0..count {
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
                e.result = v as u64;
                if call.guest().write_elem(list, i, &e).is_err() {
                    return Ret::Value(errno::neg(errno::EFAULT));
                }
            }
            Ret::NoReturn => return Ret::NoReturn,
        }
    }
    Ret::Value(0)
}
