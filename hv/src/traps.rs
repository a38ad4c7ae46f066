//! What happens on every entry into the hypervisor (exception, interrupt, SYSCALL).
//!
//! Entries from ring 3 belong to the running guest and go to its domain's handlers. Entries
//! from ring 0 are either interrupts taken while idle (timer, spurious), a fault inside a
//! hardware copy from or to a guest address (resumed at the copy's failure exit), or a
//! hypervisor bug,
//! which is reported — vector, error code, rip, cr2 and registers — before the machine stops
//! with a failure exit code.

use crate::arch::entry::TrapFrame;
use crate::arch::exit::{exit, ExitCode};
use crate::arch::idt::vector;
use crate::arch::{cpu, serial};
use crate::guest_traps::exception_name;

/// Called from `arch::entry` for every entry; returning resumes through `frame`.
pub fn dispatch(frame: &mut TrapFrame) {
    if frame.is_from_guest() {
        crate::sched::guest_entry(frame);
        return;
    }
    match frame.vector as u8 {
        vector::TIMER => crate::sched::timer_interrupt(),
        vector::SERIAL => crate::sched::serial_interrupt(),
        vector::SPURIOUS => {}
        vector::NMI => log::warn!("NMI in hypervisor at rip {:#x}", frame.rip),
        // A #DB in hypervisor context: no guest breakpoint can match a hypervisor address
        // (`debugregs.rs`), so this is dismissed like Xen's, without taking the state lock.
        1 => crate::arch::cpu::write_dr(6, hv_core::debugreg::DR6_DEFAULT),
        // A guest address that was not accessible after all: the copy reports it.
        _ if crate::arch::guest_copy::fixup(frame) => {}
        _ => hypervisor_fault(frame),
    }
}

/// Reports an exception taken in hypervisor context and stops the machine.
pub fn hypervisor_fault(frame: &TrapFrame) -> ! {
    serial::force_unlock();
    let cr2 = cpu::read_cr2();
    log::error!(
        "FATAL: hypervisor exception {} ({}) error code {:#x} at rip {:#x} cr2 {:#x}",
        frame.vector,
        exception_name(frame.vector),
        frame.error_code,
        frame.rip,
        cr2
    );
    log::error!(
        "  rax {:016x} rbx {:016x} rcx {:016x} rdx {:016x}",
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx
    );
    log::error!(
        "  rsi {:016x} rdi {:016x} rbp {:016x} rsp {:016x}",
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.rsp
    );
    log::error!(
        "  r8  {:016x} r9  {:016x} r10 {:016x} r11 {:016x}",
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11
    );
    log::error!(
        "  r12 {:016x} r13 {:016x} r14 {:016x} r15 {:016x}",
        frame.r12,
        frame.r13,
        frame.r14,
        frame.r15
    );
    log::error!(
        "  cs {:#x} ss {:#x} rflags {:#x} cr3 {:#x}",
        frame.cs,
        frame.ss,
        frame.rflags,
        cpu::read_cr3()
    );
    if crate::arch::paging::stack_guard_pages()
        .iter()
        .any(|g| (*g..*g + 4096).contains(&cr2))
    {
        log::error!("  hypervisor stack overflow: cr2 is in the guard page below a stack");
    }
    exit(ExitCode::HypervisorFailure)
}
