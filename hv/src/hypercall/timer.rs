//! Guest timers and vCPU operations: `set_timer_op` and `vcpu_op` (timers, runstate,
//! is_up, register_vcpu_info). Timers fire VIRQ_TIMER on the vCPU at the requested system time.

use hv_core::evtchn::{DomId, VcpuId};
use pv_abi::errno;
use pv_abi::vcpu::*;

use super::{Call, Ret};

/// `set_timer_op(timeout_abs_ns)`: arm (or with 0, cancel) the vCPU's single-shot timer.
pub fn set_timer_op(call: &mut Call) -> Ret {
    let [timeout, ..] = call.args;
    call.hv.set_timer_op(call.who, timeout);
    Ret::Value(0)
}

/// `vcpu_op(cmd, vcpuid, arg)`.
pub fn vcpu_op(call: &mut Call) -> Ret {
    let [cmd, vcpuid, arg, ..] = call.args;
    let nr_vcpus = call
        .hv
        .domains
        .get(&call.dom())
        .map_or(0, |d| d.vcpus.len()) as u64;
    if vcpuid >= nr_vcpus {
        return Ret::Value(errno::neg(errno::ENOENT));
    }
    let own = vcpuid == call.who.1 as u64;
    let (dom, vcpu) = (DomId(call.dom()), VcpuId(vcpuid as u32));
    match cmd as u32 {
        VCPUOP_IS_UP => Ret::Value(1),
        VCPUOP_UP | VCPUOP_DOWN | VCPUOP_INITIALISE => Ret::Value(errno::neg(errno::EINVAL)),
        VCPUOP_SET_PERIODIC_TIMER if own => {
            let p: VcpuSetPeriodicTimer = match call.guest().read_obj(arg) {
                Ok(p) => p,
                Err(f) => return f.into(),
            };
            let now = call.hv.time.now();
            match call
                .hv
                .time
                .timers
                .set_periodic(dom, vcpu, p.period_ns, now)
            {
                Ok(()) => Ret::Value(0),
                Err(e) => Ret::Value(i64::from(e.to_errno())),
            }
        }
        VCPUOP_STOP_PERIODIC_TIMER if own => {
            call.hv.time.timers.stop_periodic(dom, vcpu);
            Ret::Value(0)
        }
        VCPUOP_SET_SINGLESHOT_TIMER if own => {
            let t: VcpuSetSingleshotTimer = match call.guest().read_obj(arg) {
                Ok(t) => t,
                Err(f) => return f.into(),
            };
            if t.flags & VCPU_SSHOTTMR_FUTURE != 0 && t.timeout_abs_ns < call.hv.time.now() {
                return Ret::Value(errno::neg(errno::ETIME));
            }
            call.hv
                .time
                .timers
                .set_single_shot(dom, vcpu, t.timeout_abs_ns);
            Ret::Value(0)
        }
        VCPUOP_STOP_SINGLESHOT_TIMER if own => {
            call.hv.time.timers.stop_single_shot(dom, vcpu);
            Ret::Value(0)
        }
        VCPUOP_SET_PERIODIC_TIMER
        | VCPUOP_STOP_PERIODIC_TIMER
        | VCPUOP_SET_SINGLESHOT_TIMER
        | VCPUOP_STOP_SINGLESHOT_TIMER => Ret::Value(errno::neg(errno::EINVAL)),
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => {
            let a: VcpuRegisterRunstateMemoryArea = match call.guest().read_obj(arg) {
                Ok(a) => a,
                Err(f) => return f.into(),
            };
            let who = (call.who.0, vcpuid as usize);
            if let Some(d) = call.hv.domain(who.0) {
                d.vcpus[who.1].runstate_area = a.addr;
            }
            call.hv.update_runstate(who);
            Ret::Value(0)
        }
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => {
            let a: VcpuRegisterTimeMemoryArea = match call.guest().read_obj(arg) {
                Ok(a) => a,
                Err(f) => return f.into(),
            };
            match call
                .hv
                .register_time_area((call.who.0, vcpuid as usize), a.addr)
            {
                Ok(()) => Ret::Value(0),
                Err(e) => Ret::Value(e),
            }
        }
        // Xen: on yourself (or a vCPU that is down; ours never are).
        VCPUOP_REGISTER_VCPU_INFO if own => {
            let a: VcpuRegisterVcpuInfo = match call.guest().read_obj(arg) {
                Ok(a) => a,
                Err(f) => return f.into(),
            };
            let who = (call.who.0, vcpuid as usize);
            match call.hv.register_vcpu_info(who, a.mfn, a.offset) {
                Ok(()) => {
                    if let Some(d) = call.hv.domain(who.0) {
                        d.pse.vcpu_info_registered();
                    }
                    Ret::Value(0)
                }
                Err(e) => Ret::Value(e),
            }
        }
        VCPUOP_REGISTER_VCPU_INFO => Ret::Value(errno::neg(errno::EINVAL)),
        VCPUOP_GET_RUNSTATE_INFO => {
            let info = call.hv.runstate_info((call.who.0, vcpuid as usize));
            call.guest()
                .write_obj(arg, &info)
                .map_or_else(Ret::from, |_| Ret::Value(0))
        }
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
