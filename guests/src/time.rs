//! Time, timers and the scheduler operations that wait for them.
//!
//! System time (ns since boot) comes from `vcpu_info[0].time`, read like a seqlock (retry
//! while `version` is odd or changed) and extrapolated with the native TSC:
//! `system_time + ((rdtsc - tsc_timestamp) << shift) * mul >> 32` (128-bit product,
//! [`VcpuTimeInfo::system_time_at`]). Wall-clock time is `wc_sec/wc_nsec` (the wall time at
//! system time 0, under `wc_version`) plus system time.
//!
//! Timers all raise `VIRQ_TIMER`: `set_timer_op(deadline)` and
//! `VCPUOP_set_singleshot_timer` arm the same one-shot timer; `VCPUOP_set_periodic_timer`
//! a periodic one. [`wait_until`] sleeps with `set_timer_op` + `SCHEDOP_block` until a
//! condition holds or a deadline passes.

use core::arch::x86_64::_rdtsc;
use core::mem::offset_of;
use core::sync::atomic::{fence, Ordering};

use pv_abi::sched::{SchedPoll, SCHEDOP_BLOCK, SCHEDOP_POLL, SCHEDOP_YIELD};
use pv_abi::vcpu::{
    VcpuRegisterTimeMemoryArea, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
    VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, VCPUOP_SET_PERIODIC_TIMER, VCPUOP_SET_SINGLESHOT_TIMER,
    VCPUOP_STOP_PERIODIC_TIMER, VCPUOP_STOP_SINGLESHOT_TIMER,
};
use pv_abi::xen::{hypercall as nr, SharedInfo, VcpuInfo, VcpuTimeInfo};

use crate::{events, traps};

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// The native time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no side effects; PV guests run it natively.
    unsafe { _rdtsc() }
}

fn time_field(offset: usize) -> usize {
    offset_of!(VcpuInfo, time) + offset
}

/// A consistent copy of vCPU 0's `vcpu_info.time` (wherever it is registered).
pub fn time_info() -> VcpuTimeInfo {
    let word = |o| events::vcpu_u32(time_field(o));
    let quad = |o| events::vcpu_u64(time_field(o));
    loop {
        let version = word(offset_of!(VcpuTimeInfo, version)).load(Ordering::Acquire);
        if version & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let tsc_timestamp = quad(offset_of!(VcpuTimeInfo, tsc_timestamp)).load(Ordering::Relaxed);
        let system_time = quad(offset_of!(VcpuTimeInfo, system_time)).load(Ordering::Relaxed);
        let mul = word(offset_of!(VcpuTimeInfo, tsc_to_system_mul)).load(Ordering::Relaxed);
        let shift_flags = word(offset_of!(VcpuTimeInfo, tsc_shift)).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if word(offset_of!(VcpuTimeInfo, version)).load(Ordering::Relaxed) == version {
            return VcpuTimeInfo {
                version,
                pad0: 0,
                tsc_timestamp,
                system_time,
                tsc_to_system_mul: mul,
                tsc_shift: shift_flags as u8 as i8,
                flags: (shift_flags >> 8) as u8,
                pad1: [0; 2],
            };
        }
    }
}

/// System time now, ns since boot.
pub fn now() -> u64 {
    time_info().system_time_at(rdtsc())
}

/// TSC frequency implied by the scale factors, in kHz: `(10^9 << 32) / mul`, shifted.
pub fn tsc_khz(t: &VcpuTimeInfo) -> u64 {
    if t.tsc_to_system_mul == 0 {
        return 0;
    }
    let hz = (1_000_000_000u128 << 32) / u128::from(t.tsc_to_system_mul);
    let hz = if t.tsc_shift >= 0 {
        hz >> t.tsc_shift
    } else {
        hz << -t.tsc_shift
    };
    (hz / 1000) as u64
}

/// Wall-clock time at system time 0: `(seconds, nanoseconds)` from `wc_*` under
/// `wc_version`.
pub fn wallclock_base() -> (u64, u32) {
    let word = |o| events::shared_u32(o);
    loop {
        let version = word(offset_of!(SharedInfo, wc_version)).load(Ordering::Acquire);
        if version & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let sec = word(offset_of!(SharedInfo, wc_sec)).load(Ordering::Relaxed);
        let nsec = word(offset_of!(SharedInfo, wc_nsec)).load(Ordering::Relaxed);
        let hi = word(offset_of!(SharedInfo, wc_sec_hi)).load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if word(offset_of!(SharedInfo, wc_version)).load(Ordering::Relaxed) == version {
            return (u64::from(hi) << 32 | u64::from(sec), nsec);
        }
    }
}

/// Wall-clock time now: `(seconds since 1970, nanoseconds)`.
pub fn wallclock_now() -> (u64, u32) {
    let (sec, nsec) = wallclock_base();
    let total = u64::from(nsec) + now();
    (sec + total / 1_000_000_000, (total % 1_000_000_000) as u32)
}

/// `set_timer_op(deadline)`: one-shot `VIRQ_TIMER` at system time `deadline`; 0 cancels.
pub fn set_timer_op(deadline: u64) -> i64 {
    // SAFETY: set_timer_op takes a plain value.
    unsafe { traps::hypercall(nr::SET_TIMER_OP, [deadline, 0, 0, 0, 0]) }
}

fn vcpu_op<T>(cmd: u32, arg: Option<&mut T>) -> i64 {
    let ptr = arg.map_or(0, |a| a as *mut T as u64);
    // SAFETY: `arg` is the structure `cmd` expects (or none for the stop commands).
    unsafe { traps::hypercall(nr::VCPU_OP, [u64::from(cmd), 0, ptr, 0, 0]) }
}

/// `VCPUOP_register_vcpu_time_memory_area(va)` for vCPU 0 (0 unregisters).
pub fn register_time_area(va: u64) -> i64 {
    let mut arg = VcpuRegisterTimeMemoryArea { addr: va };
    vcpu_op(VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, Some(&mut arg))
}

/// A consistent copy of the `vcpu_time_info` at `va` (a registered time area), read like
/// [`time_info`].
///
/// # Safety
/// `va` must be a mapped, 8-aligned 32-byte area no Rust reference covers.
pub unsafe fn time_info_at(va: u64) -> VcpuTimeInfo {
    // SAFETY: per the contract; the hypervisor writes these words concurrently.
    let word = |o: usize| unsafe { ((va as usize + o) as *const u32).read_volatile() };
    // SAFETY: as above.
    let quad = |o: usize| unsafe { ((va as usize + o) as *const u64).read_volatile() };
    loop {
        let version = word(0);
        fence(Ordering::Acquire);
        if version & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let t = VcpuTimeInfo {
            version,
            pad0: 0,
            tsc_timestamp: quad(offset_of!(VcpuTimeInfo, tsc_timestamp)),
            system_time: quad(offset_of!(VcpuTimeInfo, system_time)),
            tsc_to_system_mul: word(offset_of!(VcpuTimeInfo, tsc_to_system_mul)),
            tsc_shift: word(offset_of!(VcpuTimeInfo, tsc_shift)) as u8 as i8,
            flags: (word(offset_of!(VcpuTimeInfo, tsc_shift)) >> 8) as u8,
            pad1: [0; 2],
        };
        fence(Ordering::Acquire);
        if word(0) == version {
            return t;
        }
    }
}

/// `VCPUOP_set_singleshot_timer(deadline, flags)`.
pub fn set_singleshot_timer(deadline: u64, flags: u32) -> i64 {
    let mut arg = VcpuSetSingleshotTimer {
        timeout_abs_ns: deadline,
        flags,
        pad0: 0,
    };
    vcpu_op(VCPUOP_SET_SINGLESHOT_TIMER, Some(&mut arg))
}

/// `VCPUOP_stop_singleshot_timer`.
pub fn stop_singleshot_timer() -> i64 {
    vcpu_op::<()>(VCPUOP_STOP_SINGLESHOT_TIMER, None)
}

/// `VCPUOP_set_periodic_timer(period)`.
pub fn set_periodic_timer(period_ns: u64) -> i64 {
    let mut arg = VcpuSetPeriodicTimer { period_ns };
    vcpu_op(VCPUOP_SET_PERIODIC_TIMER, Some(&mut arg))
}

/// `VCPUOP_stop_periodic_timer`.
pub fn stop_periodic_timer() -> i64 {
    vcpu_op::<()>(VCPUOP_STOP_PERIODIC_TIMER, None)
}

fn sched_op<T>(cmd: u32, arg: Option<&mut T>) -> i64 {
    let ptr = arg.map_or(0, |a| a as *mut T as u64);
    // SAFETY: `arg` is the structure `cmd` reads (or none for yield/block).
    unsafe { traps::hypercall(nr::SCHED_OP, [u64::from(cmd), ptr, 0, 0, 0]) }
}

/// `SCHEDOP_yield`.
pub fn yield_now() -> i64 {
    sched_op::<()>(SCHEDOP_YIELD, None)
}

/// `SCHEDOP_block`: unmask events, and sleep unless one is pending.
pub fn block() -> i64 {
    sched_op::<()>(SCHEDOP_BLOCK, None)
}

/// `SCHEDOP_poll` on `ports` until one is pending or system time `timeout` (0: none).
pub fn poll(ports: &[u32], timeout: u64) -> i64 {
    let mut arg = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: ports.len() as u32,
        pad0: 0,
        timeout,
    };
    sched_op(SCHEDOP_POLL, Some(&mut arg))
}

/// Sleeps (`set_timer_op` + `SCHEDOP_block`) until `cond()` holds or system time reaches
/// `deadline`; returns the final `cond()`. Leaves events enabled and the timer cancelled.
pub fn wait_until(deadline: u64, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        events::irq_disable();
        if cond() || now() >= deadline {
            events::irq_enable();
            set_timer_op(0);
            return cond();
        }
        set_timer_op(deadline);
        block();
        events::irq_enable();
    }
}

/// Sleeps until system time `deadline`.
pub fn sleep_until(deadline: u64) {
    wait_until(deadline, || false);
}

/// Sleeps for `ns` nanoseconds.
pub fn sleep(ns: u64) {
    sleep_until(now() + ns);
}

/// A Unix time as a UTC civil date: `(year, month 1–12, day 1–31, hour, minute, second)`
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_unix(seconds: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    );
    (year, month, day, h, m, s)
}
