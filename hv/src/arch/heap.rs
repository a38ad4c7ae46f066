//! The hypervisor heap (`alloc`): a fixed region of RAM carved out at boot, served by `talc`
//! (segregated free lists: allocation and free cost the same however many domains live,
//! where a first-fit list's cost grew with the heap's fragmentation). Guest-driven
//! allocations are bounded by quotas elsewhere (xenstore limits, event-channel and
//! grant-table sizes), so the heap never grows.

use talc::{ErrOnOom, Span, Talc, Talck};

use super::phys;

#[global_allocator]
static HEAP: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Hands `[ma, ma + size)` (direct-mapped, unused RAM) to the allocator and protects it.
pub fn init(ma: u64, size: u64) {
    let _ = phys::protect(ma, ma + size);
    let va = (phys::DIRECTMAP_BASE + ma) as *mut u8;
    // SAFETY: the range is RAM reserved for the heap alone (carved from the free map and
    // protected against `phys` accesses); `init` is called exactly once, before any allocation.
    let claimed = unsafe { HEAP.lock().claim(Span::from_base_size(va, size as usize)) };
    claimed.expect("the heap region is large enough for the allocator's metadata");
}

/// Bytes of the heap in use (for the hypervisor's per-domain overhead in the boot log).
pub fn used() -> usize {
    HEAP.lock().get_counters().allocated_bytes
}
