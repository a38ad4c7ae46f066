//! Every way into the hypervisor: the 256 IDT stubs and the SYSCALL entry, all funnelled into
//! one register frame ([`TrapFrame`]) and one Rust function (`crate::traps::dispatch`).
//!
//! ```text
//!  per-CPU stack (TSS.RSP0 = top)            TrapFrame, lowest address first
//!  ┌──────────────────────────┐ top          r15 r14 r13 r12 rbp rbx r11 r10 r9 r8
//!  │ ss rsp rflags cs rip     │ ← CPU        rax rcx rdx rsi rdi
//!  │ error_code | vector<<32  │ ← stub       error_code:u32 vector:u32
//!  │ rdi … r15                │ ← common     rip cs rflags rsp ss
//!  └──────────────────────────┘ top − 168
//! ```
//!
//! An entry from ring 3 always builds its frame at the top of the per-CPU stack, so "the frame
//! at the top" *is* the running vCPU's register state: handlers read and write it, a context
//! switch swaps its contents, and the common exit path pops it and `iretq`s (or `sysretq`s
//! when that restores the same state: see `restore_all`). SYSCALL (which
//! does not switch stacks) switches to the same stack and builds the same frame, with vector
//! [`SYSCALL_VECTOR`]. Entries from ring 0 (interrupts while idle, hypervisor faults) build
//! their frame wherever the stack is.

use core::arch::global_asm;

use super::{cpu, gdt};

/// Pseudo vector recorded in the frame for a SYSCALL entry.
pub const SYSCALL_VECTOR: u32 = 0x100;
/// Pseudo vector recorded in the frame for a SYSCALL from compatibility (32-bit) mode, which
/// the CPU sends to MSR_CSTAR (Xen's `cstar_enter`); its frame says CS = FLAT_RING3_CS32.
pub const SYSCALL32_VECTOR: u32 = 0x101;

/// Registers saved on every entry (see the module diagram).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub error_code: u32,
    pub vector: u32,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 168);
// The offsets `restore_all` reads.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(TrapFrame, r11) == 48 && offset_of!(TrapFrame, rcx) == 88);
    assert!(offset_of!(TrapFrame, rip) == 128 && offset_of!(TrapFrame, cs) == 136);
    assert!(offset_of!(TrapFrame, rflags) == 144 && offset_of!(TrapFrame, ss) == 160);
};

impl TrapFrame {
    /// Whether the frame was saved from ring 3 (a guest).
    pub fn is_from_guest(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// The trap stack: domains are built here too when they restart (decompressor included).
const CPU_STACK_SIZE: usize = 256 * 1024;

/// The stack with a page below it that the hypervisor's page tables leave unmapped.
#[repr(C, align(4096))]
struct CpuStack {
    guard: [u8; 4096],
    stack: [u8; CPU_STACK_SIZE],
}

/// In its own section: the linker script puts its top at a fixed software-TLB colour.
#[link_section = ".bss.cpu_stack"]
static mut CPU_STACK: CpuStack = CpuStack {
    guard: [0; 4096],
    stack: [0; CPU_STACK_SIZE],
};

/// The guard page below the per-CPU stack.
pub fn cpu_stack_guard() -> u64 {
    &raw const CPU_STACK as u64
}

/// Top of the per-CPU stack (TSS.RSP0 and the SYSCALL stack).
#[no_mangle]
static mut SYSCALL_STACK_TOP: u64 = 0;
#[no_mangle]
static mut SYSCALL_SAVED_RSP: u64 = 0;

global_asm!(
    r#"
    .macro POP_GPRS
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rax
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    .endm

    .section .text.entry,"ax"
    .balign 16
    .global idt_stubs
idt_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if vec < 32
    .if ((0x60227D00 >> vec) & 1) == 0
    push $0
    .endif
    .else
    push $0
    .endif
    movl $vec, 4(%rsp)
    jmp common_entry
    .set vec, vec + 1
    .endr

    .balign 16
    .global syscall_entry
syscall_entry:
    mov %rsp, SYSCALL_SAVED_RSP(%rip)
    mov SYSCALL_STACK_TOP(%rip), %rsp
    push ${ds}
    push SYSCALL_SAVED_RSP(%rip)
    push %r11
    push ${cs}
    push %rcx
    push $0
    movl ${syscall_vector}, 4(%rsp)
    jmp common_entry

    .balign 16
    .global syscall32_entry
syscall32_entry:
    mov %rsp, SYSCALL_SAVED_RSP(%rip)
    mov SYSCALL_STACK_TOP(%rip), %rsp
    push ${ds}
    push SYSCALL_SAVED_RSP(%rip)
    push %r11
    push ${cs32}
    push %rcx
    push $0
    movl ${syscall32_vector}, 4(%rsp)
    jmp common_entry

common_entry:
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rax
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    sub $8, %rsp
    call trap_entry
    add $8, %rsp
    .global restore_all
restore_all:
    /* SYSRET when it restores exactly what IRETQ would: a flat 64-bit ring-3 frame whose
       rcx/r11 already equal rip/rflags (every hypercall return), rip canonical (SYSRET
       with a non-canonical rcx faults in ring 0 on the guest's stack), RF clear (SYSRET
       drops it). NMI, #DF and #MC use IST stacks, so the window with the guest rsp loaded
       in ring 0 is safe. rax is scratch here: it is restored from the frame below. */
    cmpq ${cs64}, 136(%rsp)
    jne 2f
    cmpq ${ds}, 160(%rsp)
    jne 2f
    mov 144(%rsp), %rax
    cmp 48(%rsp), %rax
    jne 2f
    bt $16, %rax
    jc 2f
    mov 128(%rsp), %rax
    cmp 88(%rsp), %rax
    jne 2f
    sar $47, %rax
    inc %rax
    cmp $1, %rax
    ja 2f
    POP_GPRS
    add $8, %rsp
    mov 24(%rsp), %rsp
    sysretq
2:  POP_GPRS
    add $8, %rsp
    iretq
    "#,
    ds = const gdt::FLAT_RING3_DS,
    cs = const gdt::FLAT_RING3_CS64,
    cs64 = const gdt::FLAT_RING3_CS64,
    syscall_vector = const SYSCALL_VECTOR,
    cs32 = const gdt::FLAT_RING3_CS32,
    syscall32_vector = const SYSCALL32_VECTOR,
    options(att_syntax)
);

extern "C" {
    static idt_stubs: u8;
    fn syscall_entry();
    fn syscall32_entry();
}

#[no_mangle]
extern "C" fn trap_entry(frame: &mut TrapFrame) {
    crate::traps::dispatch(frame);
}

/// Address of the IDT stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    &raw const idt_stubs as u64 + 16 * u64::from(vector)
}

/// Where the SYSCALL entry's statics live (read on every SYSCALL).
pub fn syscall_statics_address() -> u64 {
    &raw const SYSCALL_STACK_TOP as u64
}

/// Top of the per-CPU stack.
pub fn cpu_stack_top() -> u64 {
    (&raw const CPU_STACK as u64) + core::mem::size_of::<CpuStack>() as u64
}

/// The frame slot at the top of the per-CPU stack: where entries from ring 3 save registers.
pub fn top_frame_address() -> u64 {
    cpu_stack_top() - core::mem::size_of::<TrapFrame>() as u64
}

/// Sets up SYSCALL (LSTAR, CSTAR, SFMASK) and the per-CPU stack.
pub fn init() {
    let top = cpu_stack_top();
    // SAFETY: single CPU, before any guest runs; the asm reads these only on SYSCALL.
    unsafe { SYSCALL_STACK_TOP = top };
    gdt::set_kernel_stack(top);
    cpu::wrmsr(0xC000_0082, syscall_entry as *const () as u64); // LSTAR
                                                                // CSTAR: SYSCALL from a 32-bit user process (left at 0 it would run address 0 in ring 0).
    cpu::wrmsr(0xC000_0083, syscall32_entry as *const () as u64);
    // SFMASK: clear IF, TF, DF, AC, NT on SYSCALL.
    cpu::wrmsr(
        0xC000_0084,
        (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14),
    );
}

/// Loads `regs` into the top-of-stack frame and returns to the guest through it.
pub fn enter_guest(regs: &TrapFrame) -> ! {
    let frame = top_frame_address() as *mut TrapFrame;
    // SAFETY: the top frame slot is reserved for guest registers; nothing else lives there
    // (the hypervisor's own stack frames sit below it). We then switch to it and never return.
    unsafe {
        frame.write(*regs);
        core::arch::asm!(
            "mov rsp, {frame}",
            "jmp restore_all",
            frame = in(reg) frame,
            options(noreturn)
        );
    }
}
