//! Scheduling vCPUs on the (single) physical CPU. (Skeleton; filled in with domains.)

use crate::arch::entry::TrapFrame;

/// An entry from a guest.
pub fn guest_entry(frame: &mut TrapFrame) {
    log::error!("unexpected guest entry, vector {:#x}", frame.vector);
    crate::arch::exit::exit(crate::arch::exit::ExitCode::HypervisorFailure)
}

/// The LAPIC timer fired.
pub fn timer_interrupt() {}
