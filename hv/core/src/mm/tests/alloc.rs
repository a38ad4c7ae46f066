//! Allocation hooks, the `enabled` bit, and domain teardown.

use alloc::collections::BTreeSet;

use super::harness::*;
use crate::mm::*;

#[test]
fn order_9_enables_order_0_does_not() {
    let w = World::new();
    assert!(w.spage(D1_SUPER).is_enabled());
    assert!(w.spage(D2_SUPER).is_enabled());
    assert!(!w.spage(0).is_enabled());
    assert_eq!(w.mm.domain_pages(D1), Some(32 + 512));
}

#[test]
fn order_10_enables_both_extents() {
    let mut w = World::new();
    w.mm.assign(D1, Mfn(2048), 10).unwrap();
    assert!(w.spage(2048).is_enabled() && w.spage(2560).is_enabled());
    w.check();
}

#[test]
fn assign_is_all_or_nothing() {
    let mut w = World::new();
    assert_eq!(w.mm.assign(D2, Mfn(0), 9), Err(MmError::Busy)); // D1 owns 16..48
    assert_eq!(w.frame(0), FrameInfo::FREE);
    assert_eq!(w.mm.assign(D1, Mfn(3), 1), Err(MmError::BadFrame)); // misaligned
    assert_eq!(w.mm.assign(DomId(7), Mfn(0), 0), Err(MmError::NoDomain));
    let mut small = World::empty();
    let cfg = DomainConfig {
        max_pages: 600,
        ..config(true)
    };
    small.mm.create_domain(D1, cfg).unwrap();
    small.mm.assign(D1, Mfn(512), 9).unwrap();
    let e = small.mm.assign(D1, Mfn(1024), 9).unwrap_err();
    assert_eq!((e, e.errno()), (MmError::OverQuota, -12));
    assert_eq!(small.frame(1024), FrameInfo::FREE);
    small.check();
    w.check();
}

#[test]
fn domain_ids_are_checked() {
    let mut w = World::new();
    assert_eq!(
        w.mm.create_domain(D1, config(true)),
        Err(MmError::DomainExists)
    );
    assert_eq!(
        w.mm.create_domain(DomId(DOMID_FIRST_RESERVED), config(true)),
        Err(MmError::Invalid)
    );
    w.mm.create_domain(DomId(0), config(false)).unwrap();
    w.mm.assign(DomId(0), Mfn(0), 0).unwrap();
    assert_eq!(w.frame(0).owner(), Some(DomId(0)));
    w.check();
}

#[test]
fn release_refuses_referenced_or_typed_frames() {
    let mut w = World::new();
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(17, P)).unwrap();
    assert_eq!(w.mm.release(D1, Mfn(16)), Err(MmError::Busy)); // typed + pinned
    assert_eq!(w.mm.release(D1, Mfn(17)), Err(MmError::Busy)); // mapped
    assert_eq!(w.mm.release(D1, Mfn(64)), Err(MmError::NotOwner));
    w.mm.share_xen_frame(D1, Mfn(300)).unwrap();
    assert_eq!(w.mm.release(D1, Mfn(300)), Err(MmError::Invalid));
    w.update(D1, 16, 0, 0).unwrap();
    w.mm.release(D1, Mfn(17)).unwrap();
    assert_eq!(w.frame(17), FrameInfo::FREE);
    assert_eq!(w.mm.domain_pages(D1), Some(32 + 512 - 1));
    w.check();
}

#[test]
fn exchange_out_of_a_superpage_splits_the_block_and_disables_the_extent() {
    let mut w = World::new();
    w.mm.release(D1, Mfn(D1_SUPER + 7)).unwrap();
    w.mm.assign(D1, Mfn(2000), 0).unwrap();
    assert!(!w.spage(D1_SUPER).is_enabled());
    w.check();
    let t = w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    assert!(t.check.ok(), "{:?}", t.check);
    let frames: BTreeSet<u64> = t
        .blocks
        .iter()
        .flat_map(|&(b, o)| b.0..b.0 + (1 << o))
        .collect();
    let total: u64 = t.blocks.iter().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(total, frames.len() as u64, "no frame returned twice");
    assert_eq!(total, 32 + 512);
    assert!(!frames.contains(&(D1_SUPER + 7)) && frames.contains(&2000));
}

#[test]
fn destroy_tears_down_a_busy_domain() {
    let mut w = World::new();
    let va = 0x0000_1234_5600_0000u64;
    w.chain(16, 17, 18, 19, va);
    w.poke(19, 0, pte(20, PW));
    w.poke(19, 1, pte(19, P));
    w.poke(18, 1, pte(D1_SUPER, PW | PSE));
    w.poke(18, 2, pte(18, P)); // self-map
    w.pin(D1, 16, PageLevel::L4).unwrap();
    w.pin(D1, 21, PageLevel::L2).unwrap();
    w.update(D1, 21, 0, pte(18, P)).unwrap(); // linear
    w.pin(D1, 22, PageLevel::L1).unwrap();
    w.mm.set_baseptr(D1, 0, BaseKind::Kernel, Some(Mfn(16)), &mut w.mem)
        .unwrap();
    w.mm.set_baseptr(D1, 1, BaseKind::User, Some(Mfn(16)), &mut w.mem)
        .unwrap();
    w.mm.get_seg_desc_page(D1, Mfn(23), &mut w.mem).unwrap();
    w.mm.share_xen_frame(D1, Mfn(300)).unwrap();
    w.update(D1, 19, 2, pte(300, PW)).unwrap();
    // D2 shares extent 0 and has a table there: its Nosuper reference must survive.
    w.pin(D2, 64, PageLevel::L1).unwrap();
    w.check();
    w.mm.take_flush_needed();

    let t = w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    assert!(t.check.ok(), "{:?}", t.check);
    assert!(w.mm.take_flush_needed());
    assert_eq!(t.xen_frames, [Mfn(300)]);
    let returned: u64 = t.blocks.iter().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(returned, 32 + 512);
    for m in (16..48).chain(D1_SUPER..D1_SUPER + 512).chain([300]) {
        assert_eq!(w.frame(m), FrameInfo::FREE, "frame {m}");
    }
    assert_eq!(w.spage(D1_SUPER), SpageInfo::FREE);
    assert_eq!(
        (w.spage(0).spage_type(), w.spage(0).type_count()),
        (SpageType::Nosuper, 1)
    );
    assert_eq!(w.mm.domain_pages(D1), None);
    w.check();
    assert_eq!(w.mm.destroy_domain(D1, &mut w.mem), Err(MmError::NoDomain));
    // The frames can go to another domain.
    w.mm.assign(D2, Mfn(D1_SUPER), 9).unwrap();
    w.check();
}
