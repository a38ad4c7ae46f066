//! Per-2 MiB-extent state (`SpageInfo`): the fast-superpage table of the 2010-05-13 posting.
//!
//! One entry per 2 MiB machine extent, created by the platform from zeroed memory (all-zero =
//! untyped, unmapped, not enabled).
//!
//! ```text
//!   enabled   set when one allocation of order >= 9 gives the whole extent to one domain;
//!             cleared when any frame of it is released, or a smaller allocation touches it.
//!   type      None ─get(Superpage)─▶ Superpage  (held by each writable PSE L2 entry)
//!             None ─get(Nosuper)───▶ Nosuper    (held by each L1..L4/SegDesc frame inside)
//!             back to count 0 on the last put; the type is kept as history (TLB flushes).
//!   map count live PSE L2 entries (RO or RW) mapping the extent; one each, never 512.
//! ```

use super::error::MmError;
use super::frame::COUNT_MAX;

// type_info layout
const COUNT_MASK: u64 = COUNT_MAX; //        bits 0..=47  spage type count
const ENABLED: u64 = 1 << 61; //             bit 61       whole extent assigned by one order >= 9 allocation
const TYPE_SHIFT: u32 = 62; //               bits 62..=63 spage type (SpageType as u8)
const TYPE_MASK: u64 = 3 << TYPE_SHIFT;

/// What the extent is currently used as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpageType {
    /// No conflicting use.
    None = 0,
    /// Mapped writable by at least one PSE L2 entry.
    Superpage = 1,
    /// Contains at least one page-table or descriptor frame.
    Nosuper = 2,
}

/// The state of one 2 MiB extent. 16 bytes; all-zero = unused.
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    pv_abi::zerocopy::FromBytes,
    pv_abi::zerocopy::IntoBytes,
    pv_abi::zerocopy::KnownLayout,
    pv_abi::zerocopy::Immutable,
)]
#[zerocopy(crate = "pv_abi::zerocopy")]
pub struct SpageInfo {
    /// Type count, enabled flag and spage type (layout above).
    type_info: u64,
    /// bits 0..=47: number of live PSE L2 entries mapping the extent; other bits zero.
    map_count: u64,
}

const _: () = assert!(core::mem::size_of::<SpageInfo>() == 16);

impl SpageInfo {
    /// The unused state.
    pub const FREE: SpageInfo = SpageInfo {
        type_info: 0,
        map_count: 0,
    };

    /// The current spage type (meaningful while `type_count() > 0`; kept afterwards).
    pub fn spage_type(&self) -> SpageType {
        match (self.type_info & TYPE_MASK) >> TYPE_SHIFT {
            1 => SpageType::Superpage,
            2 => SpageType::Nosuper,
            _ => SpageType::None,
        }
    }
    /// The number of references of the current type.
    pub fn type_count(&self) -> u64 {
        self.type_info & COUNT_MASK
    }
    /// Whether the whole extent was assigned to one domain by one allocation of order >= 9.
    pub fn is_enabled(&self) -> bool {
        self.type_info & ENABLED != 0
    }
    /// The number of live PSE entries mapping the extent.
    pub fn map_count(&self) -> u64 {
        self.map_count & COUNT_MASK
    }

    pub(crate) fn set_enabled(&mut self, on: bool) {
        if on {
            self.type_info |= ENABLED;
        } else {
            self.type_info &= !ENABLED;
        }
    }

    /// Takes one reference of type `ty` (not `None`).
    ///
    /// Pre: any. Post on `Ok`: type = `ty`, count + 1; returns whether the type *changed*
    /// from a different earlier type (a stale TLB entry of the old use may exist).
    /// `Err(SpageConflict)` if the count is non-zero with the other type; `Err(Overflow)` at
    /// the maximum. The state is unchanged on error.
    pub(crate) fn get_type(&mut self, ty: SpageType) -> Result<bool, MmError> {
        let count = self.type_count();
        if count > 0 && self.spage_type() != ty {
            return Err(MmError::SpageConflict);
        }
        if count >= COUNT_MAX {
            return Err(MmError::Overflow);
        }
        let old = self.spage_type();
        let changed = count == 0 && old != SpageType::None && old != ty;
        self.type_info = (self.type_info & !(TYPE_MASK | COUNT_MASK))
            | ((ty as u64) << TYPE_SHIFT)
            | (count + 1);
        Ok(changed)
    }

    /// Drops one reference of the current type. Pre: count > 0. Post: count - 1 (the type is
    /// kept as history at 0). A put at count 0 is an internal bug and is ignored.
    pub(crate) fn put_type(&mut self) {
        let count = self.type_count();
        debug_assert!(count > 0, "spage type count underflow");
        if count > 0 {
            self.type_info = (self.type_info & !COUNT_MASK) | (count - 1);
        }
    }

    /// Adds one PSE mapping. Post on `Ok`: map count + 1; `Err(Overflow)` at the maximum.
    pub(crate) fn get_mapping(&mut self) -> Result<(), MmError> {
        let count = self.map_count();
        if count >= COUNT_MAX {
            return Err(MmError::Overflow);
        }
        self.map_count = count + 1;
        Ok(())
    }

    /// Drops one PSE mapping. Pre: map count > 0 (a put at 0 is an internal bug, ignored).
    pub(crate) fn put_mapping(&mut self) {
        let count = self.map_count();
        debug_assert!(count > 0, "spage map count underflow");
        self.map_count = count.saturating_sub(1);
    }

    #[cfg(test)]
    pub(crate) fn set_counts_for_test(&mut self, type_count: u64, map_count: u64) {
        self.type_info = (self.type_info & !COUNT_MASK) | (type_count & COUNT_MASK);
        self.map_count = map_count & COUNT_MASK;
    }
}
