//! The CPU as a PV guest kernel sees it: x87/SSE state, the virtual CR0.TS
//! (`fpu_taskswitch`), CPUID through Xen's forced-emulation prefix, emulated MSRs and
//! segment bases.
//!
//! Our Rust code is built soft-float and never touches xmm registers, so the SSE probes
//! here run entirely inside `asm!` blocks.
//!
//! * `fpu_taskswitch(1)` sets the virtual TS: the next FPU/SSE instruction raises #NM, which
//!   the hypervisor bounces to trap 7; our handler clears TS (`fpu_taskswitch(0)`, the PV
//!   `clts`) and returns, re-running the instruction.
//! * `ud2; .ascii "xen"; cpuid` (`0f 0b 78 65 6e 0f a2`) asks the hypervisor to emulate
//!   `cpuid`; leaf 0x40000000 names it ("XenVMMXenVMM").
//! * `wrmsr`/`rdmsr` are privileged: the hypervisor emulates FS_BASE, GS_BASE (kernel) and
//!   SHADOW_GS_BASE for us.
//!
//! Every probe that may fault uses the trap fixup (`traps::fixup_ptr`) and reports `None`
//! instead of crashing.

use core::arch::asm;

use pv_abi::xen::hypercall as nr;

use crate::traps;

/// `MSR_FS_BASE`.
pub const MSR_FS_BASE: u32 = 0xC000_0100;
/// `MSR_GS_BASE` (the active, i.e. kernel, GS base).
pub const MSR_GS_BASE: u32 = 0xC000_0101;
/// `MSR_SHADOW_GS_BASE` (the inactive, i.e. user, GS base).
pub const MSR_SHADOW_GS_BASE: u32 = 0xC000_0102;

/// `fpu_taskswitch(set)`: set or clear the virtual CR0.TS.
pub fn fpu_taskswitch(set: bool) -> i64 {
    // SAFETY: fpu_taskswitch takes a plain value.
    unsafe { traps::hypercall(nr::FPU_TASKSWITCH, [u64::from(set), 0, 0, 0, 0]) }
}

/// `fninit; ldmxcsr(0x1f80)` as Mini-OS does, then reads back (x87 control word, MXCSR).
pub fn fpu_init() -> (u16, u32) {
    let mxcsr_in: u32 = 0x1f80;
    let mut fcw: u16 = 0;
    let mut mxcsr: u32 = 0;
    // SAFETY: x87/SSE control instructions on our own stack variables.
    unsafe {
        asm!(
            "fninit",
            "ldmxcsr ({inp})",
            "fnstcw ({fcw})",
            "stmxcsr ({out})",
            inp = in(reg) &raw const mxcsr_in,
            fcw = in(reg) &raw mut fcw,
            out = in(reg) &raw mut mxcsr,
            options(att_syntax, nostack)
        );
    }
    (fcw, mxcsr)
}

/// `addps` and `mulpd` on fixed inputs; returns the two result vectors' bits.
pub fn sse_arith() -> ([u32; 4], [u64; 2]) {
    let a: [u32; 4] = [
        1.5f32.to_bits(),
        2.0f32.to_bits(),
        (-3.0f32).to_bits(),
        0.25f32.to_bits(),
    ];
    let b: [u32; 4] = [
        2.25f32.to_bits(),
        4.0f32.to_bits(),
        1.0f32.to_bits(),
        0.5f32.to_bits(),
    ];
    let c: [u64; 2] = [3.0f64.to_bits(), (-0.5f64).to_bits()];
    let d: [u64; 2] = [7.0f64.to_bits(), 8.0f64.to_bits()];
    let mut sum = [0u32; 4];
    let mut product = [0u64; 2];
    // SAFETY: SSE loads/stores of our own 16-byte arrays; xmm0/xmm1 are not used by
    // compiler-generated code (soft-float target).
    unsafe {
        asm!(
            "movups ({a}), %xmm0",
            "movups ({b}), %xmm1",
            "addps %xmm1, %xmm0",
            "movups %xmm0, ({sum})",
            "movupd ({c}), %xmm0",
            "movupd ({d}), %xmm1",
            "mulpd %xmm1, %xmm0",
            "movupd %xmm0, ({product})",
            a = in(reg) a.as_ptr(),
            b = in(reg) b.as_ptr(),
            c = in(reg) c.as_ptr(),
            d = in(reg) d.as_ptr(),
            sum = in(reg) sum.as_mut_ptr(),
            product = in(reg) product.as_mut_ptr(),
            options(att_syntax, nostack)
        );
    }
    (sum, product)
}

/// Expected results of [`sse_arith`].
pub fn sse_arith_expected() -> ([u32; 4], [u64; 2]) {
    (
        [
            3.75f32.to_bits(),
            6.0f32.to_bits(),
            (-2.0f32).to_bits(),
            0.75f32.to_bits(),
        ],
        [21.0f64.to_bits(), (-4.0f64).to_bits()],
    )
}

/// Loads xmm0/xmm1, sets the virtual TS with an inline `fpu_taskswitch(1)` hypercall, then
/// runs `addps` (→ #NM, handled by clearing TS) and stores the sum. Returns the sum of
/// `[1,2,3,4] + [10,20,30,40]` as f32 bits and the address of the `addps`.
pub fn nm_probe() -> ([u32; 4], u64) {
    let a: [u32; 4] = [
        1.0f32.to_bits(),
        2.0f32.to_bits(),
        3.0f32.to_bits(),
        4.0f32.to_bits(),
    ];
    let b: [u32; 4] = [
        10.0f32.to_bits(),
        20.0f32.to_bits(),
        30.0f32.to_bits(),
        40.0f32.to_bits(),
    ];
    let mut sum = [0u32; 4];
    let at: u64;
    // SAFETY: as `sse_arith`; the inline `syscall` is `fpu_taskswitch(1)` (rax = 5,
    // rdi = 1), which clobbers rax, rcx, r11 and the argument registers.
    unsafe {
        asm!(
            "movups ({a}), %xmm0",
            "movups ({b}), %xmm1",
            "mov $5, %eax",
            "mov $1, %edi",
            "syscall",
            "lea 1f(%rip), {at}",
            "1:",
            "addps %xmm1, %xmm0",
            "movups %xmm0, ({sum})",
            a = in(reg) a.as_ptr(),
            b = in(reg) b.as_ptr(),
            sum = in(reg) sum.as_mut_ptr(),
            at = out(reg) at,
            out("rax") _,
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            out("r10") _,
            out("r8") _,
            out("rcx") _,
            out("r11") _,
            options(att_syntax, nostack)
        );
    }
    (sum, at)
}

/// Expected sum of [`nm_probe`].
pub fn nm_probe_expected() -> [u32; 4] {
    [
        11.0f32.to_bits(),
        22.0f32.to_bits(),
        33.0f32.to_bits(),
        44.0f32.to_bits(),
    ]
}

/// CPUID through the forced-emulation prefix; `None` if it faulted (#UD not emulated).
pub fn cpuid_forced(leaf: u32, subleaf: u32) -> Option<[u32; 4]> {
    let (mut eax, mut ecx, edx, ebx): (u32, u32, u32, u64);
    eax = leaf;
    ecx = subleaf;
    // SAFETY: `ud2; "xen"; cpuid` either is emulated (registers written) or raises #UD, after
    // which the trap handler resumes at label 2 with all registers restored. rbx is
    // reserved by LLVM, so it is swapped through a scratch register.
    unsafe {
        asm!(
            "lea 2f(%rip), {t}",
            "mov {t}, ({fx})",
            "xchg {b}, %rbx",
            ".byte 0x0f, 0x0b, 0x78, 0x65, 0x6e",
            "cpuid",
            "2:",
            "xchg {b}, %rbx",
            fx = in(reg) traps::fixup_ptr(),
            t = out(reg) _,
            b = inout(reg) 0u64 => ebx,
            inout("eax") eax,
            inout("ecx") ecx,
            inout("edx") 0u32 => edx,
            options(att_syntax, nostack)
        );
    }
    (!traps::fixup_consumed()).then_some([eax, ebx as u32, ecx, edx])
}

/// Plain `cpuid` (not intercepted by a PV hypervisor without CPUID faulting).
pub fn cpuid_native(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// The 12-byte vendor signature in (ebx, ecx, edx).
pub fn signature(regs: &[u32; 4]) -> [u8; 12] {
    let mut s = [0u8; 12];
    s[..4].copy_from_slice(&regs[1].to_le_bytes());
    s[4..8].copy_from_slice(&regs[2].to_le_bytes());
    s[8..].copy_from_slice(&regs[3].to_le_bytes());
    s
}

/// `rdmsr`; `None` if it faulted.
pub fn rdmsr(msr: u32) -> Option<u64> {
    let (lo, hi): (u32, u32);
    // SAFETY: a faulting rdmsr resumes at label 2 through the trap fixup.
    unsafe {
        asm!(
            "lea 2f(%rip), {t}",
            "mov {t}, ({fx})",
            "rdmsr",
            "2:",
            fx = in(reg) traps::fixup_ptr(),
            t = out(reg) _,
            in("ecx") msr,
            inout("eax") 0u32 => lo,
            inout("edx") 0u32 => hi,
            options(att_syntax, nostack)
        );
    }
    (!traps::fixup_consumed()).then_some(u64::from(hi) << 32 | u64::from(lo))
}

/// `wrmsr`; false if it faulted.
pub fn wrmsr(msr: u32, value: u64) -> bool {
    // SAFETY: the MSRs we write are segment bases, which only affect %fs/%gs-relative
    // accesses (we make none except in the probes below); a fault resumes at label 2.
    unsafe {
        asm!(
            "lea 2f(%rip), {t}",
            "mov {t}, ({fx})",
            "wrmsr",
            "2:",
            fx = in(reg) traps::fixup_ptr(),
            t = out(reg) _,
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(att_syntax, nostack)
        );
    }
    !traps::fixup_consumed()
}

/// `set_segment_base(which, base)` (`SEGBASE_*`).
pub fn set_segment_base(which: u32, base: u64) -> i64 {
    // SAFETY: set_segment_base takes plain values.
    unsafe { traps::hypercall(nr::SET_SEGMENT_BASE, [u64::from(which), base, 0, 0, 0]) }
}

/// The u64 at `%fs:0`; `None` if it faulted.
pub fn read_fs0() -> Option<u64> {
    let v: u64;
    // SAFETY: reads through the FS base we set; a fault resumes at label 2.
    unsafe {
        asm!(
            "lea 2f(%rip), {t}",
            "mov {t}, ({fx})",
            "xor {v:e}, {v:e}",
            "mov %fs:0, {v}",
            "2:",
            fx = in(reg) traps::fixup_ptr(),
            t = out(reg) _,
            v = out(reg) v,
            options(att_syntax, nostack)
        );
    }
    (!traps::fixup_consumed()).then_some(v)
}

/// The u64 at `%gs:0`; `None` if it faulted.
pub fn read_gs0() -> Option<u64> {
    let v: u64;
    // SAFETY: reads through the GS base we set; a fault resumes at label 2.
    unsafe {
        asm!(
            "lea 2f(%rip), {t}",
            "mov {t}, ({fx})",
            "xor {v:e}, {v:e}",
            "mov %gs:0, {v}",
            "2:",
            fx = in(reg) traps::fixup_ptr(),
            t = out(reg) _,
            v = out(reg) v,
            options(att_syntax, nostack)
        );
    }
    (!traps::fixup_consumed()).then_some(v)
}
