//! `sched_op` and its compat form: yield, block, shutdown, poll.
//!
//! `block` unmasks event delivery (Xen's semantics) and sleeps until an event is pending;
//! `poll` sleeps until one of the given ports is pending or the timeout passes.

use alloc::vec::Vec;

use pv_abi::errno;
use pv_abi::sched::*;

use super::{Call, Ret};
use crate::domain::{PollState, RunState};

/// Most ports one `SCHEDOP_poll` may wait on (Xen's limit).
const MAX_POLL_PORTS: u32 = 128;

fn block(call: &mut Call) -> Ret {
    let who = call.who;
    let Some(info) = call.hv.vcpu_info(who) else {
        return Ret::NoReturn;
    };
    info.set_upcall_mask(false);
    if !info.upcall_pending() {
        if let Some(d) = call.hv.domain(who.0) {
            d.vcpus[who.1].state = RunState::Blocked;
        }
    }
    Ret::Value(0)
}

fn poll(call: &mut Call, arg: u64) -> Ret {
    let p: SchedPoll = match call.guest().read_obj(arg) {
        Ok(p) => p,
        Err(f) => return f.into(),
    };
    if p.nr_ports > MAX_POLL_PORTS {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let mut ports = Vec::with_capacity(p.nr_ports as usize);
    for i in 0..u64::from(p.nr_ports) {
        match call.guest().read_elem::<u32>(p.ports, i) {
            Ok(port) if (port as usize) < hv_core::evtchn::NR_PORTS as usize => ports.push(port),
            Ok(_) => return Ret::Value(errno::neg(errno::EINVAL)),
            Err(f) => return f.into(),
        }
    }
    let who = call.who;
    let Some(bits) = call.hv.shared_info(who.0) else {
        return Ret::NoReturn;
    };
    let any_pending = ports
        .iter()
        .any(|&port| hv_core::evtchn::EventBits::test_pending(&bits, hv_core::evtchn::Port(port)));
    if any_pending {
        return Ret::Value(0);
    }
    let now = call.hv.time.now();
    if p.timeout != 0 && p.timeout <= now {
        return Ret::Value(0);
    }
    if let Some(d) = call.hv.domain(who.0) {
        let v = &mut d.vcpus[who.1];
        v.state = RunState::Blocked;
        v.poll = Some(PollState {
            ports,
            deadline: (p.timeout != 0).then_some(p.timeout),
        });
    }
    Ret::Value(0)
}

fn op(
    call: &mut Call,
    cmd: u32,
    arg: u64,
    shutdown_reason: impl FnOnce(&Call) -> Result<u32, Ret>,
) -> Ret {
    match cmd {
        SCHEDOP_YIELD => {
            let cpu = call.hv.cpu();
            cpu.preempt = true;
            cpu.yielding = true;
            Ret::Value(0)
        }
        SCHEDOP_BLOCK => block(call),
        SCHEDOP_POLL => poll(call, arg),
        SCHEDOP_SHUTDOWN => match shutdown_reason(call) {
            Ok(reason) if reason <= SHUTDOWN_MAX => {
                call.hv.shutdown_domain(call.dom(), reason);
                Ret::NoReturn
            }
            Ok(_) => Ret::Value(errno::neg(errno::EINVAL)),
            Err(r) => r,
        },
        SCHEDOP_SHUTDOWN_CODE => Ret::Value(0),
        SCHEDOP_REMOTE_SHUTDOWN => Ret::Value(errno::neg(errno::EPERM)),
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}

/// `sched_op(cmd, arg)`: `arg` points at the command's structure.
pub fn sched_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    op(call, cmd as u32, arg, |c| {
        c.guest()
            .read_obj::<SchedShutdown>(arg)
            .map(|s| s.reason)
            .map_err(Ret::from)
    })
}

/// `sched_op_compat(cmd, arg)`: `arg` is the value itself (the shutdown reason).
pub fn sched_op_compat(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    op(call, cmd as u32, 0, |_| Ok(arg as u32))
}
