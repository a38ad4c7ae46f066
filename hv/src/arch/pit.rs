//! The legacy 8254 PIT, used once at boot as a known-frequency reference to calibrate the TSC
//! and the local APIC timer (channel 0, polled through the read-back command — no interrupts:
//! the PIC is masked and IF is clear while it counts).
//!
//! Channel 0 rather than Linux's channel 2: channel 2's gate and output sit behind port 0x61
//! (the PC speaker), which QEMU's `microvm` machine does not have, while channel 0's gate is
//! wired high on every PC and its output bit can be read back from the 8254 itself. On a
//! machine without any PIT the reads float high and [`present`] says so.

use super::cpu;

/// PIT input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

const CHANNEL0: u16 = 0x40;
const COMMAND: u16 = 0x43;
/// Channel 0, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
const MODE0: u8 = 0b0011_0000;
/// Read-back: latch channel 0's count and status.
const READ_BACK0: u8 = 0b1100_0010;
/// Status byte: the OUT pin.
const STATUS_OUT: u8 = 1 << 7;
/// Status byte: the count written has not been loaded yet.
const STATUS_NULL_COUNT: u8 = 1 << 6;

/// One measured PIT window: what `sample` returned at its start and end, and how many TSC
/// cycles each of the two could be off by (`slack`: the time between the PIT event and the
/// sample — large when the CPU was taken away, as under a loaded emulator host).
pub struct Window<T> {
    /// Sample just after the count started.
    pub start: T,
    /// Sample just after the count was seen to end.
    pub end: T,
    /// Uncertainty of the window in TSC cycles (start plus end).
    pub slack: u64,
}

/// Starts channel 0 counting down `ticks` in mode 0; OUT goes low now and high at terminal
/// count, then stays high (the counter wraps and runs on, its value meaningless).
fn start(ticks: u16) {
    program(ticks);
    load(ticks);
}

/// Programs channel 0 for a mode-0 count of `ticks` up to its last step (the low byte).
fn program(ticks: u16) {
    cpu::outb(COMMAND, MODE0);
    cpu::outb(CHANNEL0, (ticks & 0xFF) as u8);
}

/// Writes the count's high byte, which loads the count [`program`] prepared: a single port
/// write.
fn load(ticks: u16) {
    cpu::outb(CHANNEL0, (ticks >> 8) as u8);
}

/// Channel 0's status byte and current count, latched together.
fn read_back() -> (u8, u16) {
    latch();
    read_latched()
}

/// Latches channel 0's count and status (a single port write).
fn latch() {
    cpu::outb(COMMAND, READ_BACK0);
}

/// The status byte and count the last [`latch`] took.
fn read_latched() -> (u8, u16) {
    let status = cpu::inb(CHANNEL0);
    let lo = u16::from(cpu::inb(CHANNEL0));
    let hi = u16::from(cpu::inb(CHANNEL0));
    (status, hi << 8 | lo)
}

/// Whether channel 0 counts: after a fresh mode-0 count its OUT reads low and the count
/// loaded. Without a PIT the port floats to all ones (OUT high).
pub fn present() -> bool {
    start(0xFFFF);
    let mut tries = 0;
    loop {
        let (status, _) = read_back();
        if status & STATUS_NULL_COUNT == 0 || tries > 1000 {
            return status & (STATUS_OUT | STATUS_NULL_COUNT) == 0;
        }
        tries += 1;
    }
}

/// Lets PIT channel 0 count down `ticks` and samples with `sample` at the start and at the
/// end.
pub fn measure<T>(ticks: u16, mut sample: impl FnMut() -> T) -> Window<T> {
    let before_start = cpu::rdtsc();
    start(ticks);
    let start = sample();
    let start_slack = cpu::rdtsc().wrapping_sub(before_start);
    // `last_low`: the TSC just before the last read that still saw OUT low; the count ended
    // after it.
    let mut last_low = cpu::rdtsc();
    let mut spins: u64 = 0;
    loop {
        let t = cpu::rdtsc();
        if read_back().0 & STATUS_OUT != 0 {
            break;
        }
        last_low = t;
        spins += 1;
        if spins > 1 << 32 {
            break;
        }
    }
    let end = sample();
    let end_slack = cpu::rdtsc().wrapping_sub(last_low);
    Window {
        start,
        end,
        slack: start_slack.saturating_add(end_slack),
    }
}

/// The full count of a free-running window ([`arm_window`]): 65535 ticks, 54.9 ms.
pub const WINDOW_TICKS: u16 = 0xFFFF;

/// Programs channel 0 for a [`WINDOW_TICKS`] window up to its last step: the count starts
/// with [`start_armed_window`] (a single port write, for callers that time it closely).
pub fn arm_window() {
    program(WINDOW_TICKS);
}

/// Starts the window [`arm_window`] prepared: writing the count's high byte loads it.
pub fn start_armed_window() {
    load(WINDOW_TICKS);
}

/// Latches channel 0's count and status now (a single port write), for
/// [`read_latched_window`] to read later.
pub fn latch_window() {
    latch();
}

/// PIT ticks from the window's start to the [`latch_window`] before; `None` if the window
/// had ended by then.
pub fn read_latched_window() -> Option<u32> {
    let (status, count) = read_latched();
    if status & STATUS_NULL_COUNT != 0 {
        return Some(0);
    }
    if status & STATUS_OUT != 0 {
        return None;
    }
    Some(u32::from(WINDOW_TICKS - count))
}
