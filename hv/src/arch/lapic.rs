//! The local APIC: enabled in xAPIC mode, its timer used in one-shot mode to wake the
//! scheduler at the next guest timer deadline. The APIC page is reached through the direct
//! map (it lies in the uncached part below 4 GiB).

use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, idt::vector, phys, pit};

const IA32_APIC_BASE: u32 = 0x1B;
const REG_EOI: u64 = 0xB0;
const REG_SVR: u64 = 0xF0;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INITIAL: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIVIDE: u64 = 0x3E0;
const LVT_MASKED: u32 = 1 << 16;

static APIC_VA: AtomicU64 = AtomicU64::new(0);
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);

fn write(reg: u64, value: u32) {
    let p = (APIC_VA.load(Ordering::Relaxed) + reg) as *mut u32;
    // SAFETY: the APIC register page is mapped (uncached) in the direct map; `reg` is a valid
    // register offset within it.
    unsafe { core::ptr::write_volatile(p, value) };
}

fn read(reg: u64) -> u32 {
    let p = (APIC_VA.load(Ordering::Relaxed) + reg) as *const u32;
    // SAFETY: as for `write`.
    unsafe { core::ptr::read_volatile(p) }
}

/// Calibration results.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    /// TSC frequency, Hz.
    pub tsc_hz: u64,
    /// APIC timer frequency (divide-by-1), Hz.
    pub apic_timer_hz: u64,
}

/// Enables the local APIC (xAPIC mode) with its timer masked, divide-by-1.
fn enable() {
    let base = cpu::rdmsr(IA32_APIC_BASE);
    cpu::wrmsr(IA32_APIC_BASE, base | (1 << 11));
    let ma = base & 0xF_FFFF_F000;
    APIC_VA.store(phys::DIRECTMAP_BASE + ma, Ordering::Relaxed);
    write(REG_SVR, 0x100 | u32::from(vector::SPURIOUS));
    write(REG_TIMER_DIVIDE, 0xB); // divide by 1
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(vector::TIMER));
}

/// A calibration under way: the PIT window was started at these TSC and APIC-timer readings,
/// or there is no PIT and the TSC frequency comes from CPUID.
pub enum Calibrating {
    /// A free-running PIT window (channel 0) started at these readings.
    Pit {
        /// TSC at the start.
        tsc: u64,
        /// APIC timer count at the start.
        apic: u64,
    },
    /// No PIT: the TSC frequency CPUID states (the APIC timer is measured against it).
    Cpuid(u64),
    /// No PIT and no frequency from CPUID: nothing to calibrate against.
    NoReference,
}

/// PIT ticks a calibration measures at least (10 ms).
const CALIBRATION_TICKS: u32 = 11_932;

/// The TSC frequency CPUID states, if it does (`hv_core::time::tsc_freq`).
fn cpuid_tsc_hz() -> Option<u64> {
    hv_core::time::tsc_freq::tsc_hz_from_cpuid(
        cpu::cpuid(0, 0)[0],
        cpu::cpuid(0x15, 0),
        cpu::cpuid(0x16, 0),
    )
}

/// Enables the local APIC and starts calibrating the TSC and the APIC timer against a free-
/// running PIT window; the boot goes on with other work and [`finish_calibration`] reads the
/// window when the frequencies are needed (waiting only if less than 10 ms passed). A machine
/// without a PIT falls back to the TSC frequency CPUID states.
pub fn begin_calibration() -> Calibrating {
    enable();
    if !pit::present() {
        return cpuid_tsc_hz().map_or(Calibrating::NoReference, Calibrating::Cpuid);
    }
    write(REG_TIMER_INITIAL, u32::MAX);
    pit::start_window();
    Calibrating::Pit {
        tsc: cpu::rdtsc(),
        apic: u64::from(read(REG_TIMER_CURRENT)),
    }
}

/// Ends the calibration begun by [`begin_calibration`]: reads how many PIT ticks have passed
/// (at least 10 ms, waiting if needed) and the TSC and APIC timer with them. If the window
/// ran out (more than 55 ms of other work, or the APIC counter ran down), measures 10 ms
/// afresh. `None`: the machine has neither a PIT nor a TSC frequency in CPUID.
pub fn finish_calibration(start: Calibrating) -> Option<Calibration> {
    let (start_tsc, start_apic) = match start {
        Calibrating::Pit { tsc, apic } => (tsc, apic),
        Calibrating::Cpuid(tsc_hz) => return Some(against_tsc(tsc_hz)),
        Calibrating::NoReference => return None,
    };
    let (ticks, tsc, apic) = loop {
        let elapsed = pit::window_elapsed();
        let (tsc, apic) = (cpu::rdtsc(), u64::from(read(REG_TIMER_CURRENT)));
        match elapsed {
            Some(t) if t >= CALIBRATION_TICKS && apic > 0 => break (t, tsc, apic),
            Some(_) if apic > 0 => core::hint::spin_loop(),
            _ => return Some(init()),
        }
    };
    let ns = u64::from(ticks) * 1_000_000_000 / pit::PIT_HZ;
    Some(finish(
        tsc.saturating_sub(start_tsc),
        start_apic.saturating_sub(apic),
        ns,
    ))
}

/// The APIC timer measured over 10 ms of a TSC whose frequency is known.
fn against_tsc(tsc_hz: u64) -> Calibration {
    write(REG_TIMER_INITIAL, u32::MAX);
    let (t0, a0) = (cpu::rdtsc(), u64::from(read(REG_TIMER_CURRENT)));
    let cycles = tsc_hz / 100;
    while cpu::rdtsc().wrapping_sub(t0) < cycles {
        core::hint::spin_loop();
    }
    let (t1, a1) = (cpu::rdtsc(), u64::from(read(REG_TIMER_CURRENT)));
    let ns = (t1 - t0) as u128 * 1_000_000_000 / u128::from(tsc_hz);
    let mut cal = finish(t1 - t0, a0.saturating_sub(a1), ns as u64);
    cal.tsc_hz = tsc_hz;
    cal
}

/// Enables the local APIC and calibrates the TSC and the APIC timer against the PIT (10 ms).
pub fn init() -> Calibration {
    enable();

    // 10 ms of PIT ticks; measure the TSC and the APIC down-counter over the same window.
    // Under an emulator on a loaded host the CPU can be taken away between a PIT event and
    // its sample, stretching or shrinking the window (TSC frequencies from 2.4 to 11 GHz were
    // seen): up to `TRIES` windows are measured and the one with the least slack kept,
    // stopping early at one whose slack is under 0.1 % of it.
    const TICKS: u16 = CALIBRATION_TICKS as u16;
    const TRIES: usize = 8;
    let mut best: Option<pit::Window<(u64, u64)>> = None;
    for _ in 0..TRIES {
        write(REG_TIMER_INITIAL, u32::MAX);
        let w = pit::measure(TICKS, || (cpu::rdtsc(), u64::from(read(REG_TIMER_CURRENT))));
        write(REG_TIMER_INITIAL, 0);
        let cycles = w.end.0.saturating_sub(w.start.0);
        let tight = w.slack.saturating_mul(1000) < cycles;
        if best.as_ref().is_none_or(|b| w.slack < b.slack) {
            best = Some(w);
        }
        if tight {
            break;
        }
    }
    let w = best.expect("at least one window was measured");
    let ((t0, a0), (t1, a1)) = (w.start, w.end);
    let ns = u64::from(TICKS) * 1_000_000_000 / pit::PIT_HZ;
    finish(t1 - t0, a0.saturating_sub(a1), ns)
}

/// Frequencies from counts over `ns`; arms nothing, leaves the timer one-shot and unmasked.
fn finish(tsc_ticks: u64, apic_ticks: u64, ns: u64) -> Calibration {
    write(REG_TIMER_INITIAL, 0);
    let tsc_hz = tsc_ticks * 1_000_000_000 / ns;
    let apic_timer_hz = apic_ticks * 1_000_000_000 / ns;
    TIMER_HZ.store(apic_timer_hz.max(1), Ordering::Relaxed);
    write(REG_LVT_TIMER, u32::from(vector::TIMER)); // one-shot, unmasked
    Calibration {
        tsc_hz,
        apic_timer_hz,
    }
}

/// Arms the one-shot timer to fire after `ns` nanoseconds (0 disarms it).
pub fn arm_timer_ns(ns: u64) {
    if ns == 0 {
        write(REG_TIMER_INITIAL, 0);
        return;
    }
    let hz = TIMER_HZ.load(Ordering::Relaxed);
    let ticks = (u128::from(ns) * u128::from(hz) / 1_000_000_000).clamp(1, u128::from(u32::MAX));
    write(REG_TIMER_INITIAL, ticks as u32);
}

/// This CPU's local APIC id.
pub fn id() -> u32 {
    read(0x20) >> 24
}

/// Signals end of interrupt.
pub fn eoi() {
    write(REG_EOI, 0);
}
