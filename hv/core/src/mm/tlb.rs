//! When the TLB is flushed around the MMU hypercalls: the state machine's "flush needed" flag
//! (a frame changed its use while a stale translation of the old use may exist), the guest's
//! own requests (`UVMF_TLB_FLUSH`, `UVMF_INVLPG`, `MMUEXT_TLB_FLUSH_*`, `MMUEXT_INVLPG_*`)
//! and the CR3 loads that flush anyway, merged into as few flushes as safety allows.
//!
//! ```text
//!   Idle ──begin_flush_batch──► Collecting ──end_flush_batch──► Idle (+ one flush if pending)
//!     │ change / guest request           │ change / guest request
//!     ▼                                  ▼
//!   flush now                          pending (the flag stays set)
//!   (a CR3 load that drops every translation clears the flag in either state)
//! ```
//! Why a pending flush is safe: the guest does not run before the batch ends (one CPU, and a
//! multicall or `mmuext_op` returns to it only at the end or at a continuation, both of which
//! end the batch), and while the flag is set the hypervisor's own copies from guest memory
//! walk the guest's tables in software ([`Mm::copy_through_mmu_ok`] refuses the hardware
//! walk), so no stale translation is ever used. Xen collects flushes over a batch the same
//! way (its deferred `DOP_FLUSH_TLB`); Linux's pin and unpin multicalls, whose every page-table
//! page changes type, then cost one flush instead of one per page.

use super::Mm;

/// What the platform does to its TLB after an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbAction {
    /// Nothing (no stale translation possible, or the flush is pending to the batch's end).
    Nothing,
    /// Drop the one translation of the address the guest named.
    Invlpg,
    /// Drop every translation (reload CR3).
    Full,
}

/// The guest's own request after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestFlush {
    /// None.
    None,
    /// One address (`UVMF_INVLPG`, `MMUEXT_INVLPG_*`).
    Invlpg,
    /// Everything (`UVMF_TLB_FLUSH`, `MMUEXT_TLB_FLUSH_*`).
    Full,
}

impl Mm<'_> {
    /// Opens a batch whose flushes are collected; returns whether one was open already (pass
    /// it back to [`Mm::end_flush_batch`]: nested batches end with the outermost).
    pub fn begin_flush_batch(&mut self) -> bool {
        core::mem::replace(&mut self.flush_batch, true)
    }

    /// Ends the batch [`Mm::begin_flush_batch`] opened (`outer`: its answer): whether the
    /// platform must flush now. The flag is cleared when it must.
    #[must_use]
    pub fn end_flush_batch(&mut self, outer: bool) -> bool {
        self.flush_batch = outer;
        !outer && self.take_flush_needed()
    }

    /// Whether a batch is collecting flushes.
    pub fn collecting_flushes(&self) -> bool {
        self.flush_batch
    }

    /// A full flush is owed (the flag, or the guest asked for one), and not yet done.
    pub fn flush_pending(&self) -> bool {
        self.flush_needed
    }

    /// What to do after an operation (failed or not) given the guest's request: a full flush
    /// the state machine or the guest wants is done now, or left pending (the flag set) while
    /// a batch collects; an INVLPG is skipped when a full flush is pending anyway.
    #[must_use]
    pub fn tlb_after(&mut self, guest: GuestFlush) -> TlbAction {
        if guest == GuestFlush::Full {
            self.flush_needed = true;
        }
        if self.flush_needed {
            if self.flush_batch {
                return TlbAction::Nothing;
            }
            self.flush_needed = false;
            return TlbAction::Full;
        }
        match guest {
            GuestFlush::Invlpg => TlbAction::Invlpg,
            _ => TlbAction::Nothing,
        }
    }

    /// The platform loaded CR3 in a way that drops every translation (no global pages), after
    /// every change so far: nothing is owed any more.
    pub fn cr3_loaded(&mut self) {
        self.flush_needed = false;
    }
}
