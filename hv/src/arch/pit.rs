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
