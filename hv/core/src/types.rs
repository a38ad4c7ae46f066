//! Names shared by every part of the core: machine frame numbers and domain ids.
//!
//! ```text
//!   machine address  = mfn << 12 | offset            (4 KiB frames)
//!   2 MiB extent      = mfn >> 9                       (512 frames, one spage entry each)
//! ```

use pv_abi::xen::{DOMID_FIRST_RESERVED, DOMID_SELF};

/// log2 of the frame size (4 KiB).
pub const PAGE_SHIFT: u32 = 12;
/// Allocation order of a 2 MiB superpage (Xen's `SUPERPAGE_ORDER`).
pub const SUPERPAGE_ORDER: u32 = 9;

/// A machine frame number (machine address >> 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mfn(pub u64);

impl Mfn {
    /// The machine address of the frame's first byte (`u64::MAX` for absurd frame numbers).
    pub fn maddr(self) -> u64 {
        match self.0 <= u64::MAX >> PAGE_SHIFT {
            true => self.0 << PAGE_SHIFT,
            false => u64::MAX,
        }
    }

    /// Index of the 2 MiB extent (spage table entry) that contains this frame.
    pub fn extent(self) -> u64 {
        self.0 >> SUPERPAGE_ORDER
    }

    /// Whether the frame number is aligned to `2^order` frames.
    pub fn is_aligned(self, order: u32) -> bool {
        match 1u64.checked_shl(order) {
            Some(size) => self.0 & (size - 1) == 0,
            None => self.0 == 0,
        }
    }
}

/// A domain id, as in Xen's `domid_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

impl DomId {
    /// `DOMID_SELF`: "the calling domain" in guest requests.
    pub const SELF: DomId = DomId(DOMID_SELF);

    /// Resolves `DOMID_SELF` to `caller`; any other id is returned as is.
    pub fn resolve(self, caller: DomId) -> DomId {
        if self == Self::SELF {
            caller
        } else {
            self
        }
    }

    /// Whether the id names an ordinary domain (below `DOMID_FIRST_RESERVED`).
    pub fn is_ordinary(self) -> bool {
        self.0 < DOMID_FIRST_RESERVED
    }
}
