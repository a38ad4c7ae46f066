//! The legacy 8254 PIT, used once at boot as a known-frequency reference to calibrate the TSC
//! and the local APIC timer (channel 2, gated through port 0x61, polled — no interrupts).

use super::cpu;

/// PIT input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

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

/// Lets PIT channel 2 count down `ticks` (≤ 65535) and samples with `sample` at the start
/// and at the end.
pub fn measure<T>(ticks: u16, mut sample: impl FnMut() -> T) -> Window<T> {
    // Gate low, speaker off.
    let gate = cpu::inb(0x61) & !0x03;
    cpu::outb(0x61, gate);
    // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
    cpu::outb(0x43, 0b1011_0000);
    cpu::outb(0x42, (ticks & 0xFF) as u8);
    cpu::outb(0x42, (ticks >> 8) as u8);
    // Gate high starts the count; OUT2 (bit 5 of 0x61) rises at terminal count and stays.
    let before_start = cpu::rdtsc();
    cpu::outb(0x61, gate | 0x01);
    let start = sample();
    let start_slack = cpu::rdtsc().wrapping_sub(before_start);
    // `last_low`: the TSC just before the last read that still saw OUT2 low; the count
    // ended after it.
    let mut last_low = cpu::rdtsc();
    let mut spins: u64 = 0;
    loop {
        let t = cpu::rdtsc();
        if cpu::inb(0x61) & 0x20 != 0 {
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
    cpu::outb(0x61, gate);
    Window {
        start,
        end,
        slack: start_slack.saturating_add(end_slack),
    }
}

/// The full count of a free-running window ([`start_window`]): 65535 ticks, 54.9 ms.
pub const WINDOW_TICKS: u32 = 0xFFFF;

/// Starts channel 2 counting down a [`WINDOW_TICKS`] window (mode 0, gate high), to be read
/// with [`window_elapsed`] while the CPU does other work.
pub fn start_window() {
    let gate = cpu::inb(0x61) & !0x03;
    cpu::outb(0x61, gate);
    cpu::outb(0x43, 0b1011_0000);
    cpu::outb(0x42, 0xFF);
    cpu::outb(0x42, 0xFF);
    cpu::outb(0x61, gate | 0x01);
}

/// PIT ticks since [`start_window`], read from the latched count; `None` once the window
/// has ended (OUT2 high: the count wrapped and is no longer meaningful).
pub fn window_elapsed() -> Option<u32> {
    // Latch channel 2's count, then read it low byte first.
    cpu::outb(0x43, 0b1000_0000);
    let lo = u32::from(cpu::inb(0x42));
    let hi = u32::from(cpu::inb(0x42));
    if cpu::inb(0x61) & 0x20 != 0 {
        return None;
    }
    Some(WINDOW_TICKS - (hi << 8 | lo))
}
