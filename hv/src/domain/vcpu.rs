//! A virtual CPU of a PV domain: its registers (the trap frame saved on the last exit), the
//! hardware state outside the frame, and the PV-specific state Xen keeps per vCPU: guest
//! kernel/user mode, kernel stack for ring transitions, trap table and callbacks.

use alloc::boxed::Box;

use hv_core::emulate::control::PvControl;
use pv_abi::xen::TrapInfo;
use zerocopy::FromZeros;

use crate::arch::context::ArchState;
use crate::arch::entry::TrapFrame;
use crate::vcpu_info::VcpuInfoLoc;

/// Scheduling state of a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// May run.
    Runnable,
    /// Waiting for an event (`SCHEDOP_block`) or a poll (`SCHEDOP_poll`).
    Blocked,
}

/// Guest callbacks registered with `set_callbacks` / `callback_op`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Callbacks {
    /// Event upcall entry (0 = none).
    pub event: u64,
    /// Failsafe entry (segment reload failure).
    pub failsafe: u64,
    /// 64-bit `syscall` from guest user mode.
    pub syscall: u64,
    /// Whether the failsafe/syscall callbacks mask events (`CALLBACKF_mask_events`).
    pub failsafe_masks: bool,
    /// Whether the syscall callback masks events.
    pub syscall_masks: bool,
    /// NMI callback.
    pub nmi: u64,
    /// 32-bit `syscall` from a compat user process (`hypercall::syscall32`; 0: the 64-bit
    /// syscall callback serves).
    pub syscall32: u64,
    /// Whether the syscall32 callback masks events.
    pub syscall32_masks: bool,
    /// 32-bit `sysenter` from a compat user process (recorded; SYSENTER is not set up in
    /// the CPU, so it raises #GP, bounced to the guest).
    pub sysenter: u64,
}

/// A vCPU sleeping in `SCHEDOP_poll`.
#[derive(Clone, Debug)]
pub struct PollState {
    /// Ports it waits on.
    pub ports: alloc::vec::Vec<u32>,
    /// System time at which it gives up, if any.
    pub deadline: Option<u64>,
}

/// Runstate accounting (`vcpu_runstate_info`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Runstate {
    /// RUNSTATE_* now.
    pub state: i32,
    /// System time the state was entered.
    pub entry: u64,
    /// Time spent in each state, ns.
    pub time: [u64; 4],
}

/// One vCPU.
pub struct Vcpu {
    /// Registers at the last exit (while not running) — the live ones are in the top frame.
    pub regs: TrapFrame,
    /// FPU, segment bases, CR3.
    pub arch: ArchState,
    /// Whether the guest is in its kernel mode (hypercalls allowed).
    pub kernel_mode: bool,
    /// Kernel L4 (machine frame), the root `hypercall`s and kernel mode run on.
    pub kernel_root: u64,
    /// User L4 (machine frame), 0 if none.
    pub user_root: u64,
    /// Kernel stack for bounces from user mode (`stack_switch`).
    pub kernel_ss: u64,
    /// Kernel stack pointer for bounces from user mode.
    pub kernel_sp: u64,
    /// The guest's trap table (`set_trap_table`); address 0 = no handler.
    pub traps: Box<[TrapInfo; 256]>,
    /// Registered callbacks.
    pub callbacks: Callbacks,
    /// Scheduling state.
    pub state: RunState,
    /// GDT and LDT (`set_gdt`, `MMUEXT_SET_LDT`).
    pub descriptors: crate::descriptors::DescriptorTables,
    /// Set while blocked in `SCHEDOP_poll`.
    pub poll: Option<PollState>,
    /// Runstate accounting.
    pub runstate: Runstate,
    /// Guest VA of the registered `vcpu_runstate_info` (0 = none).
    pub runstate_area: u64,
    /// Guest VA of the registered second `vcpu_time_info` (0 = none; `time_area.rs`).
    pub time_area: u64,
    /// The guest's own CR4 bits and its I/O privilege level (emulated instructions).
    pub pv_control: PvControl,
    /// Debug registers DR0-DR7 as the guest set them (`set_debugreg`; 4 and 5 unused).
    /// In the CPU while the vCPU runs with DR7 active (`debugregs.rs`).
    pub debugreg: [u64; 8],
    /// Where its `vcpu_info` lives (read it through `Domain::vcpu_info`).
    pub vcpu_info: VcpuInfoLoc,
    /// Its home physical CPU, whose run queue it joins (`percpu.rs`).
    pub cpu: usize,
}

impl Vcpu {
    /// A vCPU about to start at `regs` with kernel root `kernel_root`.
    pub fn new(regs: TrapFrame, kernel_root: u64) -> Self {
        let mut arch = ArchState::new();
        arch.cr3 = kernel_root * 4096;
        Self {
            regs,
            arch,
            kernel_mode: true,
            kernel_root,
            user_root: 0,
            kernel_ss: regs.ss,
            kernel_sp: regs.rsp,
            traps: Box::new([TrapInfo::new_zeroed(); 256]),
            callbacks: Callbacks::default(),
            state: RunState::Runnable,
            descriptors: Default::default(),
            poll: None,
            runstate: Runstate {
                state: pv_abi::vcpu::RUNSTATE_RUNNABLE,
                ..Runstate::default()
            },
            runstate_area: 0,
            time_area: 0,
            pv_control: PvControl::default(),
            debugreg: hv_core::debugreg::INITIAL,
            vcpu_info: VcpuInfoLoc::Shared,
            cpu: 0,
        }
    }

    /// The root L4 of the mode the vCPU is in.
    pub fn current_root(&self) -> u64 {
        if self.kernel_mode || self.user_root == 0 {
            self.kernel_root
        } else {
            self.user_root
        }
    }
}
