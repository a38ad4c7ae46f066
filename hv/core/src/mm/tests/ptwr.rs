//! Writable page tables: finding the entry behind a faulting store, and applying it with
//! `mmu_update`'s rules.

use super::harness::*;
use crate::mm::pte::GUEST_KERNEL;
use crate::mm::*;

const VA: u64 = 0x0000_7F12_3456_7000;
/// Where L1 19 maps itself read-only.
const L1_VA: u64 = VA + 0x1000;
/// Where L1 19 maps the L4 read-only.
const L4_VA: u64 = VA + 0x2000;
/// Where L1 19 maps the L2 read-only.
const L2_VA: u64 = VA + 0x3000;
/// Where L1 19 maps data frame 20 writable.
const DATA_VA: u64 = VA;

/// D1: L4 16 → L3 17 → L2 18 → L1 19; L1 19 maps 20 RW, itself, the L4 and the L2 RO.
fn tree() -> World {
    let mut w = World::new();
    w.chain(16, 17, 18, 19, VA);
    w.poke(19, slot(DATA_VA, 12), pte(20, PW));
    w.poke(19, slot(L1_VA, 12), pte(19, P));
    w.poke(19, slot(L4_VA, 12), pte(16, P));
    w.poke(19, slot(L2_VA, 12), pte(18, P));
    w.pin(D1, 16, PageLevel::L4).unwrap();
    w
}

#[test]
fn a_store_through_a_read_only_l1_mapping_targets_that_l1() {
    let w = tree();
    let t =
        w.mm.ptwr_target(D1, Mfn(16), L1_VA + 8 * 7, &w.mem)
            .unwrap();
    assert_eq!(
        t,
        PtwrTarget {
            table: Mfn(19),
            level: PageLevel::L1,
            slot: 7
        }
    );
    let t =
        w.mm.ptwr_target(D1, Mfn(16), L2_VA + 0xff8, &w.mem)
            .unwrap();
    assert_eq!((t.table, t.level, t.slot), (Mfn(18), PageLevel::L2, 511));
}

#[test]
fn other_targets_are_refused() {
    let w = tree();
    let mem = &w.mem;
    // A writable mapping: not a page-table write fault.
    assert_eq!(
        w.mm.ptwr_target(D1, Mfn(16), DATA_VA, mem),
        Err(MmError::Invalid)
    );
    // L4 pages are not emulated.
    assert_eq!(
        w.mm.ptwr_target(D1, Mfn(16), L4_VA, mem),
        Err(MmError::TypeConflict)
    );
    // Unmapped, non-canonical, hypervisor addresses.
    for va in [VA + 0x10_0000, 1 << 63, 0xFFFF_8000_0000_0000] {
        assert!(w.mm.ptwr_target(D1, Mfn(16), va, mem).is_err(), "{va:#x}");
    }
    // Another domain running on D1's tables (not its root).
    assert!(w.mm.ptwr_target(D2, Mfn(16), L1_VA, mem).is_err());
}

#[test]
fn ptwr_write_applies_mmu_update_rules() {
    let mut w = tree();
    let t =
        w.mm.ptwr_target(D1, Mfn(16), L1_VA + 8 * 3, &w.mem)
            .unwrap();
    // A new mapping of D1's frame 21: stored adjusted, referenced.
    w.mm.ptwr_write(D1, t, pte(21, PW), &mut w.mem).unwrap();
    assert_eq!(w.peek(19, 3), pte(21, PW) | USER | GUEST_KERNEL);
    assert_eq!(w.frame(21).count(), 2);
    // Mapping a page table writable, or another domain's frame: refused, entry unchanged.
    for bad in [pte(19, PW), pte(16, PW), pte(64, P), pte(21, PW | PCD_BIT)] {
        assert!(w.mm.ptwr_write(D1, t, bad, &mut w.mem).is_err(), "{bad:#x}");
        assert_eq!(w.peek(19, 3), pte(21, PW) | USER | GUEST_KERNEL);
    }
    // Clearing drops the reference.
    w.mm.ptwr_write(D1, t, 0, &mut w.mem).unwrap();
    assert_eq!(w.frame(21).count(), 1);
    w.check();
}

#[test]
fn ptwr_write_rechecks_the_table_type() {
    let mut w = tree();
    let t = w.mm.ptwr_target(D1, Mfn(16), L1_VA, &w.mem).unwrap();
    w.unpin(D1, 16).unwrap();
    assert_eq!(
        w.mm.ptwr_write(D1, t, 0, &mut w.mem),
        Err(MmError::TypeConflict)
    );
    w.check();
}

/// Cache-disable bit (PCD): not allowed in an unprivileged domain's L1 entry.
const PCD_BIT: u64 = 1 << 4;

#[test]
fn l2_writes_take_the_superpage_path_with_its_accounting() {
    let mut w = tree();
    let t =
        w.mm.ptwr_target(D1, Mfn(16), L2_VA + 8 * 100, &w.mem)
            .unwrap();
    assert_eq!((t.level, t.slot), (PageLevel::L2, 100));
    // A huge PMD written directly (as huge_ptep_get_and_clear's xchg would clear it):
    // one spage reference, no per-frame state.
    w.mm.ptwr_write(D1, t, pte(D1_SUPER, PW | PSE), &mut w.mem)
        .unwrap();
    let s = w.spage(D1_SUPER);
    assert_eq!(
        (s.spage_type(), s.type_count(), s.map_count()),
        (SpageType::Superpage, 1, 1)
    );
    // Write-protecting it (lock and on the PMD) keeps the mapping, drops the writable type.
    w.mm.ptwr_write(D1, t, pte(D1_SUPER, P | PSE), &mut w.mem)
        .unwrap();
    let s = w.spage(D1_SUPER);
    assert_eq!((s.type_count(), s.map_count()), (0, 1));
    // A PSE entry over the extent holding our page tables is refused, as by mmu_update.
    assert!(w
        .mm
        .ptwr_write(D1, t, pte(0, PW | PSE), &mut w.mem)
        .is_err());
    w.mm.ptwr_write(D1, t, 0, &mut w.mem).unwrap();
    assert_eq!(w.spage(D1_SUPER).map_count(), 0);
    w.check();
}

#[test]
fn l2_pse_from_a_domain_without_superpages_is_refused() {
    let mut w = World::new();
    let va = 0x0000_7F12_3456_7000u64;
    w.chain(64, 65, 66, 67, va);
    w.poke(67, slot(va, 12), pte(66, P));
    w.pin(D2, 64, PageLevel::L4).unwrap();
    let t = w.mm.ptwr_target(D2, Mfn(64), va + 8 * 3, &w.mem).unwrap();
    assert_eq!(t.level, PageLevel::L2);
    assert_eq!(
        w.mm.ptwr_write(D2, t, pte(D2_SUPER, P | PSE), &mut w.mem),
        Err(MmError::BadFlags)
    );
    w.check();
}

#[test]
fn retargeting_within_the_faulting_page_equals_a_fresh_lookup() {
    let w = tree();
    for (page, offsets) in [
        (L1_VA, [0u64, 8, 0x7f8, 0xff8]),
        (L2_VA, [0, 16, 0x800, 0xff8]),
    ] {
        let found = w.mm.ptwr_target(D1, Mfn(16), page + 0x10, &w.mem).unwrap();
        for off in offsets {
            let fresh = w.mm.ptwr_target(D1, Mfn(16), page + off, &w.mem).unwrap();
            assert_eq!(Mm::ptwr_retarget(found, page + off), fresh);
        }
    }
}

#[test]
fn one_walk_answers_both_translations() {
    let w = tree();
    // (va, machine address and writable at every level, or not mapped)
    let cases = [
        (DATA_VA + 0x123, Some(((20 << 12) + 0x123, true))),
        (L1_VA + 8, Some(((19 << 12) + 8, false))),
        (L4_VA, Some((16 << 12, false))),
        (L2_VA + 0xff8, Some(((18 << 12) + 0xff8, false))),
        (VA + 0x4000, None),
        (0x1000, None),
        (0xFFFF_8000_0000_1000, None),
    ];
    for (va, want) in cases {
        let both = w.mm.translate_rw(Mfn(16), va, &w.mem).ok();
        assert_eq!(both, want, "{va:#x}");
        let read = w.mm.translate(Mfn(16), va, false, &w.mem).ok();
        let write = w.mm.translate(Mfn(16), va, true, &w.mem).ok();
        assert_eq!(read, want.map(|(m, _)| m), "{va:#x}");
        assert_eq!(write, want.filter(|&(_, rw)| rw).map(|(m, _)| m), "{va:#x}");
    }
}
