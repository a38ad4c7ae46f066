//! The ACPI tables: found from the loader's RSDP copy (multiboot2) or by the BIOS-area search,
//! read with the `acpi` crate through the direct map. The hypervisor takes from them what it
//! needs to route interrupts: the I/O APICs and the ISA interrupt overrides (MADT).

use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};

use super::phys;

/// Maps physical regions through the direct map (everything below 4 GiB is mapped).
#[derive(Clone, Copy)]
struct DirectMap;

impl AcpiHandler for DirectMap {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let va = (phys::DIRECTMAP_BASE + physical_address as u64) as *mut T;
        // SAFETY: the direct map covers the first 4 GiB (firmware tables live there) and the
        // `acpi` crate only reads through the mapping; the pointer is non-null.
        unsafe {
            PhysicalMapping::new(
                physical_address,
                NonNull::new_unchecked(va),
                size,
                size,
                *self,
            )
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// An I/O APIC.
#[derive(Clone, Copy, Debug)]
pub struct IoApicInfo {
    /// MMIO base.
    pub address: u64,
    /// First global system interrupt it serves.
    pub gsi_base: u32,
}

/// What the hypervisor uses from ACPI.
#[derive(Clone, Debug, Default)]
pub struct AcpiInfo {
    /// Signatures of every table found, in order.
    pub tables: alloc::vec::Vec<[u8; 4]>,
    /// The I/O APICs.
    pub io_apics: alloc::vec::Vec<IoApicInfo>,
    /// ISA IRQ overrides: (isa irq, gsi, MPS INTI flags).
    pub overrides: alloc::vec::Vec<(u8, u32, u16)>,
}

impl AcpiInfo {
    /// The global system interrupt an ISA IRQ arrives on, and its MPS flags.
    pub fn isa_gsi(&self, irq: u8) -> (u32, u16) {
        self.overrides
            .iter()
            .find(|o| o.0 == irq)
            .map_or((u32::from(irq), 0), |o| (o.1, o.2))
    }
}

fn table_name(s: &str) -> [u8; 4] {
    let mut n = *b"????";
    for (d, c) in n.iter_mut().zip(s.bytes()) {
        *d = c;
    }
    n
}

/// Reads the ACPI tables; `root` is the RSDT/XSDT from the loader, if it gave one.
pub fn read(root: Option<(u8, u64)>) -> Option<AcpiInfo> {
    // SAFETY: addresses come from the loader's RSDP copy or the BIOS-area scan the crate does;
    // the tables are firmware memory below 4 GiB, which is direct-mapped and never written.
    let tables = unsafe {
        match root {
            Some((revision, address)) => {
                AcpiTables::from_rsdt(DirectMap, revision, address as usize)
            }
            None => AcpiTables::search_for_rsdp_bios(DirectMap),
        }
    }
    .ok()?;
    let mut info = AcpiInfo {
        tables: tables
            .headers()
            .map(|h| table_name(h.signature.as_str()))
            .collect(),
        ..AcpiInfo::default()
    };
    if let Ok(madt) = tables.find_table::<Madt>() {
        for entry in madt.get().entries() {
            match entry {
                MadtEntry::IoApic(io) => info.io_apics.push(IoApicInfo {
                    address: u64::from(io.io_apic_address),
                    gsi_base: io.global_system_interrupt_base,
                }),
                MadtEntry::InterruptSourceOverride(o) if o.bus == 0 => {
                    info.overrides
                        .push((o.irq, o.global_system_interrupt, o.flags))
                }
                _ => {}
            }
        }
    }
    Some(info)
}
