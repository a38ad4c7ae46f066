//! The legacy 8254 PIT, used once at boot as a known-frequency reference to calibrate the TSC
//! and the local APIC timer (channel 2, gated through port 0x61, polled — no interrupts).

use super::cpu;

/// PIT input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Lets PIT channel 2 count down `ticks` (≤ 65535) and returns what `sample` measured at the
/// start and at the end: `(start, end)`.
pub fn measure<T>(ticks: u16, mut sample: impl FnMut() -> T) -> (T, T) {
    // Gate low, speaker off.
    let gate = cpu::inb(0x61) & !0x03;
    cpu::outb(0x61, gate);
    // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
    cpu::outb(0x43, 0b1011_0000);
    cpu::outb(0x42, (ticks & 0xFF) as u8);
    cpu::outb(0x42, (ticks >> 8) as u8);
    // Gate high starts the count; OUT2 (bit 5 of 0x61) rises at terminal count.
    cpu::outb(0x61, gate | 0x01);
    let start = sample();
    let mut spins: u64 = 0;
    while cpu::inb(0x61) & 0x20 == 0 {
        spins += 1;
        if spins > 1 << 32 {
            break;
        }
    }
    let end = sample();
    cpu::outb(0x61, gate);
    (start, end)
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
