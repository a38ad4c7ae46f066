//! Tests of the grant tables: table growth, version rules, and map/unmap bookkeeping against
//! in-memory grant frames, with a model-based property test.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use pv_abi::grant_table::*;

use super::*;
use crate::evtchn::DomId;

const D1: DomId = DomId(1);
const D2: DomId = DomId(2);

/// Frames from a counter, with an optional budget; remembers what is live.
#[derive(Default)]
struct Frames {
    next: u64,
    budget: Option<usize>,
    live: BTreeSet<u64>,
}

impl GrantFrameAllocator for Frames {
    fn alloc_frame(&mut self, _dom: DomId) -> Option<Mfn> {
        if self.budget == Some(0) {
            return None;
        }
        if let Some(b) = &mut self.budget {
            *b -= 1;
        }
        self.next += 1;
        self.live.insert(0x1000 + self.next);
        Some(Mfn(0x1000 + self.next))
    }
    fn free_frame(&mut self, _dom: DomId, frame: Mfn) {
        assert!(self.live.remove(&frame.0), "freeing a frame never given");
    }
}

/// Grant frames as plain memory (created on first touch, zeroed).
#[derive(Default)]
struct Memory {
    frames: BTreeMap<u64, Vec<u8>>,
    /// Make the next N compare-and-exchanges fail as if the guest raced them.
    races: u32,
}

impl Memory {
    fn frame(&mut self, mfn: Mfn) -> &mut Vec<u8> {
        self.frames.entry(mfn.0).or_insert_with(|| vec![0; 4096])
    }
    fn word(&self, mfn: Mfn, offset: usize) -> u32 {
        self.frames.get(&mfn.0).map_or(0, |f| {
            u32::from_le_bytes(f[offset..offset + 4].try_into().unwrap())
        })
    }
    fn set_word(&mut self, mfn: Mfn, offset: usize, v: u32) {
        self.frame(mfn)[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// Guest side: write entry `gref` of the table whose frames are `frames`.
    fn grant(&mut self, frames: &[Mfn], gref: u32, flags: u16, domid: u16, frame: u32) {
        let (i, off) = GrantRef(gref).location();
        self.set_word(frames[i], off, u32::from(flags) | u32::from(domid) << 16);
        self.set_word(frames[i], off + 4, frame);
    }
    fn flags(&self, frames: &[Mfn], gref: u32) -> u16 {
        let (i, off) = GrantRef(gref).location();
        self.word(frames[i], off) as u16
    }
}

impl GrantEntryAccess for Memory {
    fn read_header(&self, frame: Mfn, offset: usize) -> u32 {
        self.word(frame, offset)
    }
    fn cmpxchg_header(&mut self, frame: Mfn, offset: usize, old: u32, new: u32) -> u32 {
        let cur = self.word(frame, offset);
        if self.races > 0 {
            self.races -= 1;
            // The guest flips GTF_PWT under us.
            let raced = cur ^ u32::from(GTF_PWT);
            self.set_word(frame, offset, raced);
            return raced;
        }
        if cur == old {
            self.set_word(frame, offset, new);
        }
        cur
    }
    fn read_frame(&self, frame: Mfn, offset: usize) -> u32 {
        self.word(frame, offset + 4)
    }
    fn clear_flags(&mut self, frame: Mfn, offset: usize, flags: u16) {
        let cur = self.word(frame, offset);
        self.set_word(frame, offset, cur & !u32::from(flags));
    }
}

fn setup() -> (GrantTables, Frames, Memory) {
    let mut gt = GrantTables::new();
    let mut frames = Frames::default();
    gt.create_domain(D1, DEFAULT_MAX_GRANT_FRAMES, &mut frames)
        .unwrap();
    gt.create_domain(D2, 4, &mut frames).unwrap();
    (gt, frames, Memory::default())
}

#[test]
fn minios_setup_table_of_four_frames() {
    let (mut gt, mut frames, _) = setup();
    assert_eq!(
        gt.query_size(D1, DomId::SELF),
        Ok(QuerySize {
            nr_frames: 1,
            max_nr_frames: 64
        })
    );
    let first = gt.frames(D1).unwrap()[0];
    let list = gt
        .setup_table(D1, DomId::SELF, 4, &mut frames)
        .unwrap()
        .to_vec();
    assert_eq!(list.len(), 4);
    assert_eq!(list[0], first, "existing frames are kept");
    // Asking for fewer returns a prefix and never shrinks.
    assert_eq!(gt.setup_table(D1, D1, 2, &mut frames).unwrap(), &list[..2]);
    assert_eq!(gt.setup_table(D1, D1, 0, &mut frames).unwrap(), &[]);
    assert_eq!(gt.query_size(D1, D1).unwrap().nr_frames, 4);
}

#[test]
fn setup_table_limits_and_permissions() {
    let (mut gt, mut frames, _) = setup();
    assert_eq!(
        gt.setup_table(D2, D2, 5, &mut frames),
        Err(GnttabError::TooManyFrames)
    );
    assert_eq!(
        gt.setup_table(D2, D2, u32::MAX, &mut frames),
        Err(GnttabError::TooManyFrames)
    );
    assert_eq!(
        gt.setup_table(D2, D1, 1, &mut frames),
        Err(GnttabError::NotPermitted)
    );
    assert_eq!(
        gt.setup_table(D2, DomId(7), 1, &mut frames),
        Err(GnttabError::NoSuchDomain)
    );
    assert_eq!(GnttabError::NoSuchDomain.to_gntst(), GNTST_BAD_DOMAIN);
    assert_eq!(GnttabError::TooManyFrames.to_gntst(), GNTST_GENERAL_ERROR);
    assert_eq!(gt.query_size(D2, D1), Err(GnttabError::NotPermitted));
}

#[test]
fn failed_grow_frees_what_it_took_and_changes_nothing() {
    let (mut gt, mut frames, _) = setup();
    frames.budget = Some(2);
    assert_eq!(
        gt.setup_table(D1, D1, 4, &mut frames),
        Err(GnttabError::OutOfMemory)
    );
    assert_eq!(gt.query_size(D1, D1).unwrap().nr_frames, 1);
    assert_eq!(
        frames.live.len(),
        2,
        "only the two initial frames remain allocated"
    );
    let mut broke = Frames {
        budget: Some(0),
        ..Frames::default()
    };
    assert_eq!(
        gt.create_domain(DomId(3), 4, &mut broke),
        Err(GnttabError::OutOfMemory)
    );
    assert_eq!(
        gt.query_size(DomId(3), DomId(3)),
        Err(GnttabError::NoSuchDomain)
    );
}

#[test]
fn create_domain_checks() {
    let (mut gt, mut frames, _) = setup();
    assert_eq!(
        gt.create_domain(D1, 4, &mut frames),
        Err(GnttabError::DomainExists)
    );
    assert_eq!(
        gt.create_domain(DomId(3), 0, &mut frames),
        Err(GnttabError::BadMaxFrames)
    );
    assert_eq!(
        gt.create_domain(DomId(3), MAX_GRANT_FRAMES_LIMIT + 1, &mut frames),
        Err(GnttabError::BadMaxFrames)
    );
}

#[test]
fn versions() {
    let (gt, _, _) = setup();
    assert_eq!(gt.set_version(D1, 1), Ok(()));
    assert_eq!(gt.set_version(D1, 2), Err(GnttabError::VersionUnsupported));
    assert_eq!(GnttabError::VersionUnsupported.to_errno(), -38);
    assert_eq!(gt.set_version(D1, 0), Err(GnttabError::BadVersion));
    assert_eq!(gt.set_version(D1, 3), Err(GnttabError::BadVersion));
    assert_eq!(gt.get_version(D1, DomId::SELF), Ok(1));
    assert_eq!(gt.get_version(D1, D2), Err(GnttabError::NotPermitted));
    assert_eq!(
        gt.get_version(D1, DomId(9)).map_err(GnttabError::to_errno),
        Err(-3)
    );
}

#[test]
fn destroy_returns_frames() {
    let (mut gt, mut frames, mut mem) = setup();
    gt.setup_table(D2, D2, 3, &mut frames).unwrap();
    let out = gt.destroy_domain(D2, &mut mem).unwrap();
    assert_eq!(out.frames.len(), 3);
    assert!(out.released.is_empty());
    assert_eq!(
        gt.destroy_domain(D2, &mut mem),
        Err(GnttabError::NoSuchDomain)
    );
}

#[test]
fn map_and_unmap_track_pins_and_flags() {
    let (mut gt, _, mut mem) = setup();
    let table = gt.frames(D1).unwrap().to_vec();
    mem.grant(&table, 10, GTF_PERMIT_ACCESS | GTF_PCD, 2, 0xabcd);
    let ro = gt
        .map_grant_ref(
            D2,
            D1,
            GrantRef(10),
            GNTMAP_HOST_MAP | GNTMAP_READONLY,
            &mut mem,
        )
        .unwrap();
    assert_eq!(
        (ro.frame, ro.readonly, ro.cache_flags),
        (0xabcd, true, GTF_PCD)
    );
    assert_eq!(
        mem.flags(&table, 10),
        GTF_PERMIT_ACCESS | GTF_PCD | GTF_READING
    );
    let rw = gt
        .map_grant_ref(D2, D1, GrantRef(10), GNTMAP_HOST_MAP, &mut mem)
        .unwrap();
    assert_ne!(ro.handle, rw.handle);
    assert_eq!(
        mem.flags(&table, 10) & (GTF_READING | GTF_WRITING),
        GTF_READING | GTF_WRITING
    );
    assert_eq!(gt.pins(D1, GrantRef(10)), Ok((1, 1)));

    let gone = gt.unmap_grant_ref(D2, rw.handle, &mut mem).unwrap();
    assert_eq!(
        (gone.granter, gone.gref, gone.frame),
        (D1, GrantRef(10), 0xabcd)
    );
    assert_eq!(
        mem.flags(&table, 10) & (GTF_READING | GTF_WRITING),
        GTF_READING
    );
    gt.unmap_grant_ref(D2, ro.handle, &mut mem).unwrap();
    assert_eq!(mem.flags(&table, 10), GTF_PERMIT_ACCESS | GTF_PCD);
    assert_eq!(gt.pins(D1, GrantRef(10)), Ok((0, 0)));
    assert_eq!(
        gt.unmap_grant_ref(D2, ro.handle, &mut mem),
        Err(GnttabError::BadHandle)
    );
}

#[test]
fn map_refusals() {
    let (mut gt, _, mut mem) = setup();
    let table = gt.frames(D1).unwrap().to_vec();
    mem.grant(&table, 1, GTF_PERMIT_ACCESS | GTF_READONLY, 2, 7);
    mem.grant(&table, 2, GTF_PERMIT_ACCESS, 3, 7);
    mem.grant(&table, 3, GTF_ACCEPT_TRANSFER, 2, 7);
    mem.grant(&table, 4, GTF_PERMIT_ACCESS | GTF_SUB_PAGE, 2, 7);
    let host = GNTMAP_HOST_MAP;
    let mut map = |gt: &mut GrantTables, r, f| gt.map_grant_ref(D2, D1, GrantRef(r), f, &mut mem);
    assert_eq!(map(&mut gt, 1, 0), Err(GnttabError::BadMapFlags));
    assert_eq!(map(&mut gt, 1, host), Err(GnttabError::AccessDenied)); // write to r/o grant
    assert!(map(&mut gt, 1, host | GNTMAP_READONLY).is_ok());
    assert_eq!(map(&mut gt, 1, host), Err(GnttabError::AccessDenied)); // still r/o when pinned
    assert_eq!(map(&mut gt, 2, host), Err(GnttabError::AccessDenied)); // granted to d3
    assert_eq!(map(&mut gt, 3, host), Err(GnttabError::AccessDenied)); // wrong type
    assert_eq!(map(&mut gt, 4, host), Err(GnttabError::AccessDenied)); // sub-page
    assert_eq!(map(&mut gt, 512, host), Err(GnttabError::BadGrantRef)); // beyond 1 frame
    assert_eq!(map(&mut gt, u32::MAX, host), Err(GnttabError::BadGrantRef));
    assert_eq!(
        gt.map_grant_ref(D2, DomId::SELF, GrantRef(1), host, &mut mem),
        Err(GnttabError::NoSuchDomain)
    );
    // Nothing failed left a pin or a handle behind.
    assert_eq!(gt.pins(D1, GrantRef(1)), Ok((1, 0)));
    assert_eq!(gt.mapping_handles(D2).unwrap().len(), 1);
}

#[test]
fn maptrack_exhaustion_is_no_space_and_handles_are_reused() {
    let (mut gt, _, mut mem) = setup();
    let table = gt.frames(D1).unwrap().to_vec();
    for r in 0..8 {
        mem.grant(&table, r, GTF_PERMIT_ACCESS, 2, 100 + r);
    }
    gt.set_max_handles(D2, 4);
    let host = GNTMAP_HOST_MAP;
    let handles: Vec<GrantHandle> = (0..4)
        .map(|r| {
            gt.map_grant_ref(D2, D1, GrantRef(r), host, &mut mem)
                .unwrap()
                .handle
        })
        .collect();
    assert_eq!(
        gt.map_grant_ref(D2, D1, GrantRef(5), host, &mut mem),
        Err(GnttabError::NoHandleSpace)
    );
    assert_eq!(GnttabError::NoHandleSpace.to_gntst(), GNTST_NO_SPACE);
    // The refused map pinned nothing.
    assert_eq!(gt.pins(D1, GrantRef(5)), Ok((0, 0)));
    assert_eq!(mem.flags(&table, 5), GTF_PERMIT_ACCESS);
    // The lookup changes nothing; a freed handle is the next one given.
    let m = gt.mapping(D2, handles[2]).unwrap();
    assert_eq!((m.granter, m.gref, m.frame), (D1, GrantRef(2), 102));
    assert_eq!(gt.mapping(D1, handles[2]), Err(GnttabError::BadHandle));
    gt.unmap_grant_ref(D2, handles[2], &mut mem).unwrap();
    assert_eq!(gt.mapping(D2, handles[2]), Err(GnttabError::BadHandle));
    let again = gt
        .map_grant_ref(D2, D1, GrantRef(6), host, &mut mem)
        .unwrap();
    assert_eq!(again.handle, handles[2]);
    // A failed map gives its handle back.
    assert_eq!(
        gt.map_grant_ref(D2, D1, GrantRef(600), host, &mut mem),
        Err(GnttabError::NoHandleSpace)
    );
    gt.unmap_grant_ref(D2, handles[0], &mut mem).unwrap();
    assert_eq!(
        gt.map_grant_ref(D2, D1, GrantRef(600), host, &mut mem),
        Err(GnttabError::BadGrantRef)
    );
    let h = gt
        .map_grant_ref(D2, D1, GrantRef(7), host, &mut mem)
        .unwrap();
    assert_eq!(h.handle, handles[0]);
}

#[test]
fn pinned_grant_is_reserved_for_its_mapper_and_pin_count_is_bounded() {
    let (mut gt, mut frames, mut mem) = setup();
    gt.create_domain(DomId(3), 4, &mut frames).unwrap();
    let table = gt.frames(D1).unwrap().to_vec();
    mem.grant(&table, 5, GTF_PERMIT_ACCESS, 2, 9);
    let ro = GNTMAP_HOST_MAP | GNTMAP_READONLY;
    for _ in 0..MAX_PINS {
        gt.map_grant_ref(D2, D1, GrantRef(5), ro, &mut mem).unwrap();
    }
    assert_eq!(
        gt.map_grant_ref(D2, D1, GrantRef(5), ro, &mut mem),
        Err(GnttabError::AccessDenied)
    );
    // The guest re-grants to d3 while pinned: d3 still cannot map, d2 keeps its pins.
    mem.grant(&table, 5, GTF_PERMIT_ACCESS | GTF_READING, 3, 9);
    assert_eq!(
        gt.map_grant_ref(DomId(3), D1, GrantRef(5), ro, &mut mem),
        Err(GnttabError::AccessDenied)
    );
}

#[test]
fn unstable_entry_is_refused_after_bounded_retries() {
    let (mut gt, _, mut mem) = setup();
    let table = gt.frames(D1).unwrap().to_vec();
    mem.grant(&table, 6, GTF_PERMIT_ACCESS, 2, 9);
    mem.races = 4;
    assert!(gt
        .map_grant_ref(D2, D1, GrantRef(6), GNTMAP_HOST_MAP, &mut mem)
        .is_ok());
    mem.grant(&table, 7, GTF_PERMIT_ACCESS, 2, 9);
    mem.races = 5;
    assert_eq!(
        gt.map_grant_ref(D2, D1, GrantRef(7), GNTMAP_HOST_MAP, &mut mem),
        Err(GnttabError::AccessDenied)
    );
}

#[test]
fn destroying_mapper_releases_its_pins_and_destroyed_granter_leaves_handles_usable() {
    let (mut gt, mut frames, mut mem) = setup();
    let t1 = gt.frames(D1).unwrap().to_vec();
    let t2 = gt.frames(D2).unwrap().to_vec();
    mem.grant(&t1, 8, GTF_PERMIT_ACCESS, 2, 9);
    mem.grant(&t2, 8, GTF_PERMIT_ACCESS, 1, 9);
    gt.map_grant_ref(D2, D1, GrantRef(8), GNTMAP_HOST_MAP, &mut mem)
        .unwrap();
    let held_by_d1 = gt
        .map_grant_ref(D1, D2, GrantRef(8), GNTMAP_HOST_MAP, &mut mem)
        .unwrap();

    let out = gt.destroy_domain(D2, &mut mem).unwrap();
    assert_eq!(out.released.len(), 1);
    assert_eq!(gt.pins(D1, GrantRef(8)), Ok((0, 0)));
    assert_eq!(mem.flags(&t1, 8), GTF_PERMIT_ACCESS);

    // A new domain 2 reuses the id: d1's old handle must not touch the new table's pins.
    gt.create_domain(D2, 4, &mut frames).unwrap();
    let t2b = gt.frames(D2).unwrap().to_vec();
    mem.grant(&t2b, 8, GTF_PERMIT_ACCESS, 1, 9);
    let fresh = gt
        .map_grant_ref(D1, D2, GrantRef(8), GNTMAP_HOST_MAP, &mut mem)
        .unwrap();
    gt.unmap_grant_ref(D1, held_by_d1.handle, &mut mem).unwrap();
    assert_eq!(gt.pins(D2, GrantRef(8)), Ok((0, 1)));
    gt.unmap_grant_ref(D1, fresh.handle, &mut mem).unwrap();
    assert_eq!(gt.pins(D2, GrantRef(8)), Ok((0, 0)));
}

#[derive(Clone, Debug)]
enum Op {
    Grant { gref: u32, flags: u16, to: u16 },
    Scribble { gref: u32, header: u32 },
    Map { mapper: u16, gref: u32, flags: u32 },
    Unmap { mapper: u16, handle: u32 },
    Grow(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let gref = prop_oneof![4 => 0u32..4, 1 => 0u32..1100, 1 => any::<u32>()];
    let gflags = prop_oneof![
        Just(GTF_PERMIT_ACCESS),
        Just(GTF_PERMIT_ACCESS | GTF_READONLY),
        Just(GTF_INVALID),
        any::<u16>()
    ];
    let mflags = prop_oneof![
        Just(GNTMAP_HOST_MAP),
        Just(GNTMAP_HOST_MAP | GNTMAP_READONLY),
        Just(GNTMAP_DEVICE_MAP),
        any::<u32>()
    ];
    prop_oneof![
        3 => (gref.clone(), gflags, 1u16..4).prop_map(|(gref, flags, to)| Op::Grant { gref, flags, to }),
        1 => (gref.clone(), any::<u32>()).prop_map(|(gref, header)| Op::Scribble { gref, header }),
        4 => (1u16..4, gref, mflags).prop_map(|(mapper, gref, flags)| Op::Map { mapper, gref, flags }),
        3 => (1u16..4, 0u32..6).prop_map(|(mapper, handle)| Op::Unmap { mapper, handle }),
        1 => (0u32..4).prop_map(Op::Grow),
    ]
}

proptest! {
    /// Domain 1 grants, domains 2 and 3 (and 1 itself) map and unmap, the guest scribbles on
    /// entries: nothing panics, pins always equal the live mappings, and entries nobody
    /// scribbled on carry exactly the flags their pins call for.
    #[test]
    fn pins_match_mappings(ops in proptest::collection::vec(op(), 1..60)) {
        let mut gt = GrantTables::new();
        let mut frames = Frames::default();
        let mut mem = Memory::default();
        for d in 1..4 {
            gt.create_domain(DomId(d), 2, &mut frames).unwrap();
        }
        let mut scribbled = BTreeSet::new();
        let mut touched: BTreeSet<u32> = (0..4).collect();
        for op in ops {
            let nr_entries = gt.frames(D1).unwrap().len() * 512;
            let in_table = |gref: u32| (gref as usize) < nr_entries;
            let table = gt.frames(D1).unwrap().to_vec();
            match op {
                // A well-behaved guest only rewrites entries that are not pinned.
                Op::Grant { gref, flags, to }
                    if in_table(gref) && gt.pins(D1, GrantRef(gref)).unwrap() == (0, 0) =>
                {
                    mem.grant(&table, gref, flags & !(GTF_READING | GTF_WRITING), to, gref);
                }
                Op::Scribble { gref, header } if in_table(gref) => {
                    let (i, off) = GrantRef(gref).location();
                    mem.set_word(table[i], off, header);
                    scribbled.insert(gref);
                }
                Op::Map { mapper, gref, flags } => {
                    if let Ok(m) = gt.map_grant_ref(DomId(mapper), D1, GrantRef(gref), flags, &mut mem) {
                        if !scribbled.contains(&gref) {
                            prop_assert_eq!(m.frame, u64::from(gref));
                        }
                    }
                }
                Op::Unmap { mapper, handle } => {
                    let _ = gt.unmap_grant_ref(DomId(mapper), GrantHandle(handle), &mut mem);
                }
                Op::Grow(n) => {
                    let _ = gt.setup_table(D1, D1, n, &mut frames);
                }
                _ => {}
            }
            // Pins equal live mappings, per grant.
            let mut expected: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
            for mapper in 1..4u16 {
                for m in gt.tables[&DomId(mapper)].maptrack.values() {
                    let e = expected.entry(m.gref.0).or_default();
                    if m.flags & GNTMAP_READONLY != 0 { e.0 += 1 } else { e.1 += 1 }
                }
            }
            touched.extend(expected.keys().copied());
            let table = gt.frames(D1).unwrap().to_vec();
            for &gref in touched.iter().filter(|&&g| in_table(g)) {
                let pins = gt.pins(D1, GrantRef(gref)).unwrap();
                prop_assert_eq!(pins, expected.get(&gref).copied().unwrap_or((0, 0)));
                if !scribbled.contains(&gref) {
                    let flags = mem.flags(&table, gref);
                    prop_assert_eq!(flags & GTF_READING != 0, pins != (0, 0));
                    prop_assert_eq!(flags & GTF_WRITING != 0, pins.1 != 0);
                }
            }
        }
    }
}

#[test]
fn copy_acquires_only_what_the_entry_grants_and_release_clears_it() {
    let (gt, _, mut mem) = setup();
    let t1 = gt.frames(D1).unwrap().to_vec();
    // D1 grants frame 0x77 to D2, read-only as ref 5 and writable as ref 6.
    mem.grant(&t1, 5, GTF_PERMIT_ACCESS | GTF_READONLY, 2, 0x77);
    mem.grant(&t1, 6, GTF_PERMIT_ACCESS, 2, 0x78);
    // Reading a read-only grant: allowed, GTF_reading while it lasts.
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(5), false, &mut mem),
        Ok(0x77)
    );
    assert_eq!(mem.flags(&t1, 5) & GTF_READING, GTF_READING);
    gt.release_for_copy(D1, GrantRef(5), false, &mut mem);
    assert_eq!(mem.flags(&t1, 5), GTF_PERMIT_ACCESS | GTF_READONLY);
    // Writing it: refused, flags untouched.
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(5), true, &mut mem),
        Err(GnttabError::AccessDenied)
    );
    assert_eq!(mem.flags(&t1, 5), GTF_PERMIT_ACCESS | GTF_READONLY);
    // A writable grant as destination: reading and writing shown, then cleared.
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(6), true, &mut mem),
        Ok(0x78)
    );
    assert_eq!(
        mem.flags(&t1, 6),
        GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING
    );
    gt.release_for_copy(D1, GrantRef(6), true, &mut mem);
    assert_eq!(mem.flags(&t1, 6), GTF_PERMIT_ACCESS);
    // Another domain, a revoked (zeroed) entry, a ref beyond the table, no such granter.
    assert_eq!(
        gt.acquire_for_copy(DomId(3), D1, GrantRef(6), false, &mut mem),
        Err(GnttabError::AccessDenied)
    );
    mem.grant(&t1, 6, 0, 0, 0);
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(6), false, &mut mem),
        Err(GnttabError::AccessDenied)
    );
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(1 << 20), false, &mut mem),
        Err(GnttabError::BadGrantRef)
    );
    assert_eq!(
        gt.acquire_for_copy(D2, DomId(9), GrantRef(0), false, &mut mem),
        Err(GnttabError::NoSuchDomain)
    );
}

#[test]
fn copy_keeps_the_flags_a_mapping_pin_needs() {
    let (mut gt, _, mut mem) = setup();
    let t1 = gt.frames(D1).unwrap().to_vec();
    mem.grant(&t1, 7, GTF_PERMIT_ACCESS, 2, 0x99);
    let m = gt
        .map_grant_ref(
            D2,
            D1,
            GrantRef(7),
            GNTMAP_HOST_MAP | GNTMAP_READONLY,
            &mut mem,
        )
        .unwrap();
    assert_eq!(
        gt.acquire_for_copy(D2, D1, GrantRef(7), true, &mut mem),
        Ok(0x99)
    );
    gt.release_for_copy(D1, GrantRef(7), true, &mut mem);
    // The read-only mapping still pins it: reading stays, writing goes.
    assert_eq!(mem.flags(&t1, 7), GTF_PERMIT_ACCESS | GTF_READING);
    gt.unmap_grant_ref(D2, m.handle, &mut mem).unwrap();
    assert_eq!(mem.flags(&t1, 7), GTF_PERMIT_ACCESS);
}
