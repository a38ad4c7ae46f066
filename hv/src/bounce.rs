//! Bouncing into the guest kernel: Xen's 64-bit PV exception/event frame.
//!
//! ```text
//!  guest kernel stack after a bounce (lowest address first, 16-byte aligned top)
//!  rcx, r11, [ds, es, fs, gs (failsafe only)], [error code], rip,
//!  cs | saved_upcall_mask << 32, rflags, rsp, ss
//! ```
//!
//! From guest user mode the vCPU first switches to kernel mode (kernel root, GS swap) and the
//! frame goes on the stack registered with `stack_switch`; from kernel mode it goes on the
//! current stack and the saved CS has its RPL cleared, telling the guest it came from its
//! kernel. RFLAGS.IF in the frame is the inverse of the saved upcall mask; interrupt-like
//! bounces (events, trap gates with the IF-clear flag, callbacks registered to mask events)
//! set the mask. The guest lands on `handler` at FLAT_KERNEL_CS/SS with TF, NT, RF, VM, AC
//! cleared, and rcx/r11 equal to its rip/rflags (so the way back is SYSRET).

use pv_abi::arch_x86::{FLAT_KERNEL_CS, FLAT_KERNEL_SS};
use zerocopy::IntoBytes;

use crate::arch::entry::TrapFrame;
use crate::arch::{context, gdt};
use crate::guest_memory::{GuestFault, GuestMemory};
use crate::hypervisor::{Hypervisor, VcpuRef};

const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_IOPL: u64 = 3 << 12;
const RFLAGS_CLEARED_ON_TRAP: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 18);

/// A bounce to perform.
#[derive(Clone, Copy, Debug)]
pub struct Bounce {
    /// Guest handler address.
    pub handler: u64,
    /// Error code to push (exceptions that have one).
    pub error_code: Option<u64>,
    /// Whether to set `evtchn_upcall_mask` (interrupt-like).
    pub mask_events: bool,
    /// The failsafe callback's extra words: the data selectors at the failed return.
    pub segments: Option<[u64; 4]>,
}

/// Switches the running vCPU to guest kernel mode: kernel root, GS swap.
pub fn enter_kernel_mode(vcpu: &mut crate::domain::Vcpu) {
    if vcpu.kernel_mode {
        return;
    }
    vcpu.kernel_mode = true;
    context::swapgs();
    vcpu.arch.cr3 = vcpu.kernel_root * 4096;
    context::load_cr3(vcpu.arch.cr3);
}

/// Switches the running vCPU to guest user mode: user root, GS swap.
pub fn enter_user_mode(vcpu: &mut crate::domain::Vcpu) {
    if !vcpu.kernel_mode {
        return;
    }
    vcpu.kernel_mode = false;
    context::swapgs();
    vcpu.arch.cr3 = vcpu.current_root() * 4096;
    context::load_cr3(vcpu.arch.cr3);
}

/// [`enter_kernel_mode`] for a bounce from guest user mode, out of line: the bounce from
/// kernel mode (the exception and event paths measured) falls through without a jump.
#[cold]
#[inline(never)]
fn bounce_from_user(vcpu: &mut crate::domain::Vcpu) {
    enter_kernel_mode(vcpu);
}

/// Builds the bounce frame for `b` on the guest kernel stack of the running vCPU `v` and
/// points `frame` at the handler. On a fault writing the frame the caller crashes the domain.
pub fn bounce(
    hv: &mut Hypervisor,
    v: VcpuRef,
    frame: &mut TrapFrame,
    b: Bounce,
) -> Result<(), GuestFault> {
    let Some(d) = hv.domains.get_mut(&v.0) else {
        return Ok(());
    };
    bounce_in(&hv.memory.mm, d, v.1, frame, b)
}

/// [`bounce`] for vCPU `v` of `d`, the running vCPU's domain the caller already looked up
/// (the exception path: one lookup for the trap table and the frame). Inlined into its two
/// callers, the exception path and [`bounce`].
#[inline(always)]
pub fn bounce_in(
    mm: &hv_core::mm::Mm<'static>,
    d: &mut crate::domain::Domain,
    v: usize,
    frame: &mut TrapFrame,
    b: Bounce,
) -> Result<(), GuestFault> {
    let from_user = !d.vcpus[v].kernel_mode;
    let (kernel_sp, kernel_root) = (d.vcpus[v].kernel_sp, d.vcpus[v].kernel_root);
    // The mask as it was, then the bounce's own masking: one atomic OR of the mask bit, or
    // of nothing (a read) when the bounce does not mask — no branch on the exit path.
    let saved_mask = d
        .vcpu_info(v)
        .map_or(0, |info| u64::from(info.or_upcall_mask(b.mask_events) != 0));
    if from_user {
        bounce_from_user(&mut d.vcpus[v]);
    }
    // From user mode: the registered kernel stack and the frame's CS as it is; from kernel
    // mode: the current stack, RPL cleared. Selected without a branch.
    let user = u64::from(from_user).wrapping_neg();
    let saved_cs = frame.cs & (user | !3);
    let rsp = ((kernel_sp & user) | (frame.rsp & !user)) & !15;

    let rflags =
        (frame.rflags & !(RFLAGS_IF | RFLAGS_IOPL)) | if saved_mask == 0 { RFLAGS_IF } else { 0 };

    // Lowest address first: rcx, r11, [segments], [error code], rip, cs, rflags, rsp, ss.
    let (rcx, r11) = (frame.rcx, frame.r11);
    let tail = [
        frame.rip,
        saved_cs | (saved_mask << 32),
        rflags,
        frame.rsp,
        frame.ss,
    ];
    let [t0, t1, t2, t3, t4] = tail;
    let guest = GuestMemory::new(mm, hv_core::mm::Mfn(kernel_root));
    // The frame's bytes straight from a stack array of its exact size (little-endian words):
    // no heap allocation, no zeroing, on the exception and event paths.
    let new_rsp = match (b.segments, b.error_code) {
        (None, None) => push_words(&guest, rsp, [rcx, r11, t0, t1, t2, t3, t4])?,
        (None, Some(e)) => push_words(&guest, rsp, [rcx, r11, e, t0, t1, t2, t3, t4])?,
        (Some(s), e) => push_failsafe_frame(&guest, rsp, [rcx, r11], s, e, tail)?,
    };

    frame.rip = b.handler;
    frame.cs = u64::from(FLAT_KERNEL_CS);
    frame.ss = u64::from(FLAT_KERNEL_SS);
    frame.rsp = new_rsp;
    frame.rflags &= !RFLAGS_CLEARED_ON_TRAP;
    frame.rflags |= RFLAGS_IF;
    // rcx and r11 are saved in the frame, where the handler takes them from (their values
    // at its entry are undefined in the PV ABI): loading them with the handler's rip and
    // flags lets the return leave by SYSRET instead of IRETQ, as Xen's bounces do.
    frame.rcx = frame.rip;
    frame.r11 = frame.rflags;
    Ok(())
}

/// Writes `words` just below `rsp` on the guest kernel stack; returns the new stack pointer.
#[inline(always)]
fn push_words<const N: usize>(
    guest: &GuestMemory,
    rsp: u64,
    words: [u64; N],
) -> Result<u64, GuestFault> {
    push_bytes(guest, rsp, words.as_bytes())
}

/// Writes `bytes` just below `rsp` on the guest kernel stack; returns the new stack pointer.
#[inline(always)]
fn push_bytes(guest: &GuestMemory, rsp: u64, bytes: &[u8]) -> Result<u64, GuestFault> {
    let new_rsp = rsp.wrapping_sub(bytes.len() as u64);
    guest.write(new_rsp, bytes)?;
    Ok(new_rsp)
}

/// The failsafe callback's frame (the data selectors after rcx and r11), out of line.
#[cold]
#[inline(never)]
fn push_failsafe_frame(
    guest: &GuestMemory,
    rsp: u64,
    head: [u64; 2],
    segments: [u64; 4],
    error_code: Option<u64>,
    tail: [u64; 5],
) -> Result<u64, GuestFault> {
    let mut words = [0u64; 12];
    words[..2].copy_from_slice(&head);
    words[2..6].copy_from_slice(&segments);
    let mut n = 6;
    if let Some(e) = error_code {
        words[n] = e;
        n += 1;
    }
    words[n..n + tail.len()].copy_from_slice(&tail);
    n += tail.len();
    push_bytes(guest, rsp, words[..n].as_bytes())
}

/// Checks that `frame` is a return the CPU can perform into a PV guest: canonical rip, a
/// ring-3 code selector (the hypervisor's flat ones, or one of the running vCPU's GDT/LDT,
/// such as Linux's 0x33 and 0x23) whose segment contains rip, a ring-3 stack selector (null
/// becomes the flat one), IF set and IOPL 0 (forced), VM and NT clear (forced). A frame that
/// fails would fault inside the hypervisor's `iretq`.
#[inline]
pub fn check_return_frame(frame: &mut TrapFrame) -> Result<(), &'static str> {
    use pv_abi::arch_x86::{FLAT_RING3_CS64, FLAT_RING3_SS64};
    // Every hypercall return and most bounces: a canonical rip and the hypervisor's own flat
    // 64-bit selectors, fixed at boot (a 64-bit code segment contains every canonical rip).
    // One word, zero exactly then, tested once (each branch is a block under TCG): the
    // selectors' differences, and rip's bits 63..47 sign-extended plus one, which is 0 or 1
    // exactly when they are all equal (canonical).
    let rip_top = ((frame.rip as i64 >> 47) as u64).wrapping_add(1) >> 1;
    let off_flat =
        (frame.cs ^ u64::from(FLAT_RING3_CS64)) | (frame.ss ^ u64::from(FLAT_RING3_SS64)) | rip_top;
    if off_flat == 0 {
        force_return_flags(frame);
        return Ok(());
    }
    check_return_other(frame)
}

/// [`check_return_frame`] off its fast path: a non-canonical rip, or other selectors.
#[inline(never)]
fn check_return_other(frame: &mut TrapFrame) -> Result<(), &'static str> {
    if !hv_core::mm::pte::is_canonical(frame.rip) {
        return Err("non-canonical rip");
    }
    check_return_selectors(frame)
}

/// [`check_return_frame`] for any other selectors: looked up in the loaded GDT/LDT.
#[inline(always)]
fn check_return_selectors(frame: &mut TrapFrame) -> Result<(), &'static str> {
    use hv_core::descriptor::{rip_in_code_segment, SelectorUse};
    use pv_abi::arch_x86::FLAT_RING3_SS64;
    let cs = frame.cs as u16;
    if !gdt::user_selector_ok(cs, SelectorUse::Code) {
        return Err("code selector not available to the guest");
    }
    if !gdt::descriptor(cs).is_some_and(|d| rip_in_code_segment(d, frame.rip)) {
        return Err("rip outside the code segment");
    }
    frame.cs = u64::from(cs);
    let ss = match frame.ss as u16 {
        0 => FLAT_RING3_SS64,
        ss if gdt::user_selector_ok(ss, SelectorUse::Stack) => ss,
        _ => return Err("stack selector not available to the guest"),
    };
    frame.ss = u64::from(ss);
    force_return_flags(frame);
    Ok(())
}

/// IF set, IOPL 0, NT and VM clear, bit 1 set: the flags every return to a PV guest has.
fn force_return_flags(frame: &mut TrapFrame) {
    frame.rflags = (frame.rflags & !(RFLAGS_IOPL | (1 << 14) | (1 << 17))) | RFLAGS_IF | 2;
}
