//! Property test: random operation sequences by two domains against a reference model of
//! ownership, pins and base pointers, with the project's buddy allocator as the platform.
//!
//! After every step: `check_invariants`, an independent safety scan (no table or descriptor
//! frame writable through any mapping, no entry reaching another domain's frame), and the
//! model's ownership, pins and base pointers agree with the memory manager. Destroy must
//! return every frame of the domain exactly once (the allocator refuses double frees).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use proptest::prelude::*;

use super::harness::*;
use crate::buddy::BuddyAllocator;
use crate::mm::pte::{is_present, PWT};
use crate::mm::*;

const MODEL_MFN: u64 = 4 * 512;
const DOMS: [DomId; 2] = [D1, D2];
const HOT: usize = 12;

#[derive(Clone, Copy, Debug)]
enum Entry {
    Ro,
    Rw,
    PseRo,
    PseRw,
    Bad,
}

#[derive(Clone, Debug)]
enum Op {
    Assign {
        d: usize,
        big: bool,
    },
    Release {
        d: usize,
        pick: usize,
    },
    Exchange {
        d: usize,
        pick: usize,
    },
    Write {
        d: usize,
        live: bool,
        table: usize,
        slot: usize,
        target: usize,
        foreign: bool,
        kind: Entry,
    },
    Va {
        d: usize,
        va: [usize; 4],
        target: usize,
        kind: Entry,
    },
    Clear {
        d: usize,
        table: usize,
        slot: usize,
    },
    Raw {
        d: usize,
        table: usize,
        slot: usize,
        val: u64,
    },
    Pin {
        d: usize,
        pick: usize,
        level: usize,
    },
    Unpin {
        d: usize,
        pick: usize,
    },
    Base {
        d: usize,
        vcpu: u32,
        user: bool,
        pick: Option<usize>,
    },
    Destroy {
        d: usize,
    },
    SegDesc {
        d: usize,
        pick: usize,
        get: bool,
    },
    Share {
        d: usize,
    },
    Unshare {
        d: usize,
        pick: usize,
    },
    Copy {
        d: usize,
        dst: usize,
        src: usize,
        clear: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let d = 0..2usize;
    let pick = 0..64usize;
    let entry = prop_oneof![
        Just(Entry::Ro),
        Just(Entry::Rw),
        Just(Entry::PseRo),
        Just(Entry::PseRw),
        Just(Entry::Bad)
    ];
    prop_oneof![
        3 => (d.clone(), any::<bool>()).prop_map(|(d, big)| Op::Assign { d, big }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Release { d, pick }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Exchange { d, pick }),
        10 => (d.clone(), any::<bool>(), pick.clone(), 0..4usize, pick.clone(), prop::bool::weighted(0.1), entry.clone())
            .prop_map(|(d, live, table, slot, target, foreign, kind)| Op::Write {
                d, live, table, slot, target, foreign, kind
            }),
        2 => (d.clone(), [0..3usize, 0..3usize, 0..3usize, 0..3usize], pick.clone(), entry)
            .prop_map(|(d, va, target, kind)| Op::Va { d, va, target, kind }),
        2 => (d.clone(), pick.clone(), 0..4usize).prop_map(|(d, table, slot)| Op::Clear { d, table, slot }),
        1 => (d.clone(), pick.clone(), prop_oneof![0..4usize, Just(256usize)], any::<u64>())
            .prop_map(|(d, table, slot, val)| Op::Raw { d, table, slot, val }),
        4 => (d.clone(), pick.clone(), 0..4usize).prop_map(|(d, pick, level)| Op::Pin { d, pick, level }),
        2 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Unpin { d, pick }),
        2 => (d.clone(), 0..2u32, any::<bool>(), prop::option::weighted(0.8, pick.clone()))
            .prop_map(|(d, vcpu, user, pick)| Op::Base { d, vcpu, user, pick }),
        1 => d.clone().prop_map(|d| Op::Destroy { d }),
        1 => (d.clone(), pick.clone(), any::<bool>()).prop_map(|(d, pick, get)| Op::SegDesc { d, pick, get }),
        1 => d.clone().prop_map(|d| Op::Share { d }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Unshare { d, pick }),
        1 => (d, pick.clone(), pick, any::<bool>()).prop_map(|(d, dst, src, clear)| Op::Copy { d, dst, src, clear }),
    ]
}

/// The reference model: what each domain owns, its pins and its base pointers.
struct Model {
    world: World,
    buddy: BuddyAllocator,
    owned: [BTreeSet<u64>; 2],
    supers: [BTreeSet<u64>; 2],
    pinned: BTreeSet<u64>,
    bases: BTreeMap<(usize, u32, bool), Mfn>,
    seg_refs: BTreeMap<u64, u32>,
    xen: [BTreeSet<u64>; 2],
}

impl Model {
    fn new() -> Model {
        let mut world = World::sized(MODEL_MFN);
        for (i, &dom) in DOMS.iter().enumerate() {
            let cfg = DomainConfig {
                max_pages: 1200,
                ..config(i == 0)
            };
            world.mm.create_domain(dom, cfg).unwrap();
        }
        let mut buddy = BuddyAllocator::new();
        buddy.add_range(0, MODEL_MFN).unwrap();
        Model {
            world,
            buddy,
            owned: Default::default(),
            supers: Default::default(),
            pinned: BTreeSet::new(),
            bases: BTreeMap::new(),
            seg_refs: BTreeMap::new(),
            xen: Default::default(),
        }
    }

    /// One of the domain's first `HOT` frames (so tables and targets meet often).
    fn hot(&self, d: usize, pick: usize) -> Option<u64> {
        let n = self.owned[d].len().min(HOT);
        (n > 0).then(|| *self.owned[d].iter().nth(pick % n).unwrap())
    }

    /// One of the domain's hot frames that is a live page table, if any.
    fn live_table(&self, d: usize, pick: usize) -> Option<u64> {
        let live: Vec<u64> = self.owned[d]
            .iter()
            .take(HOT)
            .copied()
            .filter(|&m| {
                let f = self.world.frame(m);
                f.type_count() > 0 && f.page_type().level().is_some()
            })
            .collect();
        (!live.is_empty()).then(|| live[pick % live.len()])
    }

    fn assign(&mut self, d: usize, order: u32) {
        let Some(base) = self.buddy.alloc(order) else {
            return;
        };
        let fits = self.owned[d].len() as u64 + (1 << order) <= 1200;
        let r = self.world.mm.assign(DOMS[d], Mfn(base), order);
        assert_eq!(r.is_ok(), fits, "assign {base} order {order}: {r:?}");
        if r.is_ok() {
            self.owned[d].extend(base..base + (1 << order));
            if order == 9 {
                self.supers[d].insert(base);
            }
        } else {
            self.buddy.free(base, order).unwrap();
        }
    }

    fn release(&mut self, d: usize, mfn: u64) -> bool {
        let r = self.world.mm.release(DOMS[d], Mfn(mfn));
        if self.pinned.contains(&mfn) || self.bases.values().any(|b| b.0 == mfn) {
            assert!(r.is_err(), "released a pinned or base frame");
        }
        if r.is_ok() {
            self.owned[d].remove(&mfn);
            self.supers[d].remove(&(mfn & !511));
            self.buddy.free(mfn, 0).unwrap();
        }
        r.is_ok()
    }

    fn entry(&self, d: usize, target: usize, foreign: bool, kind: Entry) -> Option<u64> {
        let td = if foreign { 1 - d } else { d };
        let super_base = |p: usize| {
            let s = &self.supers[td];
            (!s.is_empty()).then(|| *s.iter().nth(p % s.len()).unwrap())
        };
        Some(match kind {
            Entry::Ro => pte(self.hot(td, target)?, P),
            Entry::Rw => pte(self.hot(td, target)?, PW),
            Entry::PseRo => pte(super_base(target).or(self.hot(td, target))?, P | PSE),
            Entry::PseRw => pte(super_base(target).or(self.hot(td, target))?, PW | PSE),
            Entry::Bad => pte(self.hot(td, target)?, P | PWT),
        })
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Assign { d, big } => self.assign(d, if big { 9 } else { 0 }),
            Op::Release { d, pick } => {
                if let Some(m) = self.hot(d, pick) {
                    self.release(d, m);
                }
            }
            Op::Exchange { d, pick } => {
                if let Some(m) = self.hot(d, pick) {
                    if self.release(d, m) {
                        self.assign(d, 0);
                    }
                }
            }
            Op::Write {
                d,
                live,
                table,
                slot,
                target,
                foreign,
                kind,
            } => {
                let t = match live {
                    true => self.live_table(d, table).or(self.hot(d, table)),
                    false => self.hot(d, table),
                };
                let (Some(t), Some(val)) = (t, self.entry(d, target, foreign, kind)) else {
                    return;
                };
                let table_level = self.world.frame(t).page_type().level();
                let live_table = table_level.is_some() && self.world.frame(t).type_count() > 0;
                let r = self.world.update(DOMS[d], t, slot, val);
                if foreign && live_table {
                    assert!(r.is_err(), "foreign entry accepted: {val:#x}");
                }
            }
            Op::Va {
                d,
                va,
                target,
                kind,
            } => {
                let Some(root) = self.bases.get(&(d, 0, false)).copied() else {
                    return;
                };
                let Some(val) = self.entry(d, target, false, kind) else {
                    return;
                };
                let va = ((va[0] as u64) << 39)
                    | ((va[1] as u64) << 30)
                    | ((va[2] as u64) << 21)
                    | ((va[3] as u64) << 12);
                let w = &mut self.world;
                let _ = w.mm.update_va_mapping(DOMS[d], root, va, val, &mut w.mem);
                if let Ok(maddr) = w.mm.translate(root, va, false, &w.mem) {
                    assert_eq!(
                        w.frame(maddr >> 12).owner(),
                        Some(DOMS[d]),
                        "translate left the domain"
                    );
                }
            }
            Op::Clear { d, table, slot } => {
                if let Some(t) = self.hot(d, table) {
                    let _ = self.world.update(DOMS[d], t, slot, 0);
                }
            }
            Op::Raw {
                d,
                table,
                slot,
                val,
            } => {
                if let Some(t) = self.hot(d, table) {
                    let _ = self.world.update(DOMS[d], t, slot, val);
                }
            }
            Op::Pin { d, pick, level } => {
                let Some(m) = self.hot(d, pick) else { return };
                let level = [PageLevel::L1, PageLevel::L2, PageLevel::L3, PageLevel::L4][level];
                let r = self.world.pin(DOMS[d], m, level);
                if self.pinned.contains(&m) {
                    assert!(r.is_err(), "pinned twice");
                } else if r.is_ok() {
                    self.pinned.insert(m);
                }
            }
            Op::Unpin { d, pick } => {
                let Some(m) = self.hot(d, pick) else { return };
                let r = self.world.unpin(DOMS[d], m);
                assert_eq!(r.is_ok(), self.pinned.remove(&m), "unpin {m}: {r:?}");
            }
            Op::Base {
                d,
                vcpu,
                user,
                pick,
            } => {
                let kind = if user {
                    BaseKind::User
                } else {
                    BaseKind::Kernel
                };
                let new = match pick {
                    Some(p) => match self.hot(d, p) {
                        Some(m) => Some(Mfn(m)),
                        None => return,
                    },
                    None => None,
                };
                let w = &mut self.world;
                if w.mm
                    .set_baseptr(DOMS[d], vcpu, kind, new, &mut w.mem)
                    .is_ok()
                {
                    match new {
                        Some(m) => self.bases.insert((d, vcpu, user), m),
                        None => self.bases.remove(&(d, vcpu, user)),
                    };
                }
            }
            Op::Destroy { d } => self.destroy(d, true),
            Op::SegDesc { d, pick, get } => self.seg_desc(d, pick, get),
            Op::Share { d } => {
                let Some(m) = self.buddy.alloc(0) else { return };
                self.world.mm.share_xen_frame(DOMS[d], Mfn(m)).unwrap();
                self.xen[d].insert(m);
            }
            Op::Unshare { d, pick } => {
                let Some(&m) = self.xen[d].iter().nth(pick % self.xen[d].len().max(1)) else {
                    return;
                };
                if self.world.mm.unshare_xen_frame(DOMS[d], Mfn(m)).is_ok() {
                    self.xen[d].remove(&m);
                    self.buddy.free(m, 0).unwrap();
                }
            }
            Op::Copy { d, dst, src, clear } => {
                let (Some(a), Some(b)) = (self.hot(d, dst), self.hot(d, src)) else {
                    return;
                };
                let w = &mut self.world;
                let is_table = |w: &World, m: u64| {
                    let f = w.frame(m);
                    f.type_count() > 0 && f.page_type() != PageType::Writable
                };
                let dst_table = is_table(w, a);
                let r = match clear {
                    true => w.mm.clear_page(DOMS[d], Mfn(a), &mut w.mem),
                    false => w.mm.copy_page(DOMS[d], Mfn(a), Mfn(b), &mut w.mem),
                };
                assert_eq!(r.is_ok(), !dst_table, "clear/copy into {a}: {r:?}");
            }
        }
    }

    fn seg_desc(&mut self, d: usize, pick: usize, get: bool) {
        let Some(m) = self.hot(d, pick) else { return };
        let w = &mut self.world;
        if get {
            if w.mm.get_seg_desc_page(DOMS[d], Mfn(m), &mut w.mem).is_ok() {
                *self.seg_refs.entry(m).or_insert(0) += 1;
            }
            return;
        }
        let r = w.mm.put_seg_desc_page(Mfn(m), &mut w.mem);
        let held = self.seg_refs.get(&m).copied().unwrap_or(0);
        assert_eq!(r.is_ok(), held > 0, "put_seg_desc_page {m}: {r:?}");
        match held {
            0 => {}
            1 => {
                self.seg_refs.remove(&m);
            }
            n => {
                self.seg_refs.insert(m, n - 1);
            }
        }
    }

    fn destroy(&mut self, d: usize, recreate: bool) {
        let w = &mut self.world;
        let t = w.mm.destroy_domain(DOMS[d], &mut w.mem).unwrap();
        let mut returned = BTreeSet::new();
        for &(base, order) in &t.blocks {
            for m in base.0..base.0 + (1 << order) {
                assert!(returned.insert(m), "frame {m} returned twice");
            }
            self.buddy.free(base.0, order).unwrap();
        }
        assert_eq!(
            returned, self.owned[d],
            "teardown must return exactly the owned frames"
        );
        let xen: BTreeSet<u64> = t.xen_frames.iter().map(|m| m.0).collect();
        assert_eq!(
            xen, self.xen[d],
            "teardown must return exactly the shared frames"
        );
        for &m in &xen {
            self.buddy.free(m, 0).unwrap();
        }
        self.xen[d].clear();
        self.seg_refs.retain(|m, _| !returned.contains(m));
        self.pinned.retain(|m| !returned.contains(m));
        self.bases.retain(|&(bd, _, _), _| bd != d);
        self.owned[d].clear();
        self.supers[d].clear();
        if recreate {
            let cfg = DomainConfig {
                max_pages: 1200,
                ..config(d == 0)
            };
            self.world.mm.create_domain(DOMS[d], cfg).unwrap();
        }
    }

    /// Everything that must hold after every step.
    fn verify(&self) {
        self.world.check();
        safety_scan(&self.world);
        for m in 0..MODEL_MFN {
            let owner = self.world.frame(m).owner();
            let expected = (0..2)
                .find(|&d| self.owned[d].contains(&m) || self.xen[d].contains(&m))
                .map(|d| DOMS[d]);
            assert_eq!(owner, expected, "owner of frame {m}");
            assert_eq!(
                self.world.frame(m).is_pinned(),
                self.pinned.contains(&m),
                "pin of {m}"
            );
        }
        for (&(d, vcpu, user), &m) in &self.bases {
            let kind = if user {
                BaseKind::User
            } else {
                BaseKind::Kernel
            };
            assert_eq!(self.world.mm.get_baseptr(DOMS[d], vcpu, kind), Ok(Some(m)));
        }
    }
}

/// An independent scan of every live table: no page-table/descriptor frame writable through
/// an L1 entry or a writable PSE entry; no entry reaching another domain's frame.
fn safety_scan(w: &World) {
    let is_table = |m: u64| {
        let f = w.frame(m);
        f.type_count() > 0 && f.page_type().conflicts_with_superpage()
    };
    for t in 0..MODEL_MFN {
        let f = w.frame(t);
        let Some(level) = f.page_type().level().filter(|_| f.type_count() > 0) else {
            continue;
        };
        for slot in 0..ENTRIES_PER_TABLE {
            if level == PageLevel::L4 && (256..272).contains(&slot) {
                continue;
            }
            let e = w.peek(t, slot);
            if !is_present(e) {
                continue;
            }
            let target = (e & ADDR_MASK) >> 12;
            assert_eq!(
                w.frame(target).owner(),
                f.owner(),
                "{t}[{slot}] reaches a foreign frame"
            );
            let writable = e & RW != 0;
            match level {
                PageLevel::L1 if writable => {
                    assert!(!is_table(target), "{t}[{slot}] RW to a table")
                }
                PageLevel::L2 if writable && e & PSE != 0 => {
                    assert!(
                        (target..target + 512).all(|m| !is_table(m)),
                        "RW superpage over a table"
                    )
                }
                _ => {}
            }
        }
    }
}

proptest! {
    // Failures are not persisted to a file: each bug found gets a unit regression test.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 1..48)) {
        let mut model = Model::new();
        for _ in 0..4 {
            model.assign(0, 0);
            model.assign(1, 0);
        }
        model.assign(0, 9);
        model.assign(1, 9);
        for op in &ops {
            model.step(op);
            model.verify();
        }
        model.destroy(0, false);
        model.destroy(1, false);
        model.verify();
        prop_assert_eq!(model.buddy.free_frames(), MODEL_MFN);
        prop_assert!(model.world.mm.domain_ids().next().is_none());
    }
}
