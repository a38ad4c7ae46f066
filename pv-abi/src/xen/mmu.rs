//! `mmu_update`, `mmuext_op` and `update_va_mapping`: how a PV guest changes page tables.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::*;

// ---------------------------------------------------------------------------------------
// mmu_update
// ---------------------------------------------------------------------------------------

/// `mmu_update` command (in `ptr[1:0]`): checked write `*ptr = val` of a page-table entry;
/// `ptr` is the machine address of the entry, in a page table owned by the PFD.
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
/// `mmu_update` command: set the M2P entry of the frame containing machine address `ptr`
/// to pfn `val`. The frame must belong to the FD if one is given.
pub const MMU_MACHPHYS_UPDATE: u64 = 1;
/// `mmu_update` command: as [`MMU_NORMAL_PT_UPDATE`], but the Accessed/Dirty bits already in
/// the entry are kept (ORed into `val`) atomically. Advertised by
/// `XENFEAT_mmu_pt_update_preserve_ad`.
pub const MMU_PT_UPDATE_PRESERVE_AD: u64 = 2;
/// `mmu_update` command: as [`MMU_NORMAL_PT_UPDATE`], but `val` is never translated through
/// the FD's page tables (relevant to translated guests only).
pub const MMU_PT_UPDATE_NO_TRANSLATE: u64 = 3;
/// Mask of the command bits in [`MmuUpdate::ptr`].
pub const MMU_CMD_MASK: u64 = 3;

/// Xen-internal: bit 31 of an `mmu_update`/`mmuext_op` `count` marks a preempted call that
/// is being continued. Not part of the public ABI, but a guest can set it, so a dispatcher
/// must treat it deliberately.
pub const MMU_UPDATE_PREEMPTED: u32 = 1 << 31;

/// One request to `mmu_update` (`struct mmu_update`, `xen.h`; 16 bytes).
///
/// `ptr[1:0]` is the `MMU_*` command; `ptr & !3` is the machine address of the target
/// (a page-table entry, or any byte of the frame for [`MMU_MACHPHYS_UPDATE`]); `val` is the
/// new entry (machine frame | flags) or new pfn.
///
/// The hypercall's `foreigndom` argument: bits 15:0 name the FD (owner of data frames that
/// entries point at, or `DOMID_SELF`); bits 31:16 hold PFD + 1 (owner of the page tables
/// written), 0 meaning `DOMID_SELF`. See [`foreigndom_fd`] and [`foreigndom_pfd`].
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MmuUpdate {
    /// Machine address of the target, with the `MMU_*` command in bits 1:0.
    pub ptr: u64,
    /// New contents.
    pub val: u64,
}
crate::abi_layout!(MmuUpdate, 16, ptr @ 0, val @ 8);

impl MmuUpdate {
    /// The `MMU_*` command in `ptr[1:0]`.
    pub const fn command(&self) -> u64 {
        self.ptr & MMU_CMD_MASK
    }

    /// The machine address in `ptr`, command bits cleared.
    pub const fn address(&self) -> u64 {
        self.ptr & !MMU_CMD_MASK
    }
}

/// The FD (expected owner of data frames) from an `mmu_update`/`mmuext_op` `foreigndom`
/// argument: its low 16 bits (may be `DOMID_SELF`, `DOMID_IO`, ...).
pub const fn foreigndom_fd(foreigndom: u32) -> DomId {
    (foreigndom & 0xFFFF) as DomId
}

/// The PFD (expected owner of the page tables written) from a `foreigndom` argument:
/// bits 31:16 hold PFD + 1; 0 means [`DOMID_SELF`].
pub const fn foreigndom_pfd(foreigndom: u32) -> DomId {
    match (foreigndom >> 16) as DomId {
        0 => DOMID_SELF,
        encoded => encoded - 1,
    }
}

// ---------------------------------------------------------------------------------------
// mmuext_op
// ---------------------------------------------------------------------------------------

/// `mmuext_op`: pin frame `arg1` (an MFN) as a validated L1 table. Pinning holds a type
/// reference until [`MMUEXT_UNPIN_TABLE`]. The frame must belong to the FD, if given.
pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
/// `mmuext_op`: pin frame `arg1` as an L2 table.
pub const MMUEXT_PIN_L2_TABLE: u32 = 1;
/// `mmuext_op`: pin frame `arg1` as an L3 table.
pub const MMUEXT_PIN_L3_TABLE: u32 = 2;
/// `mmuext_op`: pin frame `arg1` as an L4 table.
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
/// `mmuext_op`: drop the pin on frame `arg1`, whatever its level.
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
/// `mmuext_op`: install frame `arg1` as the (kernel) page-table base, i.e. load cr3.
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
/// `mmuext_op`: flush this vCPU's TLB. No arguments.
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
/// `mmuext_op`: flush linear address `arg1` from this vCPU's TLB.
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
/// `mmuext_op`: flush the TLBs of the vCPUs in the bitmap at guest address `arg2`.
pub const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
/// `mmuext_op`: flush linear address `arg1` on the vCPUs in the bitmap at guest address `arg2`.
pub const MMUEXT_INVLPG_MULTI: u32 = 9;
/// `mmuext_op`: flush every vCPU's TLB. No arguments.
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
/// `mmuext_op`: flush linear address `arg1` on every vCPU.
pub const MMUEXT_INVLPG_ALL: u32 = 11;
/// `mmuext_op`: write back and invalidate caches (privileged). No arguments.
pub const MMUEXT_FLUSH_CACHE: u32 = 12;
/// `mmuext_op`: set the LDT: `arg1` = page-aligned linear base, low 32 bits of `arg2` =
/// number of entries (see [`MmuextOp::nr_ents`]).
pub const MMUEXT_SET_LDT: u32 = 13;
/// `mmuext_op`: install frame `arg1` as the user-mode page-table base (x86-64 only; the
/// guest kernel and user halves run on different L4s).
pub const MMUEXT_NEW_USER_BASEPTR: u32 = 15;
/// `mmuext_op`: zero frame `arg1` (`XENFEAT_highmem_assist`).
pub const MMUEXT_CLEAR_PAGE: u32 = 16;
/// `mmuext_op`: copy frame `arg2` (source) to frame `arg1` (destination).
pub const MMUEXT_COPY_PAGE: u32 = 17;
/// `mmuext_op`: write back and invalidate caches on all CPUs (privileged). No arguments.
pub const MMUEXT_FLUSH_CACHE_GLOBAL: u32 = 18;
/// `mmuext_op`: mark the 2 MiB-aligned extent whose head frame is `arg1` as a superpage
/// (reserved 2010; implemented in Xen 2010–2017, `-EOPNOTSUPP` since). In this
/// hypervisor it drives the spage table.
pub const MMUEXT_MARK_SUPER: u32 = 19;
/// `mmuext_op`: undo [`MMUEXT_MARK_SUPER`] for the superpage whose head frame is `arg1`.
pub const MMUEXT_UNMARK_SUPER: u32 = 20;

/// One request to `mmuext_op` (`struct mmuext_op`, `xen.h`; 24 bytes).
///
/// `arg1` (union `mfn` / `linear_addr`): a machine frame for the pin/unpin, baseptr,
/// clear/copy-page and mark/unmark-super commands; a linear address for `INVLPG_*` and
/// `SET_LDT`; unused otherwise. `arg2` (union `nr_ents` / `vcpumask` / `src_mfn`): a `u32`
/// entry count for `SET_LDT` (only the low half is defined), the guest address of a vCPU
/// bitmap for `*_MULTI`, the source frame for `COPY_PAGE`; unused otherwise. Unused
/// arguments are ignored, not required to be zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MmuextOp {
    /// An `MMUEXT_*` command.
    pub cmd: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// First argument: frame number or linear address.
    pub arg1: u64,
    /// Second argument: entry count, bitmap address or source frame.
    pub arg2: u64,
}
crate::abi_layout!(MmuextOp, 24, cmd @ 0, pad0 @ 4, arg1 @ 8, arg2 @ 16);

impl MmuextOp {
    /// `arg2.nr_ents` for [`MMUEXT_SET_LDT`]: the low 32 bits of `arg2` (the guest may leave
    /// the high half uninitialised).
    pub const fn nr_ents(&self) -> u32 {
        self.arg2 as u32
    }
}

// ---------------------------------------------------------------------------------------
// update_va_mapping flags
// ---------------------------------------------------------------------------------------

/// `update_va_mapping` flag: no TLB flush.
pub const UVMF_NONE: u64 = 0;
/// `update_va_mapping` flag: flush the entire TLB(s).
pub const UVMF_TLB_FLUSH: u64 = 1;
/// `update_va_mapping` flag: flush only the updated address.
pub const UVMF_INVLPG: u64 = 2;
/// Mask of the flush type (`UVMF_NONE` / `UVMF_TLB_FLUSH` / `UVMF_INVLPG`; 3 is invalid).
pub const UVMF_FLUSHTYPE_MASK: u64 = 3;
/// Flush on a subset of vCPUs: the guest address of a vCPU bitmap is ORed into the flags
/// (bits 63:3); a NULL bitmap is [`UVMF_LOCAL`].
pub const UVMF_MULTI: u64 = 0 << 2;
/// Flush on this vCPU only ([`UVMF_MULTI`] with a NULL bitmap).
pub const UVMF_LOCAL: u64 = 0 << 2;
/// Flush on all vCPUs of the domain.
pub const UVMF_ALL: u64 = 1 << 2;
