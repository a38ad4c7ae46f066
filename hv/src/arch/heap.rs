//! The hypervisor heap (`alloc`): a fixed region of RAM carved out at boot, served by
//! `linked_list_allocator`. Guest-driven allocations are bounded by quotas elsewhere
//! (xenstore limits, event-channel and grant-table sizes), so the heap never grows.

use linked_list_allocator::LockedHeap;

use super::phys;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[ma, ma + size)` (direct-mapped, unused RAM) to the allocator and protects it.
pub fn init(ma: u64, size: u64) {
    let _ = phys::protect(ma, ma + size);
    let va = (phys::DIRECTMAP_BASE + ma) as *mut u8;
    // SAFETY: the range is RAM reserved for the heap alone (carved from the free map and
    // protected against `phys` accesses); `init` is called exactly once, before any allocation.
    unsafe { HEAP.lock().init(va, size as usize) };
}

/// Bytes of the heap in use (for the hypervisor's per-domain overhead in the boot log).
pub fn used() -> usize {
    HEAP.lock().used()
}
