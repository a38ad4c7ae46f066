//! Exceptions raised by a guest (in ring 3).
//!
//! A guest that registered a handler gets the exception bounced to it with Xen's frame; a
//! guest with no handler is crashed — alone, with a log line naming the exception, error code,
//! rip and, for page faults, cr2.

use crate::arch::cpu;
use crate::arch::entry::TrapFrame;
use crate::hypervisor::{Hypervisor, VcpuRef};

/// Exception names for log lines.
pub fn exception_name(vector: u32) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating point",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating point",
        _ => "exception",
    }
}

/// Handles exception `frame.vector` raised by vCPU `cur`.
pub fn exception(hv: &mut Hypervisor, cur: VcpuRef, frame: &mut TrapFrame) {
    let vector = frame.vector;
    let cr2 = if vector == 14 { cpu::read_cr2() } else { 0 };
    let mut why = alloc::format!(
        "{} (error code {:#x}) at rip {:#x}",
        exception_name(vector),
        frame.error_code,
        frame.rip
    );
    if vector == 14 {
        why.push_str(&alloc::format!(" cr2 {cr2:#x}"));
    }
    why.push_str(" with no handler registered");
    hv.crash_domain(cur.0, &why);
}
