//! Leaving the machine: QEMU's `isa-debug-exit` device (port 0xF4) turns a write of `v` into
//! QEMU exit status `(v << 1) | 1`. On real hardware the write is ignored and we halt.
//!
//! | outcome                          | value | QEMU status |
//! |----------------------------------|-------|-------------|
//! | every domain powered off         | 0     | 1           |
//! | last domain asked for a reboot   | 1     | 3           |
//! | a domain crashed                 | 3     | 7           |
//! | the hypervisor itself failed     | 0x7e  | 253         |

use super::cpu;

const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Why the machine stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// All domains shut down with `poweroff`.
    Poweroff,
    /// The last domain asked for a reboot.
    Reboot,
    /// At least one domain crashed (or was killed by the hypervisor).
    Crash,
    /// The hypervisor hit a fatal error.
    HypervisorFailure,
}

impl ExitCode {
    fn value(self) -> u32 {
        match self {
            ExitCode::Poweroff => 0,
            ExitCode::Reboot => 1,
            ExitCode::Crash => 3,
            ExitCode::HypervisorFailure => 0x7e,
        }
    }
}

/// Stops the machine with `code`.
pub fn exit(code: ExitCode) -> ! {
    cpu::outl(DEBUG_EXIT_PORT, code.value());
    cpu::halt_forever()
}
