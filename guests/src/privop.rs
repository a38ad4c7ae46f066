//! Probes of the privileged instructions a PV kernel may execute in ring 3 (the hypervisor
//! emulates some, the rest raise #GP): each returns `None`/`false` if the instruction faulted,
//! resuming after it through the trap fixup.

use core::arch::asm;

use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};
use pv_abi::xen::hypercall as nr;

use crate::traps::{self, fixup_consumed, fixup_ptr};

/// Runs `$insn` (AT&T syntax) with the fixup armed; evaluates to whether it did not fault.
macro_rules! probe {
    ($insn:literal $(, $($operands:tt)*)?) => {{
        // SAFETY: the instruction either is emulated or faults; a fault resumes at label 2
        // through the trap fixup. Only the named registers change.
        unsafe {
            asm!(
                "lea 2f(%rip), {t}",
                "mov {t}, ({fx})",
                $insn,
                "2:",
                fx = in(reg) fixup_ptr(),
                t = out(reg) _,
                $($($operands)*,)?
                options(att_syntax, nostack)
            );
        }
        !fixup_consumed()
    }};
}

/// `mov %cr0, %rax`.
pub fn read_cr0() -> Option<u64> {
    let v: u64;
    let ok = probe!("mov %cr0, %rax", inout("rax") 0u64 => v);
    ok.then_some(v)
}

/// `mov %cr4, %rcx`.
pub fn read_cr4() -> Option<u64> {
    let v: u64;
    let ok = probe!("mov %cr4, %rcx", inout("rcx") 0u64 => v);
    ok.then_some(v)
}

/// `mov %rdx, %cr0`.
pub fn write_cr0(value: u64) -> bool {
    probe!("mov %rdx, %cr0", in("rdx") value)
}

/// `mov %rsi, %cr4`.
pub fn write_cr4(value: u64) -> bool {
    probe!("mov %rsi, %cr4", in("rsi") value)
}

/// `clts`.
pub fn clts() -> bool {
    probe!("clts")
}

/// `wbinvd`.
pub fn wbinvd() -> bool {
    probe!("wbinvd")
}

/// `in $0x61, %al` (an immediate port, as `quick_pit_calibrate`); rax is preset to
/// `0x5a5a…` so a partial write shows.
pub fn inb_imm() -> Option<u64> {
    let v: u64;
    let ok = probe!("in $0x61, %al", inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `in %dx, %ax` with a 0x66 prefix.
pub fn inw_dx(port: u16) -> Option<u64> {
    let v: u64;
    let ok = probe!("in %dx, %ax", in("dx") port, inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `in %dx, %eax`.
pub fn inl_dx(port: u16) -> Option<u64> {
    let v: u64;
    let ok = probe!("in %dx, %eax", in("dx") port, inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `out %al, %dx`.
pub fn outb_dx(port: u16, value: u8) -> bool {
    probe!("out %al, %dx", in("dx") port, in("al") value)
}

/// `outsb` (string I/O; not emulated).
pub fn outsb(port: u16, from: *const u8) -> bool {
    probe!("outsb", in("dx") port, inout("rsi") from => _)
}

/// `physdev_op(PHYSDEVOP_set_iopl, {iopl})`.
pub fn set_iopl(iopl: u32) -> i64 {
    let arg = PhysdevSetIopl { iopl };
    // SAFETY: the argument is a live, correctly laid out structure.
    unsafe {
        traps::hypercall(
            nr::PHYSDEV_OP,
            [
                u64::from(PHYSDEVOP_SET_IOPL),
                &raw const arg as u64,
                0,
                0,
                0,
            ],
        )
    }
}
