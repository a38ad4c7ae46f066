//! Probing instructions that are expected to fault.
//!
//! A probe stores a resume address in [`FIXUP`] right before the instruction; if the
//! instruction faults, the trap handler ([`take_fixup`]) resumes there instead of crashing,
//! with every register restored from the frame. Afterwards the probe checks whether the
//! fixup was consumed and, if so, returns the [`TrapRecord`] of the fault.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{last, TrapRecord};

/// Resume address for the next fault (0: none).
static FIXUP: AtomicU64 = AtomicU64::new(0);

/// Claims the armed resume address for a fault (0 if none was armed).
pub(super) fn take_fixup() -> u64 {
    FIXUP.swap(0, Ordering::SeqCst)
}

/// Arms the fault fixup, runs `$insn` (labelled `1:`), disarms it. Evaluates to
/// `(faulting-instruction address, trapped?)`.
macro_rules! probe {
    ($insn:literal $(, $($operands:tt)+)?) => {{
        let at: u64;
        // SAFETY: the instruction is expected to fault; the trap handler resumes at label 2.
        unsafe {
            asm!(
                "lea 2f(%rip), {tmp}",
                "mov {tmp}, ({fixup})",
                "lea 1f(%rip), {at}",
                "1:",
                $insn,
                "2:",
                fixup = in(reg) FIXUP.as_ptr(),
                tmp = out(reg) _,
                at = out(reg) at,
                $($($operands)+,)?
                options(att_syntax, nostack)
            );
        }
        (at, FIXUP.swap(0, Ordering::SeqCst) == 0)
    }};
}

/// Reads a u64 at `addr` expecting a fault; returns the fault record if one was delivered.
pub fn probe_read(addr: u64) -> Option<TrapRecord> {
    let (at, trapped) = probe!("mov ({a}), {a}", a = inout(reg) addr => _);
    (trapped && last().rip == at).then(last)
}

/// Runs `hlt` (privileged: #GP expected); returns the fault record.
pub fn probe_hlt() -> Option<TrapRecord> {
    let (at, trapped) = probe!("hlt");
    (trapped && last().rip == at).then(last)
}

/// Runs `ud2` (#UD expected); returns the fault record.
pub fn probe_ud2() -> Option<TrapRecord> {
    let (at, trapped) = probe!("ud2");
    (trapped && last().rip == at).then(last)
}

/// Runs `int $0x81`, whose trap entry has DPL 0: #GP with error code `0x81 << 3 | 2`.
pub fn probe_int81() -> Option<TrapRecord> {
    let (at, trapped) = probe!("int $0x81");
    (trapped && last().rip == at).then(last)
}

/// The fixup slot for probes written elsewhere (`sse`): store a resume address in it right
/// before an instruction that may fault; then [`fixup_consumed`] tells whether it did.
pub fn fixup_ptr() -> *mut u64 {
    FIXUP.as_ptr()
}

/// Disarms the fixup; true if a fault consumed it.
pub fn fixup_consumed() -> bool {
    FIXUP.swap(0, Ordering::SeqCst) == 0
}
