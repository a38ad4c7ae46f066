//! `multicall`, `trap_info`, `console_io`, `vm_assist`, domain ids and VIRQ numbers.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::*;

// ---------------------------------------------------------------------------------------
// multicall, trap_info
// ---------------------------------------------------------------------------------------

/// One entry of a `multicall` batch (`struct multicall_entry`, `xen.h`; 64 bytes).
///
/// Xen runs the entries in order, each as `op(args[0..5])`, and stores its return value in
/// `result`; `args[5]` is never passed (Xen honours five arguments). A failing entry does not
/// stop the batch. Only `result` is defined on return: Xen may overwrite the other fields
/// (debug builds deliberately do), and rewrites an entry in place to continue it after
/// preemption.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MulticallEntry {
    /// Hypercall number ([`hypercall`]).
    pub op: u64,
    /// OUT: the hypercall's return value.
    pub result: u64,
    /// Arguments; only the first five are passed.
    pub args: [u64; 6],
}
crate::abi_layout!(MulticallEntry, 64, op @ 0, result @ 8, args @ 16);

/// [`TrapInfo::flags`] bits 1:0: the highest ring allowed to raise the vector with `int n`
/// (0 = none; for 64-bit PV 1–2 mean the guest kernel, 3 = anyone).
pub const TI_DPL_MASK: u8 = 3;
/// [`TrapInfo::flags`] bit 2: mask events on delivery (set `evtchn_upcall_mask`), i.e. an
/// interrupt gate rather than a trap gate.
pub const TI_IF: u8 = 4;

/// One virtual IDT entry (`struct trap_info`, `arch-x86/xen.h`; 16 bytes), as passed to
/// `set_trap_table` (array ends at an entry whose `address` is 0) and stored in
/// `VcpuGuestContext::trap_ctxt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct TrapInfo {
    /// Exception vector.
    pub vector: u8,
    /// [`TI_DPL_MASK`] | [`TI_IF`].
    pub flags: u8,
    /// Code selector of the handler.
    pub cs: u16,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// Handler address; 0 terminates a `set_trap_table` list.
    pub address: u64,
}
crate::abi_layout!(TrapInfo, 16, vector @ 0, flags @ 1, cs @ 2, pad0 @ 4, address @ 8);

impl TrapInfo {
    /// An entry for `vector` with `flags` built by [`trap_flags`].
    pub const fn new(vector: u8, flags: u8, cs: u16, address: u64) -> Self {
        Self {
            vector,
            flags,
            cs,
            pad0: 0,
            address,
        }
    }

    /// `TI_GET_DPL`: the privilege needed to raise the vector with `int n`.
    pub const fn dpl(&self) -> u8 {
        self.flags & TI_DPL_MASK
    }

    /// `TI_GET_IF`: whether delivery masks events.
    pub const fn masks_events(&self) -> bool {
        self.flags & TI_IF != 0
    }

    /// Whether this entry ends a `set_trap_table` list (`address == 0`).
    pub const fn is_terminator(&self) -> bool {
        self.address == 0
    }
}

/// `TI_SET_DPL` + `TI_SET_IF`: the [`TrapInfo::flags`] byte for `dpl` (masked to 2 bits)
/// and `masks_events`.
pub const fn trap_flags(dpl: u8, masks_events: bool) -> u8 {
    (dpl & TI_DPL_MASK) | if masks_events { TI_IF } else { 0 }
}

// ---------------------------------------------------------------------------------------
// console_io, vm_assist, domain ids, VIRQs
// ---------------------------------------------------------------------------------------

/// `console_io` command: write `count` bytes from the buffer to Xen's console (for
/// non-hardware domains only printable characters, possibly buffered until `'\n'`).
/// Returns 0.
pub const CONSOLEIO_WRITE: u32 = 0;
/// `console_io` command: read up to `count` bytes; returns the number read.
pub const CONSOLEIO_READ: u32 = 1;

/// `vm_assist` command: enable an assist.
pub const VMASST_CMD_ENABLE: u32 = 0;
/// `vm_assist` command: disable an assist.
pub const VMASST_CMD_DISABLE: u32 = 1;
/// Assist (x86-32 only): emulate 4 GiB segment limits.
pub const VMASST_TYPE_4GB_SEGMENTS: u32 = 0;
/// Assist (x86-32 only): trap when the above is used.
pub const VMASST_TYPE_4GB_SEGMENTS_NOTIFY: u32 = 1;
/// Assist: the guest may write L1 entries directly (Xen emulates the write); higher-level
/// entries still need hypercalls and page tables must still be mapped read-only.
pub const VMASST_TYPE_WRITABLE_PAGETABLES: u32 = 2;
/// Assist (PAE): page directories above 4 GiB.
pub const VMASST_TYPE_PAE_EXTENDED_CR3: u32 = 3;
/// Assist: architectural virtual IOPL (updated by `iret`, reported in bounce frames).
pub const VMASST_TYPE_ARCHITECTURAL_IOPL: u32 = 4;
/// Assist: set `XEN_RUNSTATE_UPDATE` in the mapped runstate area while updating it.
pub const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
/// Assist (x86-64): strictly hide the M2P from user mode.
pub const VMASST_TYPE_M2P_STRICT: u32 = 32;

/// Domain ids from here up cannot name ordinary domains.
pub const DOMID_FIRST_RESERVED: DomId = 0x7FF0;
/// The calling domain.
pub const DOMID_SELF: DomId = 0x7FF0;
/// As `foreigndom`: allow only I/O mappings.
pub const DOMID_IO: DomId = 0x7FF1;
/// As `foreigndom` (privileged): Xen's own heap pages, e.g. the M2P.
pub const DOMID_XEN: DomId = 0x7FF2;
/// Owner of shareable (copy-on-write) pages.
pub const DOMID_COW: DomId = 0x7FF3;
/// Owner of pages whose owner is unknown.
pub const DOMID_INVALID: DomId = 0x7FF4;
/// "Any domain": the handler picks one, or treats it as a wildcard.
pub const DOMID_ANY: DomId = 0x7FF5;
/// The idle domain.
pub const DOMID_IDLE: DomId = 0x7FFF;
/// Mask of valid domain id bits.
pub const DOMID_MASK: DomId = 0x7FFF;

/// VIRQ (per vCPU): timer tick or single-shot deadline reached.
pub const VIRQ_TIMER: u32 = 0;
/// VIRQ (per vCPU): request to dump debug state.
pub const VIRQ_DEBUG: u32 = 1;
/// VIRQ (global): bytes arrived on Xen's emergency console.
pub const VIRQ_CONSOLE: u32 = 2;
/// VIRQ (global): exceptional event for some domain (dom0).
pub const VIRQ_DOM_EXC: u32 = 3;
/// VIRQ (global): trace buffer has records.
pub const VIRQ_TBUF: u32 = 4;
/// VIRQ (global): a domain paused for debugging.
pub const VIRQ_DEBUGGER: u32 = 6;
/// VIRQ (per vCPU): xenoprof sample available.
pub const VIRQ_XENOPROF: u32 = 7;
/// VIRQ (global): bytes arrived on the console ring.
pub const VIRQ_CON_RING: u32 = 8;
/// VIRQ (global): physical CPU state changed.
pub const VIRQ_PCPU_STATE: u32 = 9;
/// VIRQ (global): a memory event occurred.
pub const VIRQ_MEM_EVENT: u32 = 10;
/// VIRQ (per domain): Argo message notification.
pub const VIRQ_ARGO: u32 = 11;
/// VIRQ (global): Xen heap is low.
pub const VIRQ_ENOMEM: u32 = 12;
/// VIRQ (per vCPU): performance counter interrupt.
pub const VIRQ_XENPMU: u32 = 13;
/// First architecture-specific VIRQ.
pub const VIRQ_ARCH_0: u32 = 16;
/// Last architecture-specific VIRQ.
pub const VIRQ_ARCH_7: u32 = 23;
/// Number of VIRQs; valid numbers are `0..NR_VIRQS`.
pub const NR_VIRQS: u32 = 24;
