//! Per-frame state (`FrameInfo`, Xen's `page_info`) and the page-type enum it encodes.
//!
//! The platform allocates one `FrameInfo` per machine frame from zeroed memory: all-zero is
//! "free: unowned, no references, untyped". Only plain integers are stored; enums are decoded.
//!
//! ```text
//!  page-type states of one frame (type count = tc)
//!
//!   None ──get_type(T), tc 0→1 [validate if T is L1..L4]──▶ T, tc=1 ──get_type(T)──▶ T, tc+1
//!    ▲                                                       │
//!    └── (type kept "sticky" at tc=0, for TLB-flush decisions) ◀── put_type, tc 1→0 [devalidate]
//!
//!   A frame has exactly one type while tc > 0. L1..L4 and SegDesc also hold the frame's
//!   2 MiB extent in spage type Nosuper while tc > 0.
//! ```

use super::types::{DomId, PageLevel};

/// Largest general reference count and type count (48 bits).
pub const COUNT_MAX: u64 = (1 << 48) - 1;

// count_info layout
const COUNT_MASK: u64 = COUNT_MAX; //          bits 0..=47  general reference count
const ORPHAN: u64 = 1 << 61; //                bit 61       owner destroyed; freed at the last put
const XEN_HEAP: u64 = 1 << 62; //              bit 62       hypervisor frame shared with the owner
const ALLOCATED: u64 = 1 << 63; //             bit 63       the owner's allocation reference is held

// type_info layout
const TYPE_COUNT_MASK: u64 = COUNT_MAX; //     bits 0..=47  type count
const VALIDATED: u64 = 1 << 56; //             bit 56       contents validated for the current type
const PINNED: u64 = 1 << 57; //                bit 57       pinned (holds one type + one general ref)
const TYPE_SHIFT: u32 = 61; //                 bits 61..=63 page type (PageType as u8)
const TYPE_MASK: u64 = 7 << TYPE_SHIFT;

/// The use a frame is put to (Xen's `PGT_*` numbering; 6, `shared`, is unused here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageType {
    /// Never typed since allocation.
    None = 0,
    /// Level-1 page table.
    L1 = 1,
    /// Level-2 page table.
    L2 = 2,
    /// Level-3 page table.
    L3 = 3,
    /// Level-4 page table.
    L4 = 4,
    /// GDT/LDT descriptor page.
    SegDesc = 5,
    /// Writable data page (mapped RW somewhere, or a scratch write by the hypervisor).
    Writable = 7,
}

impl PageType {
    fn from_bits(bits: u64) -> PageType {
        match bits {
            1 => PageType::L1,
            2 => PageType::L2,
            3 => PageType::L3,
            4 => PageType::L4,
            5 => PageType::SegDesc,
            7 => PageType::Writable,
            _ => PageType::None,
        }
    }

    /// The page-table level, if this is a page-table type.
    pub fn level(self) -> Option<PageLevel> {
        match self {
            PageType::L1 => Some(PageLevel::L1),
            PageType::L2 => Some(PageLevel::L2),
            PageType::L3 => Some(PageLevel::L3),
            PageType::L4 => Some(PageLevel::L4),
            _ => None,
        }
    }

    /// Whether a frame of this type forbids writable superpage mappings of its extent
    /// (every non-writable type: L1..L4 and SegDesc).
    pub fn conflicts_with_superpage(self) -> bool {
        matches!(
            self,
            PageType::L1 | PageType::L2 | PageType::L3 | PageType::L4 | PageType::SegDesc
        )
    }
}

impl From<PageLevel> for PageType {
    fn from(level: PageLevel) -> PageType {
        match level {
            PageLevel::L1 => PageType::L1,
            PageLevel::L2 => PageType::L2,
            PageLevel::L3 => PageType::L3,
            PageLevel::L4 => PageType::L4,
        }
    }
}

/// The state of one machine frame. 24 bytes; all-zero = free.
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
pub struct FrameInfo {
    /// General reference count and ownership flags (layout above: count, xen_heap, allocated).
    count_info: u64,
    /// Type count, validated/pinned flags and page type (layout above).
    type_info: u64,
    /// Owning domain id + 1; 0 = no owner.
    owner: u16,
    /// Xen's `linear_pt_count`: > 0 linear entries in this table, < 0 uses of it as a target.
    linear_pt_count: i16,
    /// Reserved, zero.
    reserved: u32,
}

const _: () = assert!(core::mem::size_of::<FrameInfo>() == 24);

impl FrameInfo {
    /// The free state.
    pub const FREE: FrameInfo = FrameInfo {
        count_info: 0,
        type_info: 0,
        owner: 0,
        linear_pt_count: 0,
        reserved: 0,
    };

    /// The owning domain, if any.
    pub fn owner(&self) -> Option<DomId> {
        self.owner.checked_sub(1).map(DomId)
    }
    /// The general reference count (includes the allocation reference).
    pub fn count(&self) -> u64 {
        self.count_info & COUNT_MASK
    }
    /// Whether the owner's allocation reference is held.
    pub fn is_allocated(&self) -> bool {
        self.count_info & ALLOCATED != 0
    }
    /// Whether this frame outlived its owner: a granted frame still mapped by a grantee when
    /// the granter was destroyed. It has no owner and no allocation reference; the last
    /// `put_page` frees it (see `Mm::take_freed_orphans`).
    pub fn is_orphan(&self) -> bool {
        self.count_info & ORPHAN != 0
    }
    /// Whether this is a hypervisor frame shared with its owner.
    pub fn is_xen_heap(&self) -> bool {
        self.count_info & XEN_HEAP != 0
    }
    /// The current type (meaningful while `type_count() > 0`; kept afterwards as history).
    pub fn page_type(&self) -> PageType {
        PageType::from_bits((self.type_info & TYPE_MASK) >> TYPE_SHIFT)
    }
    /// The number of type references.
    pub fn type_count(&self) -> u64 {
        self.type_info & TYPE_COUNT_MASK
    }
    /// Whether the contents have been validated for the current type.
    pub fn is_validated(&self) -> bool {
        self.type_info & VALIDATED != 0
    }
    /// Whether the frame is pinned.
    pub fn is_pinned(&self) -> bool {
        self.type_info & PINNED != 0
    }
    /// The linear page-table count.
    pub fn linear_pt_count(&self) -> i16 {
        self.linear_pt_count
    }
    /// Whether the frame has a live type of `ty` that is fully validated.
    pub fn is_live(&self, ty: PageType) -> bool {
        self.type_count() > 0 && self.page_type() == ty && self.is_validated()
    }

    pub(crate) fn set_owner(&mut self, owner: Option<DomId>) {
        self.owner = owner.map_or(0, |d| d.0.saturating_add(1));
    }
    pub(crate) fn set_count(&mut self, count: u64) {
        self.count_info = (self.count_info & !COUNT_MASK) | (count & COUNT_MASK);
    }
    pub(crate) fn set_allocated(&mut self, on: bool) {
        set_bit(&mut self.count_info, ALLOCATED, on);
    }
    pub(crate) fn set_orphan(&mut self, on: bool) {
        set_bit(&mut self.count_info, ORPHAN, on);
    }
    pub(crate) fn set_xen_heap(&mut self, on: bool) {
        set_bit(&mut self.count_info, XEN_HEAP, on);
    }
    pub(crate) fn set_page_type(&mut self, ty: PageType) {
        self.type_info = (self.type_info & !TYPE_MASK) | ((ty as u64) << TYPE_SHIFT);
    }
    pub(crate) fn set_type_count(&mut self, count: u64) {
        self.type_info = (self.type_info & !TYPE_COUNT_MASK) | (count & TYPE_COUNT_MASK);
    }
    pub(crate) fn set_validated(&mut self, on: bool) {
        set_bit(&mut self.type_info, VALIDATED, on);
    }
    pub(crate) fn set_pinned(&mut self, on: bool) {
        set_bit(&mut self.type_info, PINNED, on);
    }
    pub(crate) fn set_linear_pt_count(&mut self, count: i16) {
        self.linear_pt_count = count;
    }
}

fn set_bit(word: &mut u64, bit: u64, on: bool) {
    if on {
        *word |= bit;
    } else {
        *word &= !bit;
    }
}
