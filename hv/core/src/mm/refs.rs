//! General and type references on frames (Xen's `get_page`/`put_page`,
//! `get_page_type`/`put_page_type`), including the spage Nosuper hold of table frames, the
//! linear-page-table counters on the put side, and the TLB-flush flag on type changes.
//!
//! Gets are fallible and leave the state unchanged on error; puts cannot fail (a put without a
//! matching get is an internal bug: it is ignored, and `debug_assert`s in tests).

use super::error::MmError;
use super::frame::{PageType, COUNT_MAX};
use super::memory::FrameMemory;
use super::segdesc::check_seg_desc_page;
use super::spage::SpageType;
use super::types::{DomId, Mfn};
use super::Mm;

impl Mm<'_> {
    /// Takes a general reference on a frame owned by `dom`.
    ///
    /// Pre: any. Post on `Ok`: count + 1. Errors: `BadFrame` (out of range), `NotOwner`
    /// (free, foreign or not allocated), `Overflow` (count at its maximum).
    pub(crate) fn get_page(&mut self, dom: DomId, mfn: Mfn) -> Result<(), MmError> {
        let f = self.owned_frame(dom, mfn)?;
        if f.count() >= COUNT_MAX {
            return Err(MmError::Overflow);
        }
        self.frame_mut(mfn)?.set_count(f.count() + 1);
        Ok(())
    }

    /// Drops a general reference. Pre: count > 0 and the caller holds the reference.
    /// Post: count - 1. The frame stays allocated while the allocation reference is held.
    pub(crate) fn put_page(&mut self, mfn: Mfn) {
        if let Ok(f) = self.frame_mut(mfn) {
            debug_assert!(f.count() > 0, "general count underflow on {mfn:?}");
            f.set_count(f.count().saturating_sub(1));
        }
    }

    /// Takes a type reference of `ty` (not `None`); the caller already holds a general ref.
    ///
    /// Pre: frame in range. Post on `Ok`: type = `ty`, type count + 1, validated. On the 0→1
    /// transition: a page-table type is validated (every present entry checked and
    /// referenced), a SegDesc frame has all 512 descriptors checked (Xen's
    /// `alloc_segdesc_page`: fixups written back, `BadDescriptor` if one is refused); L1..L4/SegDesc take a Nosuper reference on the extent; a change from a
    /// different earlier type sets the flush flag. Errors (state unchanged, type count back to
    /// its old value): `TypeConflict` (live with another type), `Overflow`, `SpageConflict`
    /// (extent is Superpage), or the validation error of an entry.
    pub(crate) fn get_page_type<M: FrameMemory>(
        &mut self,
        mfn: Mfn,
        ty: PageType,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let f = *self.frame(mfn)?;
        let count = f.type_count();
        if count >= COUNT_MAX {
            return Err(MmError::Overflow);
        }
        if count > 0 {
            // A frame mid-validation (not yet validated) cannot be re-entered.
            if f.page_type() != ty || !f.is_validated() {
                return Err(MmError::TypeConflict);
            }
            self.frame_mut(mfn)?.set_type_count(count + 1);
            return Ok(());
        }
        let old = f.page_type();
        let mut flush = old != PageType::None && old != ty;
        if ty.conflicts_with_superpage() {
            flush |= self.spage_get_type(mfn, SpageType::Nosuper)?;
        }
        let frame = self.frame_mut(mfn)?;
        frame.set_page_type(ty);
        frame.set_type_count(1);
        frame.set_validated(false);
        // The flag is raised even if validation fails below: the caller may retry later.
        self.flush_needed |= flush;
        let validated = match ty.level() {
            Some(level) => self.promote(mfn, level, mem),
            None if ty == PageType::SegDesc => check_seg_desc_page(mfn, mem),
            None => Ok(()),
        };
        let frame = self.frame_mut(mfn)?;
        match validated {
            Ok(()) => {
                frame.set_validated(true);
                Ok(())
            }
            Err(e) => {
                frame.set_type_count(0);
                frame.set_page_type(old);
                if ty.conflicts_with_superpage() {
                    self.spage_mut(mfn.extent())?.put_type();
                }
                Err(e)
            }
        }
    }

    /// Drops a type reference. `from_table` is the table whose entry held it (for the linear
    /// page-table counters), `None` for pins, base pointers and scratch references.
    ///
    /// Pre: type count > 0. Post: type count - 1; on 1→0 a page-table frame is devalidated
    /// (every present entry's references dropped), `validated` is cleared, the type is kept
    /// as history and an L1..L4/SegDesc frame drops its extent's Nosuper reference.
    pub(crate) fn put_page_type<M: FrameMemory>(
        &mut self,
        mfn: Mfn,
        from_table: Option<Mfn>,
        mem: &mut M,
    ) {
        let Ok(&f) = self.frame(mfn) else { return };
        let count = f.type_count();
        debug_assert!(count > 0, "type count underflow on {mfn:?}");
        if count == 0 {
            return;
        }
        if let Some(table) = from_table {
            self.drop_linear_if_linear(table, mfn);
        }
        if count > 1 {
            if let Ok(frame) = self.frame_mut(mfn) {
                frame.set_type_count(count - 1);
            }
            return;
        }
        let ty = f.page_type();
        if let Ok(frame) = self.frame_mut(mfn) {
            frame.set_validated(false);
        }
        if let Some(level) = ty.level() {
            self.demote(mfn, level, mem);
        }
        if let Ok(frame) = self.frame_mut(mfn) {
            frame.set_type_count(0);
        }
        if ty.conflicts_with_superpage() {
            if let Ok(spage) = self.spage_mut(mfn.extent()) {
                spage.put_type();
            }
        }
    }

    /// If the entry in `table` pointing at `target` is a linear one (same page-table type),
    /// undoes its linear counters: one fewer linear entry in `table`, one fewer use of
    /// `target`.
    fn drop_linear_if_linear(&mut self, table: Mfn, target: Mfn) {
        let (Ok(&t), Ok(&g)) = (self.frame(table), self.frame(target)) else {
            return;
        };
        if t.page_type() != g.page_type() || g.page_type().level().is_none() {
            return;
        }
        debug_assert!(t.linear_pt_count() > 0 && g.linear_pt_count() < 0);
        if let Ok(frame) = self.frame_mut(table) {
            frame.set_linear_pt_count(t.linear_pt_count().saturating_sub(1).max(0));
        }
        if let Ok(frame) = self.frame_mut(target) {
            frame.set_linear_pt_count(g.linear_pt_count().saturating_add(1).min(0));
        }
    }

    /// `get_page` then `get_page_type`; on a type error the general reference is dropped.
    /// Post on `Ok`: count + 1 and type count + 1 (see both for errors).
    pub(crate) fn get_page_and_type<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        ty: PageType,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.get_page(dom, mfn)?;
        self.get_page_type(mfn, ty, mem)
            .inspect_err(|_| self.put_page(mfn))
    }

    /// `put_page_type` then `put_page`.
    pub(crate) fn put_page_and_type<M: FrameMemory>(
        &mut self,
        mfn: Mfn,
        from_table: Option<Mfn>,
        mem: &mut M,
    ) {
        self.put_page_type(mfn, from_table, mem);
        self.put_page(mfn);
    }
}
