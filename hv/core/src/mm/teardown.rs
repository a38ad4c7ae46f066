//! Domain destruction: drop every reference the domain's own state holds, devalidate its
//! tables, and hand all its frames back.
//!
//! ```text
//!   1. drop vCPU base pointers        ┐ type references form a DAG by level (L4→L3→L2→L1→
//!   2. drop descriptor-page refs and  │ data; linear entries only one level deep), so once
//!      the hypervisor's held frames   │
//!   3. unpin every pinned frame       ┘ the roots are gone every table devalidates in cascade
//!   4. (defensive) force-devalidate anything still typed, with a warning
//!   5. free every frame, reset touched extents (only `enabled` is cleared where another
//!      domain's tables still hold the extent Nosuper), forget the domain, flag a flush
//! ```
//! Pre: no vCPU of the domain is running (its tables are not loaded anywhere).

use alloc::vec::Vec;

use super::error::MmError;
use super::frame::FrameInfo;
use super::memory::FrameMemory;
use super::spage::SpageInfo;
use super::stats::{MmCheck, MmStats};
use super::types::{DomId, Mfn, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};
use super::Mm;

/// What `destroy_domain` hands back to the platform.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Teardown {
    /// The domain's frames as aligned blocks `(base, order)`, to free to the allocator.
    pub blocks: Vec<(Mfn, u32)>,
    /// Hypervisor frames that were shared with the domain, for the platform to reclaim.
    pub xen_frames: Vec<Mfn>,
    /// The domain's counters at the end (`MMSTAT`).
    pub stats: MmStats,
    /// What was left over when its frames were freed (`MMCHECK`).
    pub check: MmCheck,
}

impl Mm<'_> {
    /// Destroys `dom`. Post on `Ok`: no frame is owned by `dom`, every frame it had is listed
    /// exactly once in the result, its extents are not enabled and hold no references from
    /// it, the domain is forgotten and the flush flag is set. `Err(NoDomain)` otherwise.
    pub fn destroy_domain<M: FrameMemory>(
        &mut self,
        dom: DomId,
        mem: &mut M,
    ) -> Result<Teardown, MmError> {
        let domain = self.domain_mut(dom)?;
        let vcpus = core::mem::take(&mut domain.vcpus);
        let seg_desc_refs = core::mem::take(&mut domain.seg_desc_refs);
        let held = core::mem::take(&mut domain.held);
        let pseudo_pins = core::mem::take(&mut domain.pseudo_pins);
        let mut teardown = Teardown {
            blocks: domain.extents.blocks().collect(),
            xen_frames: domain.xen_frames.iter().map(|&m| Mfn(m)).collect(),
            ..Teardown::default()
        };
        let frames: Vec<Mfn> = domain
            .extents
            .frames()
            .chain(teardown.xen_frames.iter().copied())
            .collect();

        for base in vcpus.values().flat_map(|v| [v.kernel, v.user]).flatten() {
            self.put_page_and_type(base, None, mem);
        }
        for (&mfn, &refs) in &seg_desc_refs {
            for _ in 0..refs {
                self.put_page_and_type(Mfn(mfn), None, mem);
            }
        }
        for (&mfn, &holds) in &held {
            for _ in 0..holds {
                self.drop_hold(Mfn(mfn), mem);
            }
        }
        for &mfn in &pseudo_pins {
            self.put_page(Mfn(mfn));
        }
        for &mfn in &frames {
            if self.frame(mfn).is_ok_and(|f| f.is_pinned()) {
                if let Ok(frame) = self.frame_mut(mfn) {
                    frame.set_pinned(false);
                }
                self.put_page_and_type(mfn, None, mem);
            }
        }
        for &mfn in &frames {
            self.force_untype(mfn, mem);
        }
        teardown.check = self.leftovers(dom, &frames);
        for &mfn in &frames {
            // Leftover references were counted in `teardown.check` (MMCHECK).
            if let Ok(frame) = self.frame_mut(mfn) {
                *frame = FrameInfo::FREE;
            }
            if let Ok(spage) = self.spage_mut(mfn.extent()) {
                // Reset unless another domain's table frames still hold it Nosuper.
                match spage.type_count() == 0 && spage.map_count() == 0 {
                    true => *spage = SpageInfo::FREE,
                    false => spage.set_enabled(false),
                }
            }
        }
        if let Some(d) = self.domains.remove(&dom) {
            teardown.stats = d.stats;
        }
        self.flush_needed = true;
        Ok(teardown)
    }

    /// Step 5's check, once every reference the domain's state held is dropped: its frames
    /// (not hypervisor frames) must be back to the allocation reference alone, untyped, and
    /// each extent wholly its own back to spage count 0 and map count 0.
    fn leftovers(&self, dom: DomId, frames: &[Mfn]) -> MmCheck {
        let mut check = MmCheck::default();
        let mut last_extent = None;
        for &mfn in frames {
            let Ok(f) = self.frame(mfn) else { continue };
            if !f.is_xen_heap() && (f.count() != 1 || f.type_count() != 0 || f.is_pinned()) {
                check.frames_leaked += 1;
            }
            let extent = mfn.extent();
            if last_extent == Some(extent) {
                continue;
            }
            last_extent = Some(extent);
            let Some(s) = self.spage_info(extent) else {
                continue;
            };
            if (s.type_count() != 0 || s.map_count() != 0) && self.extent_only_of(dom, extent) {
                check.spage_nonzero += 1;
            }
        }
        check
    }

    /// Whether every frame of 2 MiB extent `extent` is owned by `dom` or by nobody.
    fn extent_only_of(&self, dom: DomId, extent: u64) -> bool {
        let base = extent << SUPERPAGE_ORDER;
        (base..base + FRAMES_PER_SUPERPAGE).all(|m| {
            self.frame(Mfn(m))
                .map_or(true, |f| f.owner().is_none_or(|o| o == dom))
        })
    }

    /// Step 4: a non-hypervisor frame still typed after the roots are gone has a holder we
    /// do not know of (an internal bug): drop its contents' references and its type.
    fn force_untype<M: FrameMemory>(&mut self, mfn: Mfn, mem: &mut M) {
        let Ok(&frame) = self.frame(mfn) else { return };
        if frame.is_xen_heap() || frame.type_count() == 0 {
            return;
        }
        log::warn!(
            "mm: teardown found {mfn:?} still typed {:?}",
            frame.page_type()
        );
        debug_assert!(false, "teardown: {mfn:?} still typed");
        if let Ok(f) = self.frame_mut(mfn) {
            f.set_type_count(1);
        }
        self.put_page_type(mfn, None, mem);
    }
}
