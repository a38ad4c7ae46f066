//! The model test's step function: applies one operation to the memory manager and to the
//! reference model, asserting what the model can predict.

use super::harness::*;
use super::model::{Model, DOMS};
use super::model_ops::{Entry, Op};
use crate::mm::pte::PWT;
use crate::mm::*;

impl Model {
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

    pub(super) fn step(&mut self, op: &Op) {
        match *op {
            Op::Assign { d, big } => self.assign(d, if big { 9 } else { 0 }),
            Op::Release { d, pick } => {
                if let Some(m) = self.hot(d, pick) {
                    self.release(d, m);
                }
            }
            Op::Exchange { d, pick, big, fail } => self.exchange(d, pick, big, fail),
            Op::Hold { d, pick } => self.hold(d, pick),
            Op::Unhold { d, pick } => {
                if !self.held[d].is_empty() {
                    let h = self.held[d].swap_remove(pick % self.held[d].len());
                    let w = &mut self.world;
                    w.mm.release_frame(h, &mut w.mem);
                }
            }
            Op::HvWrite { d, pick, val } => {
                // The hypervisor writes a guest frame only through a hold.
                if let Some(h) = self.held[d].get(pick % self.held[d].len().max(1)) {
                    let mfn = h.mfn();
                    self.world
                        .mem
                        .write_entry(mfn, pick % ENTRIES_PER_TABLE, val);
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

    fn hold(&mut self, d: usize, pick: usize) {
        let Some(m) = self.hot(d, pick) else { return };
        let f = self.world.frame(m);
        let table = f.type_count() > 0 && f.page_type() != PageType::Writable;
        let w = &mut self.world;
        let r = w.mm.hold_frame(DOMS[d], Mfn(m), &mut w.mem);
        if table {
            assert!(r.is_err(), "held a page table or descriptor page {m}");
        }
        if let Ok(h) = r {
            self.held[d].push(h);
        }
    }

    /// An exchange of one frame (or, with `big`, of the order-9 block around it), failing
    /// on the output side when `fail`: the input must come back exactly as it was.
    fn exchange(&mut self, d: usize, pick: usize, big: bool, fail: bool) {
        let Some(m) = self.hot(d, pick) else { return };
        let (base, order) = if big { (m & !511, 9) } else { (m, 0) };
        let before: alloc::vec::Vec<_> = (base..base + (1 << order))
            .map(|f| self.world.frame(f))
            .collect();
        let enabled = self.world.spage(base).is_enabled();
        let held = self.held[d]
            .iter()
            .any(|h| (h.mfn().0 >> order) == (base >> order));
        let r = self.world.mm.take_extent(DOMS[d], Mfn(base), order);
        if held {
            assert!(r.is_err(), "exchange took a frame the hypervisor holds");
        }
        let Ok(taken) = r else { return };
        if fail {
            self.world.mm.restore_extent(taken).unwrap();
            let after: alloc::vec::Vec<_> = (base..base + (1 << order))
                .map(|f| self.world.frame(f))
                .collect();
            assert_eq!(before, after, "exchange undo changed the frames");
            assert_eq!(
                self.world.spage(base).is_enabled(),
                enabled,
                "undo changed enabled"
            );
            return;
        }
        for f in base..base + (1 << order) {
            self.owned[d].remove(&f);
        }
        self.supers[d].remove(&(base & !511));
        self.buddy.free(base, order).unwrap();
        self.assign(d, order);
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
}
