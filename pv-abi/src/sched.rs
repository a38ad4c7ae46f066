//! `sched_op` (`xen/include/public/sched.h`): yielding, blocking, polling and shutting down.
//!
//! Prototype: `sched_op(cmd, arg)` with `cmd` a `SCHEDOP_*`. The legacy
//! `sched_op_compat(cmd, arg)` (hypercall 6) takes the same numbers for yield, block and
//! shutdown, but `arg` is the `SHUTDOWN_*` reason itself rather than a pointer. Constant
//! names are Xen's, upper-cased.

use crate::xen::DomId;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Give up the CPU voluntarily. `arg` is NULL.
pub const SCHEDOP_YIELD: u32 = 0;
/// Block until an event is pending. Atomically clears `evtchn_upcall_mask` and checks for
/// pending events first, so a guest may call it with events masked without losing a wakeup.
/// `arg` is NULL.
pub const SCHEDOP_BLOCK: u32 = 1;
/// Shut the whole domain down; `arg` → [`SchedShutdown`]. For [`SHUTDOWN_SUSPEND`] the
/// third argument (`rdx`) is the MFN of start_info, and the call returns 1 if the suspend
/// was cancelled, 0 when resuming in a new domain.
pub const SCHEDOP_SHUTDOWN: u32 = 2;
/// Wait until one of a set of ports is pending, with an optional timeout; `arg` →
/// [`SchedPoll`].
pub const SCHEDOP_POLL: u32 = 3;
/// Shut another domain down (privileged); `arg` → [`SchedRemoteShutdown`].
pub const SCHEDOP_REMOTE_SHUTDOWN: u32 = 4;
/// Record the reason to report at a later shutdown; `arg` → [`SchedShutdown`].
pub const SCHEDOP_SHUTDOWN_CODE: u32 = 5;
/// Create, poke or destroy a domain watchdog; `arg` → [`SchedWatchdog`].
pub const SCHEDOP_WATCHDOG: u32 = 6;
/// Pin the vCPU to a physical CPU (hardware domain only).
pub const SCHEDOP_PIN_OVERRIDE: u32 = 7;

/// Shutdown reason: normal exit; clean up and destroy.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// Shutdown reason: destroy and restart.
pub const SHUTDOWN_REBOOT: u32 = 1;
/// Shutdown reason: save state for a later resume.
pub const SHUTDOWN_SUSPEND: u32 = 2;
/// Shutdown reason: the guest crashed.
pub const SHUTDOWN_CRASH: u32 = 3;
/// Shutdown reason: the watchdog expired; restart.
pub const SHUTDOWN_WATCHDOG: u32 = 4;
/// Shutdown reason: reset Xen-side state but keep memory and vCPU contexts.
pub const SHUTDOWN_SOFT_RESET: u32 = 5;
/// Largest valid shutdown reason.
pub const SHUTDOWN_MAX: u32 = 5;

/// Xen's name for a shutdown reason without the prefix (`"poweroff"`), or `None` if it is
/// larger than [`SHUTDOWN_MAX`].
pub const fn name(reason: u32) -> Option<&'static str> {
    match reason {
        SHUTDOWN_POWEROFF => Some("poweroff"),
        SHUTDOWN_REBOOT => Some("reboot"),
        SHUTDOWN_SUSPEND => Some("suspend"),
        SHUTDOWN_CRASH => Some("crash"),
        SHUTDOWN_WATCHDOG => Some("watchdog"),
        SHUTDOWN_SOFT_RESET => Some("soft_reset"),
        _ => None,
    }
}

/// Argument of `SCHEDOP_shutdown` and `SCHEDOP_shutdown_code` (`struct sched_shutdown`,
/// `sched.h`; 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SchedShutdown {
    /// A `SHUTDOWN_*` reason.
    pub reason: u32,
}
crate::abi_layout!(SchedShutdown, 4, reason @ 0);

/// Argument of `SCHEDOP_poll` (`struct sched_poll`, `sched.h`; 24 bytes): return when any of
/// `nr_ports` ports at guest address `ports` (an `evtchn_port_t` = `u32` array) is pending,
/// or at absolute system time `timeout` (ns; 0 = no timeout).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SchedPoll {
    /// Guest address of the port array.
    pub ports: u64,
    /// Number of ports.
    pub nr_ports: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// Absolute timeout in ns of system time; 0 for none.
    pub timeout: u64,
}
crate::abi_layout!(SchedPoll, 24, ports @ 0, nr_ports @ 8, pad0 @ 12, timeout @ 16);

/// Argument of `SCHEDOP_remote_shutdown` (`struct sched_remote_shutdown`, `sched.h`;
/// 8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SchedRemoteShutdown {
    /// Domain to shut down.
    pub domain_id: DomId,
    /// Padding (implicit in C).
    pub pad0: u16,
    /// A `SHUTDOWN_*` reason.
    pub reason: u32,
}
crate::abi_layout!(SchedRemoteShutdown, 8, domain_id @ 0, pad0 @ 2, reason @ 4);

/// Argument of `SCHEDOP_watchdog` (`struct sched_watchdog`, `sched.h`; 8 bytes): `id` 0
/// creates a watchdog (its id is returned); `id` ≠ 0 with `timeout` 0 destroys it, with
/// `timeout` ≠ 0 pokes it and sets a new timeout (seconds).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SchedWatchdog {
    /// Watchdog id, or 0 to create one.
    pub id: u32,
    /// Timeout in seconds.
    pub timeout: u32,
}
crate::abi_layout!(SchedWatchdog, 8, id @ 0, timeout @ 4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_names() {
        assert_eq!(name(SHUTDOWN_POWEROFF), Some("poweroff"));
        assert_eq!(name(SHUTDOWN_CRASH), Some("crash"));
        assert_eq!(name(SHUTDOWN_SOFT_RESET), Some("soft_reset"));
        for reason in 0..=SHUTDOWN_MAX {
            assert!(name(reason).is_some());
        }
        assert_eq!(name(SHUTDOWN_MAX + 1), None);
        assert_eq!(name(u32::MAX), None);
    }
}
