//! Per-vCPU PV state the guest kernel registers: trap table, callbacks, the kernel stack for
//! bounces from user mode, virtual CR0.TS, segment bases — and `iret`, the way back from a
//! bounce frame.

use pv_abi::arch_x86::{
    IretContext, SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER, SEGBASE_GS_USER_SEL,
    VGCF_IN_SYSCALL,
};
use pv_abi::callback::*;
use pv_abi::errno;
use pv_abi::xen::TrapInfo;

use hv_core::mm::pte::is_canonical;
use hv_core::mm::Mfn;

use super::{Call, Ret};
use crate::arch::context;
use crate::arch::entry::TrapFrame;
use crate::bounce;
use crate::domain::Vcpu;
use crate::guest_memory::GuestMemory;

fn vcpu<'a>(call: &'a mut Call) -> Option<&'a mut Vcpu> {
    let who = call.who;
    call.hv.domain(who.0).map(|d| &mut d.vcpus[who.1])
}

/// `set_trap_table(traps)`: entries up to one whose address is 0; `traps == 0` clears.
/// Out of line: its 4 KiB table is built on the stack first, which inlined would make the
/// frame of the dispatch every hypercall goes through that large (with a stack probe).
#[inline(never)]
pub fn set_trap_table(call: &mut Call) -> Ret {
    let [list, ..] = call.args;
    let mut table = alloc::boxed::Box::new([TrapInfo::new(0, 0, 0, 0); 256]);
    if list != 0 {
        if let Some(v) = vcpu(call) {
            table.copy_from_slice(&v.traps[..]);
        }
        for i in 0..256u64 {
            let t: TrapInfo = match call.guest().read_elem(list, i) {
                Ok(t) => t,
                Err(f) => return f.into(),
            };
            if t.address == 0 {
                break;
            }
            if !is_canonical(t.address) {
                return Ret::Value(errno::neg(errno::EINVAL));
            }
            table[usize::from(t.vector)] = t;
        }
    }
    if let Some(v) = vcpu(call) {
        v.traps = table;
    }
    Ret::Value(0)
}

/// `set_callbacks(event, failsafe, syscall)`.
pub fn set_callbacks(call: &mut Call) -> Ret {
    let [event, failsafe, syscall, ..] = call.args;
    if ![event, failsafe, syscall].iter().all(|&a| is_canonical(a)) {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    if let Some(v) = vcpu(call) {
        v.callbacks.event = event;
        v.callbacks.failsafe = failsafe;
        v.callbacks.syscall = syscall;
        v.callbacks.failsafe_masks = false;
        v.callbacks.syscall_masks = false;
    }
    Ret::Value(0)
}

/// `callback_op(cmd, arg)`: register / unregister one callback.
pub fn callback_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    let (ty, flags, address) = match cmd as u32 {
        CALLBACKOP_REGISTER => match call.guest().read_obj::<CallbackRegister>(arg) {
            Ok(r) => (r.r#type, r.flags, r.address),
            Err(f) => return f.into(),
        },
        CALLBACKOP_UNREGISTER => match call.guest().read_obj::<u16>(arg) {
            Ok(t) => (t, 0, 0),
            Err(f) => return f.into(),
        },
        _ => return Ret::Value(errno::neg(errno::ENOSYS)),
    };
    if !is_canonical(address) {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let masks = flags & CALLBACKF_MASK_EVENTS != 0;
    let Some(v) = vcpu(call) else {
        return Ret::NoReturn;
    };
    let cb = &mut v.callbacks;
    match ty {
        CALLBACKTYPE_NMI => cb.nmi = address,
        // Registering is fine, as on Xen; unregistering exists only for the NMI callback.
        _ if cmd as u32 == CALLBACKOP_UNREGISTER => return Ret::Value(errno::neg(errno::EINVAL)),
        CALLBACKTYPE_EVENT => cb.event = address,
        CALLBACKTYPE_FAILSAFE => (cb.failsafe, cb.failsafe_masks) = (address, masks),
        CALLBACKTYPE_SYSCALL => (cb.syscall, cb.syscall_masks) = (address, masks),
        CALLBACKTYPE_SYSCALL32 => (cb.syscall32, cb.syscall32_masks) = (address, masks),
        // Recorded: SYSENTER is not set up in the CPU (it raises #GP, bounced to the guest).
        CALLBACKTYPE_SYSENTER => cb.sysenter = address,
        _ => return Ret::Value(errno::neg(errno::EINVAL)),
    }
    Ret::Value(0)
}

/// `stack_switch(ss, rsp)`: the kernel stack for bounces from guest user mode.
pub fn stack_switch(call: &mut Call) -> Ret {
    let [ss, sp, ..] = call.args;
    if let Some(v) = vcpu(call) {
        v.kernel_ss = ss | 3;
        v.kernel_sp = sp;
    }
    Ret::Value(0)
}

/// `fpu_taskswitch(set)`: sets or clears the virtual CR0.TS.
pub fn fpu_taskswitch(call: &mut Call) -> Ret {
    let [set, ..] = call.args;
    if let Some(v) = vcpu(call) {
        v.arch.virtual_ts = set != 0;
        v.arch.apply_ts();
    }
    Ret::Value(0)
}

/// `set_segment_base(which, base)`.
pub fn set_segment_base(call: &mut Call) -> Ret {
    let [which, base, ..] = call.args;
    match which as u32 {
        SEGBASE_FS | SEGBASE_GS_USER | SEGBASE_GS_KERNEL if !is_canonical(base) => {
            Ret::Value(errno::neg(errno::EINVAL))
        }
        SEGBASE_FS => {
            context::set_fs_base(base);
            Ret::Value(0)
        }
        // Hypercalls come from kernel mode: the user base is the inactive (shadow) one.
        SEGBASE_GS_USER => {
            context::set_shadow_gs_base(base);
            Ret::Value(0)
        }
        SEGBASE_GS_KERNEL => {
            context::set_gs_base(base);
            Ret::Value(0)
        }
        // Never fails (Linux BUGs if it does): a selector the CPU cannot load becomes null.
        SEGBASE_GS_USER_SEL => {
            context::load_user_gs_selector(base as u16);
            Ret::Value(0)
        }
        _ => Ret::Value(errno::neg(errno::EINVAL)),
    }
}

/// `iret()`: return from a bounce frame on the guest stack (A.4): restores rax, rip, cs,
/// rflags, rsp, ss (and r11, rcx unless `VGCF_in_syscall`), the upcall mask from RFLAGS.IF,
/// and switches to user mode when the frame's CS has RPL 3. `d` is the calling domain and
/// `v` the calling vCPU's index, already looked up by the SYSCALL entry (one lookup for all
/// of it: the address space to read the frame from, whether a user one exists, the upcall
/// mask and the switch to user mode). `Err` with the reason the domain must be crashed.
#[inline(always)]
pub fn iret(
    mm: &hv_core::mm::Mm<'static>,
    d: &mut crate::domain::Domain,
    v: usize,
    frame: &mut TrapFrame,
) -> Result<(), &'static str> {
    // The vCPU and shared_info borrowed apart: one lookup of the vCPU serves the frame, the
    // upcall mask and the switch to user mode.
    let crate::domain::Domain {
        vcpus, shared_info, ..
    } = d;
    let vcpu = &mut vcpus[v];
    let guest = GuestMemory::new(mm, Mfn(vcpu.current_root()));
    let Ok(ctx) = guest.read_obj::<IretContext>(frame.rsp) else {
        return Err("iret with an unreadable frame on the guest stack");
    };
    if let Some(info) = crate::vcpu_info::slot(shared_info, v, &vcpu.vcpu_info) {
        info.set_upcall_mask(ctx.rflags & (1 << 9) == 0);
    }
    // Returning to kernel code with RPL 3 (as direct iretq does) without a user address
    // space: stay in kernel mode.
    if ctx.cs & 3 == 3 && vcpu.user_root != 0 {
        iret_to_user_mode(vcpu);
    }
    frame.rax = ctx.rax;
    // r11 and rcx from the frame unless VGCF_in_syscall: chosen by mask, not a branch.
    let keep = crate::arch::cpu::opaque(u64::from(ctx.flags & VGCF_IN_SYSCALL != 0));
    let keep = keep.wrapping_neg();
    frame.r11 = (frame.r11 & keep) | (ctx.r11 & !keep);
    frame.rcx = (frame.rcx & keep) | (ctx.rcx & !keep);
    frame.rip = ctx.rip;
    frame.cs = ctx.cs | 3;
    frame.rflags = ctx.rflags;
    frame.rsp = ctx.rsp;
    frame.ss = ctx.ss | 3;
    Ok(())
}

/// The switch to guest user mode of an `iret`, out of line: the return to the guest kernel
/// (every bounce's) falls through.
#[cold]
#[inline(never)]
fn iret_to_user_mode(vcpu: &mut crate::domain::Vcpu) {
    bounce::enter_user_mode(vcpu);
}

/// `set_debugreg(reg, value)`: checked as Xen does (`hv_core::debugreg`), recorded, and put
/// into the CPU (`debugregs.rs`).
pub fn set_debugreg(call: &mut Call) -> Ret {
    let [reg, value, ..] = call.args;
    match hv_core::debugreg::check_set(reg, value) {
        Ok((index, value)) => {
            if let Some(v) = vcpu(call) {
                v.debugreg[index] = value;
            }
            call.hv.apply_debugreg(call.who, index);
            Ret::Value(0)
        }
        Err(e) => Ret::Value(errno::neg(e)),
    }
}

/// `get_debugreg(reg)`: the value recorded by `set_debugreg`.
pub fn get_debugreg(call: &mut Call) -> Ret {
    let [reg, ..] = call.args;
    match hv_core::debugreg::check_get(reg) {
        Ok(index) => Ret::Value(vcpu(call).map_or(0, |v| v.debugreg[index] as i64)),
        Err(e) => Ret::Value(errno::neg(e)),
    }
}
