//! The hypervisor's own page tables, built once at boot.
//!
//! ```text
//!  L4 slot  virtual range                          contents
//!  256      0xFFFF800000000000 ..                  read-only M2P, visible to guests (U, !RW)
//!  257-260  ..                                     (reserved: per-domain areas later)
//!  261      0xFFFF82D040000000 ..                  hypervisor image (4 KiB pages, W^X)
//!  262-271  0xFFFF830000000000 .. +5 TiB           direct map of machine memory (2 MiB / 1 GiB pages)
//! ```
//!
//! Slots 256–271 are Xen's reserved hypervisor range. Every slot gets its L3 table at boot and
//! those L4 entries never change afterwards, so a guest L4 receives them by plain copy on
//! validation and sees every later hypervisor mapping.

use super::{cpu, phys};

/// PTE flag bits (the same x86 bits the page-type core validates).
pub use hv_core::mm::pte;

/// Link-time virtual address of physical 0 for the image (Xen's XEN_VIRT_START).
pub const IMAGE_VMA_OFFSET: u64 = 0xFFFF_82D0_4000_0000;
/// Guest-visible read-only machine-to-phys table (Xen's RO_MPT_VIRT_START).
pub const M2P_BASE: u64 = 0xFFFF_8000_0000_0000;
/// First and last L4 slot of the hypervisor's reserved range.
pub const HV_SLOTS: core::ops::RangeInclusive<usize> = 256..=271;

const TABLE_FLAGS: u64 = pte::PRESENT | pte::RW | pte::ACCESSED | pte::DIRTY;

/// The hypervisor's address space.
pub struct HvPageTables {
    l4: u64,
}

extern "C" {
    static _image_start: u8;
    static _text_end: u8;
    static _data_start: u8;
    static _image_end: u8;
}

/// Physical extent of the hypervisor image, `[start, end)`.
pub fn image_range() -> (u64, u64) {
    let s = &raw const _image_start as u64;
    let e = &raw const _image_end as u64;
    (s - IMAGE_VMA_OFFSET, e - IMAGE_VMA_OFFSET)
}

/// The pages left unmapped below the hypervisor's stacks (boot stack, per-CPU stack), so
/// that an overflow faults (and, with no stack left to push on, double-faults onto its own
/// IST stack, where it is reported) instead of silently overwriting what lies below.
pub fn stack_guard_pages() -> [u64; 2] {
    [
        super::boot::boot_stack_guard_page(),
        super::entry::cpu_stack_guard(),
    ]
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

impl HvPageTables {
    /// Builds the tables: image, direct map of `[0, direct_map_end)` (rounded up to 1 GiB,
    /// at least 4 GiB; 2 MiB pages, uncached where `is_ram` says a 2 MiB page holds no RAM, and
    /// 1 GiB pages for gigabytes whose 2 MiB pages would all be alike),
    /// and an L3 for every reserved slot. `alloc` returns zeroed-or-not 4 KiB frames.
    pub fn build(
        direct_map_end: u64,
        is_ram: &dyn Fn(u64, u64) -> bool,
        alloc: &mut dyn FnMut() -> u64,
    ) -> Self {
        let mut t = Self {
            l4: new_table(alloc),
        };
        for slot in HV_SLOTS {
            let l3 = new_table(alloc);
            let user = if slot == 256 { pte::USER } else { 0 };
            phys::write_u64(t.l4 + 8 * slot as u64, l3 | TABLE_FLAGS | user);
        }
        // Image, 4 KiB pages: text RX, rodata R, data/bss RW.
        let text_end = &raw const _text_end as u64;
        let data = &raw const _data_start as u64;
        let (start, end) = image_range();
        let guards = stack_guard_pages();
        let mut va = start + IMAGE_VMA_OFFSET;
        while va < end + IMAGE_VMA_OFFSET {
            if guards.contains(&va) {
                va += 4096;
                continue;
            }
            let flags = if va < text_end {
                pte::PRESENT
            } else if va < data {
                pte::PRESENT | pte::NX
            } else {
                pte::PRESENT | pte::RW | pte::NX
            };
            t.map_4k(
                va,
                va - IMAGE_VMA_OFFSET,
                flags | pte::ACCESSED | pte::DIRTY,
                alloc,
            );
            va += 4096;
        }
        // Direct map, 2 MiB pages; a GiB whose 2 MiB pages would all get the same flags is one
        // 1 GiB page where the CPU has them (the MMIO gigabytes below 4 GiB: 1536 fewer
        // entries written at boot on a small machine).
        let end = direct_map_end.max(4 << 30).next_multiple_of(1 << 30);
        let flags_2m = |ma: u64| {
            let uc = if is_ram(ma, ma + (2 << 20)) {
                0
            } else {
                pte::PCD | pte::PWT
            };
            pte::PRESENT | pte::RW | pte::NX | pte::PSE | pte::ACCESSED | pte::DIRTY | uc
        };
        let gib_pages = cpu::cpuid(0x8000_0000, 0)[0] >= 0x8000_0001
            && cpu::cpuid(0x8000_0001, 0)[3] & (1 << 26) != 0;
        let mut ma = 0;
        while ma < end {
            if gib_pages && ma.is_multiple_of(1 << 30) {
                let flags = flags_2m(ma);
                if (1..512).all(|i| flags_2m(ma + (i << 21)) == flags) {
                    t.map_1g(phys::DIRECTMAP_BASE + ma, ma, flags, alloc);
                    ma += 1 << 30;
                    continue;
                }
            }
            t.map_2m(phys::DIRECTMAP_BASE + ma, ma, flags_2m(ma), alloc);
            ma += 2 << 20;
        }
        phys::set_mapped_limit(end);
        t
    }

    /// Machine address of the L4.
    pub fn l4(&self) -> u64 {
        self.l4
    }

    /// The 16 L4 entries of the reserved hypervisor slots, for guest L4s.
    pub fn hypervisor_l4_slots(&self) -> [u64; 16] {
        core::array::from_fn(|i| phys::read_u64(self.l4 + 8 * (256 + i as u64)))
    }

    fn walk_to(&self, va: u64, level: u32, alloc: &mut dyn FnMut() -> u64) -> u64 {
        let mut table = self.l4;
        for l in (level + 1..=4).rev() {
            let slot = table + 8 * index(va, l);
            let e = phys::read_u64(slot);
            table = if e & pte::PRESENT != 0 {
                e & pte::ADDR_MASK
            } else {
                let t = new_table(alloc);
                let user = if (M2P_BASE..M2P_BASE + (1 << 39)).contains(&va) {
                    pte::USER
                } else {
                    0
                };
                phys::write_u64(slot, t | TABLE_FLAGS | user);
                t
            };
        }
        table
    }

    /// Maps one 4 KiB page.
    pub fn map_4k(&mut self, va: u64, ma: u64, flags: u64, alloc: &mut dyn FnMut() -> u64) {
        let l1 = self.walk_to(va, 1, alloc);
        phys::write_u64(l1 + 8 * index(va, 1), ma | flags);
    }

    /// Maps one 2 MiB page (`flags` must include PSE).
    pub fn map_2m(&mut self, va: u64, ma: u64, flags: u64, alloc: &mut dyn FnMut() -> u64) {
        let l2 = self.walk_to(va, 2, alloc);
        phys::write_u64(l2 + 8 * index(va, 2), ma | flags);
    }

    /// Maps one 1 GiB page (`flags` must include PSE; the CPU must support 1 GiB pages).
    pub fn map_1g(&mut self, va: u64, ma: u64, flags: u64, alloc: &mut dyn FnMut() -> u64) {
        let l3 = self.walk_to(va, 3, alloc);
        phys::write_u64(l3 + 8 * index(va, 3), ma | flags);
    }

    /// Switches the CPU to these tables.
    pub fn activate(&self) {
        // SAFETY: the tables map the image at its link address and the direct map exactly as
        // the boot tables did (plus more), so the running code, stack and data stay mapped.
        unsafe { cpu::write_cr3(self.l4) };
    }
}

fn new_table(alloc: &mut dyn FnMut() -> u64) -> u64 {
    let ma = alloc();
    phys::zero(ma, 4096);
    ma
}
