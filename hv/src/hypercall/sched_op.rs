//! `sched_op` and its compat form: yield, block, shutdown, poll.

use pv_abi::errno;
use pv_abi::sched::*;

use super::{Call, Ret};

fn op(call: &mut Call, cmd: u32, shutdown_reason: impl FnOnce(&Call) -> Result<u32, Ret>) -> Ret {
    match cmd {
        SCHEDOP_YIELD => {
            call.hv.preempt = true;
            Ret::Value(0)
        }
        SCHEDOP_BLOCK => Ret::Value(0),
        SCHEDOP_SHUTDOWN => match shutdown_reason(call) {
            Ok(reason) if reason <= SHUTDOWN_MAX => {
                call.hv.shutdown_domain(call.dom(), reason);
                Ret::NoReturn
            }
            Ok(_) => Ret::Value(errno::neg(errno::EINVAL)),
            Err(r) => r,
        },
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}

/// `sched_op(cmd, arg)`: `arg` points at the command's structure.
pub fn sched_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    op(call, cmd as u32, |c| {
        c.guest()
            .read_obj::<SchedShutdown>(arg)
            .map(|s| s.reason)
            .map_err(Ret::from)
    })
}

/// `sched_op_compat(cmd, arg)`: `arg` is the value itself (the shutdown reason).
pub fn sched_op_compat(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    op(call, cmd as u32, |_| Ok(arg as u32))
}
