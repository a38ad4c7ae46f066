//! Reservation cases: releasing frames under a live superpage, losing "enabled" by
//! releasing and repopulating with order 0, regaining it by exchange to order 9, exchanging
//! back, PSE over frames we do not own, and a populate/exchange round trip.

use guests::mm::frames::{m2p, set_p2m, SUPERPAGE_FRAMES};
use guests::mm::ops::{decrease_reservation, exchange, populate_physmap};
use guests::mm::pte::{superpage, DATA_RO, DATA_RW};
use guests::mm::Level;
use pv_abi::errno::{neg, EINVAL};

use crate::env::{code, peek, poke, Env, EXT_A, EXT_B, EXT_M};
use crate::report::{Detail, Report};

const N: usize = SUPERPAGE_FRAMES as usize;

fn done(r: Result<u64, i64>) -> i64 {
    r.map_or_else(|e| e, |n| n as i64)
}

/// `release-in-superpage`: while extent A is mapped by a RW PSE entry, neither one of its
/// frames nor the whole extent can be released (0 extents done); `exchange-in-superpage`:
/// nor exchanged (Xen: `steal_page` fails, `-EINVAL`). After the unmap the extent is still
/// enabled (a PSE map works again).
pub fn release_in_superpage(env: &mut Env, report: &mut Report) {
    let va = env.va_2m(7);
    let mut d = Detail::new();
    let Some(base) = env.extent_mfn(EXT_A) else {
        d.fail(format_args!("extent A is not a superpage"));
        report.verdict("release-in-superpage", d);
        return;
    };
    let pfn = env.extent_pfn(EXT_A);
    let mapped = d.expect(
        "map RW PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    );
    d.expect(
        "decrease one frame",
        done(decrease_reservation(&[base + 7], 0)),
        0,
    );
    d.expect(
        "decrease whole extent",
        done(decrease_reservation(&[base], 9)),
        0,
    );
    d.check(
        "p2m/M2P intact",
        env.mfn(pfn + 7) == base + 7 && m2p(base + 7) == pfn + 7,
    );
    report.verdict("release-in-superpage", d);

    let mut d = Detail::new();
    let mut out = [pfn + 7];
    let x = exchange(&[base + 7], 0, &mut out, 0);
    d.expect("exchange a frame", x.rc, neg(EINVAL));
    d.check("nr_exchanged 0", x.nr_exchanged == 0);
    if mapped {
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
        d.expect(
            "map again (still enabled)",
            code(env.win.map_2m(&mut env.pool, va, base, DATA_RO)),
            0,
        );
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    }
    report.verdict("exchange-in-superpage", d);
}

/// Case sequence on extent B:
/// `pse-over-repopulated-extent`: its 512 frames are released and repopulated one by one
/// (order 0): even if the new frames happen to be aligned and contiguous, the extent is not
/// enabled, so a PSE entry is refused (`-EINVAL`).
/// `pse-over-released-extent`: the old (freed, unowned) base is refused too.
/// `exchange-to-order9`: exchanging the 512 order-0 frames for one order-9 extent gives an
/// enabled superpage again (PSE map works). `exchange-order9-to-order0`: and back; Xen counts
/// `nr_exchanged` in input extents (1), and the extent is no longer enabled.
pub fn repopulated_extent(env: &mut Env, report: &mut Report) {
    let first = env.extent_pfn(EXT_B);
    let va = env.va_2m(8);
    let old_base = env.mfn(first);
    let mut mfns = [0u64; N];
    for (i, m) in mfns.iter_mut().enumerate() {
        *m = env.mfn(first + i as u64);
    }
    let mut d = Detail::new();
    d.expect(
        "decrease 512 x order 0",
        done(decrease_reservation(&mfns, 0)),
        N as i64,
    );
    let mut list = [0u64; N];
    for (i, p) in list.iter_mut().enumerate() {
        *p = first + i as u64;
    }
    d.expect(
        "populate 512 x order 0",
        done(populate_physmap(&mut list, 0)),
        N as i64,
    );
    for (i, &m) in list.iter().enumerate() {
        set_p2m(env.si, first + i as u64, m);
    }
    d.check(
        "M2P updated",
        list.iter()
            .enumerate()
            .all(|(i, &m)| m2p(m) == first + i as u64),
    );
    let contiguous = env.extent_mfn(EXT_B).is_some();
    d.note(format_args!(
        "new frames aligned+contiguous: {}",
        if contiguous { "yes" } else { "no" }
    ));
    let new_base = list[0];
    d.expect(
        "RO PSE",
        env.set(va, Level::L2, superpage(new_base, DATA_RO)),
        neg(EINVAL),
    );
    d.expect(
        "RW PSE",
        env.set(va, Level::L2, superpage(new_base, DATA_RW)),
        neg(EINVAL),
    );
    report.verdict("pse-over-repopulated-extent", d);

    let mut d = Detail::new();
    d.note(format_args!(
        "old base {old_base:#x}{}",
        if old_base == new_base {
            " (reused)"
        } else {
            ""
        }
    ));
    d.expect(
        "RO PSE",
        env.set(va, Level::L2, superpage(old_base, DATA_RO)),
        neg(EINVAL),
    );
    report.verdict("pse-over-released-extent", d);

    let mut d = Detail::new();
    let mut out = [first];
    let x = exchange(&list, 0, &mut out, 9);
    d.expect("exchange 512 x order 0 -> order 9", x.rc, 0);
    d.check("nr_exchanged 512", x.nr_exchanged == N as u64);
    let base = out[0];
    if x.rc == 0 {
        for i in 0..SUPERPAGE_FRAMES {
            set_p2m(env.si, first + i, base + i);
        }
    }
    d.check("new extent aligned", base.is_multiple_of(SUPERPAGE_FRAMES));
    d.check(
        "M2P updated",
        (0..SUPERPAGE_FRAMES).all(|i| m2p(base + i) == first + i),
    );
    if d.expect(
        "RW PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    ) {
        let last = va + (2 << 20) - 8;
        // SAFETY: the PSE entry maps our new extent writable; we write and read its last word.
        let v = unsafe {
            poke(last, 0x0E9);
            peek(last)
        };
        d.check("write/read", v == 0x0E9);
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    }
    report.verdict("exchange-to-order9", d);

    let mut d = Detail::new();
    let mut back = [0u64; N];
    for (i, p) in back.iter_mut().enumerate() {
        *p = first + i as u64;
    }
    let x = exchange(&[base], 9, &mut back, 0);
    d.expect("exchange order 9 -> 512 x order 0", x.rc, 0);
    d.note(format_args!("nr_exchanged {}", x.nr_exchanged));
    d.check("nr_exchanged 1 (input extents)", x.nr_exchanged == 1);
    if x.rc == 0 {
        for (i, &m) in back.iter().enumerate() {
            set_p2m(env.si, first + i as u64, m);
        }
    }
    d.check(
        "M2P updated",
        back.iter()
            .enumerate()
            .all(|(i, &m)| m2p(m) == first + i as u64),
    );
    d.expect(
        "RO PSE",
        env.set(va, Level::L2, superpage(back[0], DATA_RO)),
        neg(EINVAL),
    );
    report.verdict("exchange-order9-to-order0", d);
}

/// `pse-over-unowned-frames`: PSE entries over frames the domain does not own are refused
/// (`-EINVAL`): machine frame 0, the last 2 MiB of RAM (if not ours), beyond RAM, and the
/// top of the 40-bit frame space.
pub fn pse_unowned(env: &mut Env, report: &mut Report) {
    let va = env.va_2m(13);
    let mut d = Detail::new();
    let top_ram = (env.max_ram_page & !(SUPERPAGE_FRAMES - 1)).saturating_sub(SUPERPAGE_FRAMES);
    let probes = [
        ("mfn 0", 0u64),
        ("last RAM extent", top_ram),
        (
            "beyond RAM",
            env.max_ram_page.next_multiple_of(SUPERPAGE_FRAMES) + 4 * SUPERPAGE_FRAMES,
        ),
        ("mfn 2^40-512", (1 << 40) - SUPERPAGE_FRAMES),
    ];
    for (what, mfn) in probes {
        if guests::mm::frames::is_own(env.si, mfn) {
            d.note(format_args!("{what}: ours, skipped"));
            continue;
        }
        d.expect(
            what,
            env.set(va, Level::L2, superpage(mfn, DATA_RO)),
            neg(EINVAL),
        );
    }
    d.check("slot still empty", env.get(va, Level::L2) == 0);
    report.verdict("pse-over-unowned-frames", d);
}

/// `memory-op-roundtrip`: release one frame, populate a new one at the same pfn, exchange it
/// for another; the M2P follows each step and the final frame is usable.
pub fn roundtrip(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let pfn = env.extent_pfn(EXT_M) + 9;
    let old = env.mfn(pfn);
    d.expect("decrease", done(decrease_reservation(&[old], 0)), 1);
    set_p2m(env.si, pfn, u64::MAX);
    let mut list = [pfn];
    d.expect("populate", done(populate_physmap(&mut list, 0)), 1);
    d.check("M2P of new frame", m2p(list[0]) == pfn);
    set_p2m(env.si, pfn, list[0]);
    let mut out = [pfn];
    let x = exchange(&list, 0, &mut out, 0);
    d.expect("exchange", x.rc, 0);
    d.check("nr_exchanged 1", x.nr_exchanged == 1);
    d.check("M2P of exchanged frame", m2p(out[0]) == pfn);
    set_p2m(env.si, pfn, out[0]);
    let va = env.scratch(3);
    if d.expect(
        "map RW",
        code(env.win.map_4k(&mut env.pool, va, out[0], DATA_RW)),
        0,
    ) {
        // SAFETY: `va` maps our new frame writable.
        let v = unsafe {
            poke(va, 0xF00D);
            peek(va)
        };
        d.check("write/read", v == 0xF00D);
        d.expect("unmap", code(env.win.unmap_4k(va)), 0);
    }
    report.verdict("memory-op-roundtrip", d);
}
