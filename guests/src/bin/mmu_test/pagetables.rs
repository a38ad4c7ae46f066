//! Page-table cases without superpages: our own tables, 4 KiB mappings, writable mappings of
//! page tables, self-mapping tables, and the linear page-table count.

use guests::mm::frames::first_free_pfn;
use guests::mm::pte::{entry, DATA_RO, DATA_RW, PRESENT, RW, TABLE};
use guests::mm::tables::entry_maddr;
use guests::mm::{ops, Level};
use pv_abi::errno::{neg, EBUSY, EINVAL};
use pv_abi::xen::{MmuUpdate, MMUEXT_CLEAR_PAGE};

use crate::env::{code, peek, poke, rc, Env, EXT_A};
use crate::report::{Detail, Report};

const PATTERN: u64 = 0x5EED_0000_C0DE_0000;

/// `build-own-tables`: the window's L3/L2/L1 were hooked with `mmu_update` and are read-only
/// in the bootstrap mapping.
pub fn build_own_tables(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    d.check(
        "L3, L2, L1 built",
        env.t3 != 0 && env.t2 != 0 && env.t1 != 0,
    );
    for (name, mfn) in [("L3", env.t3), ("L2", env.t2), ("L1", env.t1)] {
        let pte = env.boot.lookup(env.si, env.boot_va(env.pfn_of(mfn)));
        d.check(name, pte.is_some_and(|e| e & PRESENT != 0 && e & RW == 0));
    }
    d.note(format_args!(
        "bootstrap maps {} pages, pool from pfn {:#x}",
        env.boot.mapped_pages,
        first_free_pfn(env.si)
    ));
    report.verdict("build-own-tables", d);
}

/// `4k-rw-map`: a data frame mapped RW, written, unmapped, mapped RO and read back. With
/// superpages the frame lies in an enabled extent, which a RW PSE entry maps at the same
/// time (both views show the same bytes).
pub fn map_4k(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let pfn = env.extent_pfn(EXT_A) + 3;
    let mfn = env.mfn(pfn);
    let (rw_va, ro_va) = (env.scratch(1), env.scratch(2));
    if d.expect(
        "map RW",
        code(env.win.map_4k(&mut env.pool, rw_va, mfn, DATA_RW)),
        0,
    ) {
        // SAFETY: `rw_va` now maps our free data frame writable.
        unsafe { poke(rw_va + 8, PATTERN ^ pfn) };
        if env.superpages {
            alias_through_superpage(env, &mut d, pfn);
        }
        d.expect("unmap", code(env.win.unmap_4k(rw_va)), 0);
    }
    if d.expect(
        "map RO",
        code(env.win.map_4k(&mut env.pool, ro_va, mfn, DATA_RO)),
        0,
    ) {
        // SAFETY: `ro_va` maps the same frame read-only.
        let v = unsafe { peek(ro_va + 8) };
        d.check("pattern through RO map", v == PATTERN ^ pfn);
        d.expect("unmap RO", code(env.win.unmap_4k(ro_va)), 0);
    }
    report.verdict("4k-rw-map", d);
}

/// With the 4 KiB RW mapping of `pfn` live, maps its extent with a RW PSE entry and reads the
/// pattern through the 2 MiB view.
fn alias_through_superpage(env: &mut Env, d: &mut Detail, pfn: u64) {
    let Some(base) = env.extent_mfn(EXT_A) else {
        d.fail(format_args!("extent A is not a superpage"));
        return;
    };
    let va = env.va_2m(3);
    if d.expect(
        "RW PSE over it",
        code(env.win.map_2m(&mut env.pool, va, base, DATA_RW)),
        0,
    ) {
        let off = (pfn - env.extent_pfn(EXT_A)) << 12;
        // SAFETY: the PSE entry maps our data extent at `va`; we read one word.
        let v = unsafe { peek(va + off + 8) };
        d.check("same bytes via 2 MiB", v == PATTERN ^ pfn);
        d.expect("PSE unmap", code(env.win.unmap_2m(va)), 0);
    }
}

/// `writable-l1` .. `writable-l4`: a writable mapping of a live page table is refused with
/// Xen's `-EBUSY` (`get_page_from_l1e` → `could_not_pin`), by `mmu_update` and by
/// `update_va_mapping`; the L1 entry stays empty.
pub fn writable_tables(env: &mut Env, report: &mut Report) {
    let boot_l1 = env.win.bootstrap().l4_mfn;
    let boot_l1 = [Level::L4, Level::L3, Level::L2]
        .iter()
        .try_fold(boot_l1, |t, &l| {
            env.boot
                .read_entry(env.si, t, guests::mm::tables::slot(env.boot_va(0), l))
                .map(guests::mm::pte::entry_mfn)
        })
        .unwrap_or(0);
    let cases = [
        ("writable-l1", env.t1),
        ("writable-l2", env.t2),
        ("writable-l3", env.t3),
        ("writable-l4", env.boot.l4_mfn),
    ];
    let slot = 5;
    let ptr = entry_maddr(env.t1, slot);
    for (name, table) in cases {
        let mut d = Detail::new();
        d.expect(
            "mmu_update RW map",
            env.mmu(ptr, entry(table, DATA_RW)),
            neg(EBUSY),
        );
        d.check("L1 entry still empty", env.entry(env.t1, slot) == 0);
        match name {
            "writable-l1" => {
                let va = env.boot_va(env.pfn_of(env.t1));
                d.expect(
                    "update_va_mapping own VA RW",
                    env.uvm(va, entry(env.t1, DATA_RW)),
                    neg(EBUSY),
                );
                d.expect(
                    "bootstrap L1 RW map",
                    env.mmu(ptr, entry(boot_l1, DATA_RW)),
                    neg(EBUSY),
                );
            }
            "writable-l4" => {
                let va = env.si.pt_base;
                d.expect(
                    "update_va_mapping pt_base RW",
                    env.uvm(va, entry(table, DATA_RW)),
                    neg(EBUSY),
                );
            }
            _ => {}
        }
        d.expect("RO map allowed", env.mmu(ptr, entry(table, DATA_RO)), 0);
        d.expect("unmap", env.mmu(ptr, 0), 0);
        report.verdict(name, d);
    }
    env.flush();
}

/// `l4-hypervisor-slots`: L4 slots 256..=271 belong to the hypervisor; a guest write there
/// is refused (`-EINVAL`, Xen's "Illegal L4 update attempt in Xen-private area"), whether it
/// clears the slot or installs a table of ours.
pub fn l4_hypervisor_slots(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let l4 = env.boot.l4_mfn;
    let before = env.entry(l4, 256);
    d.expect(
        "clear slot 256 (M2P)",
        env.mmu(entry_maddr(l4, 256), 0),
        neg(EINVAL),
    );
    d.expect(
        "own L3 in slot 261",
        env.mmu(entry_maddr(l4, 261), entry(env.t3, TABLE)),
        neg(EINVAL),
    );
    d.expect(
        "RO self-map in slot 271",
        env.mmu(entry_maddr(l4, 271), entry(l4, PRESENT)),
        neg(EINVAL),
    );
    d.check("slot 256 unchanged", env.entry(l4, 256) == before);
    report.verdict("l4-hypervisor-slots", d);
}

/// `pin-l1-self-writable`: an L1 whose entry maps the L1 itself RW cannot be pinned (Xen:
/// `-EBUSY`); the frame is left untyped. `pin-l2-self-writable`: an L2 mapping itself RW is a
/// writable linear page table (`-EINVAL`); read-only it is allowed.
pub fn self_map_pins(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    match env.table_frame() {
        Ok(f) => {
            d.expect(
                "store self RW entry",
                env.mmu(entry_maddr(f, 0), entry(f, DATA_RW)),
                0,
            );
            d.expect("pin L1", rc(ops::pin(Level::L1, f)), neg(EBUSY));
            d.expect(
                "still untyped (clear_page)",
                env.ext(MMUEXT_CLEAR_PAGE, f, 0),
                0,
            );
        }
        Err(e) => d.fail(format_args!("no frame ({e})")),
    }
    report.verdict("pin-l1-self-writable", d);

    let mut d = Detail::new();
    match env.table_frame() {
        Ok(g) => {
            let ptr = entry_maddr(g, 0);
            d.expect("store self RW entry", env.mmu(ptr, entry(g, TABLE)), 0);
            d.expect("pin L2", rc(ops::pin(Level::L2, g)), neg(EINVAL));
            d.expect("store self RO entry", env.mmu(ptr, entry(g, PRESENT)), 0);
            d.expect("pin L2 (RO self-map)", rc(ops::pin(Level::L2, g)), 0);
            d.expect("unpin", rc(ops::unpin(g)), 0);
        }
        Err(e) => d.fail(format_args!("no frame ({e})")),
    }
    report.verdict("pin-l2-self-writable", d);
}

/// Xen's `linear_pt_count` is 16 bits: at most 32768 linear (RO, same-level) entries may
/// point at one L2.
const LINEAR_LIMIT: u64 = 32768;

/// `linear-pt-count-limit`: pin an L2 `G`, then fill pinned L2s with read-only entries
/// pointing at `G`. Exactly 32768 are accepted; the next is refused (`-EINVAL`) and so is a
/// retry (no wrap-around). Unpinning everything drops the counts again.
pub fn linear_count(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let tables = (LINEAR_LIMIT / 512 + 1) as usize;
    if env.pool.remaining() < tables as u64 + 1 {
        d.fail(format_args!("pool has {} frames", env.pool.remaining()));
        report.verdict("linear-pt-count-limit", d);
        return;
    }
    let g = env.table_frame().unwrap_or(0);
    d.expect("pin target L2", rc(ops::pin(Level::L2, g)), 0);
    let mut pinned = [0u64; (LINEAR_LIMIT / 512 + 1) as usize];
    let mut accepted = 0u64;
    let mut refusal = 0i64;
    let mut reqs = [MmuUpdate { ptr: 0, val: 0 }; 512];
    for slot in pinned.iter_mut() {
        let x = env.table_frame().unwrap_or(0);
        if ops::pin(Level::L2, x).is_err() {
            d.fail(format_args!("pinning an empty L2 failed"));
            break;
        }
        *slot = x;
        for (i, r) in reqs.iter_mut().enumerate() {
            *r = MmuUpdate {
                ptr: entry_maddr(x, i),
                val: entry(g, PRESENT),
            };
        }
        // SAFETY: the entries belong to a pinned L2 that is not part of any address space.
        match unsafe { ops::mmu_update(&reqs) } {
            Ok(()) => accepted += 512,
            Err(e) => {
                accepted += u64::from(e.done);
                refusal = e.errno;
                break;
            }
        }
    }
    d.check("accepted == 32768", accepted == LINEAR_LIMIT);
    d.note(format_args!("accepted {accepted}"));
    d.expect("entry 32769", refusal, neg(EINVAL));
    if let Some(&last) = pinned.iter().rev().find(|&&x| x != 0) {
        let again = env.mmu(entry_maddr(last, 511), entry(g, PRESENT));
        d.expect("retry (no wrap)", again, neg(EINVAL));
    }
    let unpinned = pinned
        .iter()
        .filter(|&&x| x != 0)
        .all(|&x| ops::unpin(x).is_ok());
    d.check("unpinned all", unpinned);
    d.expect("unpin target", rc(ops::unpin(g)), 0);
    report.verdict("linear-pt-count-limit", d);
}
