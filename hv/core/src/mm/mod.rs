//! The PV MMU state machine: frame table, page types, the fast-superpage ("spage") table and
//! validation of 64-bit PV guest page tables, following Xen's rules (`xen/arch/x86/mm.c`) and
//! Dave McCracken's xen-devel posting "[PATCH] Implement faster superpage mapping" of 2010-05-13
//! (Message-ID `<201005131440.22479.dcm@mccr.org>`).
//!
//! ```text
//!   platform ──assign/release/share──▶ ┌──────────── Mm ────────────┐
//!   hypercalls ─mmu_update/pin/...───▶ │ frames: [FrameInfo; max_mfn] │──FrameMemory──▶ frame contents
//!                                      │ spages: [SpageInfo; extents] │
//!                                      │ domains: BTreeMap<DomId, ..> │
//!                                      └──────────────────────────────┘
//!
//!   references:   general count  = allocation ref + pins + base pointers + entries mapping it
//!                 type count     = pins + base pointers + entries that need the type
//!   PSE L2 entry: one map-count reference on its 2 MiB extent (+ Superpage type if RW)
//!   table frame:  L1..L4/SegDesc frame holds its extent in Nosuper while typed
//!   held frame:   a frame the hypervisor writes (`HeldFrame`): general + Writable type + its
//!                 extent in Nosuper, until released or the domain is destroyed
//!   grant map:    an L1 entry of the grantee mapping the granter's frame: general (+ Writable
//!                 type if RW) on the granter's frame, like any L1 entry (`grant`)
//!   orphan:       a granted frame still mapped when its owner died: freed at the last put
//! ```
//!
//! Everything is single-threaded plain Rust over platform-supplied storage; all guest values
//! are range-, alignment- and owner-checked before any side table is indexed (XSA-167), the
//! entry fast path re-validates on any PRESENT/RW/PSE/frame change (XSA-148), and counts use
//! checked arithmetic. Errors leave the state unchanged.

mod alloc_ops;
mod domain;
mod error;
mod extents;
mod frame;
mod grant;
mod held;
mod invariants;
mod l1;
mod l2;
mod memory;
mod modify;
mod ops;
pub mod pte;
mod ptwr;
mod reclaim;
mod recount;
mod refs;
mod segdesc;
mod spage;
mod stats;
mod teardown;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod tlb;
mod types;
mod upper;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;

use pv_abi::zerocopy::IntoBytes;

pub use error::MmError;
pub use frame::{FrameInfo, PageType, COUNT_MAX};
pub use grant::{GrantMapping, GrantSite};
pub use held::HeldFrame;
pub use memory::FrameMemory;
pub use pte::{ADDR_MASK, GUEST_KERNEL, NX, PRESENT, PSE, RW, USER};
pub use ptwr::PtwrTarget;
pub use reclaim::TakenExtent;
pub use spage::{SpageInfo, SpageType};
pub use stats::{CheckLine, MmCheck, MmStats, StatLine};
pub use teardown::Teardown;
pub use tlb::{GuestFlush, TlbAction};
pub use types::{
    BaseKind, DomId, DomainConfig, Mfn, MmConfig, PageLevel, DOMID_FIRST_RESERVED,
    ENTRIES_PER_TABLE, FRAMES_PER_SUPERPAGE, MAX_ASSIGN_ORDER, PAGE_SHIFT, SUPERPAGE_ORDER,
};

use domain::Domain;

/// The memory manager: frame and spage tables plus per-domain state.
pub struct Mm<'a> {
    config: MmConfig,
    frames: &'a mut [FrameInfo],
    spages: &'a mut [SpageInfo],
    domains: BTreeMap<DomId, Domain>,
    flush_needed: bool,
    /// A batch collects flushes (see `tlb`): the flag stays set until its end.
    flush_batch: bool,
    /// Sticky: an L4 linear entry (a self-map included) was accepted at some time. Such an
    /// entry lets a guest address reach the hypervisor's own L4 entries, so from then on
    /// ring-0 copies never go through the hardware MMU ([`Mm::copy_through_mmu_ok`]).
    linear_l4_made: bool,
    /// The epoch given to the last domain created (see `Domain::epoch`).
    next_epoch: u64,
    /// Orphaned frames whose last reference went, for the platform to free.
    orphans_freed: alloc::vec::Vec<Mfn>,
    /// Whole tables validated or devalidated so far (wrapping): the work an operation can
    /// do beyond a few entries, for callers that look at preemption only now and then.
    tables_walked: u64,
}

/// A domain that existed when [`Mm::dom_ref`] made this, with its policy (fixed at
/// creation). Only `Mm` makes one, so a batch cannot name a policy that is not its domain's.
/// Valid while the domain lives: the hypercall layer holds one for the caller's own batch
/// (the caller cannot be destroyed while it runs).
#[derive(Clone, Copy, Debug)]
pub struct DomRef {
    id: DomId,
    config: DomainConfig,
}

/// Whether every byte of `bytes` is zero, eight 8-byte words per test (a frame table is
/// megabytes, and under emulation a branch per word would double the work).
fn all_zero(bytes: &[u8]) -> bool {
    let (words, tail) = bytes.as_chunks::<8>();
    let mut blocks = words.chunks_exact(8);
    let blocks_zero = blocks
        .by_ref()
        .all(|b| b.iter().fold(0u64, |acc, w| acc | u64::from_ne_bytes(*w)) == 0);
    blocks_zero
        && blocks
            .remainder()
            .iter()
            .all(|w| u64::from_ne_bytes(*w) == 0)
        && tail.iter().all(|&b| b == 0)
}

/// Whether `frames` covers `0..max_mfn` and `spages` every 2 MiB extent of it.
fn tables_fit(config: &MmConfig, frames: &[FrameInfo], spages: &[SpageInfo]) -> bool {
    u64::try_from(frames.len()).is_ok_and(|n| n >= config.max_mfn)
        && u64::try_from(spages.len()).is_ok_and(|n| n >= config.spage_entries())
}

impl<'a> Mm<'a> {
    /// Takes over platform storage: `frames` must cover `0..max_mfn` and `spages` every
    /// 2 MiB extent of it (`config.spage_entries()`), both all-zero (free). `Err(Invalid)`
    /// if either slice is too short or not free.
    pub fn new(
        config: MmConfig,
        frames: &'a mut [FrameInfo],
        spages: &'a mut [SpageInfo],
    ) -> Result<Self, MmError> {
        if !tables_fit(&config, frames, spages) {
            return Err(MmError::Invalid);
        }
        // Both free states are all-zero bytes (asserted below), checked a word at a time:
        // the frame table of a machine is megabytes.
        let all_free = all_zero(frames.as_bytes()) && all_zero(spages.as_bytes());
        if !all_free {
            return Err(MmError::Invalid);
        }
        Self::new_zeroed(config, frames, spages)
    }

    /// [`Mm::new`] for tables the caller has just zeroed (the hypervisor scrubs them as it
    /// allocates them, `phys::alloc_static_table`): the same size checks, without reading
    /// megabytes a second time (320 MiB of RAM: 1.9 MiB, ~370k instructions, a millisecond
    /// or more of the boot under TCG). Pre: every byte of `frames` and `spages` is zero
    /// (checked in debug builds). `Err(Invalid)` if either slice is too short.
    pub fn new_zeroed(
        config: MmConfig,
        frames: &'a mut [FrameInfo],
        spages: &'a mut [SpageInfo],
    ) -> Result<Self, MmError> {
        if !tables_fit(&config, frames, spages) {
            return Err(MmError::Invalid);
        }
        debug_assert!(all_zero(frames.as_bytes()) && all_zero(spages.as_bytes()));
        Ok(Mm {
            config,
            frames,
            spages,
            domains: BTreeMap::new(),
            flush_needed: false,
            flush_batch: false,
            linear_l4_made: false,
            next_epoch: 0,
            orphans_freed: alloc::vec::Vec::new(),
            tables_walked: 0,
        })
    }

    /// How many whole tables were validated or devalidated so far (wrapping): an operation
    /// that changed it did more than a few entries' work.
    pub fn tables_walked(&self) -> u64 {
        self.tables_walked
    }

    /// The configuration given to [`Mm::new`].
    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    /// A copy of frame `mfn`'s state, or `None` if `mfn >= max_mfn`.
    pub fn frame_info(&self, mfn: Mfn) -> Option<FrameInfo> {
        self.frame(mfn).ok().copied()
    }

    /// A copy of the spage entry of 2 MiB extent `extent` (= mfn >> 9), if it exists.
    pub fn spage_info(&self, extent: u64) -> Option<SpageInfo> {
        let index = usize::try_from(extent).ok()?;
        if extent >= self.config.spage_entries() {
            return None;
        }
        self.spages.get(index).copied()
    }

    /// The number of frames assigned to `dom` (its `tot_pages`), if it exists.
    pub fn domain_pages(&self, dom: DomId) -> Option<u64> {
        self.domains.get(&dom).map(|d| d.tot_pages)
    }

    /// The ids of all domains, in order.
    pub fn domain_ids(&self) -> impl Iterator<Item = DomId> + '_ {
        self.domains.keys().copied()
    }

    /// Returns and clears the "TLB flush needed" flag. Set when a frame or extent changes its
    /// use (type) while stale TLB entries of the old use may exist, when frames are released,
    /// and on teardown. The platform must flush all CPUs' TLBs before it returns to any guest
    /// or hands a released frame to anyone else. Check after every operation, failed or not.
    pub fn take_flush_needed(&mut self) -> bool {
        core::mem::take(&mut self.flush_needed)
    }

    /// `mfn` as a frame-table index, if it is below `max_mfn` (XSA-167: checked first).
    #[inline]
    fn index(&self, mfn: Mfn) -> Result<usize, MmError> {
        if mfn.0 >= self.config.max_mfn {
            return Err(MmError::BadFrame);
        }
        usize::try_from(mfn.0).map_err(|_| MmError::BadFrame)
    }

    #[inline]
    fn frame(&self, mfn: Mfn) -> Result<&FrameInfo, MmError> {
        let i = self.index(mfn)?;
        self.frames.get(i).ok_or(MmError::BadFrame)
    }

    #[inline]
    fn frame_mut(&mut self, mfn: Mfn) -> Result<&mut FrameInfo, MmError> {
        let i = self.index(mfn)?;
        self.frames.get_mut(i).ok_or(MmError::BadFrame)
    }

    fn spage_mut(&mut self, extent: u64) -> Result<&mut SpageInfo, MmError> {
        if extent >= self.config.spage_entries() {
            return Err(MmError::BadFrame);
        }
        let i = usize::try_from(extent).map_err(|_| MmError::BadFrame)?;
        self.spages.get_mut(i).ok_or(MmError::BadFrame)
    }

    /// Frame `mfn` if it is in range and allocated to `dom` (`BadFrame` / `NotOwner`).
    /// Inlined: the hypervisor crate's `mmu_update` runs it once per request, and a call
    /// across crates goes through the GOT (an indirect-branch lookup under TCG).
    #[inline]
    fn owned_frame(&self, dom: DomId, mfn: Mfn) -> Result<FrameInfo, MmError> {
        let f = *self.frame(mfn)?;
        if f.owner() != Some(dom) || !f.is_allocated() {
            return Err(MmError::NotOwner);
        }
        Ok(f)
    }

    /// `dom`, looked up once for a batch of operations on its behalf (`Err(NoDomain)`).
    pub fn dom_ref(&self, dom: DomId) -> Result<DomRef, MmError> {
        let config = self.domain(dom)?.config;
        Ok(DomRef { id: dom, config })
    }

    fn domain(&self, dom: DomId) -> Result<&Domain, MmError> {
        self.domains.get(&dom).ok_or(MmError::NoDomain)
    }

    fn domain_mut(&mut self, dom: DomId) -> Result<&mut Domain, MmError> {
        self.domains.get_mut(&dom).ok_or(MmError::NoDomain)
    }

    /// Test hook: direct access to a frame's state (to pre-set counts near their limits).
    #[cfg(test)]
    pub(crate) fn frame_for_test(&mut self, mfn: Mfn) -> &mut FrameInfo {
        self.frame_mut(mfn).expect("test frame in range")
    }

    /// Test hook: direct access to an extent's spage entry.
    #[cfg(test)]
    pub(crate) fn spage_for_test(&mut self, extent: u64) -> &mut SpageInfo {
        self.spage_mut(extent).expect("test extent in range")
    }
}

#[cfg(test)]
mod all_zero_tests {
    use super::*;

    #[test]
    fn the_free_states_are_all_zero_bytes() {
        assert!(all_zero(FrameInfo::FREE.as_bytes()));
        assert!(all_zero(SpageInfo::FREE.as_bytes()));
    }

    #[test]
    fn any_nonzero_byte_anywhere_is_seen() {
        for len in [0usize, 1, 7, 8, 63, 64, 65, 200, 4096 + 24] {
            let mut bytes = alloc::vec![0u8; len];
            assert!(all_zero(&bytes), "len {len}");
            for at in 0..len {
                bytes[at] = 0x10;
                assert!(!all_zero(&bytes), "len {len}, byte {at}");
                bytes[at] = 0;
            }
        }
    }
}
