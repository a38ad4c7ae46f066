//! The I/O APIC: routes one ISA interrupt (the serial port's) to a vector on the boot CPU.

use super::{lapic, phys};

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;

fn write(base: u64, reg: u32, value: u32) {
    let va = phys::DIRECTMAP_BASE + base;
    // SAFETY: `base` is an I/O APIC's MMIO window from the MADT, below 4 GiB and direct-mapped
    // uncached; IOREGSEL/IOWIN are its two registers.
    unsafe {
        core::ptr::write_volatile((va + IOREGSEL) as *mut u32, reg);
        core::ptr::write_volatile((va + IOWIN) as *mut u32, value);
    }
}

/// Routes input `pin` of the I/O APIC at `base` to `vector` on this CPU, with the MPS INTI
/// `flags` (polarity bits 0–1: 3 = active low; trigger bits 2–3: 3 = level), unmasked.
pub fn route(base: u64, pin: u32, vector: u8, flags: u16) {
    let active_low = flags & 3 == 3;
    let level = (flags >> 2) & 3 == 3;
    let low = u32::from(vector) | (u32::from(active_low) << 13) | (u32::from(level) << 15);
    let high = lapic::id() << 24;
    write(base, 0x10 + 2 * pin + 1, high);
    write(base, 0x10 + 2 * pin, low);
}
