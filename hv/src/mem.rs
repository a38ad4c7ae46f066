//! Machine memory at boot: the free map, the heap, the frame allocator and the hypervisor's
//! own page tables.
//!
//! Reserved at boot: the first MiB (BIOS data, real-mode leftovers), the hypervisor image, the
//! loader's information structure and the boot modules (the guest kernel and ramdisk, given back
//! to the allocator once the domain is built). Everything else is free RAM.

use alloc::vec::Vec;

use hv_core::buddy::BuddyAllocator;
use hv_core::memmap::{self, Range};

use crate::arch::bootinfo::BootInfo;
use crate::arch::paging::{self, HvPageTables};
use crate::arch::{heap, phys};

/// 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

/// Machine memory as the hypervisor manages it after boot.
pub struct MachineMemory {
    /// Free machine frames.
    pub frames: BuddyAllocator,
    /// One past the highest RAM address.
    pub ram_end: u64,
    /// The hypervisor's page tables.
    pub page_tables: HvPageTables,
    /// TSC when the heap and the frame allocator were ready (page tables built after).
    pub allocator_ready_tsc: u64,
}

/// Heap size: 1/16 of RAM, between 8 and 64 MiB.
fn heap_size(ram_bytes: u64) -> u64 {
    (ram_bytes / 16)
        .clamp(8 << 20, 64 << 20)
        .next_multiple_of(2 << 20)
}

/// Sets up the heap, the frame allocator and the final page tables.
pub fn init(boot: &BootInfo) -> MachineMemory {
    let (img_start, img_end) = paging::image_range();
    let mut reserved = [Range::new(0, 0); 3 + crate::arch::bootinfo::MAX_MODULES];
    reserved[0] = Range::new(0, 0x10_0000);
    reserved[1] = Range::new(img_start, img_end);
    reserved[2] = boot.info;
    for (slot, m) in reserved[3..].iter_mut().zip(boot.modules()) {
        *slot = m.range;
    }
    let ram_bytes: u64 = boot.ram().iter().map(Range::len).sum();
    let size = heap_size(ram_bytes);
    let Some(heap_start) = memmap::find_free(boot.ram(), &reserved, size, 2 << 20, 4 << 30) else {
        panic!("no room for a {} MiB heap below 4 GiB", size >> 20);
    };
    heap::init(heap_start, size);

    let mut all_reserved: Vec<Range> = reserved.to_vec();
    all_reserved.push(Range::new(heap_start, heap_start + size));
    let ram: Vec<Range> = boot.ram().to_vec();
    let free = memmap::subtract(&ram, &all_reserved);
    let mut frames = BuddyAllocator::new();
    for r in &free {
        let r = r.page_aligned_inside(PAGE_SIZE);
        frames
            .add_range(r.start / PAGE_SIZE, r.end / PAGE_SIZE)
            .expect("free ranges are disjoint");
    }
    let ram_end = ram.iter().map(|r| r.end).max().unwrap_or(0);
    let allocator_ready_tsc = crate::arch::cpu::rdtsc();
    log::info!(
        "memory: {} MiB RAM, {} MiB free, heap {} MiB at {:#x}, image {:#x}-{:#x}",
        ram_bytes >> 20,
        (frames.free_frames() * PAGE_SIZE) >> 20,
        size >> 20,
        heap_start,
        img_start,
        img_end
    );

    let is_ram = |s: u64, e: u64| ram.iter().any(|r| r.overlaps(&Range::new(s, e)));
    let mut alloc = || frames.alloc(0).expect("out of memory building page tables") * PAGE_SIZE;
    let page_tables = HvPageTables::build(ram_end, &is_ram, &mut alloc);
    page_tables.activate();
    log::debug!(
        "page tables active: direct map of {} GiB",
        phys::mapped_limit() >> 30
    );
    MachineMemory {
        frames,
        ram_end,
        page_tables,
        allocator_ready_tsc,
    }
}
