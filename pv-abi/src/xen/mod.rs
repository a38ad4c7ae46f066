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

mod calls;
mod mmu;
mod shared_info;
mod start_info;

pub use calls::*;
pub use mmu::*;
pub use shared_info::*;
pub use start_info::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromBytes, IntoBytes};

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
    fn start_info_cmdline_stops_at_nul() {
        use zerocopy::FromZeros;
        let mut si = StartInfo::new_zeroed();
        assert_eq!(si.cmdline(), "");
        si.cmd_line[..13].copy_from_slice(b"nosuper x=1\0y");
        assert_eq!(si.cmdline(), "nosuper x=1");
        si.cmd_line.fill(b'a');
        assert_eq!(si.cmdline().len(), MAX_GUEST_CMDLINE);
        si.cmd_line[0] = 0xFF;
        assert_eq!(si.cmdline(), "");
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
