//! Hypercall entry and dispatch.
//!
//! A 64-bit PV guest enters with `syscall` (directly, or from a hypercall-page stub). From
//! guest kernel mode that is a hypercall: number in `rax`, arguments in `rdi, rsi, rdx, r10,
//! r8`, result in `rax`. (From guest user mode it is the guest's own system call, bounced to
//! its syscall callback.) Unknown numbers return `-ENOSYS`.

mod console;
mod descriptor;
mod evtchn;
mod gnttab;
mod gnttab_copy;
mod gnttab_map;
mod memory_op;
mod mmu;
mod multicall;
mod physdev;
mod pv;
mod sched_op;
mod timer;
mod version;

pub use version::XEN_VERSION_NUMBER;

use pv_abi::errno;
use pv_abi::xen::hypercall as nr;

use hv_core::profile::Kind;

use crate::arch::entry::TrapFrame;
use crate::domain::DomainId;
use crate::guest_memory::{GuestFault, GuestMemory};
use crate::hypervisor::{Hypervisor, VcpuRef};

/// What a hypercall handler produced.
pub enum Ret {
    /// Return this value in `rax`.
    Value(i64),
    /// The vCPU does not return from the call (its domain died, or it was redirected).
    NoReturn,
    /// Preempted: the guest re-issues the same hypercall with these arguments
    /// (`hv_core::continuation` encodes them as Xen does).
    Continue([u64; 5]),
}

impl From<i64> for Ret {
    fn from(v: i64) -> Self {
        Ret::Value(v)
    }
}

/// `-EFAULT` for an inaccessible guest address.
impl From<GuestFault> for Ret {
    fn from(_: GuestFault) -> Self {
        Ret::Value(errno::neg(errno::EFAULT))
    }
}

/// The calling context of a hypercall.
pub struct Call<'a> {
    /// The whole state.
    pub hv: &'a mut Hypervisor,
    /// The calling vCPU.
    pub who: VcpuRef,
    /// Argument registers.
    pub args: [u64; 5],
}

impl Call<'_> {
    /// The calling domain.
    pub fn dom(&self) -> DomainId {
        self.who.0
    }

    /// Whether a long batch should stop here and continue later (Xen's
    /// `hypercall_preempt_check`): a timer deadline (a time slice's end, a guest timer, the
    /// hypervisor's tick) has passed — its interrupt is pending and is taken as soon as the
    /// guest runs — or an unmasked event is pending for the calling vCPU.
    pub fn preempt_due(&self) -> bool {
        let hv = &*self.hv;
        if hv.time.armed.is_some_and(|t| hv.time.now() >= t) {
            return true;
        }
        hv.domains
            .get(&self.who.0)
            .and_then(|d| d.vcpu_info(self.who.1))
            .is_some_and(|info| info.upcall_due())
    }

    /// The caller's address space (its current root).
    pub fn guest(&self) -> GuestMemory<'_> {
        let root = self
            .hv
            .domains
            .get(&self.who.0)
            .map_or(0, |d| d.vcpus[self.who.1].current_root());
        GuestMemory::new(&self.hv.memory.mm, hv_core::mm::Mfn(root))
    }
}

/// A SYSCALL from the current vCPU; `OBSERVED`: whether the profile and trace hooks are
/// compiled in (false only when both are off: `sched::handle_exit`).
pub fn syscall<const OBSERVED: bool>(hv: &mut Hypervisor, who: VcpuRef, frame: &mut TrapFrame) {
    let number = frame.rax;
    let Some(d) = hv.domains.get_mut(&who.0) else {
        return;
    };
    let vcpu = &d.vcpus[who.1];
    if !vcpu.kernel_mode {
        // The guest's own system call, from its user mode: bounce to its syscall callback.
        let callback = (vcpu.callbacks.syscall, vcpu.callbacks.syscall_masks);
        user_syscall(hv, who, frame, callback, "syscall");
        return;
    }
    if number == nr::IRET {
        // The way back from every bounce: served with the lookup just made.
        let done = pv::iret(&hv.memory.mm, d, who.1, frame);
        if OBSERVED {
            hv.prof_classify_with(|| Kind::hypercall(number));
        }
        if let Err(why) = done {
            hv.crash_domain(who.0, why);
        }
        hv.cpu().timers_untouched = hv_core::time::timer_neutral(number, 0);
        return;
    }
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8];
    if OBSERVED {
        hv.prof_classify_with(|| Kind::hypercall(number));
    }
    let mut call = Call { hv, who, args };
    match call_one_as::<OBSERVED>(&mut call, number) {
        Ret::Value(v) => frame.rax = v as u64,
        Ret::Continue(args) => {
            // Back onto the 2-byte `syscall`, to be re-issued with the rest of the work.
            frame.rip = frame.rip.wrapping_sub(2);
            frame.rax = number;
            [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8] = args;
            if let Some(d) = call.hv.domains.get_mut(&who.0) {
                *d.continuations.entry(number).or_insert(0) += 1;
            }
        }
        Ret::NoReturn => {}
    }
    if call.hv.memory.mm.has_freed_orphans() {
        call.hv.memory.reap_orphans();
    }
    call.hv.cpu().timers_untouched = hv_core::time::timer_neutral(number, call.args[0]);
}

/// A system call from guest user mode (`what`: "syscall" or "syscall32"): bounced to the
/// guest kernel's callback `handler`; #UD, as the CPU would raise without SYSCALL, when
/// there is none.
#[inline(never)]
fn user_syscall(
    hv: &mut Hypervisor,
    who: VcpuRef,
    frame: &mut TrapFrame,
    (handler, masks): (u64, bool),
    what: &str,
) {
    hv.prof_classify(Kind::Syscall);
    if handler == 0 {
        crate::guest_traps::deliver(hv, who, frame, 6, None, 0);
        return;
    }
    let b = crate::bounce::Bounce {
        handler,
        error_code: None,
        mask_events: masks,
        segments: None,
    };
    if let Err(f) = crate::bounce::bounce(hv, who, frame, b) {
        let why = alloc::format!(
            "cannot write the {what} frame to the guest stack at {:#x}",
            f.va
        );
        hv.crash_domain(who.0, &why);
    }
}

/// SYSCALL from a 32-bit (compat) process: never a hypercall. Bounced to the guest's
/// syscall32 callback, or its 64-bit syscall callback when none is registered (Xen's
/// `switch_to_kernel`); with neither, #UD as the CPU would raise without SYSCALL.
pub fn syscall32(hv: &mut Hypervisor, who: VcpuRef, frame: &mut TrapFrame) {
    let Some(vcpu) = hv.domains.get(&who.0).map(|d| &d.vcpus[who.1]) else {
        return;
    };
    let cb = &vcpu.callbacks;
    let callback = match cb.syscall32 {
        0 => (cb.syscall, cb.syscall_masks),
        h => (h, cb.syscall32_masks),
    };
    user_syscall(hv, who, frame, callback, "syscall32");
}

/// Runs hypercall `number` for `call`.
///
/// Hot: every hypercall passes here. The page-table hypercalls are counted and timed for
/// the MMU statistics; the trace line is built out of line, only when tracing is on.
pub fn call_one(call: &mut Call, number: u64) -> Ret {
    call_one_as::<true>(call, number)
}

/// [`call_one`]; `OBSERVED`: whether the trace hook is compiled in.
#[inline(always)]
fn call_one_as<const OBSERVED: bool>(call: &mut Call, number: u64) -> Ret {
    // The page-table hypercalls as a bit set tested once (a `matches!` compiles to a range
    // test and a bit test: two branches, each a block under TCG).
    const MMU: u64 = (1 << nr::MMU_UPDATE)
        | (1 << nr::MMUEXT_OP)
        | (1 << nr::UPDATE_VA_MAPPING)
        | (1 << nr::UPDATE_VA_MAPPING_OTHERDOMAIN);
    let mmu = u64::from(number < 64) & (MMU >> (number % 64));
    let ret = if crate::arch::cpu::opaque(mmu) & 1 != 0 {
        mmu_call(call, number)
    } else {
        dispatch(call, number)
    };
    if OBSERVED && log::log_enabled!(log::Level::Trace) {
        trace_call(call, number, &ret);
    }
    ret
}

/// A page-table hypercall: counted in the profile's items and timed for the MMU statistics.
#[inline(never)]
fn mmu_call(call: &mut Call, number: u64) -> Ret {
    let items = match number {
        // A continued batch (MMU_UPDATE_PREEMPTED) was counted whole when first issued.
        nr::MMU_UPDATE | nr::MMUEXT_OP if call.args[1] & (1 << 31) != 0 => 0,
        nr::MMU_UPDATE | nr::MMUEXT_OP => call.args[1] & 0x7FFF_FFFF,
        nr::UPDATE_VA_MAPPING => 1,
        _ => 0,
    };
    if items != 0 {
        call.hv
            .prof_items(call.dom(), Kind::hypercall(number), items);
    }
    let start = crate::arch::cpu::rdtsc();
    let ret = dispatch(call, number);
    let cycles = crate::arch::cpu::rdtsc().wrapping_sub(start);
    let dom = hv_core::mm::DomId(call.dom());
    call.hv.memory.mm.note_mmu_hypercall(dom, cycles);
    ret
}

/// The `log=trace` line of one hypercall.
#[cold]
#[inline(never)]
fn trace_call(call: &Call, number: u64, ret: &Ret) {
    let r = match ret {
        Ret::Value(v) => alloc::format!("{v}"),
        Ret::NoReturn => alloc::string::String::from("(no return)"),
        Ret::Continue(a) => alloc::format!("(continued as {a:x?})"),
    };
    log::trace!(
        "d{}: {}({:x?}) = {r}",
        call.dom(),
        nr::name(number),
        call.args
    );
}

fn dispatch(call: &mut Call, number: u64) -> Ret {
    match number {
        nr::MMU_UPDATE => mmu::mmu_update(call),
        nr::MEMORY_OP => memory_op::memory_op(call),
        nr::MULTICALL => multicall::multicall(call),
        nr::UPDATE_VA_MAPPING => mmu::update_va_mapping(call),
        nr::CONSOLE_IO => console::console_io(call),
        nr::XEN_VERSION => version::xen_version(call),
        nr::VM_ASSIST => mmu::vm_assist(call),
        nr::UPDATE_VA_MAPPING_OTHERDOMAIN => mmu::update_va_mapping_otherdomain(call),
        nr::MMUEXT_OP => mmu::mmuext_op(call),
        nr::SCHED_OP => sched_op::sched_op(call),
        nr::SCHED_OP_COMPAT => sched_op::sched_op_compat(call),
        nr::SET_GDT => descriptor::set_gdt(call),
        nr::UPDATE_DESCRIPTOR => descriptor::update_descriptor(call),
        nr::SET_DEBUGREG => pv::set_debugreg(call),
        nr::GET_DEBUGREG => pv::get_debugreg(call),
        nr::SET_TRAP_TABLE => pv::set_trap_table(call),
        nr::SET_CALLBACKS => pv::set_callbacks(call),
        nr::CALLBACK_OP => pv::callback_op(call),
        nr::STACK_SWITCH => pv::stack_switch(call),
        nr::FPU_TASKSWITCH => pv::fpu_taskswitch(call),
        nr::SET_SEGMENT_BASE => pv::set_segment_base(call),
        nr::SET_TIMER_OP => timer::set_timer_op(call),
        nr::VCPU_OP => timer::vcpu_op(call),
        nr::EVENT_CHANNEL_OP => evtchn::event_channel_op(call),
        nr::EVENT_CHANNEL_OP_COMPAT => evtchn::event_channel_op_compat(call),
        nr::GRANT_TABLE_OP => gnttab::grant_table_op(call),
        nr::PHYSDEV_OP => physdev::physdev_op(call),
        // The PMU interface is not offered: -ENOSYS as Xen without vPMU, which Linux expects
        // (xen_pmu_init, xen_pmu_finish), so no warning for it.
        nr::XENPMU_OP => Ret::Value(errno::neg(errno::ENOSYS)),
        // iret from inside a multicall makes no sense.
        nr::IRET => Ret::Value(errno::neg(errno::EINVAL)),
        _ => {
            log::warn!(
                "d{}: unknown hypercall {number} ({})",
                call.dom(),
                nr::name(number)
            );
            Ret::Value(errno::neg(errno::ENOSYS))
        }
    }
}
