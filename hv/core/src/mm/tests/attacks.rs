//! Known attacks: XSA-148 (flag flips on live entries) and XSA-167 (absurd frame numbers).

use super::harness::*;
use crate::mm::pte::{ACCESSED, DIRTY};
use crate::mm::*;

#[test]
fn xsa148_flipping_pse_on_a_live_l2_entry_revalidates() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    // An ordinary entry pointing at the (aligned) first frame of D1's extent, as an L1.
    w.update(D1, 16, 0, pte(D1_SUPER, PW)).unwrap();
    assert!(w.frame(D1_SUPER).is_live(PageType::L1));
    // Same frame, only PSE added: must not take the fast path. The extent now holds a page
    // table, so a writable 2 MiB mapping over it is refused.
    let e = w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap_err();
    assert_eq!(e, MmError::SpageConflict);
    assert_eq!(w.peek(16, 0), pte(D1_SUPER, PW | PDE_ADJ));
    w.check();
    // Read-only PSE over it is allowed, and correctly swaps the references.
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    assert_eq!(w.frame(D1_SUPER).type_count(), 0);
    assert_eq!(w.spage(D1_SUPER).map_count(), 1);
    w.check();
}

#[test]
fn xsa148_without_superpages_pse_can_never_be_flipped_on() {
    let mut w = World::new();
    w.pin(D2, 64, PageLevel::L2).unwrap();
    w.update(D2, 64, 0, pte(D2_SUPER, P)).unwrap();
    assert_eq!(
        w.update(D2, 64, 0, pte(D2_SUPER, P | PSE)),
        Err(MmError::BadFlags)
    );
    assert_eq!(
        w.update(D2, 64, 0, pte(D2_SUPER, PW | PSE)),
        Err(MmError::BadFlags)
    );
    w.check();
}

#[test]
fn xsa148_flipping_rw_on_a_read_only_superpage_revalidates() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.pin(D1, D1_SUPER + 9, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, P | PSE)).unwrap();
    assert_eq!(
        w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)),
        Err(MmError::SpageConflict)
    );
    assert_eq!(w.peek(16, 0), pte(D1_SUPER, P | PSE | PDE_ADJ));
    w.check();
}

#[test]
fn xsa148_flipping_rw_on_a_read_only_l1_entry_revalidates() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.pin(D1, 17, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, P)).unwrap();
    assert_eq!(w.update(D1, 16, 0, pte(17, PW)), Err(MmError::CannotMap));
    w.check();
}

#[test]
fn xsa148_flipping_rw_on_a_linear_entry_revalidates() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(16, P)).unwrap();
    assert_eq!(w.update(D1, 16, 0, pte(16, PW)), Err(MmError::TypeConflict));
    w.check();
}

#[test]
fn whitelisted_flag_changes_take_the_fast_path() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    let before = w.frame(17);
    w.update(
        D1,
        16,
        0,
        pte(17, PW | ACCESSED | DIRTY | NX | (1 << 10) | (1 << 55)),
    )
    .unwrap();
    assert_eq!(w.frame(17), before);
    // Present cleared: full path, references dropped.
    w.update(D1, 16, 0, pte(17, RW)).unwrap();
    assert_eq!(w.frame(17).count(), 1);
    w.check();
}

#[test]
fn preserve_ad_keeps_the_live_accessed_and_dirty_bits() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    let live = w.peek(16, 0) | ACCESSED | DIRTY; // set by the CPU
    w.poke(16, 0, live);
    w.mm.mmu_update(D1, 16 << 12, pte(17, P), true, &mut w.mem)
        .unwrap();
    assert_eq!(w.peek(16, 0) & (ACCESSED | DIRTY), ACCESSED | DIRTY);
    assert_eq!(w.peek(16, 0) & RW, 0);
    w.check();
}

#[test]
fn xsa167_absurd_pte_addresses_are_errors() {
    let mut w = World::new();
    for maddr in [!7, 1 << 52, MAX_MFN << 12, (u64::MAX >> 12) << 12, 1 << 63] {
        let e =
            w.mm.mmu_update(D1, maddr, pte(17, P), false, &mut w.mem)
                .unwrap_err();
        assert_eq!(e, MmError::BadFrame, "maddr {maddr:#x}");
    }
    assert_eq!(
        w.mm.mmu_update(D1, (16 << 12) + 3, 0, false, &mut w.mem),
        Err(MmError::BadFrame)
    );
    assert_eq!(w.update(D1, 64, 0, 0), Err(MmError::NotOwner));
    assert_eq!(w.update(DomId(9), 16, 0, 0), Err(MmError::NoDomain));
    w.check();
}

#[test]
fn xsa167_absurd_frame_numbers_are_errors_everywhere() {
    let mut w = World::new();
    let mem = &mut w.mem;
    for m in [u64::MAX, u64::MAX >> 12, 1 << 40, MAX_MFN] {
        let mfn = Mfn(m);
        let bad = Some(MmError::BadFrame);
        assert_eq!(w.mm.pin(D1, mfn, PageLevel::L4, mem).err(), bad);
        assert_eq!(w.mm.unpin(D1, mfn, mem).err(), bad);
        assert_eq!(
            w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(mfn), mem)
                .err(),
            bad
        );
        assert_eq!(w.mm.clear_page(D1, mfn, mem).err(), bad);
        assert_eq!(w.mm.copy_page(D1, mfn, Mfn(16), mem).err(), bad);
        assert_eq!(w.mm.copy_page(D1, Mfn(16), mfn, mem).err(), bad);
        assert_eq!(w.mm.get_seg_desc_page(D1, mfn, mem).err(), bad);
        assert_eq!(w.mm.put_seg_desc_page(mfn, mem).err(), bad);
        assert_eq!(w.mm.can_update_m2p(D1, mfn).err(), bad);
        assert_eq!(w.mm.release(D1, mfn).err(), bad);
        assert_eq!(w.mm.assign(D1, mfn, 0).err(), bad);
        assert_eq!(w.mm.share_xen_frame(D1, mfn).err(), bad);
        assert_eq!(w.mm.unshare_xen_frame(D1, mfn).err(), bad);
        assert_eq!(w.mm.translate(mfn, 0, false, mem).err(), bad);
        assert_eq!(w.mm.update_va_mapping(D1, mfn, 0, 0, mem).err(), bad);
        assert!(w.mm.frame_info(mfn).is_none());
        assert!(w.mm.spage_info(m).is_none());
    }
    // Order 10 is a valid order over frames in use; larger ones are absurd.
    assert_eq!(w.mm.assign(D1, Mfn(0), 10).err(), Some(MmError::Busy));
    assert_eq!(
        w.mm.release_extent(D1, Mfn(0), 10).err(),
        Some(MmError::NotOwner)
    );
    for order in [29, 63, 64, 200, u32::MAX] {
        assert_eq!(w.mm.assign(D1, Mfn(0), order).err(), Some(MmError::Invalid));
        assert_eq!(
            w.mm.release_extent(D1, Mfn(0), order).err(),
            Some(MmError::Invalid)
        );
    }
    assert_eq!(w.mm.assign(D1, Mfn(!511), 9).err(), Some(MmError::BadFrame));
    w.check();
}

#[test]
fn xsa167_absurd_entries_are_errors() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.pin(D1, 17, PageLevel::L2).unwrap();
    w.pin(D1, 18, PageLevel::L4).unwrap();
    use MmError::{BadFlags, BadFrame, NotRam, SuperpageDenied};
    // (entry, error in the L1, in the L2, in the L4)
    let cases = [
        (u64::MAX, BadFlags, BadFlags, BadFlags),
        (ADDR_MASK | P, NotRam, BadFrame, BadFrame),
        (ADDR_MASK | PW | PSE, BadFlags, SuperpageDenied, BadFlags),
    ];
    for (val, l1, l2, l4) in cases {
        assert_eq!(w.update(D1, 16, 0, val), Err(l1), "L1 entry {val:#x}");
        assert_eq!(w.update(D1, 17, 0, val), Err(l2), "L2 entry {val:#x}");
        assert_eq!(w.update(D1, 18, 0, val), Err(l4), "L4 entry {val:#x}");
    }
    assert_eq!(
        w.update(D1, 17, 0, (ADDR_MASK & !0x1F_FFFF) | P | PSE),
        Err(MmError::BadFrame)
    );
    w.check();
}

#[test]
fn frame_number_helpers_never_overflow() {
    assert_eq!(Mfn(16).maddr(), 16 << 12);
    assert_eq!(Mfn(u64::MAX).maddr(), u64::MAX);
    assert_eq!(Mfn(u64::MAX >> 12).maddr(), (u64::MAX >> 12) << 12);
    assert!(Mfn(0).is_aligned(64) && !Mfn(512).is_aligned(64) && Mfn(512).is_aligned(9));
    assert_eq!(Mfn(u64::MAX).extent(), u64::MAX >> 9);
}
