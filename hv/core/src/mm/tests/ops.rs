//! mmuext-style operations: pin, base pointers, raw updates, descriptor pages, clear/copy,
//! and the TLB-flush flag.

use super::harness::*;
use crate::mm::*;

#[test]
fn pin_and_unpin_errors() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    let e = w.pin(D1, 16, PageLevel::L1).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::AlreadyPinned, -22));
    assert_eq!(w.frame(16).type_count(), 1);
    assert_eq!(w.frame(16).count(), 2);
    assert_eq!(w.pin(D1, 16, PageLevel::L2), Err(MmError::TypeConflict));
    assert_eq!(w.unpin(D1, 17), Err(MmError::NotPinned));
    assert_eq!(w.pin(D1, 64, PageLevel::L1), Err(MmError::NotOwner));
    assert_eq!(w.pin(DomId(5), 16, PageLevel::L1), Err(MmError::NoDomain));
    w.check();
}

#[test]
fn base_pointers_hold_an_l4_reference_and_swap_cleanly() {
    let mut w = World::new();
    let mem = &mut w.mem;
    w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(16)), mem)
        .unwrap();
    assert!(w.mm.frame_info(Mfn(16)).unwrap().is_live(PageType::L4));
    w.mm.set_baseptr(D1, 0, BaseKind::User, Some(Mfn(16)), mem)
        .unwrap();
    w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(16)), mem)
        .unwrap(); // no-op
    assert_eq!(w.mm.frame_info(Mfn(16)).unwrap().type_count(), 2);
    w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(17)), mem)
        .unwrap();
    assert_eq!(w.mm.get_baseptr(D1, 0, BaseKind::Kernel), Ok(Some(Mfn(17))));
    w.mm.set_baseptr(D1, 0, BaseKind::User, None, mem).unwrap();
    assert_eq!(w.mm.frame_info(Mfn(16)).unwrap().type_count(), 0);
    let r = w.mm.set_baseptr(D1, 0, BaseKind::Kernel, None, mem);
    assert_eq!(r, Err(MmError::Invalid));
    let r =
        w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(64)), mem);
    assert_eq!(r, Err(MmError::NotOwner));
    assert_eq!(w.mm.get_baseptr(D1, 0, BaseKind::Kernel), Ok(Some(Mfn(17))));
    assert_eq!(w.mm.get_baseptr(D1, 3, BaseKind::User), Ok(None));
    w.check();
}

#[test]
fn mmu_update_on_data_frames_is_a_plain_store() {
    let mut w = World::new();
    w.update(D1, 16, 3, 0x1234).unwrap(); // untyped
    assert_eq!(w.peek(16, 3), 0x1234);
    assert_eq!(w.frame(16).type_count(), 0);
    w.pin(D1, 17, PageLevel::L1).unwrap();
    w.update(D1, 17, 0, pte(18, PW)).unwrap();
    w.update(D1, 18, 4, u64::MAX).unwrap(); // live Writable
    assert_eq!(w.peek(18, 4), u64::MAX);
    w.mm.get_seg_desc_page(D1, Mfn(19), &mut w.mem).unwrap();
    assert_eq!(w.update(D1, 19, 0, 0), Err(MmError::TypeConflict));
    w.check();
}

#[test]
fn descriptor_pages_exclude_writable_mappings() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    let r = w.mm.get_seg_desc_page(D1, Mfn(17), &mut w.mem);
    assert_eq!(r, Err(MmError::TypeConflict));
    w.update(D1, 16, 0, pte(17, P)).unwrap();
    w.mm.get_seg_desc_page(D1, Mfn(17), &mut w.mem).unwrap();
    w.mm.get_seg_desc_page(D1, Mfn(17), &mut w.mem).unwrap();
    assert_eq!(w.spage(17).spage_type(), SpageType::Nosuper);
    assert_eq!(w.update(D1, 16, 1, pte(17, PW)), Err(MmError::CannotMap));
    w.check();
    w.mm.put_seg_desc_page(Mfn(17), &mut w.mem).unwrap();
    w.mm.put_seg_desc_page(Mfn(17), &mut w.mem).unwrap();
    assert_eq!(
        w.mm.put_seg_desc_page(Mfn(17), &mut w.mem),
        Err(MmError::Invalid)
    );
    w.update(D1, 16, 1, pte(17, PW)).unwrap();
    w.check();
}

#[test]
fn clear_and_copy_page() {
    let mut w = World::new();
    w.poke(16, 7, 77);
    w.mm.copy_page(D1, Mfn(17), Mfn(16), &mut w.mem).unwrap();
    assert_eq!(w.peek(17, 7), 77);
    w.mm.clear_page(D1, Mfn(16), &mut w.mem).unwrap();
    assert_eq!(w.peek(16, 7), 0);
    w.pin(D1, 18, PageLevel::L1).unwrap();
    assert_eq!(
        w.mm.clear_page(D1, Mfn(18), &mut w.mem),
        Err(MmError::TypeConflict)
    );
    assert_eq!(
        w.mm.copy_page(D1, Mfn(18), Mfn(17), &mut w.mem),
        Err(MmError::TypeConflict)
    );
    w.mm.copy_page(D1, Mfn(17), Mfn(18), &mut w.mem).unwrap(); // reading a table is fine
    assert_eq!(
        w.mm.clear_page(D1, Mfn(64), &mut w.mem),
        Err(MmError::NotOwner)
    );
    assert_eq!(
        w.mm.copy_page(D1, Mfn(17), Mfn(64), &mut w.mem),
        Err(MmError::NotOwner)
    );
    assert_eq!(w.frame(17).count(), 1);
    w.check();
}

#[test]
fn m2p_updates_need_ownership() {
    let w = World::new();
    assert_eq!(w.mm.can_update_m2p(D1, Mfn(16)), Ok(()));
    assert_eq!(w.mm.can_update_m2p(D1, Mfn(64)), Err(MmError::NotOwner));
    assert_eq!(
        w.mm.can_update_m2p(DomId(4), Mfn(16)),
        Err(MmError::NoDomain)
    );
}

#[test]
fn flush_flag_on_type_changes() {
    let mut w = World::new();
    // None → L1: no stale mapping can exist.
    w.pin(D1, 16, PageLevel::L1).unwrap();
    assert!(!w.mm.take_flush_needed());
    // Writable (mapped RW, then unmapped) → L1: stale writable TLB entries possible.
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    w.update(D1, 16, 0, 0).unwrap();
    assert!(!w.mm.take_flush_needed());
    w.pin(D1, 17, PageLevel::L1).unwrap();
    assert!(w.mm.take_flush_needed());
    // L1 → Writable: stale paging-structure caches may still use it as a table.
    w.unpin(D1, 17).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    assert!(w.mm.take_flush_needed());
    // Same type again: nothing to flush.
    w.update(D1, 16, 0, 0).unwrap();
    w.update(D1, 16, 0, pte(17, PW)).unwrap();
    assert!(!w.mm.take_flush_needed());
    w.check();
}

#[test]
fn flush_flag_when_a_writable_superpage_extent_gets_a_table() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L2).unwrap();
    w.update(D1, 16, 0, pte(D1_SUPER, PW | PSE)).unwrap();
    w.update(D1, 16, 0, 0).unwrap();
    assert!(!w.mm.take_flush_needed());
    // The frame itself was never typed, but its extent was mapped writable 2 MiB.
    w.pin(D1, D1_SUPER + 1, PageLevel::L1).unwrap();
    assert!(w.mm.take_flush_needed());
    w.check();
}

#[test]
fn errno_values_match_xen() {
    assert_eq!(MmError::BadFlags.errno(), -22);
    assert_eq!(MmError::NotRam.errno(), -1);
    assert_eq!(MmError::CannotMap.errno(), -16);
    assert_eq!(MmError::Busy.errno(), -16);
    assert_eq!(MmError::NotMapped.errno(), -14);
    assert_eq!(MmError::NoDomain.errno(), -3);
    assert_eq!(MmError::DomainExists.errno(), -17);
    assert_eq!(MmError::OverQuota.errno(), -12);
    assert_eq!(MmError::CacheAttr.errno(), -13);
}

#[test]
fn storage_must_be_large_enough_and_free() {
    let cfg = MmConfig {
        max_mfn: 1024,
        hypervisor_l4_slots: [0; 16],
    };
    let mut frames = alloc::vec![FrameInfo::FREE; 1024];
    let mut spages = alloc::vec![SpageInfo::FREE; 1];
    assert_eq!(
        Mm::new(cfg, &mut frames, &mut spages).err(),
        Some(MmError::Invalid)
    );
    let mut spages = alloc::vec![SpageInfo::FREE; 2];
    assert_eq!(
        Mm::new(cfg, &mut frames[..1000], &mut spages).err(),
        Some(MmError::Invalid)
    );
    frames[3].set_count(1);
    assert_eq!(
        Mm::new(cfg, &mut frames, &mut spages).err(),
        Some(MmError::Invalid)
    );
    frames[3] = FrameInfo::FREE;
    assert!(Mm::new(cfg, &mut frames, &mut spages).is_ok());
}

#[test]
fn storage_is_plain_bytes() {
    use pv_abi::zerocopy::FromBytes;
    let mut raw = [0u8; 24 * 4];
    let frames = <[FrameInfo]>::mut_from_bytes(&mut raw).unwrap();
    assert!(frames.iter().all(|f| *f == FrameInfo::FREE));
    assert_eq!(core::mem::size_of::<SpageInfo>(), 16);
}
