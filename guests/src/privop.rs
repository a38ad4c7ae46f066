//! Probes of the instructions a PV kernel executes that fault into the hypervisor, which
//! emulates some of them: privileged instructions (the rest raise #GP) and writes to its own
//! read-only page tables (writable page tables; refused ones raise #PF). Each returns
//! `None`/`false`/`Err` if the instruction faulted, resuming after it through the trap fixup;
//! [`crate::traps::last`] then holds the fault.

use core::arch::asm;

use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};
use pv_abi::xen::hypercall as nr;

use crate::traps::{self, fixup_consumed, fixup_ptr};

/// Runs `$insn` (AT&T syntax) with the fixup armed; evaluates to whether it did not fault.
macro_rules! probe {
    ($($insn:literal),+ $(; $($operands:tt)*)?) => {{
        // SAFETY: the instruction either is emulated or faults; a fault resumes at label 2
        // through the trap fixup. Only the named registers change.
        unsafe {
            asm!(
                "lea 2f(%rip), {t}",
                "mov {t}, ({fx})",
                $($insn,)+
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
    let ok = probe!("mov %cr0, %rax"; inout("rax") 0u64 => v);
    ok.then_some(v)
}

/// `mov %cr4, %rcx`.
pub fn read_cr4() -> Option<u64> {
    let v: u64;
    let ok = probe!("mov %cr4, %rcx"; inout("rcx") 0u64 => v);
    ok.then_some(v)
}

/// `mov %rdx, %cr0`.
pub fn write_cr0(value: u64) -> bool {
    probe!("mov %rdx, %cr0"; in("rdx") value)
}

/// `mov %rsi, %cr4`.
pub fn write_cr4(value: u64) -> bool {
    probe!("mov %rsi, %cr4"; in("rsi") value)
}

/// `clts`.
pub fn clts() -> bool {
    probe!("clts")
}

/// `wbinvd`.
pub fn wbinvd() -> bool {
    probe!("wbinvd")
}

/// `in $0x71, %al` (an immediate port: CMOS data, neither granted nor emulated); rax is
/// preset to `0x5a5a…` so a partial write shows.
pub fn inb_imm() -> Option<u64> {
    let v: u64;
    let ok = probe!("in $0x71, %al"; inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `in %dx, %al`.
pub fn inb_dx(port: u16) -> Option<u8> {
    let v: u8;
    let ok = probe!("in %dx, %al"; in("dx") port, inout("al") 0u8 => v);
    ok.then_some(v)
}

/// `in %dx, %ax` with a 0x66 prefix.
pub fn inw_dx(port: u16) -> Option<u64> {
    let v: u64;
    let ok = probe!("in %dx, %ax"; in("dx") port, inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `in %dx, %eax`.
pub fn inl_dx(port: u16) -> Option<u64> {
    let v: u64;
    let ok = probe!("in %dx, %eax"; in("dx") port, inout("rax") 0x5a5a_5a5a_5a5a_5a5au64 => v);
    ok.then_some(v)
}

/// `out %al, %dx`.
pub fn outb_dx(port: u16, value: u8) -> bool {
    probe!("out %al, %dx"; in("dx") port, in("al") value)
}

/// `outsb`; rsi afterwards.
pub fn outsb(port: u16, from: *const u8) -> Option<u64> {
    let rsi: u64;
    let ok = probe!("outsb"; in("dx") port, inout("rsi") from as u64 => rsi);
    ok.then_some(rsi)
}

/// `rep insb` of `count` bytes into `to`; (rdi, rcx) afterwards.
///
/// # Safety
/// `to` must be valid for `count` byte writes.
pub unsafe fn rep_insb(port: u16, to: *mut u8, count: u64) -> Option<(u64, u64)> {
    let (rdi, rcx): (u64, u64);
    let ok = probe!(
        "rep insb";
        in("dx") port,
        inout("rdi") to as u64 => rdi,
        inout("rcx") count => rcx
    );
    ok.then_some((rdi, rcx))
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

/// `Ok(value)` if the probe did not fault, else the fault it took ([`crate::traps::last`]).
fn outcome<T>(ok: bool, value: T) -> Result<T, traps::TrapRecord> {
    if ok {
        Ok(value)
    } else {
        Err(traps::last())
    }
}

/// `mov %rsi, (%rdi)`: a plain 8-byte store.
///
/// # Safety
/// `va` must be mapped and hold no Rust object (the store may succeed).
pub unsafe fn store(va: u64, value: u64) -> Result<(), traps::TrapRecord> {
    let ok = probe!("mov %rsi, (%rdi)"; in("rdi") va, in("rsi") value);
    outcome(ok, ())
}

/// `xchg %rax, (%rdi)`; the old value.
///
/// # Safety
/// As [`store`].
pub unsafe fn xchg(va: u64, value: u64) -> Result<u64, traps::TrapRecord> {
    let old: u64;
    let ok = probe!("xchg %rax, (%rdi)"; in("rdi") va, inout("rax") value => old);
    outcome(ok, old)
}

/// `lock cmpxchg %rsi, (%rdi)` with rax = `expected`; (ZF, rax afterwards).
///
/// # Safety
/// As [`store`].
pub unsafe fn cmpxchg(va: u64, expected: u64, new: u64) -> Result<(bool, u64), traps::TrapRecord> {
    let (rax, zf): (u64, u8);
    let ok = probe!("lock cmpxchg %rsi, (%rdi)", "sete %cl"; in("rdi") va,
        in("rsi") new,
        inout("rax") expected => rax,
        inout("cl") 0u8 => zf);
    outcome(ok, (zf != 0, rax))
}

/// `lock btrq $1, (%rdi)` (clears RW of a PTE, as `clear_bit`); CF (the old bit).
///
/// # Safety
/// As [`store`].
pub unsafe fn lock_btr_rw(va: u64) -> Result<bool, traps::TrapRecord> {
    let cf: u8;
    let ok = probe!("lock btrq $1, (%rdi)", "setc %cl"; in("rdi") va,
        inout("cl") 0u8 => cf);
    outcome(ok, cf != 0)
}

/// `lock btr %rsi, (%rdi)` with a register bit number (may select another qword).
///
/// # Safety
/// As [`store`].
pub unsafe fn lock_btr(va: u64, bit: i64) -> Result<bool, traps::TrapRecord> {
    let cf: u8;
    let ok = probe!("lock btr %rsi, (%rdi)", "setc %cl"; in("rdi") va,
        in("rsi") bit,
        inout("cl") 0u8 => cf);
    outcome(ok, cf != 0)
}

/// `lock orb $2, (%rdi)` (sets RW in the low byte, as `set_bit`).
///
/// # Safety
/// As [`store`].
pub unsafe fn lock_orb_rw(va: u64) -> Result<(), traps::TrapRecord> {
    let ok = probe!("lock orb $2, (%rdi)"; in("rdi") va);
    outcome(ok, ())
}

/// `lock andb $0xfe, (%rdi)` (clears PRESENT in the low byte).
///
/// # Safety
/// As [`store`].
pub unsafe fn lock_andb_present(va: u64) -> Result<(), traps::TrapRecord> {
    let ok = probe!("lock andb $0xfe, (%rdi)"; in("rdi") va);
    outcome(ok, ())
}
