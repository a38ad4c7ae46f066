//! The hypervisor heap (`alloc`): a fixed region of RAM carved out at boot, served by `talc`
//! (segregated free lists: allocation and free cost the same however many domains live,
//! where a first-fit list's cost grew with the heap's fragmentation). Guest-driven
//! allocations are bounded by quotas elsewhere (xenstore limits, event-channel and
//! grant-table sizes), so the heap never grows.

use talc::{ErrOnOom, Span, Talc, Talck};

use super::phys;

#[global_allocator]
static HEAP: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// The heap's first pages, left out of the allocator until [`claim_skipped`]: `(va, bytes)`.
static SKIPPED: spin::Mutex<(u64, u64)> = spin::Mutex::new((0, 0));

/// Hands `[ma, ma + size)` (direct-mapped, unused RAM) to the allocator and protects it.
///
/// The allocator starts a few pages in, where the objects allocated first (the state every
/// exit touches) share no software-TLB colour with the image's hot pages
/// (`hv_core::tlb_color`); the pages skipped join the heap once boot is done.
pub fn init(ma: u64, size: u64) {
    let _ = phys::protect(ma, ma + size);
    let va = phys::DIRECTMAP_BASE + ma;
    let hot = super::hot_image_pages();
    let skip = hv_core::tlb_color::heap_skip(va >> 12, &hot) << 12;
    *SKIPPED.lock() = (va, skip);
    // SAFETY: the range is RAM reserved for the heap alone (carved from the free map and
    // protected against `phys` accesses); `init` is called exactly once, before any
    // allocation, and the skipped prefix (below 256 KiB of a heap of at least 8 MiB) is
    // claimed only later, once.
    let claimed = unsafe {
        HEAP.lock().claim(Span::from_base_size(
            (va + skip) as *mut u8,
            (size - skip) as usize,
        ))
    };
    claimed.expect("the heap region is large enough for the allocator's metadata");
}

/// Gives the allocator the pages [`init`] skipped (once; later calls do nothing).
pub fn claim_skipped() {
    let (va, bytes) = core::mem::take(&mut *SKIPPED.lock());
    if bytes == 0 {
        return;
    }
    // SAFETY: `[va, va + bytes)` is the start of the heap region `init` reserved and did not
    // claim; taking it out of `SKIPPED` makes this the only claim of it.
    let claimed = unsafe {
        HEAP.lock()
            .claim(Span::from_base_size(va as *mut u8, bytes as usize))
    };
    // Too small a span for the allocator's metadata only wastes it.
    let _ = claimed;
}

/// Bytes of the heap in use (for the hypervisor's per-domain overhead in the boot log).
pub fn used() -> usize {
    HEAP.lock().get_counters().allocated_bytes
}
