//! The legacy 8259 interrupt controllers: remapped away from the exception vectors (the BIOS
//! leaves IRQ0 on vector 8, which would look like a double fault) and fully masked — the
//! hypervisor uses the local APIC only.

use super::cpu;

/// Remaps both PICs to vectors 0x20–0x2F and masks every line.
pub fn disable() {
    // ICW1: init, expect ICW4.
    cpu::outb(0x20, 0x11);
    cpu::outb(0xA0, 0x11);
    // ICW2: vector offsets.
    cpu::outb(0x21, 0x20);
    cpu::outb(0xA1, 0x28);
    // ICW3: cascade wiring.
    cpu::outb(0x21, 0x04);
    cpu::outb(0xA1, 0x02);
    // ICW4: 8086 mode.
    cpu::outb(0x21, 0x01);
    cpu::outb(0xA1, 0x01);
    // Mask everything.
    cpu::outb(0x21, 0xFF);
    cpu::outb(0xA1, 0xFF);
}
