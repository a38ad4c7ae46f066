//! The interrupt descriptor table: 256 interrupt gates onto the stubs in `entry`.
//!
//! All gates are interrupt gates (IF cleared on entry: the hypervisor runs with interrupts
//! masked). `int3` and `into` are allowed from ring 3 (DPL 3) so guests can use them directly;
//! any other `int $n` from a guest faults with #GP and is emulated from the guest's trap table.
//! NMI, #DF, #MC run on their own IST stacks.

use core::cell::UnsafeCell;

use super::{entry, gdt};

/// Exception vector numbers.
#[allow(missing_docs)]
pub mod vector {
    pub const NMI: u8 = 2;
    pub const BREAKPOINT: u8 = 3;
    pub const OVERFLOW: u8 = 4;
    pub const DOUBLE_FAULT: u8 = 8;
    pub const MACHINE_CHECK: u8 = 18;
    /// The serial port's receive interrupt (through the I/O APIC).
    pub const SERIAL: u8 = 0x24;
    /// The local APIC timer.
    pub const TIMER: u8 = 0xF0;
    /// LAPIC spurious interrupts.
    pub const SPURIOUS: u8 = 0xFF;
}

#[repr(C, align(16))]
struct Idt([u64; 512]);

struct IdtCell(UnsafeCell<Idt>);
// SAFETY: written once at boot on the single CPU before `lidt`; read only by the CPU after.
unsafe impl Sync for IdtCell {}

static IDT: IdtCell = IdtCell(UnsafeCell::new(Idt([0; 512])));

/// Where the IDT lives (read by the CPU on every interrupt and exception).
pub fn address() -> u64 {
    IDT.0.get() as u64
}

fn gate(handler: u64, dpl: u64, ist: u8) -> (u64, u64) {
    let low = (handler & 0xFFFF)
        | (u64::from(gdt::HYPERVISOR_CS) << 16)
        | (u64::from(ist) << 32)
        | ((0x8E | (dpl << 5)) << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    (low, handler >> 32)
}

/// Fills and loads the IDT.
pub fn init() {
    // SAFETY: boot CPU, interrupts masked, IDT not loaded yet (or reloaded identically).
    let idt = unsafe { &mut (*IDT.0.get()).0 };
    for v in 0..=255u8 {
        let dpl = if v == vector::BREAKPOINT || v == vector::OVERFLOW {
            3
        } else {
            0
        };
        let ist = match v {
            vector::NMI => gdt::ist::NMI,
            vector::DOUBLE_FAULT => gdt::ist::DOUBLE_FAULT,
            vector::MACHINE_CHECK => gdt::ist::MACHINE_CHECK,
            _ => 0,
        };
        let (lo, hi) = gate(entry::stub_address(v), dpl, ist);
        idt[2 * v as usize] = lo;
        idt[2 * v as usize + 1] = hi;
    }
    let ptr = x86::dtables::DescriptorTablePointer::new(&*idt);
    // SAFETY: the IDT is static and fully initialised; its gates point at valid stubs.
    unsafe { x86::dtables::lidt(&ptr) };
}
