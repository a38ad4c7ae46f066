//! `event_channel_op(cmd, arg)` and its compat form (`event_channel_op_compat(op)` with the
//! command inside the structure): the guest side of `hv_core::evtchn`.
//!
//! A send on a port whose other end is the hypervisor runs that backend (console, xenstore);
//! any vCPU a raised port targets is woken. The FIFO ABI and PIRQs are not offered
//! (`-ENOSYS`), so guests use the 2-level ABI.

use hv_core::evtchn::{self, BackendService, Port, SendOutcome, VcpuId, Virq};
use pv_abi::errno;
use pv_abi::event_channel::*;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::{Call, Ret};
use crate::events::DomainPages;

fn ev_err(e: evtchn::EvtchnError) -> i64 {
    i64::from(e.to_errno())
}

/// Reads a command structure at `arg`, runs `f` on it, writes it back if `f` asks to.
fn with_arg<T: FromBytes + IntoBytes + Immutable>(
    call: &mut Call,
    arg: u64,
    f: impl FnOnce(&mut Call, &mut T) -> Result<bool, i64>,
) -> Ret {
    let mut t: T = match call.guest().read_obj(arg) {
        Ok(t) => t,
        Err(fault) => return fault.into(),
    };
    match f(call, &mut t) {
        Ok(true) => call
            .guest()
            .write_obj(arg, &t)
            .map_or_else(Ret::from, |_| Ret::Value(0)),
        Ok(false) => Ret::Value(0),
        Err(e) => Ret::Value(e),
    }
}

/// `EVTCHNOP_SEND`, the hot one: a function of its own, so that its blocks sit together
/// instead of spread over the other commands' code (under TCG each jump into another page
/// of code is a lookup).
#[inline(never)]
fn send(call: &mut Call, arg: u64) -> Ret {
    let me = evtchn::DomId(call.dom());
    with_arg(call, arg, |c, a: &mut EvtchnSend| {
        let hv = &mut *c.hv;
        match hv
            .events
            .send(me, Port(a.port), &mut DomainPages(&hv.domains))
            .map_err(ev_err)?
        {
            SendOutcome::Raised(n) => hv.kick(n),
            SendOutcome::Backend {
                service: BackendService::Console,
                ..
            } => hv.console_backend(me.0),
            SendOutcome::Backend {
                service: BackendService::Xenstore,
                ..
            } => hv.xenstore_backend(me.0),
            SendOutcome::Dropped => {}
        }
        Ok(false)
    })
}

fn op(call: &mut Call, cmd: u32, arg: u64) -> Ret {
    if cmd == EVTCHNOP_SEND {
        return send(call, arg);
    }
    let me = evtchn::DomId(call.dom());
    match cmd {
        EVTCHNOP_ALLOC_UNBOUND => with_arg(call, arg, |c, a: &mut EvtchnAllocUnbound| {
            let p =
                c.hv.events
                    .alloc_unbound(me, evtchn::DomId(a.dom), evtchn::DomId(a.remote_dom))
                    .map_err(ev_err)?;
            a.port = p.0;
            Ok(true)
        }),
        EVTCHNOP_BIND_INTERDOMAIN => with_arg(call, arg, |c, a: &mut EvtchnBindInterdomain| {
            let hv = &mut *c.hv;
            let (p, n) = hv
                .events
                .bind_interdomain(
                    me,
                    evtchn::DomId(a.remote_dom),
                    Port(a.remote_port),
                    &mut DomainPages(&hv.domains),
                )
                .map_err(ev_err)?;
            hv.kick(n);
            a.local_port = p.0;
            Ok(true)
        }),
        EVTCHNOP_BIND_VIRQ => with_arg(call, arg, |c, a: &mut EvtchnBindVirq| {
            let p =
                c.hv.events
                    .bind_virq(me, Virq(a.virq), VcpuId(a.vcpu))
                    .map_err(ev_err)?;
            a.port = p.0;
            Ok(true)
        }),
        EVTCHNOP_BIND_IPI => with_arg(call, arg, |c, a: &mut EvtchnBindIpi| {
            let p = c.hv.events.bind_ipi(me, VcpuId(a.vcpu)).map_err(ev_err)?;
            a.port = p.0;
            Ok(true)
        }),
        EVTCHNOP_CLOSE => with_arg(call, arg, |c, a: &mut EvtchnClose| {
            let hv = &mut *c.hv;
            hv.events
                .close(me, Port(a.port), &mut DomainPages(&hv.domains))
                .map_err(ev_err)?;
            Ok(false)
        }),
        EVTCHNOP_STATUS => with_arg(call, arg, |c, a: &mut EvtchnStatus| {
            let s =
                c.hv.events
                    .status(me, evtchn::DomId(a.dom), Port(a.port))
                    .map_err(ev_err)?;
            s.fill(a);
            Ok(true)
        }),
        EVTCHNOP_BIND_VCPU => with_arg(call, arg, |c, a: &mut EvtchnBindVcpu| {
            c.hv.events
                .bind_vcpu(me, Port(a.port), VcpuId(a.vcpu))
                .map_err(ev_err)?;
            Ok(false)
        }),
        EVTCHNOP_UNMASK => with_arg(call, arg, |c, a: &mut EvtchnUnmask| {
            let hv = &mut *c.hv;
            if let Some(v) = hv
                .events
                .unmask(me, Port(a.port), &mut DomainPages(&hv.domains))
                .map_err(ev_err)?
            {
                hv.wake_for_event((me.0, v.0 as usize), a.port);
            }
            Ok(false)
        }),
        EVTCHNOP_RESET => with_arg(call, arg, |c, a: &mut EvtchnReset| {
            let hv = &mut *c.hv;
            hv.events
                .reset(me, evtchn::DomId(a.dom), &mut DomainPages(&hv.domains))
                .map_err(ev_err)?;
            Ok(false)
        }),
        // FIFO ABI, PIRQs: not offered; guests fall back to the 2-level ABI.
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}

/// `event_channel_op(cmd, arg)`.
pub fn event_channel_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    op(call, cmd as u32, arg)
}

/// `event_channel_op_compat(op)`: `struct evtchn_op { u32 cmd; union … }`.
pub fn event_channel_op_compat(call: &mut Call) -> Ret {
    let [arg, ..] = call.args;
    let cmd: u32 = match call.guest().read_obj(arg) {
        Ok(c) => c,
        Err(f) => return f.into(),
    };
    op(call, cmd, arg + core::mem::offset_of!(EvtchnOp, u) as u64)
}
