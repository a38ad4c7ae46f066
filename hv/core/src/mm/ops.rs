//! Operations behind `mmu_update` and `mmuext_op` (the hypercall layer decodes the guest
//! structures and calls these with plain values).

use super::error::MmError;
use super::frame::PageType;
use super::memory::FrameMemory;
use super::types::{BaseKind, DomId, Mfn, PageLevel, PAGE_SHIFT, SUPERPAGE_ORDER};
use super::{DomRef, Mm};

impl Mm<'_> {
    /// `MMU_NORMAL_PT_UPDATE` / `MMU_PT_UPDATE_PRESERVE_AD`: write `val` at machine address
    /// `pte_maddr` (8-aligned, in a frame `dom` owns).
    ///
    /// Dispatch on the frame's type: a validated L1..L4 table → checked entry update
    /// (`mod_entry`); a live Writable frame → plain store; an untyped frame → plain store
    /// under a temporary Writable reference (Xen does the same). Errors: `BadFrame`
    /// (misaligned or beyond `max_mfn`), `NotOwner`, `TypeConflict` (descriptor page, or
    /// the temporary Writable type is refused), or the entry rules' errors.
    pub fn mmu_update<M: FrameMemory>(
        &mut self,
        dom: DomId,
        pte_maddr: u64,
        val: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        if pte_maddr & 7 != 0 {
            return Err(MmError::BadFrame);
        }
        let d = self.dom_ref(dom)?;
        self.mmu_update_as(d, pte_maddr, val, preserve_ad, mem)
    }

    /// [`Mm::mmu_update`] for a domain looked up once for a whole batch ([`Mm::dom_ref`]):
    /// the same checks and results, without a domain lookup per request.
    pub fn mmu_update_as<M: FrameMemory>(
        &mut self,
        d: DomRef,
        pte_maddr: u64,
        val: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        if pte_maddr & 7 != 0 {
            return Err(MmError::BadFrame);
        }
        let dom = d.id;
        let mfn = Mfn(pte_maddr >> PAGE_SHIFT);
        // 9-bit index: always < 512.
        let slot = ((pte_maddr & 0xFFF) >> 3) as usize;
        let frame = self.owned_frame(dom, mfn)?;
        if frame.type_count() > 0 {
            if !frame.is_validated() {
                return Err(MmError::TypeConflict);
            }
            // L1 first, on its own: a `match` over every type compiles to a jump table, an
            // indirect branch (a TB lookup under TCG) on every request.
            if frame.page_type() == PageType::L1 {
                let config = Some(d.config);
                return self.mod_entry_as(
                    PageLevel::L1,
                    dom,
                    config,
                    mfn,
                    slot,
                    val,
                    preserve_ad,
                    mem,
                );
            }
            return self.mmu_update_typed(d, mfn, slot, val, preserve_ad, mem);
        }
        self.get_page_type(mfn, PageType::Writable, mem)?;
        mem.write_entry(mfn, slot, val);
        self.put_page_type(mfn, None, mem);
        Ok(())
    }

    /// The rest of [`Mm::mmu_update_as`] for a validated frame that is not an L1 table.
    #[inline(never)]
    fn mmu_update_typed<M: FrameMemory>(
        &mut self,
        d: DomRef,
        mfn: Mfn,
        slot: usize,
        val: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        match self.frame(mfn)?.page_type() {
            PageType::Writable => {
                mem.write_entry(mfn, slot, val);
                Ok(())
            }
            ty => match ty.level() {
                Some(level) => {
                    let config = Some(d.config);
                    self.mod_entry_as(level, d.id, config, mfn, slot, val, preserve_ad, mem)
                }
                None => Err(MmError::TypeConflict),
            },
        }
    }

    /// `MMU_MACHPHYS_UPDATE` check: `Ok` if `dom` may set the M2P entry of `mfn` (it owns the
    /// frame); the platform then writes the M2P. Errors: `NoDomain`, `BadFrame`, `NotOwner`.
    pub fn can_update_m2p(&self, dom: DomId, mfn: Mfn) -> Result<(), MmError> {
        self.domain(dom)?;
        self.owned_frame(dom, mfn).map(|_| ())
    }

    /// `MMU_MACHPHYS_UPDATE` of `mfn` from pfn `old` to pfn `new`, after `can_update_m2p`.
    /// A changed value breaks the pfn↔mfn relation of the frame's 2 MiB extent (Linux maps a
    /// huge page by converting only its head pfn), so the extent loses *enabled* and a later
    /// PSE entry over it is refused (`SuperpageDenied`). As for a release, the change is
    /// refused while a PSE entry maps the extent. Errors (nothing changed): those of
    /// `can_update_m2p`, `Busy` (the extent is mapped by a PSE entry).
    pub fn m2p_updated(&mut self, dom: DomId, mfn: Mfn, old: u64, new: u64) -> Result<(), MmError> {
        self.can_update_m2p(dom, mfn)?;
        if old == new {
            return Ok(());
        }
        let spage = self.spage_mut(mfn.extent())?;
        if spage.map_count() > 0 {
            return Err(MmError::Busy);
        }
        spage.set_enabled(false);
        Ok(())
    }

    /// `MMUEXT_PIN_Ln_TABLE`: validate `mfn` as a `level` table and keep it so.
    ///
    /// Pre: `mfn` owned by `dom`, not pinned. Post on `Ok`: pinned, holding one general and
    /// one type reference. Errors: `BadFrame`, `NotOwner`, `TypeConflict`, `AlreadyPinned`,
    /// or a validation error (nothing changed).
    ///
    /// A pin of an L1 that heads a live PSE mapping is a *pseudo-pin* instead: Linux's pin
    /// walker (`xen_pmd_walk` on fork) takes a huge PMD for a pointer to an L1 table. The
    /// frame holds user data, so it is never typed (never validated, never a live L1, its
    /// extent keeps its spage state); it is recorded with one general reference until the
    /// matching `unpin` or teardown.
    pub fn pin<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        level: PageLevel,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.domain(dom)?;
        if level == PageLevel::L1 && self.heads_live_superpage(dom, mfn)? {
            if self.frame(mfn)?.is_pinned() || self.domain(dom)?.pseudo_pins.contains(&mfn.0) {
                return Err(MmError::AlreadyPinned);
            }
            self.get_page(dom, mfn)?;
            self.domain_mut(dom)?.pseudo_pins.insert(mfn.0);
            return Ok(());
        }
        if self.domain(dom)?.pseudo_pins.contains(&mfn.0) {
            return Err(MmError::AlreadyPinned);
        }
        self.get_page_and_type(dom, mfn, level.into(), mem)?;
        if self.frame(mfn)?.is_pinned() {
            self.put_page_and_type(mfn, None, mem);
            return Err(MmError::AlreadyPinned);
        }
        self.frame_mut(mfn)?.set_pinned(true);
        Ok(())
    }

    /// Whether `mfn` is the first frame of an enabled extent of `dom` that a PSE entry maps
    /// now. Errors: `BadFrame`, `NotOwner`.
    fn heads_live_superpage(&self, dom: DomId, mfn: Mfn) -> Result<bool, MmError> {
        self.owned_frame(dom, mfn)?;
        if !mfn.is_aligned(SUPERPAGE_ORDER) {
            return Ok(false);
        }
        Ok(self
            .spage_info(mfn.extent())
            .is_some_and(|s| s.is_enabled() && s.map_count() > 0))
    }

    /// `MMUEXT_UNPIN_TABLE`. Pre: pinned (or pseudo-pinned) by `dom`. Post on `Ok`: not
    /// pinned; the pin's references dropped (the table is devalidated if that was the last
    /// type reference). Errors: `NoDomain`, `BadFrame`, `NotOwner`, `NotPinned`.
    pub fn unpin<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.owned_frame(dom, mfn)?;
        if self.domain_mut(dom)?.pseudo_pins.remove(&mfn.0) {
            self.put_page(mfn);
            return Ok(());
        }
        if !self.owned_frame(dom, mfn)?.is_pinned() {
            return Err(MmError::NotPinned);
        }
        self.frame_mut(mfn)?.set_pinned(false);
        self.put_page_and_type(mfn, None, mem);
        Ok(())
    }

    /// `MMUEXT_NEW_BASEPTR` / `MMUEXT_NEW_USER_BASEPTR`: set vCPU `vcpu`'s `kind` root table.
    ///
    /// Post on `Ok`: `new` holds a general + L4 type reference (validated if needed) and the
    /// old root's references are dropped; setting the current value is a no-op. `None` is
    /// allowed for `User` only. Errors: `NoDomain`, `Invalid` (`None` kernel root), or the
    /// errors of taking an L4 reference on `new` (nothing changed).
    pub fn set_baseptr<M: FrameMemory>(
        &mut self,
        dom: DomId,
        vcpu: u32,
        kind: BaseKind,
        new: Option<Mfn>,
        mem: &mut M,
    ) -> Result<(), MmError> {
        let old = self.get_baseptr(dom, vcpu, kind)?;
        if old == new {
            return Ok(());
        }
        match new {
            Some(mfn) => self.get_page_and_type(dom, mfn, PageType::L4, mem)?,
            None if kind == BaseKind::Kernel => return Err(MmError::Invalid),
            None => {}
        }
        *self
            .domain_mut(dom)?
            .vcpus
            .entry(vcpu)
            .or_default()
            .slot(kind) = new;
        if let Some(mfn) = old {
            self.put_page_and_type(mfn, None, mem);
        }
        Ok(())
    }

    /// The current `kind` root table of vCPU `vcpu` (`None` if never set). `Err(NoDomain)`.
    pub fn get_baseptr(
        &self,
        dom: DomId,
        vcpu: u32,
        kind: BaseKind,
    ) -> Result<Option<Mfn>, MmError> {
        let domain = self.domain(dom)?;
        Ok(domain.vcpus.get(&vcpu).and_then(|v| v.get(kind)))
    }

    /// `MMUEXT_CLEAR_PAGE`: zero a frame `dom` owns that can be typed Writable.
    /// Errors: `NoDomain`, `BadFrame`, `NotOwner`, `TypeConflict` (nothing changed).
    pub fn clear_page<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mfn: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.domain(dom)?;
        self.get_page_and_type(dom, mfn, PageType::Writable, mem)?;
        mem.zero_frame(mfn);
        self.put_page_and_type(mfn, None, mem);
        Ok(())
    }

    /// `MMUEXT_COPY_PAGE`: copy `src` over `dst`, both owned by `dom`, `dst` Writable-typable.
    /// Errors: `NoDomain`, `BadFrame`, `NotOwner`, `TypeConflict` (nothing changed).
    pub fn copy_page<M: FrameMemory>(
        &mut self,
        dom: DomId,
        dst: Mfn,
        src: Mfn,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.domain(dom)?;
        self.get_page(dom, src)?;
        if let Err(e) = self.get_page_and_type(dom, dst, PageType::Writable, mem) {
            self.put_page(src);
            return Err(e);
        }
        mem.copy_frame(dst, src);
        self.put_page_and_type(dst, None, mem);
        self.put_page(src);
        Ok(())
    }
}
