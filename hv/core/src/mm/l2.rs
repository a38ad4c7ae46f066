//! L2 PSE (2 MiB) entry rules: the fast-superpage path. O(1): one map-count reference on the
//! extent's spage entry (+ one Superpage type reference if writable), never 512 per-frame
//! references.
//!
//! A PSE entry is accepted only if the domain allows superpages (otherwise PSE stays in the
//! L2 disallow mask, XSA-148 lesson 1), the frame is 512-aligned, the whole extent lies below
//! `max_mfn` (checked before the spage table is indexed, XSA-167), the extent is enabled
//! (one order >= 9 allocation gave all 512 frames to one domain) and that domain is `dom`.

use super::error::MmError;
use super::pte::{entry_mfn, RW};
use super::spage::SpageType;
use super::types::{DomId, FRAMES_PER_SUPERPAGE, SUPERPAGE_ORDER};
use super::Mm;

impl Mm<'_> {
    /// Takes the references of a present PSE L2 entry of `dom`. Flags were already checked
    /// (so PSE is allowed for the domain).
    ///
    /// Post on `Ok`: extent map count + 1; if RW, spage type Superpage + 1 (flush flag if the
    /// extent's use changed). Errors: `SuperpageDenied` (feature off, misaligned, extent not
    /// enabled or not `dom`'s), `BadFrame` (beyond `max_mfn`), `SpageConflict` (RW over an
    /// extent holding page-table or descriptor frames), `Overflow`.
    pub(crate) fn get_superpage(&mut self, dom: DomId, entry: u64) -> Result<(), MmError> {
        if !self.domain(dom)?.config.allow_superpages {
            return Err(MmError::SuperpageDenied);
        }
        let base = entry_mfn(entry);
        if !base.is_aligned(SUPERPAGE_ORDER) {
            return Err(MmError::SuperpageDenied);
        }
        let end = base
            .0
            .checked_add(FRAMES_PER_SUPERPAGE)
            .ok_or(MmError::BadFrame)?;
        if end > self.config.max_mfn {
            return Err(MmError::BadFrame);
        }
        let owner = self.frame(base)?.owner();
        let spage = self.spage_mut(base.extent())?;
        if !spage.is_enabled() || owner != Some(dom) {
            return Err(MmError::SuperpageDenied);
        }
        spage.get_mapping()?;
        if entry & RW != 0 {
            match self.spage_get_type(base, SpageType::Superpage) {
                Ok(changed) => self.flush_needed |= changed,
                Err(e) => {
                    self.spage_mut(base.extent())?.put_mapping();
                    return Err(e);
                }
            }
        }
        self.domain_mut(dom)?.stats.pse_made += 1;
        Ok(())
    }

    /// Drops the references of a present PSE L2 entry (map count, + Superpage type if RW).
    pub(crate) fn put_superpage(&mut self, entry: u64) {
        let base = entry_mfn(entry);
        if let Ok(spage) = self.spage_mut(base.extent()) {
            spage.put_mapping();
            if entry & RW != 0 {
                spage.put_type();
            }
            self.count_for_owner(base, |s| s.pse_released += 1);
        }
    }
}
