//! Entering and leaving the hypervisor: the hypercall entry our service modules use, the
//! virtual IDT (`set_trap_table`), the event and failsafe callbacks, and the two ways back
//! from a bounce (direct `iretq`, or the `iret` hypercall).
//!
//! Xen bounces an exception or event onto the current guest-kernel stack (A.5):
//!
//! ```text
//!   rsp → rcx, r11, [error code], rip, cs (+ saved upcall mask << 32), rflags, rsp, ss
//!   failsafe: rcx, r11, ds, es, fs, gs, rip, cs, rflags, rsp, ss
//! ```
//!
//! Each stub pops rcx/r11, pushes a uniform `(vector, error)` pair and all GPRs, and calls
//! `trap_dispatch` with a [`TrapFrame`]. The way back is chosen by [`set_iret_style`]:
//!
//! * [`IretStyle::Direct`]: `orb $3` into the CS and SS slots, then `iretq` (ring 3 → ring 3,
//!   like Mini-OS);
//! * [`IretStyle::HypercallPage`]: push `flags` = 0 and jump to `hypercall_page + 23*32`,
//!   which pushes rcx, r11, rax and issues `iret` (frame of A.4);
//! * [`IretStyle::Syscall`]: push flags, rcx, r11, rax ourselves, `mov $23, %eax; syscall`.
//!
//! The `iret` hypercall also restores `evtchn_upcall_mask` from the frame's `rflags.IF`.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use pv_abi::arch_x86::FLAT_KERNEL_CS;
use pv_abi::callback::{
    CallbackRegister, CALLBACKF_MASK_EVENTS, CALLBACKOP_REGISTER, CALLBACKTYPE_EVENT,
    CALLBACKTYPE_FAILSAFE,
};
use pv_abi::xen::{hypercall as nr, TrapInfo, TI_IF};

use crate::hypercall::Via;

mod probe;
pub use probe::{fixup_consumed, fixup_ptr, probe_hlt, probe_int81, probe_read, probe_ud2};

/// Pseudo-vector of the event-channel upcall in a [`TrapFrame`].
pub const VECTOR_EVENT: u64 = 0x100;
/// Pseudo-vector of the failsafe callback in a [`TrapFrame`].
pub const VECTOR_FAILSAFE: u64 = 0x101;
/// Value the `int $0x80` handler leaves in `rax`.
pub const INT80_RESULT: u64 = 0x8080_8080;

static USE_PAGE: AtomicBool = AtomicBool::new(false);

/// Makes [`hypercall`] go through the hypercall page (Mini-OS) instead of a raw `syscall`.
pub fn use_hypercall_page(yes: bool) {
    USE_PAGE.store(yes, Ordering::Relaxed);
}

/// Issues hypercall `number` the way chosen by [`use_hypercall_page`].
///
/// # Safety
/// As [`crate::hypercall::hypercall`]: the arguments must satisfy the hypercall's contract.
pub unsafe fn hypercall(number: u64, args: [u64; 5]) -> i64 {
    let via = if USE_PAGE.load(Ordering::Relaxed) {
        Via::Page
    } else {
        Via::Syscall
    };
    // SAFETY: forwarded from the caller.
    unsafe { crate::hypercall::hypercall(via, number, args) }
}

/// How a stub returns to the interrupted code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IretStyle {
    /// `iretq` with CS/SS RPL forced to 3.
    Direct = 0,
    /// `jmp hypercall_page + 23*32`.
    HypercallPage = 1,
    /// Inline `syscall` with `eax = 23`.
    Syscall = 2,
}

static IRET_STYLE: AtomicU8 = AtomicU8::new(IretStyle::Direct as u8);

/// Selects how every stub returns from now on.
pub fn set_iret_style(style: IretStyle) {
    IRET_STYLE.store(style as u8, Ordering::SeqCst);
}

/// The registers saved by a stub, lowest address first.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector, or [`VECTOR_EVENT`] / [`VECTOR_FAILSAFE`].
    pub vector: u64,
    /// Error code (0 when the vector has none).
    pub error_code: u64,
    pub rip: u64,
    /// Selector in bits 15:0, saved `evtchn_upcall_mask` in bits 39:32.
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// `evtchn_upcall_mask` at the time of the bounce (CS slot bits 39:32).
    pub fn saved_upcall_mask(&self) -> u8 {
        (self.cs >> 32) as u8
    }

    /// `rflags.IF` of the frame (Xen sets it to `!saved_upcall_mask`).
    pub fn interrupts_enabled(&self) -> bool {
        self.rflags & 0x200 != 0
    }
}

global_asm!(
    r#"
    .section .text.traps, "ax"
    .macro TRAP_NOERR vector
    .global xen_trap_\vector
xen_trap_\vector:
    pop %rcx
    pop %r11
    push $0
    push $\vector
    jmp xen_trap_common
    .endm
    .macro TRAP_ERR vector
    .global xen_trap_\vector
xen_trap_\vector:
    pop %rcx
    pop %r11
    push $\vector
    jmp xen_trap_common
    .endm

    TRAP_NOERR 0
    TRAP_NOERR 1
    TRAP_NOERR 3
    TRAP_NOERR 4
    TRAP_NOERR 5
    TRAP_NOERR 6
    TRAP_NOERR 7
    TRAP_NOERR 9
    TRAP_ERR 10
    TRAP_ERR 11
    TRAP_ERR 12
    TRAP_ERR 13
    TRAP_ERR 14
    TRAP_NOERR 15
    TRAP_NOERR 16
    TRAP_ERR 17
    TRAP_NOERR 19
    TRAP_NOERR 128
    TRAP_NOERR 129
    TRAP_NOERR 130
    TRAP_NOERR 256

    .global xen_failsafe_callback
xen_failsafe_callback:
    pop %rcx
    pop %r11
    add $32, %rsp          /* ds, es, fs, gs */
    push $0
    push $0x101
    jmp xen_trap_common

xen_trap_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    cld
    movabs ${dispatch}, %rax
    call *%rax
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp          /* vector, error code */
    cmpb $1, {style}(%rip)
    je 1f
    cmpb $2, {style}(%rip)
    je 2f
    orb $3, 8(%rsp)        /* CS RPL 3 */
    orb $3, 32(%rsp)       /* SS RPL 3 */
    iretq
1:  push $0                /* iret flags */
    jmp hypercall_page + 23 * 32
2:  push $0
    push %rcx
    push %r11
    push %rax
    mov $23, %eax
    syscall
    ud2
    "#,
    dispatch = sym trap_dispatch,
    style = sym IRET_STYLE,
    options(att_syntax)
);

extern "C" {
    fn xen_trap_0();
    fn xen_trap_1();
    fn xen_trap_3();
    fn xen_trap_4();
    fn xen_trap_5();
    fn xen_trap_6();
    fn xen_trap_7();
    fn xen_trap_9();
    fn xen_trap_10();
    fn xen_trap_11();
    fn xen_trap_12();
    fn xen_trap_13();
    fn xen_trap_14();
    fn xen_trap_15();
    fn xen_trap_16();
    fn xen_trap_17();
    fn xen_trap_19();
    fn xen_trap_128();
    fn xen_trap_129();
    fn xen_trap_130();
    fn xen_trap_256();
    fn xen_failsafe_callback();
}

/// Entry of the event-channel upcall.
pub fn event_callback_address() -> u64 {
    xen_trap_256 as *const () as u64
}

/// Entry of the failsafe callback.
pub fn failsafe_callback_address() -> u64 {
    xen_failsafe_callback as *const () as u64
}

/// Installs the virtual IDT: vectors 0–19 (DPL 3 for #BP, #OF, #BR like Mini-OS), `int $0x80`
/// with DPL 3, `int $0x81` with DPL 0 (so `int $0x81` raises #GP), and `int $0x82` with DPL 3
/// as an interrupt gate (`TI_IF`: delivery masks events, as Linux's interrupt gates do).
/// Returns the result of
/// `set_trap_table`.
pub fn install_trap_table() -> i64 {
    let entries: [(u8, u8, unsafe extern "C" fn()); 20] = [
        (0, 0, xen_trap_0),
        (1, 0, xen_trap_1),
        (3, 3, xen_trap_3),
        (4, 3, xen_trap_4),
        (5, 3, xen_trap_5),
        (6, 0, xen_trap_6),
        (7, 0, xen_trap_7),
        (9, 0, xen_trap_9),
        (10, 0, xen_trap_10),
        (11, 0, xen_trap_11),
        (12, 0, xen_trap_12),
        (13, 0, xen_trap_13),
        (14, 0, xen_trap_14),
        (15, 0, xen_trap_15),
        (16, 0, xen_trap_16),
        (17, 0, xen_trap_17),
        (19, 0, xen_trap_19),
        (0x80, 3, xen_trap_128),
        (0x81, 0, xen_trap_129),
        (0x82, 3 | TI_IF, xen_trap_130),
    ];
    let mut table = [TrapInfo::new(0, 0, 0, 0); 21];
    for (slot, (vector, dpl, stub)) in table.iter_mut().zip(entries) {
        *slot = TrapInfo::new(vector, dpl, FLAT_KERNEL_CS, stub as *const () as u64);
    }
    // SAFETY: `table` is a `trap_info` array ending in an entry with address 0; Xen copies it.
    unsafe { hypercall(nr::SET_TRAP_TABLE, [table.as_ptr() as u64, 0, 0, 0, 0]) }
}

/// `set_callbacks(event, failsafe, 0)` (hypercall 4, Mini-OS style).
pub fn set_callbacks() -> i64 {
    let args = [
        event_callback_address(),
        failsafe_callback_address(),
        0,
        0,
        0,
    ];
    // SAFETY: both addresses are our stubs; a zero syscall callback means "none".
    unsafe { hypercall(nr::SET_CALLBACKS, args) }
}

/// `callback_op(CALLBACKOP_register)` for the event and failsafe callbacks (Linux style,
/// with `CALLBACKF_mask_events`). Returns both results.
pub fn register_callbacks() -> (i64, i64) {
    let register = |r#type, address| {
        let arg = CallbackRegister {
            r#type,
            flags: CALLBACKF_MASK_EVENTS,
            pad0: 0,
            address,
        };
        // SAFETY: CALLBACKOP_register reads one `callback_register` from our stack.
        unsafe {
            hypercall(
                nr::CALLBACK_OP,
                [
                    u64::from(CALLBACKOP_REGISTER),
                    &raw const arg as u64,
                    0,
                    0,
                    0,
                ],
            )
        }
    };
    (
        register(CALLBACKTYPE_EVENT, event_callback_address()),
        register(CALLBACKTYPE_FAILSAFE, failsafe_callback_address()),
    )
}

/// What the last exception looked like (vector, error code, rip, cr2 for #PF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapRecord {
    /// Vector.
    pub vector: u64,
    /// Error code, 0 if none.
    pub error_code: u64,
    /// Saved rip.
    pub rip: u64,
    /// `vcpu_info.arch.cr2` (#PF only).
    pub cr2: u64,
    /// Saved CS slot.
    pub cs: u64,
}

static COUNTS: [AtomicU64; 0x102] = [const { AtomicU64::new(0) }; 0x102];
static LAST: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// How many times `vector` (or a pseudo-vector) was delivered.
pub fn count(vector: u64) -> u64 {
    COUNTS
        .get(vector as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// The last exception delivered.
pub fn last() -> TrapRecord {
    let v = |i: usize| LAST[i].load(Ordering::SeqCst);
    TrapRecord {
        vector: v(0),
        error_code: v(1),
        rip: v(2),
        cr2: v(3),
        cs: v(4),
    }
}

extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    if let Some(c) = COUNTS.get(frame.vector as usize) {
        c.fetch_add(1, Ordering::SeqCst);
    }
    match frame.vector {
        VECTOR_EVENT => crate::events::upcall(frame),
        VECTOR_FAILSAFE => failsafe(frame),
        _ => exception(frame),
    }
}

/// The hypervisor could not return through a frame (bad selector or rip): record it, and
/// resume at the armed probe fixup with the flat selectors; with none armed, crash (returning
/// would retry the same frame forever).
fn failsafe(frame: &mut TrapFrame) {
    let record = [frame.vector, 0, frame.rip, 0, frame.cs];
    for (slot, value) in LAST.iter().zip(record) {
        slot.store(value, Ordering::SeqCst);
    }
    match probe::take_fixup() {
        0 => {
            crate::println!(
                "guest: failsafe callback for rip {:#x} cs {:#x} ss {:#x}",
                frame.rip,
                frame.cs,
                frame.ss
            );
            crate::hypercall::shutdown(pv_abi::sched::SHUTDOWN_CRASH);
        }
        resume => {
            frame.rip = resume;
            frame.cs = u64::from(pv_abi::arch_x86::FLAT_KERNEL_CS);
            frame.ss = u64::from(pv_abi::arch_x86::FLAT_KERNEL_SS);
        }
    }
}

fn exception(frame: &mut TrapFrame) {
    let cr2 = if frame.vector == 14 {
        crate::events::cr2()
    } else {
        0
    };
    let record = [frame.vector, frame.error_code, frame.rip, cr2, frame.cs];
    for (slot, value) in LAST.iter().zip(record) {
        slot.store(value, Ordering::SeqCst);
    }
    match frame.vector {
        // Traps: rip already points after the instruction (#DB: data breakpoints only).
        1 | 3 | 4 => {}
        0x80 => frame.rax = INT80_RESULT,
        // Interrupt gate: report the mask we were entered with in rax, then re-enable events
        // if the interrupted code had them (the `iret` hypercall would do that too).
        0x82 => {
            frame.rax = u64::from(crate::events::upcall_mask_value());
            if frame.interrupts_enabled() {
                crate::events::irq_enable();
            }
        }
        // #NM from the virtual CR0.TS: clear it (clts) and re-run the instruction.
        7 => {
            crate::sse::fpu_taskswitch(false);
        }
        _ => match probe::take_fixup() {
            0 => {
                crate::println!(
                    "guest: unexpected trap {} error {:#x} rip {:#x} cr2 {:#x}",
                    frame.vector,
                    frame.error_code,
                    frame.rip,
                    cr2
                );
                crate::hypercall::shutdown(pv_abi::sched::SHUTDOWN_CRASH);
            }
            resume => frame.rip = resume,
        },
    }
}
