//! Superpage cases: PSE map/unmap round trip with both views checked, PSE refused without
//! superpages, PSE over page tables (RO allowed, RW refused), page-table typing under a
//! superpage mapping, and the XSA-148 entry flips.

use guests::mm::frames::{pt_pfn, SUPERPAGE_FRAMES};
use guests::mm::pte::{entry, entry_mfn, superpage, DATA_RO, DATA_RW, PSE, RW, TABLE};
use guests::mm::{ops, Level};
use pv_abi::errno::{neg, EINVAL};

use crate::env::{code, peek, poke, rc, Env, EXT_C, EXT_X};
use crate::report::{Detail, Report};

const PATTERN_2M: u64 = 0x2222_0000_0000_0000;
const PATTERN_4K: u64 = 0x4444_0000_0000_0000;

/// `pse-roundtrip`: extent 1 (pfns 512..1023, mapped 4 KiB RW by the bootstrap tables) is
/// mapped with one RW PSE entry; a pattern written through the 2 MiB view is read through the
/// 4 KiB views and vice versa; unmap, map read-only, read again, unmap.
pub fn pse_roundtrip(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let first = SUPERPAGE_FRAMES;
    let base = guests::mm::frames::superpage_mfn(env.si, first);
    let va = env.va_2m(1);
    let (Some(base), true) = (base, env.boot.mapped_pages >= 2 * SUPERPAGE_FRAMES) else {
        d.fail(format_args!("extent 1 is not a mapped superpage"));
        report.verdict("pse-roundtrip", d);
        return;
    };
    let word = |i: u64| if i.is_multiple_of(2) { 8 } else { 4088 };
    if d.expect(
        "map RW PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    ) {
        let mut same = true;
        for i in 0..SUPERPAGE_FRAMES {
            // SAFETY: `va` maps extent 1 (free RAM above our image) writable; the bootstrap
            // VA of each of its pfns maps the same frame.
            let v = unsafe {
                poke(va + (i << 12) + word(i), PATTERN_2M ^ i);
                peek(env.boot_va(first + i) + word(i))
            };
            same &= v == PATTERN_2M ^ i;
        }
        d.check("2 MiB writes seen in 4 KiB views", same);
        let mut same = true;
        for i in 0..SUPERPAGE_FRAMES {
            // SAFETY: as above, the other direction.
            let v = unsafe {
                poke(env.boot_va(first + i) + word(i), PATTERN_4K ^ i);
                peek(va + (i << 12) + word(i))
            };
            same &= v == PATTERN_4K ^ i;
        }
        d.check("4 KiB writes seen in 2 MiB view", same);
        d.check("entry has PSE", env.get(va, Level::L2) & PSE != 0);
        // Xen's update_va_mapping needs an L1 entry: a PSE-mapped address has none.
        d.expect(
            "update_va_mapping inside",
            env.uvm(va + 4096, 0),
            neg(EINVAL),
        );
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    }
    if d.expect(
        "map RO PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RO)),
        0,
    ) {
        // SAFETY: read-only view of extent 1.
        let ok = (0..SUPERPAGE_FRAMES)
            .all(|i| unsafe { peek(va + (i << 12) + word(i)) } == PATTERN_4K ^ i);
        d.check("pattern through RO PSE", ok);
        d.expect("unmap RO", code(env.win.unmap_2m(va)), 0);
    }
    report.verdict("pse-roundtrip", d);
}

/// `pse-refused-without-superpages`: in a domain built without superpages, a PSE L2 entry is
/// refused (`-EINVAL`, PSE stays in the L2 disallow mask), RO or RW, even over an own
/// 512-aligned frame.
pub fn pse_refused_nosuper(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let si = env.si;
    // Prefer a 512-aligned, machine-contiguous block of ours: it looks exactly like a
    // superpage, but no order-9 allocation gave it, and PSE is off for the domain anyway.
    let contiguous = (0..si.nr_pages / SUPERPAGE_FRAMES)
        .filter_map(|e| guests::mm::frames::superpage_mfn(si, e * SUPERPAGE_FRAMES))
        .next();
    let aligned = (guests::mm::frames::first_free_pfn(si)..si.nr_pages)
        .map(|pfn| env.mfn(pfn))
        .find(|mfn| mfn % SUPERPAGE_FRAMES == 0);
    let mfn = contiguous
        .or(aligned)
        .unwrap_or_else(|| env.mfn(env.extent_pfn(0)));
    d.note(format_args!(
        "mfn {mfn:#x} ({})",
        if contiguous.is_some() {
            "aligned, contiguous block"
        } else {
            "aligned frame"
        }
    ));
    let va = env.va_2m(2);
    d.expect(
        "RO PSE",
        code(env.win.map_2m(&mut env.pool, va, mfn, DATA_RO)),
        neg(EINVAL),
    );
    d.expect(
        "RW PSE",
        code(env.win.map_2m(&mut env.pool, va, mfn, DATA_RW)),
        neg(EINVAL),
    );
    d.check("slot still empty", env.get(va, Level::L2) == 0);
    report.verdict("pse-refused-without-superpages", d);
}

/// `pse-at-l3-and-l4`: PSE stays in the L3 and L4 disallow masks (no 1 GiB or 512 GiB pages
/// for PV guests): refused with `-EINVAL`, RO or RW, over our own aligned frames.
pub fn pse_other_levels(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let mfn = env.mfn(env.extent_pfn(0)) & !(SUPERPAGE_FRAMES - 1);
    let l3_va = env.win.base() + (1 << 30);
    d.expect(
        "L3 PSE RO",
        env.set(l3_va, Level::L3, superpage(mfn, DATA_RO)),
        neg(EINVAL),
    );
    d.expect(
        "L3 PSE RW",
        env.set(l3_va, Level::L3, superpage(mfn, DATA_RW)),
        neg(EINVAL),
    );
    d.expect(
        "L3 PSE over our L2 table",
        env.set(l3_va, Level::L3, superpage(env.t2, DATA_RO)),
        neg(EINVAL),
    );
    let l4 = guests::mm::tables::entry_maddr(env.boot.l4_mfn, crate::env::WINDOW_SLOT + 2);
    if env.entry(env.boot.l4_mfn, crate::env::WINDOW_SLOT + 2) == 0 {
        d.expect("L4 PSE", env.mmu(l4, superpage(mfn, DATA_RO)), neg(EINVAL));
    }
    d.check("L3 slot still empty", env.get(l3_va, Level::L3) == 0);
    report.verdict("pse-at-l3-and-l4", d);
}

/// `rw-pse-over-page-tables` / `ro-pse-over-page-tables`: extent 0 holds the bootstrap tables
/// and our pool tables. A RW PSE entry over it is refused (`-EINVAL`); a RO one is allowed
/// and shows the bootstrap L4 as the bootstrap mapping does.
pub fn pse_over_page_tables(env: &mut Env, report: &mut Report) {
    let va = env.va_2m(4);
    let base = guests::mm::frames::superpage_mfn(env.si, 0);
    let mut d = Detail::new();
    let Some(base) = base else {
        d.fail(format_args!("extent 0 is not a superpage"));
        report.verdict("rw-pse-over-page-tables", d);
        return;
    };
    d.expect(
        "RW PSE",
        env.set(va, Level::L2, superpage(base, DATA_RW)),
        neg(EINVAL),
    );
    d.check("slot still empty", env.get(va, Level::L2) == 0);
    report.verdict("rw-pse-over-page-tables", d);

    let mut d = Detail::new();
    if d.expect(
        "RO PSE",
        env.set(va, Level::L2, superpage(base, DATA_RO)),
        0,
    ) {
        let l4 = pt_pfn(env.si) << 12;
        // SAFETY: both VAs map the bootstrap L4 read-only; volatile reads only.
        let same =
            (0..512u64).all(|i| unsafe { peek(va + l4 + i * 8) == peek(env.si.pt_base + i * 8) });
        d.check("L4 read via 2 MiB == via pt_base", same);
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    }
    report.verdict("ro-pse-over-page-tables", d);
}

/// `pt-in-rw-superpage`: while extent C is mapped RW by a PSE entry, none of its frames can
/// become a page table (pin, or hook as L1: `-EINVAL`). `unmap-restores-pt-typing`: after the
/// unmap the same frame pins as L1. `pt-under-ro-superpage`: under a RO PSE mapping the frame
/// may be a page table, and flipping that mapping to RW is refused.
pub fn pt_under_superpage(env: &mut Env, report: &mut Report) {
    let (va, hook_va) = (env.va_2m(5), env.va_2m(6));
    let mut d = Detail::new();
    let Some(base) = env.extent_mfn(EXT_C) else {
        d.fail(format_args!("extent C is not a superpage"));
        report.verdict("pt-in-rw-superpage", d);
        return;
    };
    let frame = base + 5;
    if d.expect(
        "map RW PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    ) {
        d.expect("pin L1 inside", rc(ops::pin(Level::L1, frame)), neg(EINVAL));
        let hooked = code(
            env.win
                .ensure(&mut env.pool, hook_va, Level::L2)
                .map(|_| ()),
        );
        d.expect("L2 table for the hook", hooked, 0);
        d.expect(
            "hook as L1",
            env.set(hook_va, Level::L2, entry(frame, TABLE)),
            neg(EINVAL),
        );
    }
    report.verdict("pt-in-rw-superpage", d);

    let mut d = Detail::new();
    d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    d.expect("pin L1", rc(ops::pin(Level::L1, frame)), 0);
    d.expect("unpin", rc(ops::unpin(frame)), 0);
    report.verdict("unmap-restores-pt-typing", d);

    let mut d = Detail::new();
    if d.expect(
        "map RO PSE",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RO)),
        0,
    ) {
        d.expect("pin L1 inside", rc(ops::pin(Level::L1, frame)), 0);
        d.expect(
            "flip PSE entry to RW",
            env.set(va, Level::L2, superpage(base, DATA_RW)),
            neg(EINVAL),
        );
        d.check("entry still RO", env.get(va, Level::L2) & RW == 0);
        d.expect("unpin", rc(ops::unpin(frame)), 0);
        d.expect("unmap", code(env.win.unmap_2m(va)), 0);
    }
    report.verdict("pt-under-ro-superpage", d);
}

/// XSA-148. `xsa148-l1-to-rw-pse`: an L2 entry pointing at an L1 table (on a 512-aligned
/// frame, the head of extent X) is rewritten with PSE|RW and the same frame: refused
/// (`-EINVAL`), entry unchanged. `xsa148-ro-pse-to-rw` (superpages): a RO PSE mapping of
/// extent X — which holds that L1 — is allowed, flipping it to RW is refused.
pub fn xsa148(env: &mut Env, report: &mut Report) {
    let (l1_va, pse_va) = (env.va_2m(11), env.va_2m(12));
    let mut d = Detail::new();
    let head = if env.superpages {
        env.extent_mfn(EXT_X).ok_or(-1)
    } else {
        env.table_frame()
    };
    let Ok(head) = head else {
        d.fail(format_args!("no frame for the L1"));
        report.verdict("xsa148-l1-to-rw-pse", d);
        return;
    };
    d.note(format_args!("L1 at mfn {head:#x}"));
    d.expect("hook L1", env.set(l1_va, Level::L2, entry(head, TABLE)), 0);
    d.expect(
        "flip to PSE|RW",
        env.set(l1_va, Level::L2, superpage(head, DATA_RW)),
        neg(EINVAL),
    );
    let now = env.get(l1_va, Level::L2);
    d.check("entry unchanged", entry_mfn(now) == head && now & PSE == 0);
    d.expect(
        "flip to PSE RO",
        env.set(l1_va, Level::L2, superpage(head, DATA_RO)),
        if env.superpages { 0 } else { neg(EINVAL) },
    );
    d.expect(
        "restore L1 entry",
        env.set(l1_va, Level::L2, entry(head, TABLE)),
        0,
    );
    report.verdict("xsa148-l1-to-rw-pse", d);

    if env.superpages {
        let mut d = Detail::new();
        if d.expect(
            "RO PSE over extent with L1",
            env.set(pse_va, Level::L2, superpage(head, DATA_RO)),
            0,
        ) {
            d.expect(
                "flip RW",
                env.set(pse_va, Level::L2, superpage(head, DATA_RW)),
                neg(EINVAL),
            );
            let now = env.get(pse_va, Level::L2);
            d.check("entry still RO PSE", now & PSE != 0 && now & RW == 0);
            d.expect("unmap", code(env.win.unmap_2m(pse_va)), 0);
        }
        report.verdict("xsa148-ro-pse-to-rw", d);
    }
    d_unhook(env, l1_va);
}

fn d_unhook(env: &Env, l1_va: u64) {
    let _ = env.set(l1_va, Level::L2, 0);
    env.flush();
}
