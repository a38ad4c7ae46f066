//! [`Mm::check_invariants`]: compares every stored count with the recount and checks the
//! safety properties. Meant for tests and debug builds; it is O(max_mfn + live tables × 512).
//!
//! Properties checked:
//! - general count, type count and linear count of every frame equal the recount;
//! - a frame's type satisfies every reference that needs it, so no page-table or descriptor
//!   frame is writable through an L1 entry; no extent is both Superpage and Nosuper, so none
//!   is writable through a PSE entry; validated ⇔ type count > 0;
//! - no live entry reaches a frame of another domain (checked during the recount);
//! - the hypervisor never writes a guest frame it does not hold: every held frame is owned by
//!   the domain that records it and typed Writable (so no page table, descriptor page or free
//!   frame is ever held), and its extent is Nosuper (no writable PSE entry over it);
//! - free frames are all-zero; owned frames are recorded exactly once by their domain;
//! - spage types, counts and map counts match; `enabled` only on extents one domain got from
//!   one allocation of order >= 9; mapped extents are enabled.

use alloc::format;
use alloc::string::String;

use super::frame::FrameInfo;
use super::memory::FrameMemory;
use super::recount::{ix, Recount};
use super::spage::SpageType;
use super::types::{Mfn, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};
use super::Mm;

impl Mm<'_> {
    /// Recomputes every count from scratch and checks the safety properties (module doc).
    /// `Err` names the first violation found.
    pub fn check_invariants<M: FrameMemory>(&self, mem: &M) -> Result<(), String> {
        let r = self.recount(mem)?;
        for (i, f) in self.frames.iter().take(r.general.len()).enumerate() {
            self.check_frame(&r, Mfn(i as u64), f)?;
        }
        for extent in 0..self.config.spage_entries() {
            self.check_extent(&r, extent)?;
        }
        for (dom, d) in &self.domains {
            if d.tot_pages != d.extents.total() {
                return Err(format!("{dom:?}: tot_pages {} != recorded", d.tot_pages));
            }
        }
        Ok(())
    }

    fn check_frame(&self, r: &Recount, mfn: Mfn, f: &FrameInfo) -> Result<(), String> {
        let i = ix(mfn.0);
        if f.owner() != r.allocated_to[i] {
            return Err(format!(
                "{mfn:?}: owner {:?} but recorded for {:?}",
                f.owner(),
                r.allocated_to[i]
            ));
        }
        if f.is_orphan() {
            let counts = (f.count(), f.type_count()) == (r.general[i], r.types[i]);
            return match f.owner().is_none() && !f.is_allocated() && f.count() > 0 && counts {
                true => Ok(()),
                false => Err(format!("{mfn:?}: orphan with wrong state: {f:?}")),
            };
        }
        if f.owner().is_none() {
            return match *f == FrameInfo::FREE {
                true => Ok(()),
                false => Err(format!("{mfn:?}: unowned but not free: {f:?}")),
            };
        }
        if !f.is_allocated() || f.is_xen_heap() != r.xen_heap[i] {
            return Err(format!("{mfn:?}: allocated/xen_heap flags wrong: {f:?}"));
        }
        if f.count() != r.general[i] || f.type_count() != r.types[i] {
            return Err(format!(
                "{mfn:?}: counts {}/{} but recount {}/{} ({:?})",
                f.count(),
                f.type_count(),
                r.general[i],
                r.types[i],
                f.page_type()
            ));
        }
        if let Some(required) = r.required[i] {
            if f.page_type() != required {
                return Err(format!(
                    "{mfn:?}: typed {:?} but referenced as {required:?}",
                    f.page_type()
                ));
            }
        }
        if f.is_validated() != (f.type_count() > 0) {
            return Err(format!(
                "{mfn:?}: validated flag out of step with type count"
            ));
        }
        let (entries, uses) = (r.linear_entries[i], r.linear_uses[i]);
        if (entries > 0 && uses > 0) || i64::from(f.linear_pt_count()) != entries - uses {
            return Err(format!(
                "{mfn:?}: linear count {} but {entries} linear entries, {uses} uses",
                f.linear_pt_count()
            ));
        }
        Ok(())
    }

    fn check_extent(&self, r: &Recount, extent: u64) -> Result<(), String> {
        let s = self.spage_info(extent).ok_or("spage table too short")?;
        let first = extent << SUPERPAGE_ORDER;
        let last = (first + FRAMES_PER_SUPERPAGE).min(self.config.max_mfn);
        let frames = (first..last).filter_map(|m| self.frame_info(Mfn(m)));
        let nosuper = frames
            .filter(|f| f.type_count() > 0 && f.page_type().conflicts_with_superpage())
            .count() as u64
            + r.held[ix(extent)];
        let (superpage, map) = (r.superpage[ix(extent)], r.map[ix(extent)]);
        let expected = match (nosuper, superpage) {
            (0, 0) => None,
            (n, 0) => Some((SpageType::Nosuper, n)),
            (0, n) => Some((SpageType::Superpage, n)),
            _ => return Err(format!("extent {extent}: writable superpage over tables")),
        };
        let stored = (s.type_count() > 0).then(|| (s.spage_type(), s.type_count()));
        if stored != expected || s.map_count() != map {
            return Err(format!(
                "extent {extent}: spage {stored:?} map {} but recount {expected:?} map {map}",
                s.map_count()
            ));
        }
        if map > 0 && !s.is_enabled() {
            return Err(format!("extent {extent}: mapped but not enabled"));
        }
        if s.is_enabled() {
            let owner = self.frame_info(Mfn(first)).and_then(|f| f.owner());
            let whole = last - first == FRAMES_PER_SUPERPAGE
                && (first..last).all(|m| self.frame_info(Mfn(m)).and_then(|f| f.owner()) == owner);
            let one_block = owner
                .and_then(|d| self.domains.get(&d))
                .is_some_and(|d| d.extents.contained_in_order(first, SUPERPAGE_ORDER));
            if !whole || !one_block {
                return Err(format!(
                    "extent {extent}: enabled but not one order>=9 block"
                ));
            }
        }
        Ok(())
    }
}
