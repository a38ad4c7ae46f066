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
/// Timer (re)programmings since boot, for the profile: under emulation each is an exit to
/// the device model, which also wakes its timer thread.
static TIMER_WRITES: AtomicU64 = AtomicU64::new(0);

/// LAPIC timer programmings since boot (arms and disarms).
pub fn timer_writes() -> u64 {
    TIMER_WRITES.load(Ordering::Relaxed)
}

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
        /// TSC at the middle of the port write that started the window.
        tsc: u64,
        /// TSC cycles the start took (from just before the port write that started it).
        slack: u64,
        /// The APIC timer's count, read after the start (it is measured against the TSC).
        apic: ApicReading,
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

/// A free-running PIT window started by [`start_pit_window`]: the TSC at the middle of the
/// port write that started it, and the TSC cycles that write took.
#[derive(Clone, Copy, Debug)]
pub struct PitStart {
    tsc: u64,
    slack: u64,
}

/// Starts the free-running PIT window the TSC is calibrated against (`None`: no PIT). Port
/// I/O only, so the boot starts it before it builds its page tables and the APIC is
/// reachable: the window then runs through that work too, and [`finish_calibration`] rarely
/// has to wait for its 10 ms.
pub fn start_pit_window() -> Option<PitStart> {
    if !pit::present() {
        return None;
    }
    // Under an emulator on a loaded host the CPU can be taken away around the port write
    // that starts the window: restart it until the TSC reading follows closely, a few times
    // at most (the running window is the last one started; `finish_calibration` weighs its
    // slack).
    let mut tries = 0;
    loop {
        pit::arm_window();
        let before = cpu::rdtsc();
        pit::start_armed_window();
        let slack = cpu::rdtsc().wrapping_sub(before);
        // The count started somewhere within the port write: the middle is at most half the
        // slack away.
        let tsc = before + slack / 2;
        tries += 1;
        if slack < START_SLACK || tries == 8 {
            return Some(PitStart { tsc, slack });
        }
    }
}

/// Enables the local APIC and starts calibrating the TSC and the APIC timer: the TSC against
/// the PIT window `pit` started, the APIC timer against the TSC from now on. The boot goes
/// on with other work and [`finish_calibration`] reads the window when the frequencies are
/// needed (waiting only if less than 10 ms passed since the window started). A machine
/// without a PIT falls back to the TSC frequency CPUID states.
pub fn begin_calibration(pit: Option<PitStart>) -> Calibrating {
    enable();
    let Some(PitStart { tsc, slack }) = pit else {
        return cpuid_tsc_hz().map_or(Calibrating::NoReference, Calibrating::Cpuid);
    };
    // The APIC timer is read separately, bracketed by the TSC (its read can wait for the
    // emulator's lock), and measured against the TSC.
    write(REG_TIMER_INITIAL, u32::MAX);
    Calibrating::Pit {
        tsc,
        slack,
        apic: ApicReading::take(),
    }
}

/// The APIC timer's current count and the TSC at the middle of its read.
#[derive(Clone, Copy, Debug)]
pub struct ApicReading {
    count: u64,
    tsc: u64,
}

/// An APIC read bracketed by this few TSC cycles is close enough (an emulated read takes
/// ~15 µs; one that waited for the emulator's lock can take milliseconds).
const APIC_READ_SLACK: u64 = 60_000;

impl ApicReading {
    /// The reading with the tightest TSC bracket of a few (stopping at a tight one).
    fn take() -> Self {
        let mut best: Option<(u64, ApicReading)> = None;
        for _ in 0..8 {
            let before = cpu::rdtsc();
            let count = u64::from(read(REG_TIMER_CURRENT));
            let slack = cpu::rdtsc().wrapping_sub(before);
            let reading = ApicReading {
                count,
                tsc: before + slack / 2,
            };
            if best.is_none_or(|(s, _)| slack < s) {
                best = Some((slack, reading));
            }
            if slack < APIC_READ_SLACK {
                break;
            }
        }
        best.expect("at least one reading").1
    }
}

/// A TSC reading within this many cycles of the port write that started the PIT is close
/// enough (a few microseconds at any plausible TSC frequency; one emulated port write takes
/// about a microsecond).
const START_SLACK: u64 = 20_000;

/// Ends the calibration begun by [`begin_calibration`]: reads how many PIT ticks have passed
/// (at least 10 ms, waiting if needed) with the TSC, until the TSC readings at both ends (each
/// the middle of the port write that started or latched the count) are within 0.1 % of the
/// window of the PIT events (the closest reading within 1 % if the window runs out first),
/// then measures the APIC timer against the TSC over the same time. If no reading is close
/// enough (more than 55 ms of other work, or the CPU taken away at each reading), measures
/// 10 ms afresh. `None`: the machine has neither a PIT nor a TSC frequency in CPUID.
pub fn finish_calibration(start: Calibrating) -> Option<Calibration> {
    let (start_tsc, start_slack, start_apic) = match start {
        Calibrating::Pit { tsc, slack, apic } => (tsc, slack, apic),
        Calibrating::Cpuid(tsc_hz) => return Some(against_tsc(tsc_hz)),
        Calibrating::NoReference => return None,
    };
    // (slack, PIT ticks, TSC) of the closest reading so far. The count is latched by one
    // port write; reading it back comes after, outside the slack. Each end's TSC is at most
    // half its slack off.
    let mut best: Option<(u64, u32, u64)> = None;
    loop {
        let before = cpu::rdtsc();
        pit::latch_window();
        let slack = cpu::rdtsc().wrapping_sub(before);
        let tsc = before + slack / 2;
        match pit::read_latched_window() {
            Some(t) if t >= CALIBRATION_TICKS => {
                if best.is_none_or(|b| slack < b.0) {
                    best = Some((slack, t, tsc));
                }
                if (start_slack + slack).saturating_mul(500) <= tsc.saturating_sub(start_tsc) {
                    break;
                }
            }
            Some(_) => core::hint::spin_loop(),
            None => break,
        }
    }
    let end_apic = ApicReading::take();
    let Some((slack, ticks, tsc)) = best.filter(|&(slack, _, tsc)| {
        (start_slack + slack).saturating_mul(50) <= tsc.saturating_sub(start_tsc)
    }) else {
        log::debug!("calibration: no close TSC reading in the free-running PIT window (start slack {start_slack} cycles); measuring again");
        return Some(init());
    };
    if end_apic.count == 0 {
        return Some(init());
    }
    let cycles = tsc.saturating_sub(start_tsc);
    let ns = u64::from(ticks) * 1_000_000_000 / pit::PIT_HZ;
    let tsc_hz = cycles * 1_000_000_000 / ns.max(1);
    let apic_cycles = end_apic.tsc.saturating_sub(start_apic.tsc).max(1);
    let apic_ticks = start_apic.count.saturating_sub(end_apic.count);
    let apic_hz = (u128::from(apic_ticks) * u128::from(tsc_hz) / u128::from(apic_cycles)) as u64;
    log::debug!(
        "calibration: {ticks} PIT ticks, {cycles} TSC cycles (slack {start_slack}+{slack}), APIC {apic_ticks} ticks over {apic_cycles} TSC cycles"
    );
    Some(settle(tsc_hz, apic_hz))
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
    settle(
        tsc_ticks * 1_000_000_000 / ns,
        apic_ticks * 1_000_000_000 / ns,
    )
}

/// Keeps the frequencies; arms nothing, leaves the timer one-shot and unmasked.
fn settle(tsc_hz: u64, apic_timer_hz: u64) -> Calibration {
    write(REG_TIMER_INITIAL, 0);
    TIMER_HZ.store(apic_timer_hz.max(1), Ordering::Relaxed);
    write(REG_LVT_TIMER, u32::from(vector::TIMER)); // one-shot, unmasked
    Calibration {
        tsc_hz,
        apic_timer_hz,
    }
}

/// Arms the one-shot timer to fire after `ns` nanoseconds (0 disarms it).
pub fn arm_timer_ns(ns: u64) {
    // One CPU: a plain load and store.
    TIMER_WRITES.store(TIMER_WRITES.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
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
