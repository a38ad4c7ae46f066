//! The core of Xen's public interface (`xen/include/public/xen.h`, with the x86 pieces of
//! `arch-x86/xen.h` that `xen.h` structures embed): hypercall numbers, the `mmu_update` /
//! `mmuext_op` / `update_va_mapping` commands, `multicall`, `trap_info`, `vm_assist`,
//! `console_io`, domain ids, VIRQs, and the two pages a PV guest is born with: `start_info`
//! and `shared_info` (with `vcpu_info` and `vcpu_time_info`).
//!
//! Constant names are Xen's, upper-cased (`VMASST_TYPE_writable_pagetables` →
//! [`VMASST_TYPE_WRITABLE_PAGETABLES`]); hypercall numbers drop the `__HYPERVISOR_` prefix
//! and live in [`hypercall`]. A guest "handle" (`XEN_GUEST_HANDLE(T)`) is, for a 64-bit PV
//! guest, a plain guest virtual address: it appears here as a `u64`.
//!
//! The `start_info` page, as the domain builder leaves it (x86-64, 1168 bytes used):
//!
//! ```text
//!    0 magic[32] "xen-3.0-x86_64"      88 pt_base        (VA of bootstrap L4)
//!   32 nr_pages                        96 nr_pt_frames
//!   40 shared_info (machine address)  104 mfn_list       (VA of the p2m array)
//!   48 flags (SIF_*)     52 pad        112 mod_start      (VA, or PFN if SIF_MOD_START_PFN)
//!   56 store_mfn                      120 mod_len
//!   64 store_evtchn      68 pad        128 cmd_line[1024]
//!   72 console.mfn                   1152 first_p2m_pfn
//!   80 console.evtchn    84 pad       1160 nr_p2m_frames
//! ```
//!
//! The `shared_info` page (one per domain, 3136 of 4096 bytes used):
//!
//! ```text
//!    0 vcpu_info[32]      (64 bytes each)
//! 2048 evtchn_pending[64] (u64 words: 4096 ports)
//! 2560 evtchn_mask[64]
//! 3072 wc_version  3076 wc_sec  3080 wc_nsec  3084 wc_sec_hi
//! 3088 arch: max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr, p2m_generation
//! 3136 (unused to the end of the page)
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A domain id (`domid_t`). Values from [`DOMID_FIRST_RESERVED`] up are special.
pub type DomId = u16;

/// Hypercall numbers (`__HYPERVISOR_*` in `xen.h`), as found in `rax` at the `syscall` and in
/// [`MulticallEntry::op`].
///
/// A 64-bit PV guest calls slot `nr` of the hypercall page (`call page + nr * 32`) or, after
/// Linux's XSA-466 change, issues the same `syscall` inline. Arguments are in `rdi, rsi,
/// rdx, r10, r8`; the result (or a negated errno) comes back in `rax`.
pub mod hypercall {
    /// `set_trap_table(trap_info[])`: install the virtual IDT; the array ends at an entry
    /// whose `address` is 0.
    pub const SET_TRAP_TABLE: u64 = 0;
    /// `mmu_update(mmu_update[], count, *done, foreigndom)`.
    pub const MMU_UPDATE: u64 = 1;
    /// `set_gdt(frames[], entries)`.
    pub const SET_GDT: u64 = 2;
    /// `stack_switch(ss, rsp)`: the kernel stack for bounces from guest user mode.
    pub const STACK_SWITCH: u64 = 3;
    /// `set_callbacks(event, failsafe, syscall)`: superseded by `callback_op`.
    pub const SET_CALLBACKS: u64 = 4;
    /// `fpu_taskswitch(set)`: set or clear the virtual CR0.TS.
    pub const FPU_TASKSWITCH: u64 = 5;
    /// `sched_op_compat(cmd, arg)`: the pre-3.0.2 `sched_op` with a scalar argument.
    pub const SCHED_OP_COMPAT: u64 = 6;
    /// `platform_op` (formerly `dom0_op`): privileged.
    pub const PLATFORM_OP: u64 = 7;
    /// `set_debugreg(reg, value)`.
    pub const SET_DEBUGREG: u64 = 8;
    /// `get_debugreg(reg)`.
    pub const GET_DEBUGREG: u64 = 9;
    /// `update_descriptor(maddr, desc)`.
    pub const UPDATE_DESCRIPTOR: u64 = 10;
    /// `memory_op(cmd, arg)`: see `crate::memory`.
    pub const MEMORY_OP: u64 = 12;
    /// `multicall(multicall_entry[], nr_calls)`.
    pub const MULTICALL: u64 = 13;
    /// `update_va_mapping(va, pte, flags)`.
    pub const UPDATE_VA_MAPPING: u64 = 14;
    /// `set_timer_op(absolute_ns)`: 0 cancels.
    pub const SET_TIMER_OP: u64 = 15;
    /// `event_channel_op_compat(evtchn_op *)`: pre-3.2.2 form, command inside the struct.
    pub const EVENT_CHANNEL_OP_COMPAT: u64 = 16;
    /// `xen_version(cmd, arg)`: see `crate::version`.
    pub const XEN_VERSION: u64 = 17;
    /// `console_io(cmd, count, buffer)`.
    pub const CONSOLE_IO: u64 = 18;
    /// `physdev_op_compat(physdev_op *)`: pre-3.2.2 form, command inside the struct.
    pub const PHYSDEV_OP_COMPAT: u64 = 19;
    /// `grant_table_op(cmd, uop, count)`.
    pub const GRANT_TABLE_OP: u64 = 20;
    /// `vm_assist(cmd, type)`.
    pub const VM_ASSIST: u64 = 21;
    /// `update_va_mapping_otherdomain(va, pte, flags, domid)`.
    pub const UPDATE_VA_MAPPING_OTHERDOMAIN: u64 = 22;
    /// `iret()`: frame on the guest stack (`crate::arch_x86::IretContext`); never returns.
    pub const IRET: u64 = 23;
    /// `vcpu_op(cmd, vcpuid, arg)`: see `crate::vcpu`.
    pub const VCPU_OP: u64 = 24;
    /// `set_segment_base(which, base)`: x86-64 only.
    pub const SET_SEGMENT_BASE: u64 = 25;
    /// `mmuext_op(mmuext_op[], count, *done, foreigndom)`.
    pub const MMUEXT_OP: u64 = 26;
    /// `xsm_op`: security module.
    pub const XSM_OP: u64 = 27;
    /// `nmi_op`.
    pub const NMI_OP: u64 = 28;
    /// `sched_op(cmd, arg)`: see `crate::sched`.
    pub const SCHED_OP: u64 = 29;
    /// `callback_op(cmd, arg)`: see `crate::callback`.
    pub const CALLBACK_OP: u64 = 30;
    /// `xenoprof_op`: dropped in Xen 4.22.
    pub const XENOPROF_OP: u64 = 31;
    /// `event_channel_op(cmd, arg)`.
    pub const EVENT_CHANNEL_OP: u64 = 32;
    /// `physdev_op(cmd, arg)`: see `crate::physdev`.
    pub const PHYSDEV_OP: u64 = 33;
    /// `hvm_op`.
    pub const HVM_OP: u64 = 34;
    /// `sysctl`: toolstack.
    pub const SYSCTL: u64 = 35;
    /// `domctl`: toolstack.
    pub const DOMCTL: u64 = 36;
    /// `kexec_op`.
    pub const KEXEC_OP: u64 = 37;
    /// `tmem_op`: transcendent memory, removed from Xen.
    pub const TMEM_OP: u64 = 38;
    /// `argo_op`.
    pub const ARGO_OP: u64 = 39;
    /// `xenpmu_op`.
    pub const XENPMU_OP: u64 = 40;
    /// `dm_op`: device model.
    pub const DM_OP: u64 = 41;
    /// `hypfs_op`.
    pub const HYPFS_OP: u64 = 42;
    /// First architecture-specific hypercall (`arch_0`); on x86 this is `mca`.
    pub const ARCH_0: u64 = 48;
    /// Last architecture-specific hypercall (`arch_7`).
    pub const ARCH_7: u64 = 55;
    /// x86 machine-check hypercall (`__HYPERVISOR_mca` = `arch_0`).
    pub const MCA: u64 = ARCH_0;

    /// Xen's name for hypercall `nr` without the `__HYPERVISOR_` prefix (`"mmu_update"`), for
    /// log lines; `"unknown"` for numbers Xen does not assign.
    pub const fn name(nr: u64) -> &'static str {
        match nr {
            SET_TRAP_TABLE => "set_trap_table",
            MMU_UPDATE => "mmu_update",
            SET_GDT => "set_gdt",
            STACK_SWITCH => "stack_switch",
            SET_CALLBACKS => "set_callbacks",
            FPU_TASKSWITCH => "fpu_taskswitch",
            SCHED_OP_COMPAT => "sched_op_compat",
            PLATFORM_OP => "platform_op",
            SET_DEBUGREG => "set_debugreg",
            GET_DEBUGREG => "get_debugreg",
            UPDATE_DESCRIPTOR => "update_descriptor",
            MEMORY_OP => "memory_op",
            MULTICALL => "multicall",
            UPDATE_VA_MAPPING => "update_va_mapping",
            SET_TIMER_OP => "set_timer_op",
            EVENT_CHANNEL_OP_COMPAT => "event_channel_op_compat",
            XEN_VERSION => "xen_version",
            CONSOLE_IO => "console_io",
            PHYSDEV_OP_COMPAT => "physdev_op_compat",
            GRANT_TABLE_OP => "grant_table_op",
            VM_ASSIST => "vm_assist",
            UPDATE_VA_MAPPING_OTHERDOMAIN => "update_va_mapping_otherdomain",
            IRET => "iret",
            VCPU_OP => "vcpu_op",
            SET_SEGMENT_BASE => "set_segment_base",
            MMUEXT_OP => "mmuext_op",
            XSM_OP => "xsm_op",
            NMI_OP => "nmi_op",
            SCHED_OP => "sched_op",
            CALLBACK_OP => "callback_op",
            XENOPROF_OP => "xenoprof_op",
            EVENT_CHANNEL_OP => "event_channel_op",
            PHYSDEV_OP => "physdev_op",
            HVM_OP => "hvm_op",
            SYSCTL => "sysctl",
            DOMCTL => "domctl",
            KEXEC_OP => "kexec_op",
            TMEM_OP => "tmem_op",
            ARGO_OP => "argo_op",
            XENPMU_OP => "xenpmu_op",
            DM_OP => "dm_op",
            HYPFS_OP => "hypfs_op",
            MCA => "mca",
            49 => "arch_1",
            50 => "arch_2",
            51 => "arch_3",
            52 => "arch_4",
            53 => "arch_5",
            54 => "arch_6",
            ARCH_7 => "arch_7",
            _ => "unknown",
        }
    }
}

/// Size of one hypercall-page slot: hypercall `nr` starts at byte `nr * 32` of the page.
pub const HYPERCALL_PAGE_SLOT_SIZE: usize = 32;
/// Number of slots in the 4 KiB hypercall page.
pub const HYPERCALL_PAGE_SLOTS: usize = 4096 / HYPERCALL_PAGE_SLOT_SIZE;

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

// ---------------------------------------------------------------------------------------
// start_info
// ---------------------------------------------------------------------------------------

/// `start_info.magic` for a 64-bit PV guest (`"xen-<version>-<platform>"`); the rest of the
/// 32-byte field is NUL.
pub const START_INFO_MAGIC: &[u8; 14] = b"xen-3.0-x86_64";
/// Size of `start_info.cmd_line`, including the terminating NUL.
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// `start_info.flags`: the domain is privileged.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// `start_info.flags`: the domain is the initial control domain (dom0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// `start_info.flags`: `mod_start` points at a multiboot module list.
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// `start_info.flags`: `mod_start` is a PFN (the initrd is not mapped), not a VA.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
/// `start_info.flags`: the tools understand a virtually mapped p2m.
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
/// `start_info.flags`: byte reserved for power-management options.
pub const SIF_PM_MASK: u32 = 0xFF << 8;

/// The `start_info.console` union (`xen.h`), laid out as its domU view.
///
/// For a domU: `mfn` is the machine frame of the console ring and `evtchn` its event
/// channel. For dom0 the same 8 bytes at offset 0 are instead `{ info_off: u32, info_size:
/// u32 }`, locating a `dom0_vga_console_info` inside the start_info page; read them with
/// [`StartInfoConsole::dom0_info_off`] and [`StartInfoConsole::dom0_info_size`].
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartInfoConsole {
    /// domU: MFN of the console ring page.
    pub mfn: u64,
    /// domU: event channel of the console ring.
    pub evtchn: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
}
crate::abi_layout!(StartInfoConsole, 16, mfn @ 0, evtchn @ 8, pad0 @ 12);

impl StartInfoConsole {
    /// dom0 view: offset of the console info inside the start_info page (low half of `mfn`).
    pub const fn dom0_info_off(&self) -> u32 {
        self.mfn as u32
    }

    /// dom0 view: size of the console info (high half of `mfn`).
    pub const fn dom0_info_size(&self) -> u32 {
        (self.mfn >> 32) as u32
    }
}

/// The start-of-day information page (`struct start_info`, `xen.h`; 1168 bytes).
///
/// The domain builder fills it and passes its virtual address in `rsi`. Fields up to
/// `console` are rewritten on resume; the rest are only meaningful at boot. Addresses are
/// machine addresses/frames where the name says so (`shared_info`, `store_mfn`,
/// `console.mfn`) and guest virtual addresses otherwise (`pt_base`, `mfn_list`,
/// `mod_start` unless [`SIF_MOD_START_PFN`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StartInfo {
    /// [`START_INFO_MAGIC`], NUL-padded.
    pub magic: [u8; 32],
    /// Total pages allocated to the domain.
    pub nr_pages: u64,
    /// Machine address of the shared_info page.
    pub shared_info: u64,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// MFN of the xenstore ring page.
    pub store_mfn: u64,
    /// Event channel of the xenstore ring (0: none).
    pub store_evtchn: u32,
    /// Padding (implicit in C).
    pub pad1: u32,
    /// Console ring (domU) or console info location (dom0).
    pub console: StartInfoConsole,
    /// Virtual address of the bootstrap L4 page table.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the pfn→mfn list (one `u64` per pfn).
    pub mfn_list: u64,
    /// Virtual address (or PFN, see [`SIF_MOD_START_PFN`]) of the initrd; 0 if none.
    pub mod_start: u64,
    /// Size of the initrd in bytes.
    pub mod_len: u64,
    /// Kernel command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First pfn of a relocated initial p2m (`XEN_ELFNOTE_INIT_P2M`), incl. its page tables.
    pub first_p2m_pfn: u64,
    /// Number of pfns in that relocated p2m region.
    pub nr_p2m_frames: u64,
}
crate::abi_layout!(StartInfo, 1168,
    magic @ 0, nr_pages @ 32, shared_info @ 40, flags @ 48, pad0 @ 52, store_mfn @ 56,
    store_evtchn @ 64, pad1 @ 68, console @ 72, pt_base @ 88, nr_pt_frames @ 96,
    mfn_list @ 104, mod_start @ 112, mod_len @ 120, cmd_line @ 128, first_p2m_pfn @ 1152,
    nr_p2m_frames @ 1160);

// ---------------------------------------------------------------------------------------
// shared_info, vcpu_info, vcpu_time_info
// ---------------------------------------------------------------------------------------

/// Number of `vcpu_info` slots in the shared_info page (`arch-x86/xen.h`). vCPUs beyond this
/// must use `VCPUOP_register_vcpu_info`.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// [`VcpuTimeInfo::flags`]: the TSC is stable across vCPUs (pvclock).
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// [`VcpuTimeInfo::flags`]: the guest was stopped (pvclock).
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Per-vCPU time base (`struct vcpu_time_info`, `xen.h`; 32 bytes).
///
/// Written by the hypervisor like a seqlock: `version` is incremented (to odd) before and
/// (to even) after an update; a reader retries while it is odd or changed under it. Time
/// now, in ns since boot: `system_time + (((tsc - tsc_timestamp) << tsc_shift) *
/// tsc_to_system_mul) >> 32`, with a negative shift meaning a right shift
/// ([`VcpuTimeInfo::system_time_at`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuTimeInfo {
    /// Update counter; odd while an update is in progress.
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// TSC at the last update.
    pub tsc_timestamp: u64,
    /// System time (ns since boot) at `tsc_timestamp`.
    pub system_time: u64,
    /// TSC→ns multiplier, a 32.32 fixed-point fraction.
    pub tsc_to_system_mul: u32,
    /// Shift applied to the TSC delta before multiplying (negative: right shift).
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad1: [u8; 2],
}
crate::abi_layout!(VcpuTimeInfo, 32,
    version @ 0, pad0 @ 4, tsc_timestamp @ 8, system_time @ 16, tsc_to_system_mul @ 24,
    tsc_shift @ 28, flags @ 29, pad1 @ 30);

impl VcpuTimeInfo {
    /// System time (ns) at TSC value `tsc`, by the header's formula: the delta is shifted
    /// (bits shifted out are lost, a shift of 64 or more yields 0), multiplied at 96 bits and
    /// scaled down by 2^32. A `tsc` before `tsc_timestamp` wraps, as in Xen. Never panics.
    pub const fn system_time_at(&self, tsc: u64) -> u64 {
        let delta = tsc.wrapping_sub(self.tsc_timestamp);
        let shift = self.tsc_shift.unsigned_abs() as u32;
        let shifted = if self.tsc_shift >= 0 {
            match delta.checked_shl(shift) {
                Some(value) => value,
                None => 0,
            }
        } else {
            match delta.checked_shr(shift) {
                Some(value) => value,
                None => 0,
            }
        };
        let scaled = ((shifted as u128 * self.tsc_to_system_mul as u128) >> 32) as u64;
        self.system_time.wrapping_add(scaled)
    }
}

/// x86 part of `vcpu_info` (`struct arch_vcpu_info`, `arch-x86/xen-x86_64.h`; 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ArchVcpuInfo {
    /// Faulting address of the last page fault bounced to the guest (virtual CR2).
    pub cr2: u64,
    /// Padding (keeps `vcpu_info` at 64 bytes).
    pub pad: u64,
}
crate::abi_layout!(ArchVcpuInfo, 16, cr2 @ 0, pad @ 8);

/// Per-vCPU event and time state (`struct vcpu_info`, `xen.h`; 64 bytes), in shared_info
/// (`vcpu_info[vcpu]`) or wherever `VCPUOP_register_vcpu_info` moved it.
///
/// Event delivery: the hypervisor sets a port's pending bit; if that bit went 0→1 and the
/// port is unmasked it sets the port's word bit in `evtchn_pending_sel` and then
/// `evtchn_upcall_pending`; if `evtchn_upcall_mask` is 0 it bounces the vCPU to its event
/// callback. The guest clears `evtchn_upcall_pending` before scanning. `evtchn_upcall_mask`
/// is the guest's "interrupts disabled" flag; the hypervisor sets it when delivering an
/// event (or an interrupt-like trap) and clears it when the vCPU blocks.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuInfo {
    /// Non-zero: an event upcall is pending.
    pub evtchn_upcall_pending: u8,
    /// Non-zero: upcalls are masked.
    pub evtchn_upcall_mask: u8,
    /// Padding (implicit in C).
    pub pad0: [u8; 6],
    /// Bit `i`: word `i` of `evtchn_pending` has a newly pending unmasked port.
    pub evtchn_pending_sel: u64,
    /// x86 state (virtual CR2).
    pub arch: ArchVcpuInfo,
    /// Time base.
    pub time: VcpuTimeInfo,
}
crate::abi_layout!(VcpuInfo, 64,
    evtchn_upcall_pending @ 0, evtchn_upcall_mask @ 1, pad0 @ 2, evtchn_pending_sel @ 8,
    arch @ 16, time @ 32);

/// x86 part of shared_info (`struct arch_shared_info`, `arch-x86/xen.h`; 48 bytes), all
/// written by the guest for the tools' benefit (p2m location, for save/restore and dumps).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ArchSharedInfo {
    /// Number of valid p2m entries.
    pub max_pfn: u64,
    /// MFN of the p2m frame-list-list (3-level tree); 0 = not set up, `!0` = too large,
    /// use the linear p2m at `p2m_vaddr`.
    pub pfn_to_mfn_frame_list_list: u64,
    /// NMI reason bits.
    pub nmi_reason: u64,
    /// cr3 of the address space where `p2m_vaddr` is valid; 0 = the next two are invalid.
    pub p2m_cr3: u64,
    /// Virtual address of the linear p2m list.
    pub p2m_vaddr: u64,
    /// Incremented by the guest around p2m mapping changes (odd = in progress).
    pub p2m_generation: u64,
}
crate::abi_layout!(ArchSharedInfo, 48,
    max_pfn @ 0, pfn_to_mfn_frame_list_list @ 8, nmi_reason @ 16, p2m_cr3 @ 24,
    p2m_vaddr @ 32, p2m_generation @ 40);

/// Bytes of the shared_info page that `struct shared_info` covers; the rest is unused.
pub const SHARED_INFO_USED: usize = 3136;

/// The shared_info page (`struct shared_info`, `xen.h`), as a whole 4096-byte page: Xen's
/// 3136-byte structure plus [`SharedInfo::unused`] up to the page end.
///
/// One per domain; the guest finds its machine address in `start_info.shared_info` and maps
/// it. `evtchn_pending`/`evtchn_mask` are the 2-level event-channel bitmaps (bit `p % 64` of
/// word `p / 64` is port `p`): pending is set by the hypervisor and cleared by the guest,
/// mask is owned by the guest and only read by the hypervisor. The wallclock
/// (`wc_sec_hi:wc_sec`, `wc_nsec`: Unix time at system time 0) is versioned like
/// [`VcpuTimeInfo`] through `wc_version`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SharedInfo {
    /// Per-vCPU state for vCPUs `0..XEN_LEGACY_MAX_VCPUS`.
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// Event-channel pending bitmap (4096 ports).
    pub evtchn_pending: [u64; 64],
    /// Event-channel mask bitmap (4096 ports).
    pub evtchn_mask: [u64; 64],
    /// Wallclock update counter; odd while updating.
    pub wc_version: u32,
    /// Wallclock seconds (low 32 bits).
    pub wc_sec: u32,
    /// Wallclock nanoseconds.
    pub wc_nsec: u32,
    /// Wallclock seconds (high 32 bits).
    pub wc_sec_hi: u32,
    /// x86 part (p2m location, NMI reason).
    pub arch: ArchSharedInfo,
    /// Rest of the page: not part of Xen's structure, never read by Xen.
    pub unused: [u8; 4096 - SHARED_INFO_USED],
}
crate::abi_layout!(SharedInfo, 4096,
    vcpu_info @ 0, evtchn_pending @ 2048, evtchn_mask @ 2560, wc_version @ 3072,
    wc_sec @ 3076, wc_nsec @ 3080, wc_sec_hi @ 3084, arch @ 3088, unused @ SHARED_INFO_USED);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypercall_names() {
        assert_eq!(hypercall::name(hypercall::MMU_UPDATE), "mmu_update");
        assert_eq!(hypercall::name(hypercall::IRET), "iret");
        assert_eq!(hypercall::name(hypercall::MMUEXT_OP), "mmuext_op");
        assert_eq!(hypercall::name(48), "mca");
        assert_eq!(hypercall::name(55), "arch_7");
        for unassigned in [11, 43, 47, 56, 127, u64::MAX] {
            assert_eq!(hypercall::name(unassigned), "unknown");
        }
    }

    #[test]
    fn every_assigned_number_fits_the_page() {
        for nr in 0..HYPERCALL_PAGE_SLOTS as u64 {
            if hypercall::name(nr) != "unknown" {
                assert!(nr < 56);
            }
        }
        assert_eq!(HYPERCALL_PAGE_SLOTS, 128);
    }

    #[test]
    fn mmu_update_splits_ptr() {
        let req = MmuUpdate {
            ptr: 0x1234_5000 | MMU_PT_UPDATE_PRESERVE_AD,
            val: 0,
        };
        assert_eq!(req.command(), MMU_PT_UPDATE_PRESERVE_AD);
        assert_eq!(req.address(), 0x1234_5000);
    }

    #[test]
    fn foreigndom_decoding() {
        assert_eq!(foreigndom_fd(u32::from(DOMID_SELF)), DOMID_SELF);
        assert_eq!(foreigndom_pfd(u32::from(DOMID_SELF)), DOMID_SELF);
        assert_eq!(foreigndom_fd(0x0004_0007), 7);
        assert_eq!(foreigndom_pfd(0x0004_0007), 3);
        assert_eq!(foreigndom_pfd(0), DOMID_SELF);
        assert_eq!(foreigndom_pfd(u32::MAX), 0xFFFE);
    }

    #[test]
    fn mmuext_nr_ents_ignores_high_half() {
        let op = MmuextOp {
            cmd: MMUEXT_SET_LDT,
            pad0: 0,
            arg1: 0,
            arg2: 0xDEAD_BEEF_0000_0010,
        };
        assert_eq!(op.nr_ents(), 16);
    }

    #[test]
    fn trap_info_flags() {
        let ti = TrapInfo::new(14, trap_flags(0, true), 0xe033, 0xffff_8000_0000_1000);
        assert_eq!(ti.dpl(), 0);
        assert!(ti.masks_events());
        assert!(!ti.is_terminator());
        let ti = TrapInfo::new(0x80, trap_flags(3, false), 0xe033, 0);
        assert_eq!(ti.dpl(), 3);
        assert!(!ti.masks_events());
        assert!(ti.is_terminator());
        assert_eq!(trap_flags(7, false), 3);
    }
    #[test]
    fn dom0_console_view() {
        let console = StartInfoConsole {
            mfn: 0x0000_0040_0000_0200,
            evtchn: 0,
            pad0: 0,
        };
        assert_eq!(console.dom0_info_off(), 0x200);
        assert_eq!(console.dom0_info_size(), 0x40);
    }

    #[test]
    fn start_info_round_trips_through_bytes() {
        use zerocopy::FromZeros;
        let mut si = StartInfo::new_zeroed();
        si.magic[..START_INFO_MAGIC.len()].copy_from_slice(START_INFO_MAGIC);
        si.nr_pages = 0x4000;
        si.console.evtchn = 2;
        si.nr_p2m_frames = 7;
        let bytes = si.as_bytes();
        assert_eq!(bytes.len(), 1168);
        assert_eq!(&bytes[..14], b"xen-3.0-x86_64");
        assert_eq!(bytes[32..40], 0x4000u64.to_le_bytes());
        assert_eq!(bytes[80..84], 2u32.to_le_bytes());
        let back = StartInfo::read_from_bytes(bytes).unwrap();
        assert_eq!(back.nr_p2m_frames, 7);
    }

    #[test]
    fn shared_info_is_one_page() {
        assert_eq!(core::mem::size_of::<SharedInfo>(), 4096);
        assert_eq!(
            core::mem::size_of::<[VcpuInfo; XEN_LEGACY_MAX_VCPUS]>(),
            2048
        );
    }

    fn time(tsc_timestamp: u64, system_time: u64, mul: u32, shift: i8) -> VcpuTimeInfo {
        VcpuTimeInfo {
            version: 2,
            pad0: 0,
            tsc_timestamp,
            system_time,
            tsc_to_system_mul: mul,
            tsc_shift: shift,
            flags: 0,
            pad1: [0; 2],
        }
    }

    #[test]
    fn system_time_formula() {
        // 2 GHz TSC: 0.5 ns per tick = mul 2^31 with shift 0.
        let t = time(1000, 5_000, 1 << 31, 0);
        assert_eq!(t.system_time_at(1000), 5_000);
        assert_eq!(t.system_time_at(3000), 6_000);
        // Shift -1 halves the delta first; shift +1 doubles it.
        assert_eq!(time(0, 0, 1 << 31, -1).system_time_at(4000), 1_000);
        assert_eq!(time(0, 0, 1 << 31, 1).system_time_at(4000), 4_000);
        // Full-width product does not overflow.
        assert_eq!(
            time(0, 0, u32::MAX, 0).system_time_at(u64::MAX),
            0xFFFF_FFFE_FFFF_FFFF
        );
    }

    #[test]
    fn system_time_never_panics_on_odd_values() {
        for shift in [i8::MIN, -64, -63, 63, 64, i8::MAX] {
            let t = time(u64::MAX, u64::MAX, u32::MAX, shift);
            let _ = t.system_time_at(0);
            let _ = t.system_time_at(u64::MAX);
        }
        assert_eq!(time(0, 9, 1, 64).system_time_at(5), 9);
        assert_eq!(time(0, 9, 1, -64).system_time_at(5), 9);
    }
}
