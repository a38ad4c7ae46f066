//! Frames the hypervisor writes (issue 7): the console and xenstore rings are held by the
//! hypervisor (general reference + writable type), so the PTE-forgery attack through the
//! xenstore ring and the use-after-free through releasing a ring are refused, and both rings
//! keep working afterwards.
//!
//! ```text
//!  held-ring-pin-as-l1   1 XS_WRITE data/evil-pte = (our L4 << 12) | P | RW | USER
//!                        2 reconnect (indices 0), zero the page, queue XS_READ data/evil-pte
//!                          (every word of the page non-present), do not notify
//!                        3 unmap our only writable mapping of the ring, PIN_L1_TABLE it
//!                          → refused (-EINVAL)
//!                        4 notify the store port: the server answers into a data page
//!                        5 hook the ring under our L2 as an L1 → refused (-EINVAL)
//!  held-ring-release     decrease_reservation / exchange of either ring → nothing released
//!  held-rings-still-work remap the ring: the reply is there, inert data; a fresh client
//!                        reads the node back; the console ring is unpinnable too
//!  held-frame-no-rw-superpage  (superpages) our vcpu_info registered in enabled extent A:
//!                        RW PSE over it refused (accepted just before), RO PSE accepted,
//!                        the extent and the frame cannot be released
//! ```

use core::sync::atomic::{AtomicU32, Ordering};

use guests::mm::ops::{decrease_reservation, exchange};
use guests::mm::pte::{DATA_RO, DATA_RW, PRESENT, RW, TABLE, USER};
use guests::mm::Level;
use guests::xenstore::Xenstore;
use guests::{events, ring, time};
use pv_abi::errno::{neg, EINVAL};
use pv_abi::io::xs_wire::{offsets, XENSTORE_CONNECTED, XENSTORE_RECONNECT, XS_READ};
use pv_abi::xen::MMUEXT_PIN_L1_TABLE;

use crate::env::{code, peek, poke, Env};
use crate::report::{Detail, Report};

/// The node whose value is the forged entry. Its bytes 0 and 8 are even, so the queued
/// request leaves every 8-byte word of the page non-present (what a pin would accept).
const NODE: &str = "data/evil-pte";
/// The queued request's id: even, for the same reason.
const REQ_ID: u32 = 0x7770;
/// Window slot used to hook the ring under our L2.
const HOOK_SLOT: u64 = 14;

fn index(page: u64, offset: usize) -> &'static AtomicU32 {
    // SAFETY: `page` is the mapped store ring page; its index words are shared with the
    // server and only accessed atomically.
    unsafe { AtomicU32::from_ptr((page + offset as u64) as *mut u32) }
}

/// Steps 2: reconnect and wait for the server to zero the indices; then zero the page and
/// queue `XS_READ NODE` without notifying. Returns whether every word is non-present.
fn queue_read(page: u64, port: u32, d: &mut Detail) -> bool {
    index(page, offsets::CONNECTION).store(XENSTORE_RECONNECT, Ordering::Release);
    events::send(port);
    let deadline = time::now() + 2000 * time::MS;
    let reconnected = time::wait_until(deadline, || {
        index(page, offsets::CONNECTION).load(Ordering::Acquire) == XENSTORE_CONNECTED
    });
    d.check("reconnected", reconnected);
    for off in (0..4096).step_by(8) {
        // SAFETY: the ring page is mapped writable and holds no Rust object.
        unsafe { poke(page + off, 0) };
    }
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&XS_READ.to_le_bytes());
    req[4..8].copy_from_slice(&REQ_ID.to_le_bytes());
    let path_len = NODE.len() + 1;
    req[12..16].copy_from_slice(&(path_len as u32).to_le_bytes());
    req[16..16 + NODE.len()].copy_from_slice(NODE.as_bytes());
    let len = 16 + path_len;
    for (i, w) in req.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        // SAFETY: inside `req[]` of the mapped ring page.
        unsafe { poke(page + offsets::REQ as u64 + 8 * i as u64, word) };
    }
    index(page, offsets::REQ_PROD).store(len as u32, Ordering::Release);
    // SAFETY: reading our own mapped ring page.
    (0..4096)
        .step_by(8)
        .all(|off| unsafe { peek(page + off) } & PRESENT == 0)
}

/// `held-ring-pin-as-l1` and `held-ring-release`, then `held-rings-still-work`.
pub fn all(env: &mut Env, report: &mut Report) {
    let si = env.si;
    let (store, console) = (si.store_mfn, si.console.mfn);
    let forged = (env.boot.l4_mfn << 12) | PRESENT | RW | USER;
    let mut d = Detail::new();
    let Some(page) = ring::mfn_to_va(si, store) else {
        d.fail(format_args!("store ring not in the start-of-day map"));
        report.verdict("held-ring-pin-as-l1", d);
        return;
    };
    // 1. The forged entry as a node value.
    let mut xs = match Xenstore::new(si) {
        Ok(xs) => xs,
        Err(why) => {
            d.fail(format_args!("xenstore: {why}"));
            report.verdict("held-ring-pin-as-l1", d);
            return;
        }
    };
    d.check(
        "1 write forged PTE node",
        xs.write(0, NODE, &forged.to_le_bytes()).is_ok(),
    );
    // 2. Indices zero, page zero, the read queued.
    let all_clear = queue_read(page, xs.port(), &mut d);
    d.check("2 page has no present word", all_clear);
    // 3. Drop our writable mapping and pin the ring as an L1.
    d.expect("3 unmap ring", env.uvm(page, 0), 0);
    d.expect(
        "3 pin ring as L1",
        env.ext(MMUEXT_PIN_L1_TABLE, store, 0),
        neg(EINVAL),
    );
    // 4. The server answers (into a plain data page, as the pin was refused).
    d.expect("4 notify store", events::send(xs.port()), 0);
    // 5. Hook it under our L2 as an L1.
    let hook = env.va_2m(HOOK_SLOT);
    d.expect(
        "5 ring as L1 under our L2",
        env.set(hook, Level::L2, (store << 12) | TABLE),
        neg(EINVAL),
    );
    d.check("5 no entry written", env.get(hook, Level::L2) == 0);
    let remapped = env.uvm(page, (store << 12) | DATA_RW);
    d.expect("remap ring", remapped, 0);
    report.verdict("held-ring-pin-as-l1", d);

    let mut d = Detail::new();
    for (name, mfn) in [("store", store), ("console", console)] {
        let pfn = env.pfn_of(mfn);
        let released = decrease_reservation(&[mfn], 0);
        d.check(
            if name == "store" {
                "decrease store ring: 0 done"
            } else {
                "decrease console ring: 0 done"
            },
            released == Ok(0),
        );
        let mut out = [pfn];
        let x = exchange(&[mfn], 0, &mut out, 0);
        d.expect(
            if name == "store" {
                "exchange store ring"
            } else {
                "exchange console ring"
            },
            x.rc,
            neg(EINVAL),
        );
        d.check("nr_exchanged 0", x.nr_exchanged == 0);
        d.check("p2m intact", env.mfn(pfn) == mfn);
    }
    report.verdict("held-ring-release", d);

    let mut d = Detail::new();
    if remapped == 0 {
        // The reply to the queued read: inert bytes in a data page.
        let word = |off: usize| {
            // SAFETY: the ring page is mapped again (readable).
            unsafe { peek(page + offsets::RSP as u64 + off as u64) }
        };
        let header = word(0);
        d.check(
            "reply to the queued read",
            header as u32 == XS_READ && (header >> 32) as u32 == REQ_ID,
        );
        d.check("reply carries the bytes", word(16) == forged);
        let prod = index(page, offsets::RSP_PROD).load(Ordering::Acquire);
        index(page, offsets::RSP_CONS).store(prod, Ordering::Release);
        let mut fresh = Xenstore::new(si).ok();
        let back = fresh
            .as_mut()
            .and_then(|xs| xs.read(0, NODE).ok().map(|v| v == forged.to_le_bytes()));
        d.check("store serves a fresh client", back == Some(true));
    } else {
        d.fail(format_args!("ring not remapped"));
    }
    if let Some(cpage) = ring::mfn_to_va(si, console) {
        d.expect("unmap console ring", env.uvm(cpage, 0), 0);
        d.expect(
            "pin console ring as L1",
            env.ext(MMUEXT_PIN_L1_TABLE, console, 0),
            neg(EINVAL),
        );
        d.expect(
            "remap console ring",
            env.uvm(cpage, (console << 12) | DATA_RW),
            0,
        );
    }
    report.verdict("held-rings-still-work", d);
}

/// Window slot for the superpage probes over the held frame's extent.
const PSE_SLOT: u64 = 15;
/// Scratch page that maps the registered vcpu_info frame (from here to the end of the run).
const VCPU_INFO_SCRATCH: u64 = 20;

/// `held-frame-no-rw-superpage` (superpage domains; the last case, as our `vcpu_info` stays
/// registered in extent A from here on): a frame the hypervisor holds — our `vcpu_info`,
/// registered inside enabled extent A — keeps the extent Nosuper: a writable PSE entry over
/// it is refused (accepted just before the registration), a read-only one is not, and the
/// extent cannot be released.
pub fn no_rw_superpage(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let Some(base) = env.extent_mfn(crate::env::EXT_A) else {
        d.fail(format_args!("extent A is not a superpage"));
        report.verdict("held-frame-no-rw-superpage", d);
        return;
    };
    let (va, frame) = (env.va_2m(PSE_SLOT), base + 5);
    d.expect(
        "RW PSE before",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    );
    d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    let (mapped, rc) = env.register_vcpu_info_at(frame, VCPU_INFO_SCRATCH);
    d.expect("map the frame", mapped, 0);
    d.expect("register vcpu_info in extent A", rc, 0);
    d.expect(
        "RW PSE over the held frame",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        neg(EINVAL),
    );
    d.check("no entry written", env.get(va, Level::L2) == 0);
    d.expect(
        "RO PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RO)),
        0,
    );
    d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    d.check(
        "release extent: 0 done",
        decrease_reservation(&[base], 9) == Ok(0),
    );
    d.check(
        "release the frame: 0 done",
        decrease_reservation(&[frame], 0) == Ok(0),
    );
    d.check("clock still runs", {
        let t0 = time::now();
        (0..1000).any(|_| {
            guests::time::yield_now();
            time::now() > t0
        })
    });
    report.verdict("held-frame-no-rw-superpage", d);
}
