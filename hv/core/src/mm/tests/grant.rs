//! Grant mappings: a foreign L1 entry made by `map_grant`, its references, the refusals, and
//! teardown of either side (orphans).

use super::harness::*;
use crate::mm::pte::{ACCESSED, DIRTY, GUEST_KERNEL, NX, USER};
use crate::mm::*;

const VA: u64 = 0x0000_7F12_3456_7000;
/// D1's granted frame.
const GRANTED: u64 = 20;

/// D2 with L4 64 → L3 65 → L2 66 → L1 67 for `VA`, pinned; nothing at `VA` yet.
fn world() -> World {
    let mut w = World::new();
    w.chain(64, 65, 66, 67, VA);
    w.pin(D2, 64, PageLevel::L4).unwrap();
    w
}

fn grant(frame: u64, writable: bool) -> GrantMapping {
    GrantMapping {
        granter: D1,
        frame: Mfn(frame),
        writable,
        user: false,
    }
}

fn map(w: &mut World, va: u64, g: GrantMapping) -> Result<(), MmError> {
    let site = GrantSite::Va { root: Mfn(64), va };
    w.mm.map_grant(D2, site, g, &mut w.mem)
}

fn unmap(w: &mut World, va: u64, frame: u64) -> Result<(), MmError> {
    let site = GrantSite::Va { root: Mfn(64), va };
    w.mm.unmap_grant(D2, site, Mfn(frame), &mut w.mem)
}

#[test]
fn a_grant_mapping_holds_the_granters_frame_like_an_l1_entry() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, true)).unwrap();
    let entry = w.peek(67, slot(VA, 12));
    assert_eq!(
        entry,
        pte(GRANTED, PW | ACCESSED | DIRTY | NX | USER | GUEST_KERNEL)
    );
    let f = w.frame(GRANTED);
    assert_eq!((f.owner(), f.count(), f.type_count()), (Some(D1), 2, 1));
    assert_eq!(f.page_type(), PageType::Writable);
    assert!(w.mm.take_flush_needed());
    w.check();
    // The guest sees the page through its own tables.
    let maddr = w.mm.translate(Mfn(64), VA + 8, true, &w.mem).unwrap();
    assert_eq!(maddr, (GRANTED << 12) + 8);

    unmap(&mut w, VA, GRANTED).unwrap();
    assert_eq!(w.peek(67, slot(VA, 12)), 0);
    let f = w.frame(GRANTED);
    assert_eq!((f.count(), f.type_count()), (1, 0));
    assert!(w.mm.take_flush_needed());
    // Unmapping twice finds nothing.
    assert_eq!(unmap(&mut w, VA, GRANTED), Err(MmError::NotMapped));
    w.check();
}

#[test]
fn a_read_only_grant_mapping_takes_no_type_and_may_cover_a_table() {
    let mut w = world();
    // D1's frame 30 is a pinned L1: it may be mapped read-only, never writable.
    w.pin(D1, 30, PageLevel::L1).unwrap();
    assert_eq!(map(&mut w, VA, grant(30, true)), Err(MmError::CannotMap));
    assert_eq!(w.frame(30).count(), 2);
    map(&mut w, VA, grant(30, false)).unwrap();
    let f = w.frame(30);
    assert_eq!(
        (f.count(), f.type_count(), f.page_type()),
        (3, 1, PageType::L1)
    );
    assert_eq!(w.peek(67, slot(VA, 12)) & RW, 0);
    w.check();
    unmap(&mut w, VA, 30).unwrap();
    assert_eq!(w.frame(30).count(), 2);
    w.check();
}

#[test]
fn map_grant_refuses_frames_not_the_granters_and_bad_addresses() {
    let mut w = world();
    // D2's own frame named as D1's, a free frame, a frame beyond memory.
    for frame in [70, 3000, MAX_MFN + 5] {
        assert_eq!(
            map(&mut w, VA, grant(frame, false)),
            Err(MmError::CannotMap),
            "frame {frame}"
        );
    }
    // The hypervisor area, a non-canonical address, an address with no L1, not aligned.
    for va in [0xFFFF_8000_0000_0000, 1 << 47, VA ^ (1 << 21), VA + 8] {
        assert_eq!(
            map(&mut w, va, grant(GRANTED, false)),
            Err(MmError::BadAddress),
            "va {va:#x}"
        );
    }
    // The root must be D2's live L4.
    assert_eq!(
        w.mm.map_grant(
            D2,
            GrantSite::Va {
                root: Mfn(16),
                va: VA
            },
            grant(GRANTED, false),
            &mut w.mem
        ),
        Err(MmError::NotOwner)
    );
    assert_eq!(w.frame(GRANTED).count(), 1);
    w.check();
}

#[test]
fn the_grantee_cannot_copy_widen_or_forge_a_foreign_entry() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, false)).unwrap();
    let entry = w.peek(67, slot(VA, 12));
    // mmu_update naming the granter's frame directly: not D2's frame.
    assert_eq!(
        w.update(D2, 67, slot(VA, 12) + 1, pte(GRANTED, PW)),
        Err(MmError::CannotMap)
    );
    assert_eq!(
        w.update(D2, 67, slot(VA, 12) + 1, entry),
        Err(MmError::CannotMap)
    );
    // Making the read-only grant entry writable.
    assert_eq!(
        w.update(D2, 67, slot(VA, 12), entry | RW),
        Err(MmError::CannotMap)
    );
    // A superpage over the granter's extent.
    assert!(w
        .update(D2, 66, slot(VA ^ (1 << 21), 21), pte(D1_SUPER, P | PSE))
        .is_err());
    w.check();
}

#[test]
fn a_zapped_grant_entry_drops_its_references_and_the_unmap_then_fails() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, true)).unwrap();
    w.update(D2, 67, slot(VA, 12), 0).unwrap();
    let f = w.frame(GRANTED);
    assert_eq!((f.count(), f.type_count()), (1, 0));
    assert_eq!(unmap(&mut w, VA, GRANTED), Err(MmError::NotMapped));
    w.check();
}

#[test]
fn the_granter_cannot_free_or_retype_a_frame_while_mapped() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, true)).unwrap();
    assert_eq!(w.mm.release(D1, Mfn(GRANTED)), Err(MmError::Busy));
    assert_eq!(
        w.pin(D1, GRANTED, PageLevel::L1),
        Err(MmError::TypeConflict)
    );
    w.check();
}

#[test]
fn destroying_the_grantee_drops_its_grant_mappings() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, true)).unwrap();
    let t = w.mm.destroy_domain(D2, &mut w.mem).unwrap();
    assert!(t.check.ok(), "{:?}", t.check);
    let f = w.frame(GRANTED);
    assert_eq!((f.owner(), f.count(), f.type_count()), (Some(D1), 1, 0));
    assert_eq!(w.mm.orphan_count(), 0);
    w.check();
}

#[test]
fn a_frame_mapped_when_its_granter_dies_is_an_orphan_until_the_unmap() {
    let mut w = world();
    // Inside D1's enabled superpage extent, mapped writable by a D1 PSE entry as well.
    let granted = D1_SUPER + 5;
    w.chain(16, 17, 18, 19, VA);
    w.update(D1, 18, slot(VA ^ (1 << 21), 21), pte(D1_SUPER, PW | PSE))
        .unwrap();
    w.pin(D1, 16, PageLevel::L4).unwrap();
    map(&mut w, VA, grant(granted, true)).unwrap();
    w.check();

    let t = w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    // A frame a grantee still maps is not a leak of the granter's teardown.
    assert!(t.check.ok(), "{:?}", t.check);
    let f = w.frame(granted);
    assert!(f.is_orphan());
    assert_eq!(
        (f.owner(), f.is_allocated(), f.count(), f.type_count()),
        (None, false, 1, 1)
    );
    // Every other frame of D1 is handed back, the orphan is not.
    let freed: u64 = t.blocks.iter().map(|&(_, o)| 1u64 << o).sum();
    assert_eq!(freed, 32 + 511);
    assert!(t
        .blocks
        .iter()
        .all(|&(b, o)| !(b.0..b.0 + (1 << o)).contains(&granted)));
    assert!(t.blocks.iter().all(|&(b, o)| b.is_aligned(o)));
    assert!(!w.spage(granted).is_enabled());
    assert_eq!(w.mm.orphan_count(), 1);
    w.check();
    // Nobody can take or map it.
    assert_eq!(
        map(&mut w, VA + 0x1000, grant(granted, false)),
        Err(MmError::CannotMap)
    );
    assert!(w.mm.assign(D2, Mfn(granted), 0).is_err());
    assert!(!w.mm.has_freed_orphans());

    unmap(&mut w, VA, granted).unwrap();
    assert_eq!(w.frame(granted), FrameInfo::FREE);
    assert_eq!(w.mm.take_freed_orphans(), [Mfn(granted)]);
    assert_eq!(w.mm.orphan_count(), 0);
    w.check();
}

#[test]
fn an_orphan_is_freed_when_the_grantee_dies_too() {
    let mut w = world();
    map(&mut w, VA, grant(GRANTED, false)).unwrap();
    w.mm.destroy_domain(D1, &mut w.mem).unwrap();
    assert!(w.frame(GRANTED).is_orphan());
    w.mm.destroy_domain(D2, &mut w.mem).unwrap();
    assert_eq!(w.mm.take_freed_orphans(), [Mfn(GRANTED)]);
    assert_eq!(w.frame(GRANTED), FrameInfo::FREE);
    w.check();
}

#[test]
fn a_grant_mapping_may_name_its_pte_by_machine_address() {
    let mut w = world();
    let maddr = (67 << 12) + 8 * slot(VA, 12) as u64;
    let g = grant(GRANTED, true);
    // Misaligned, not an L1 (the L2), another domain's L1.
    for bad in [maddr + 4, 66 << 12, 19 << 12] {
        let r = w.mm.map_grant(D2, GrantSite::Pte(bad), g, &mut w.mem);
        assert_eq!(r, Err(MmError::BadAddress), "maddr {bad:#x}");
    }
    w.mm.map_grant(D2, GrantSite::Pte(maddr), g, &mut w.mem)
        .unwrap();
    assert_eq!(w.frame(GRANTED).count(), 2);
    w.check();
    // The same slot by address unmaps it.
    unmap(&mut w, VA, GRANTED).unwrap();
    assert_eq!(w.frame(GRANTED).count(), 1);
    w.check();
}
