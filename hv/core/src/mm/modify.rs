//! Updating one entry of a live (validated) page table: Xen's `mod_lN_entry`.
//!
//! ```text
//!   new present:  flags ∉ disallow mask → adjust → same frame and only whitelisted flags
//!                 changed? → store (fast path, no reference change)
//!                 otherwise: take new's references → store → drop old's references
//!   new absent:   store → drop old's references
//! ```
//! The fast path compares against a *whitelist* (NX, AVAIL, GLOBAL, D, A, US): a change of
//! PRESENT, RW, PSE, cache bits or the frame always takes the full path (XSA-148).

use super::error::MmError;
use super::memory::FrameMemory;
use super::pte::{adjust, disallow_mask, is_present, needs_revalidation, ACCESSED, DIRTY};
use super::types::{DomId, DomainConfig, Mfn, PageLevel};
use super::validate::is_guest_slot;
use super::Mm;

impl Mm<'_> {
    /// Writes `new` into slot `slot` of the live `level` table `table` owned by `dom`.
    ///
    /// Pre: `table` is a validated `level` table of `dom`, `slot < 512`. Post on `Ok`: the
    /// slot holds the adjusted `new` (with the old A/D bits ORed in if `preserve_ad`); new's
    /// references are held and old's dropped. Errors (nothing changed): `ReservedSlot` (L4
    /// slots 256..=271), `BadFlags`, or the entry rule's error.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mod_entry<M: FrameMemory>(
        &mut self,
        level: PageLevel,
        dom: DomId,
        table: Mfn,
        slot: usize,
        new: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        self.mod_entry_as(level, dom, None, table, slot, new, preserve_ad, mem)
    }

    /// [`Mm::mod_entry`] with `dom`'s policy already looked up (`Some`, from a [`DomRef`]
    /// of `dom`) or to be looked up when a present entry needs it (`None`).
    ///
    /// [`DomRef`]: super::DomRef
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mod_entry_as<M: FrameMemory>(
        &mut self,
        level: PageLevel,
        dom: DomId,
        config: Option<DomainConfig>,
        table: Mfn,
        slot: usize,
        new: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        // L1 entries (every page a guest maps: Mini-OS maps its memory in 512-request
        // batches) get a copy of the body with the level's masks and rules folded in.
        if level == PageLevel::L1 {
            return self.mod_entry_at(
                PageLevel::L1,
                dom,
                config,
                table,
                slot,
                new,
                preserve_ad,
                mem,
            );
        }
        self.mod_entry_at(level, dom, config, table, slot, new, preserve_ad, mem)
    }

    /// The body of [`Mm::mod_entry_as`], inlined into each caller so that a constant
    /// `level` folds.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn mod_entry_at<M: FrameMemory>(
        &mut self,
        level: PageLevel,
        dom: DomId,
        config: Option<DomainConfig>,
        table: Mfn,
        slot: usize,
        new: u64,
        preserve_ad: bool,
        mem: &mut M,
    ) -> Result<(), MmError> {
        if !is_guest_slot(level, slot) {
            return Err(MmError::ReservedSlot);
        }
        let old = mem.read_entry(table, slot);
        let store = |value: u64| {
            if preserve_ad {
                value | (old & (ACCESSED | DIRTY))
            } else {
                value
            }
        };
        if !is_present(new) {
            mem.write_entry(table, slot, store(new));
            if is_present(old) {
                self.put_page_from_entry(level, table, old, mem);
            }
            return Ok(());
        }
        let config = match config {
            Some(c) => c,
            None => self.domain(dom)?.config,
        };
        if new & disallow_mask(level, config.allow_superpages, config.privileged) != 0 {
            return Err(MmError::BadFlags);
        }
        let new = adjust(level, new);
        if !needs_revalidation(old, new) {
            mem.write_entry(table, slot, store(new));
            return Ok(());
        }
        self.get_page_from_entry(config, level, dom, table, new, mem)?;
        mem.write_entry(table, slot, store(new));
        // An absent old entry (a fresh table being filled) holds nothing: no call.
        if is_present(old) {
            self.put_page_from_entry(level, table, old, mem);
        }
        Ok(())
    }
}
