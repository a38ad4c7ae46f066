//! Exceptions raised by a guest (in ring 3).
//!
//! In order: emulate what the PV ABI says the hypervisor emulates (privileged instructions on
//! #GP, writes to read-only page tables on #PF, forced-emulation CPUID on #UD, `int $n` allowed
//! by the guest's trap table on #GP, lazy FPU on #NM); otherwise bounce the exception to the guest's handler with Xen's frame
//! (page faults put cr2 in `vcpu_info.arch.cr2`). A guest with no handler for it is crashed —
//! alone, with a log line naming the exception, error code, rip and (for #PF) cr2.

use hv_core::profile::Kind;

use crate::arch::cpu;
use crate::arch::entry::TrapFrame;
use crate::bounce::{self, Bounce};
use crate::emulate::{self, Emulated};
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::ptwr;

const PAGE_FAULT: u32 = 14;
const GENERAL_PROTECTION: u32 = 13;
const INVALID_OPCODE: u32 = 6;
const DEVICE_NOT_AVAILABLE: u32 = 7;
const DEBUG: u32 = 1;
const NMI: u32 = 2;
const MACHINE_CHECK: u32 = 18;

/// Exception names for log lines.
pub fn exception_name(vector: u32) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        2 => "NMI",
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

/// Whether the CPU pushes an error code for `vector`: vectors 8, 10–14, 17, 21, 29 and 30.
/// One shift of a bit set (no branch) for an exception vector (below 32).
#[inline(always)]
fn has_error_code(vector: u32) -> bool {
    const WITH_ERROR_CODE: u32 = (1 << 8)
        | (1 << 10)
        | (1 << 11)
        | (1 << 12)
        | (1 << 13)
        | (1 << 14)
        | (1 << 17)
        | (1 << 21)
        | (1 << 29)
        | (1 << 30);
    vector < 32 && (WITH_ERROR_CODE >> (vector % 32)) & 1 != 0
}

/// Bounces exception `vector` to the guest's trap-table handler, or crashes the domain.
/// One domain lookup serves the trap table and the frame (a page fault's `cr2` is written
/// by the caller, `exception`).
pub fn deliver(
    hv: &mut Hypervisor,
    cur: VcpuRef,
    frame: &mut TrapFrame,
    vector: u32,
    error_code: Option<u64>,
    cr2: u64,
) {
    deliver_as::<true>(hv, cur, frame, vector, error_code, cr2);
}

/// [`deliver`]; `OBSERVED`: whether the profile and trace hooks are compiled in.
fn deliver_as<const OBSERVED: bool>(
    hv: &mut Hypervisor,
    cur: VcpuRef,
    frame: &mut TrapFrame,
    vector: u32,
    error_code: Option<u64>,
    cr2: u64,
) {
    if OBSERVED {
        hv.prof_classify_with(|| match u8::try_from(vector) {
            Ok(v) if v < 32 => Kind::Bounce(v),
            _ => Kind::SoftInt,
        });
    }
    let Some(d) = hv.domains.get_mut(&cur.0) else {
        return;
    };
    let trap = d.vcpus[cur.1].traps[vector as usize & 0xFF];
    if trap.address == 0 {
        no_handler(hv, cur, frame, vector, error_code, cr2);
        return;
    }
    if OBSERVED {
        log::trace!(
            "d{}: bounce {} (error code {:#x}) at rip {:#x} cr2 {cr2:#x}",
            cur.0,
            exception_name(vector),
            error_code.unwrap_or(0),
            frame.rip
        );
    }
    let b = Bounce {
        handler: trap.address,
        error_code,
        mask_events: trap.masks_events(),
        segments: None,
    };
    if let Err(f) = bounce::bounce_in(&hv.memory.mm, d, cur.1, frame, b) {
        let why = alloc::format!(
            "cannot write the {} frame to the guest stack at {:#x}",
            exception_name(vector),
            f.va
        );
        hv.crash_domain(cur.0, &why);
    }
}

/// An exception the guest registered no handler for: its domain is crashed.
#[cold]
#[inline(never)]
fn no_handler(
    hv: &mut Hypervisor,
    cur: VcpuRef,
    frame: &TrapFrame,
    vector: u32,
    error_code: Option<u64>,
    cr2: u64,
) {
    let mut why = alloc::format!(
        "{} (error code {:#x}) at rip {:#x}",
        exception_name(vector),
        error_code.unwrap_or(0),
        frame.rip
    );
    if vector == PAGE_FAULT {
        why.push_str(&alloc::format!(" cr2 {cr2:#x}"));
    }
    why.push_str(" with no handler registered");
    hv.crash_domain(cur.0, &why);
}

/// Handles exception `frame.vector` raised by vCPU `cur`; `OBSERVED`: whether the plain
/// bounce's profile and trace hooks are compiled in (false only when both are off).
pub fn exception<const OBSERVED: bool>(hv: &mut Hypervisor, cur: VcpuRef, frame: &mut TrapFrame) {
    let vector = frame.vector;
    let error_code = has_error_code(vector).then_some(u64::from(frame.error_code));
    // Most vectors (#BP, #DE, #OF, …) are bounced as they are: one bit test instead of the
    // match's jump table below (an indirect branch). SPECIAL names exactly the vectors the
    // match handles otherwise than its last arm: an arm added there needs its bit here.
    const SPECIAL: u32 = (1 << PAGE_FAULT)
        | (1 << GENERAL_PROTECTION)
        | (1 << INVALID_OPCODE)
        | (1 << DEVICE_NOT_AVAILABLE)
        | (1 << DEBUG)
        | (1 << NMI)
        | (1 << MACHINE_CHECK);
    if vector < 32 && SPECIAL & (1 << vector) == 0 {
        deliver_as::<OBSERVED>(hv, cur, frame, vector, error_code, 0);
        return;
    }
    match vector {
        PAGE_FAULT => {
            let cr2 = cpu::read_cr2();
            // A write to one of the guest's read-only page tables (writable page tables).
            if ptwr::page_fault(hv, cur, frame, cr2, u64::from(frame.error_code)) == Emulated::Done
            {
                return;
            }
            // The guest kernel runs in ring 3, but a fault it takes in its kernel mode is a
            // supervisor fault to it: Xen clears the U bit (PFEC_user_mode) then.
            // One lookup: the mode, and cr2 for the guest's handler in vcpu_info (for a
            // hardware page fault only: a software `int $14` leaves it, as Xen's
            // pv_inject_event does; the plain bounce path has no page-fault test).
            let kernel = hv.domains.get(&cur.0).is_some_and(|d| {
                if let Some(info) = d.vcpu_info(cur.1) {
                    info.set_cr2(cr2);
                }
                d.vcpus[cur.1].kernel_mode
            });
            let error_code = error_code.map(|e| if kernel { e & !4 } else { e });
            deliver(hv, cur, frame, vector, error_code, cr2);
        }
        GENERAL_PROTECTION => {
            // `int $n` through an IDT gate the guest may not use: error code = n·8 | 2.
            if frame.error_code & 3 == 2 {
                let n = (frame.error_code >> 3) as usize & 0xFF;
                let allowed = hv.domains.get(&cur.0).is_some_and(|d| {
                    let t = d.vcpus[cur.1].traps[n];
                    t.address != 0 && t.dpl() == 3
                });
                if allowed {
                    frame.rip = frame.rip.wrapping_add(2);
                    deliver(hv, cur, frame, n as u32, None, 0);
                    return;
                }
            }
            if emulate::general_protection(hv, cur, frame) == Emulated::No {
                deliver(hv, cur, frame, vector, error_code, 0);
            } else {
                hv.prof_classify(Kind::PrivOp);
            }
        }
        INVALID_OPCODE => {
            if emulate::invalid_opcode(hv, cur, frame) == Emulated::No {
                deliver(hv, cur, frame, vector, None, 0);
            } else {
                hv.prof_classify(Kind::Cpuid);
            }
        }
        DEVICE_NOT_AVAILABLE => {
            // The guest set CR0.TS (fpu_taskswitch): clear it and let its handler reload state.
            if let Some(d) = hv.domain(cur.0) {
                let v = &mut d.vcpus[cur.1];
                v.arch.virtual_ts = false;
                v.arch.apply_ts();
            }
            deliver(hv, cur, frame, vector, None, 0);
        }
        DEBUG => {
            // The guest reads the status with get_debugreg(6) (Xen's do_debug).
            hv.take_debug_status();
            deliver(hv, cur, frame, vector, None, 0);
        }
        NMI | MACHINE_CHECK => log::warn!(
            "d{}: {} in guest at rip {:#x}",
            cur.0,
            exception_name(vector),
            frame.rip
        ),
        _ => deliver(hv, cur, frame, vector, error_code, 0),
    }
}
