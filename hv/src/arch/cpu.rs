//! Thin safe wrappers over privileged CPU instructions used by the rest of the hypervisor:
//! port I/O, MSRs, control registers, CPUID, TLB flushes, interrupt flag, halt.
//!
//! Each wrapper is safe to call because the hypervisor runs at CPL 0 and the callers pass
//! values whose effects are the hypervisor's to decide; the few that can break memory safety
//! (CR3 loads) stay `unsafe` with a documented contract.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory-safety effect on the hypervisor; we run at CPL 0.
    unsafe { x86::io::outb(port, value) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    // SAFETY: as for `outb`.
    unsafe { x86::io::inb(port) }
}

/// Writes a 32-bit value to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe { x86::io::outl(port, value) }
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    // SAFETY: callers only name MSRs that exist on x86-64 (checked via CPUID where optional).
    unsafe { x86::msr::rdmsr(msr) }
}

/// Writes a model-specific register.
///
/// Safe for the MSRs the hypervisor owns (segment bases, syscall setup, APIC, TSC deadline):
/// none of them can invalidate Rust's memory model by themselves.
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: see above; we run at CPL 0.
    unsafe { x86::msr::wrmsr(msr, value) }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads CR3.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Loads CR3 (switching address space and flushing non-global TLB entries).
///
/// # Safety
/// `value` must point at a valid L4 that maps the hypervisor (slots 256–271) exactly like the
/// current one, so that the code, stack and data in use stay mapped.
pub unsafe fn write_cr3(value: u64) {
    bump(&CR3_LOADS);
    // SAFETY: the caller guarantees the new tables map the hypervisor identically.
    unsafe { asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) };
    LOADED_CR3.store(value, Ordering::Relaxed);
}

/// What [`write_cr3`] last loaded (0 before the first load after boot's own): every CR3 load
/// after boot goes through it, on one CPU. Read on each guest copy instead of CR3 itself
/// (under TCG reading a control register is a helper call).
static LOADED_CR3: AtomicU64 = AtomicU64::new(0);

/// CR3 as [`write_cr3`] last loaded it (0 until the first load after boot's page tables,
/// which no guest copy precedes: a 0 only sends a copy to the software walk).
#[inline(always)]
pub fn loaded_cr3() -> u64 {
    LOADED_CR3.load(Ordering::Relaxed)
}

/// CR3 loads since boot (each drops every non-global translation; under TCG, QEMU's whole
/// soft TLB, which the code that runs next refills page by page).
static CR3_LOADS: AtomicU64 = AtomicU64::new(0);
/// Of those, explicit flushes ([`flush_tlb`]).
static FLUSHES: AtomicU64 = AtomicU64::new(0);
/// INVLPGs since boot.
static INVLPGS: AtomicU64 = AtomicU64::new(0);

/// One CPU: a plain load and store (no locked instruction on the paths it counts).
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// TLB work since boot, for the profile: (CR3 loads, of which explicit flushes, INVLPGs).
pub fn tlb_counts() -> (u64, u64, u64) {
    (
        CR3_LOADS.load(Ordering::Relaxed),
        FLUSHES.load(Ordering::Relaxed),
        INVLPGS.load(Ordering::Relaxed),
    )
}

/// Reads CR0.
pub fn read_cr0() -> u64 {
    let v: u64;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes CR0. Only the TS, MP, EM, NE bits are changed by callers.
pub fn write_cr0(value: u64) {
    // SAFETY: callers keep PG/PE/WP set; toggling TS/MP/NE does not affect memory safety.
    unsafe { asm!("mov cr0, {}", in(reg) value, options(nostack, preserves_flags)) };
}

/// Reads CR4.
pub fn read_cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes CR4 (callers only add feature-enable bits: OSFXSR, OSXMMEXCPT, SMEP, FSGSBASE…).
pub fn write_cr4(value: u64) {
    // SAFETY: callers keep PAE set and only enable features the CPU reports.
    unsafe { asm!("mov cr4, {}", in(reg) value, options(nostack, preserves_flags)) };
}

/// Flushes the whole (non-global) TLB by reloading CR3.
pub fn flush_tlb() {
    bump(&FLUSHES);
    // SAFETY: reloading the current CR3 keeps the same mappings.
    unsafe { write_cr3(read_cr3()) }
}

/// Whether a CR3 load drops every translation: CR4.PGE is clear, so no entry is global (the
/// hypervisor never sets it; guest user entries carry the GLOBAL bit Xen gives them).
pub fn cr3_load_flushes_all() -> bool {
    read_cr4() & (1 << 7) == 0
}

/// Invalidates the TLB entry for one virtual address.
pub fn invlpg(va: u64) {
    bump(&INVLPGS);
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) };
}

/// Executes CPUID.
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// Disables interrupts.
pub fn cli() {
    // SAFETY: masking interrupts has no memory-safety effect.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Lets pending interrupts in (their handlers run on this stack), then masks them again.
pub fn allow_interrupts() {
    // SAFETY: `sti; nop` opens the one-instruction window in which pending interrupts are
    // taken; handlers run on this stack and leave it as they found it.
    unsafe { asm!("sti; nop; cli", options(nomem, nostack)) };
}

/// Waits for the next interrupt with interrupts enabled, then masks them again.
pub fn idle_wait() {
    // SAFETY: `sti; hlt` is the canonical race-free idle sequence; handlers run on this stack.
    unsafe { asm!("sti; hlt; cli", options(nomem, nostack)) };
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        cli();
        // SAFETY: halting with interrupts masked has no memory-safety effect.
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}

/// Reads an address the hypervisor never maps, to exercise the fatal-exception path
/// (`selftest=hvfault` on the command line).
pub fn selftest_page_fault() -> u64 {
    // SAFETY: the address is in an L4 slot the hypervisor leaves unmapped, so the read faults
    // and the fault handler stops the machine; no memory is accessed.
    unsafe { core::ptr::read_volatile(0xFFFF_8100_0000_0000 as *const u64) }
}

/// Reads debug register DR6 (the status of the last #DB).
pub fn read_dr6() -> u64 {
    let v: u64;
    // SAFETY: reading DR6 has no side effects (DR7.GD is never set: `hardware_dr7`).
    unsafe { asm!("mov {}, dr6", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Reads debug register DR7 (the breakpoint enables).
pub fn read_dr7() -> u64 {
    let v: u64;
    // SAFETY: reading DR7 has no side effects (DR7.GD is never set: `hardware_dr7`).
    unsafe { asm!("mov {}, dr7", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Writes debug register `n` (0-3, 6 or 7; others are ignored).
///
/// Callers pass values checked by `hv_core::debugreg` (breakpoint addresses are guest
/// addresses, DR7 has no GD and no I/O breakpoints), so no breakpoint can match an address
/// the hypervisor uses; the worst a wrong value does is raise #DB, which is handled.
pub fn write_dr(n: usize, value: u64) {
    // SAFETY: per the contract above; writing a debug register touches no memory.
    unsafe {
        match n {
            0 => asm!("mov dr0, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            1 => asm!("mov dr1, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            2 => asm!("mov dr2, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            3 => asm!("mov dr3, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            6 => asm!("mov dr6, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            7 => asm!("mov dr7, {}", in(reg) value, options(nomem, nostack, preserves_flags)),
            _ => {}
        }
    }
}

/// `value`, unchanged, with its origin hidden from the optimizer (no instruction is
/// emitted). A word built from several conditions (`a & b`, a mask from a comparison) is
/// otherwise split back by the compiler into one branch per condition; under QEMU's TCG each
/// branch ends a translation block, so the exit path keeps such words whole and tests them
/// once.
#[inline(always)]
pub fn opaque(value: u64) -> u64 {
    let mut v = value;
    // SAFETY: an empty asm that only names a register: no memory, stack or flags effect.
    unsafe { asm!("/* {0} */", inout(reg) v, options(pure, nomem, nostack, preserves_flags)) };
    v
}
