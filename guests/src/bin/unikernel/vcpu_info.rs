//! `register-vcpu-info`: `VCPUOP_register_vcpu_info` moves vCPU 0's `vcpu_info` into a page
//! of ours (as Linux does for every CPU), after which events and time arrive there and no
//! longer in shared_info; the page is held by the hypervisor, so it cannot become a page
//! table even once we drop our writable mapping of it.

use guests::mm::ops::{mmuext, update_va_mapping};
use guests::ring::{pfn_to_mfn, PageSlot, PTE_RW, VIRT_BASE};
use guests::{events, time};
use pv_abi::errno::{neg, EINVAL};
use pv_abi::xen::{MMUEXT_PIN_L1_TABLE, UVMF_INVLPG};

use crate::{loopback_pair, Check, Ctx, Problems};

/// The page our `vcpu_info` moves into; nothing else lives in it.
static mut VCPU_INFO_PAGE: PageSlot = PageSlot([0; 4096]);
/// Where in the page (Linux uses a 64-byte aligned per-CPU slot).
const OFFSET: u64 = 128;

/// The u64 at `va`.
fn word(va: u64) -> u64 {
    // SAFETY: callers pass 8-aligned addresses in our mapped vcpu_info page or shared_info,
    // which the hypervisor writes concurrently (so the read is volatile) and no Rust
    // reference covers.
    unsafe { (va as *const u64).read_volatile() }
}

/// Clears the u64 at `va` (a field of the old, unregistered vcpu_info slot).
fn clear(va: u64) {
    // SAFETY: as `word`; the slot is ours to write.
    unsafe { (va as *mut u64).write_volatile(0) }
}

/// Yields up to 10,000 times until `done`; whether it became true.
fn yields_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if done() {
            return true;
        }
        time::yield_now();
    }
    done()
}

/// The `register-vcpu-info` verdict.
pub fn register(ctx: &Ctx) -> Check {
    let mut p = Problems::default();
    let va = &raw const VCPU_INFO_PAGE as u64;
    let Some(mfn) = pfn_to_mfn(ctx.si, (va - VIRT_BASE) / 4096) else {
        return Err(detail!("no mfn for the vcpu_info page"));
    };
    // SAFETY: the page is a `.bss` slot of ours that no Rust reference touches; it stays
    // mapped except inside the masked window at the end.
    let rc = unsafe { events::register_vcpu_info(mfn, 4096 - 32, va + 4096 - 32) };
    p.check(
        rc == neg(EINVAL),
        format_args!("offset 4064: {rc}, want -22"),
    );

    let was_enabled = events::irq_disable();
    let old = events::vcpu_info_va();
    // SAFETY: as above.
    let rc = unsafe { events::register_vcpu_info(mfn, OFFSET as u32, va + OFFSET) };
    if rc != 0 {
        events::irq_restore(was_enabled);
        return Err(detail!("register at offset {OFFSET}: {rc}"));
    }
    let new = va + OFFSET;
    // Xen's map_vcpu_info: the 64 bytes copied (the mask too), then every selector bit and
    // upcall_pending set.
    let head = word(new);
    p.check(
        head & 0xFF == 1 && (head >> 8) & 0xFF == 1,
        format_args!("pending/mask {head:#x}, want 0x101"),
    );
    p.check(
        word(new + 8) == !0,
        format_args!("pending_sel {:#x}", word(new + 8)),
    );
    // SAFETY: as above (and it must be refused).
    let again = unsafe { events::register_vcpu_info(mfn, OFFSET as u32, new) };
    p.check(
        again == neg(EINVAL),
        format_args!("second registration: {again}, want -22"),
    );
    clear(old);
    clear(old + 8);
    let old_time = word(old + 32);
    let new_time = word(new + 32);
    events::irq_restore(was_enabled);

    // Events now arrive through the registered vcpu_info (and the upcall handler reads it).
    let (a, b) = loopback_pair()?;
    let seen = events::count(b);
    events::send(a);
    // Bounded by yields, not by our clock: if time were not delivered here either, a
    // deadline would never pass and the check would hang instead of failing.
    p.check(
        yields_until(|| events::count(b) > seen),
        format_args!("loopback event not delivered"),
    );
    // Time too: every switch back to us rewrites the new slot; our clock (read from it)
    // advances; the old slot is left alone.
    let t0 = time::now();
    p.check(
        yields_until(|| word(new + 32) != new_time && time::now() > t0),
        format_args!("time not updated in the new slot (clock at {t0})"),
    );
    p.check(
        word(old) == 0 && word(old + 8) == 0 && word(old + 32) == old_time,
        format_args!("old slot written"),
    );
    let _ = events::close(a);
    let _ = events::close(b);

    // The held page cannot become a page table, even with our only mapping gone.
    let was_enabled = events::irq_disable();
    // SAFETY: events are masked, so nothing reads the page while it is unmapped; it holds no
    // Rust object.
    let unmapped = unsafe { update_va_mapping(va, 0, UVMF_INVLPG) };
    // SAFETY: must be refused; were it accepted, the frame would only become a table of
    // non-present entries, mapping nothing.
    let pin = unsafe { mmuext(MMUEXT_PIN_L1_TABLE, mfn, 0) };
    // SAFETY: maps our own frame back at its own slot.
    let remapped = unsafe { update_va_mapping(va, (mfn << 12) | PTE_RW, UVMF_INVLPG) };
    events::irq_restore(was_enabled);
    p.check(unmapped.is_ok(), format_args!("unmap: {unmapped:?}"));
    p.check(
        pin == Err(neg(EINVAL)),
        format_args!("pin as L1: {pin:?}, want Err(-22)"),
    );
    p.check(remapped.is_ok(), format_args!("remap: {remapped:?}"));
    p.into_check(detail!(
        "vcpu_info at mfn {mfn:#x}+{OFFSET}: events and time arrive there, re-registration \
         and bad offset refused, page unpinnable"
    ))
}
