//! Leaving the machine: QEMU's `isa-debug-exit` device (port 0xF4) turns a write of `v` into
//! QEMU exit status `(v << 1) | 1`. On real hardware the write is ignored and we halt.
//!
//! QEMU itself exits with status 1 when it cannot start (bad options, no memory) and 0 when
//! the machine resets under `-no-reboot`, so no outcome below uses value 0: every status
//! `hvtool` sees says who stopped the machine and why.
//!
//! | outcome                                   | value | QEMU status |
//! |-------------------------------------------|-------|-------------|
//! | last domain asked for a reboot            | 1     | 3           |
//! | every domain powered off                  | 2     | 5           |
//! | a domain crashed                          | 3     | 7           |
//! | the guest image or configuration refused  | 4     | 9           |
//! | the hypervisor itself failed              | 0x7e  | 253         |

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
    /// No domain could be built from what the hypervisor was given: the kernel image is not
    /// a loadable PV kernel, or the configuration (memory size, modules) does not fit it.
    Refused,
    /// The hypervisor hit a fatal error.
    HypervisorFailure,
}

impl ExitCode {
    fn value(self) -> u32 {
        match self {
            ExitCode::Reboot => 1,
            ExitCode::Poweroff => 2,
            ExitCode::Crash => 3,
            ExitCode::Refused => 4,
            ExitCode::HypervisorFailure => 0x7e,
        }
    }
}

/// Stops the machine with `code`.
pub fn exit(code: ExitCode) -> ! {
    cpu::outl(DEBUG_EXIT_PORT, code.value());
    cpu::halt_forever()
}
