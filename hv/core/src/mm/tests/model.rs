//! Property test: random operation sequences by two domains against a reference model of
//! ownership, pins and base pointers, with the project's buddy allocator as the platform.
//!
//! After every step: `check_invariants`, an independent safety scan (no table or descriptor
//! frame writable through any mapping, no entry reaching another domain's frame), and the
//! model's ownership, pins and base pointers agree with the memory manager. The hypervisor
//! writes guest frames only through its holds, and every held frame stays its owner's,
//! Writable and out of writable superpages; release and exchange of a held frame fail, and
//! a failed exchange restores the frames and `enabled` exactly. Destroy must
//! return every frame of the domain exactly once (the allocator refuses double frees).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use proptest::prelude::*;

use super::harness::*;
use super::model_ops::op;
use super::safety::safety_scan;
use crate::buddy::BuddyAllocator;
use crate::mm::*;

const MODEL_MFN: u64 = 4 * 512;
pub(super) const DOMS: [DomId; 2] = [D1, D2];
const HOT: usize = 12;

/// The reference model: what each domain owns, its pins, base pointers, descriptor-page
/// references and shared hypervisor frames, plus the platform's allocator.
pub(super) struct Model {
    pub world: World,
    pub buddy: BuddyAllocator,
    pub owned: [BTreeSet<u64>; 2],
    pub supers: [BTreeSet<u64>; 2],
    pub pinned: BTreeSet<u64>,
    pub bases: BTreeMap<(usize, u32, bool), Mfn>,
    pub seg_refs: BTreeMap<u64, u32>,
    pub xen: [BTreeSet<u64>; 2],
    /// The hypervisor's holds (the only frames it may write), per domain.
    pub held: [Vec<HeldFrame>; 2],
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
            held: Default::default(),
        }
    }

    /// One of the domain's first `HOT` frames (so tables and targets meet often).
    pub(super) fn hot(&self, d: usize, pick: usize) -> Option<u64> {
        let n = self.owned[d].len().min(HOT);
        (n > 0).then(|| *self.owned[d].iter().nth(pick % n).unwrap())
    }

    /// One of the domain's hot frames that is a live page table, if any.
    pub(super) fn live_table(&self, d: usize, pick: usize) -> Option<u64> {
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

    pub(super) fn assign(&mut self, d: usize, order: u32) {
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

    pub(super) fn release(&mut self, d: usize, mfn: u64) -> bool {
        let r = self.world.mm.release(DOMS[d], Mfn(mfn));
        if self.pinned.contains(&mfn) || self.bases.values().any(|b| b.0 == mfn) {
            assert_eq!(r, Err(MmError::Busy), "released a pinned or base frame");
        }
        if self.held[d].iter().any(|h| h.mfn().0 == mfn) {
            assert!(r.is_err(), "released a frame the hypervisor holds");
        }
        if r.is_ok() {
            self.owned[d].remove(&mfn);
            self.supers[d].remove(&(mfn & !511));
            self.buddy.free(mfn, 0).unwrap();
        }
        r.is_ok()
    }

    pub(super) fn destroy(&mut self, d: usize, recreate: bool) {
        let w = &mut self.world;
        let t = w.mm.destroy_domain(DOMS[d], &mut w.mem).unwrap();
        assert!(t.check.ok(), "teardown left {:?}", t.check);
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
        // Teardown dropped the holds; the tokens are stale and must act on nothing.
        for h in core::mem::take(&mut self.held[d]) {
            let w = &mut self.world;
            w.mm.release_frame(h, &mut w.mem);
        }
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
        safety_scan(&self.world, MODEL_MFN);
        for m in 0..MODEL_MFN {
            let owner = self.world.frame(m).owner();
            let expected = (0..2)
                .find(|&d| self.owned[d].contains(&m) || self.xen[d].contains(&m))
                .map(|d| DOMS[d]);
            assert_eq!(owner, expected, "owner of frame {m}");
            // A pin of an L1 that heads a live PSE mapping is a pseudo-pin (`Mm::pin`): the
            // frame stays untyped and the domain records it; the model counts both as pinned.
            let pseudo = expected.is_some_and(|dom| {
                self.world
                    .mm
                    .domain(dom)
                    .is_ok_and(|d| d.pseudo_pins.contains(&m))
            });
            assert!(
                !(pseudo && self.world.frame(m).is_pinned()),
                "frame {m} both pinned and pseudo-pinned"
            );
            assert_eq!(
                self.world.frame(m).is_pinned() || pseudo,
                self.pinned.contains(&m),
                "pin of {m}"
            );
        }
        // The hypervisor never writes a guest frame it does not hold, and a held frame is
        // its owner's, Writable, and under no writable superpage.
        for (held, &dom) in self.held.iter().zip(&DOMS) {
            for h in held {
                let f = self.world.frame(h.mfn().0);
                assert_eq!(f.owner(), Some(dom), "held frame changed owner");
                assert!(
                    f.is_live(PageType::Writable),
                    "held frame not Writable: {f:?}"
                );
                assert!(!f.is_pinned(), "held frame pinned");
                let s = self.world.spage(h.mfn().0);
                assert_eq!(s.spage_type(), SpageType::Nosuper, "held frame's extent");
            }
            if let Some(first) = held.first() {
                let n = held.iter().filter(|h| h.mfn() == first.mfn()).count() as u64;
                assert_eq!(self.world.mm.held_count(dom, first.mfn()), n);
            }
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
