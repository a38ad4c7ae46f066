//! `vcpu_op` (`xen/include/public/vcpu.h`): bringing vCPUs up and down, runstate and time
//! areas, per-vCPU timers and relocating `vcpu_info`.
//!
//! Prototype: `vcpu_op(cmd, vcpuid, arg)` with `cmd` a `VCPUOP_*`. Constant names are
//! Xen's, upper-cased.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Set the initial state of a vCPU that was never initialised; `arg` →
/// `crate::arch_x86::VcpuGuestContext`. The vCPU stays down until [`VCPUOP_UP`].
pub const VCPUOP_INITIALISE: u32 = 0;
/// Make an initialised vCPU runnable.
pub const VCPUOP_UP: u32 = 1;
/// Make a vCPU non-runnable (asynchronous unless called by the vCPU itself).
pub const VCPUOP_DOWN: u32 = 2;
/// Returns 1 if the vCPU is up, 0 otherwise.
pub const VCPUOP_IS_UP: u32 = 3;
/// Copy the vCPU's runstate out; `arg` → [`VcpuRunstateInfo`].
pub const VCPUOP_GET_RUNSTATE_INFO: u32 = 4;
/// Register a guest virtual address where the hypervisor keeps a [`VcpuRunstateInfo`]
/// up to date; `arg` → [`VcpuRegisterRunstateMemoryArea`]. One area per vCPU.
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
/// Start the periodic timer; `arg` → [`VcpuSetPeriodicTimer`].
pub const VCPUOP_SET_PERIODIC_TIMER: u32 = 6;
/// Stop the periodic timer. `arg` is NULL.
pub const VCPUOP_STOP_PERIODIC_TIMER: u32 = 7;
/// Arm the single-shot timer; `arg` → [`VcpuSetSingleshotTimer`].
pub const VCPUOP_SET_SINGLESHOT_TIMER: u32 = 8;
/// Disarm the single-shot timer. `arg` is NULL.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u32 = 9;
/// Move `vcpu_info` out of shared_info to a guest frame; `arg` →
/// [`VcpuRegisterVcpuInfo`]. Allowed once per vCPU.
pub const VCPUOP_REGISTER_VCPU_INFO: u32 = 10;
/// Send an NMI to the vCPU. `arg` is NULL.
pub const VCPUOP_SEND_NMI: u32 = 11;
/// Physical APIC/ACPI id of a pinned vCPU's CPU (`-EINVAL` otherwise).
pub const VCPUOP_GET_PHYSID: u32 = 12;
/// Register a guest virtual address for a second copy of `vcpu_time_info`; `arg` →
/// [`VcpuRegisterTimeMemoryArea`].
pub const VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA: u32 = 13;
/// As [`VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA`] but the address is a guest *physical*
/// address (must not cross a page; `!0` unregisters). Advertised by
/// `XENFEAT_runstate_phys_area`.
pub const VCPUOP_REGISTER_RUNSTATE_PHYS_AREA: u32 = 14;
/// As [`VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA`] by guest physical address. Advertised by
/// `XENFEAT_vcpu_time_phys_area`.
pub const VCPUOP_REGISTER_VCPU_TIME_PHYS_AREA: u32 = 15;

/// Runstate: running on a physical CPU.
pub const RUNSTATE_RUNNING: i32 = 0;
/// Runstate: runnable but not scheduled.
pub const RUNSTATE_RUNNABLE: i32 = 1;
/// Runstate: blocked (idle).
pub const RUNSTATE_BLOCKED: i32 = 2;
/// Runstate: neither runnable nor blocked (paused, hot-unplugged, ...).
pub const RUNSTATE_OFFLINE: i32 = 3;

/// Bit 63 of [`VcpuRunstateInfo::state_entry_time`]: set while the hypervisor updates a
/// guest-mapped runstate area, if the guest enabled `VMASST_TYPE_runstate_update_flag`.
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// A vCPU's scheduling state and accumulated times (`struct vcpu_runstate_info`,
/// `vcpu.h`; 48 bytes). The sum of `time[]` tracks system time without drift.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuRunstateInfo {
    /// Current `RUNSTATE_*`.
    pub state: i32,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// System time (ns) when `state` was entered; bit 63 may be [`XEN_RUNSTATE_UPDATE`].
    pub state_entry_time: u64,
    /// Time (ns) spent in each `RUNSTATE_*`, indexed by state.
    pub time: [u64; 4],
}
crate::abi_layout!(VcpuRunstateInfo, 48, state @ 0, pad0 @ 4, state_entry_time @ 8, time @ 16);

/// Argument of `VCPUOP_register_runstate_memory_area` and `_phys_area`
/// (`struct vcpu_register_runstate_memory_area`, `vcpu.h`; 8 bytes): the address (virtual,
/// or guest physical for the `_phys_` variant) of a [`VcpuRunstateInfo`].
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// Address of the area (union `h`/`v`/`p` in C).
    pub addr: u64,
}
crate::abi_layout!(VcpuRegisterRunstateMemoryArea, 8, addr @ 0);

/// Argument of `VCPUOP_set_periodic_timer` (`struct vcpu_set_periodic_timer`, `vcpu.h`;
/// 8 bytes). Periods below 1 ms may be refused.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuSetPeriodicTimer {
    /// Period in ns.
    pub period_ns: u64,
}
crate::abi_layout!(VcpuSetPeriodicTimer, 8, period_ns @ 0);

/// [`VcpuSetSingleshotTimer::flags`]: fail with `-ETIME` if the timeout is already past
/// (the hypervisor may ignore this flag).
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << 0;

/// Argument of `VCPUOP_set_singleshot_timer` (`struct vcpu_set_singleshot_timer`,
/// `vcpu.h`; 16 bytes): raise `VIRQ_TIMER` at absolute system time `timeout_abs_ns`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuSetSingleshotTimer {
    /// Deadline, absolute system time in ns.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*` flags.
    pub flags: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
}
crate::abi_layout!(VcpuSetSingleshotTimer, 16, timeout_abs_ns @ 0, flags @ 8, pad0 @ 12);

/// Argument of `VCPUOP_register_vcpu_info` (`struct vcpu_register_vcpu_info`, `vcpu.h`;
/// 16 bytes): place the vCPU's `vcpu_info` at byte `offset` of frame `mfn`. The 64-byte
/// structure must not cross the page end.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuRegisterVcpuInfo {
    /// Frame (MFN for PV) holding the new `vcpu_info`.
    pub mfn: u64,
    /// Byte offset inside the frame.
    pub offset: u32,
    /// Unused.
    pub rsvd: u32,
}
crate::abi_layout!(VcpuRegisterVcpuInfo, 16, mfn @ 0, offset @ 8, rsvd @ 12);

/// Argument of `VCPUOP_register_vcpu_time_memory_area` and `_phys_area`
/// (`struct vcpu_register_time_memory_area`, `vcpu.h`; 8 bytes): the address of a
/// `vcpu_time_info` the hypervisor keeps as a second copy of the time base.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuRegisterTimeMemoryArea {
    /// Address of the area (union `h`/`v`/`p` in C).
    pub addr: u64,
}
crate::abi_layout!(VcpuRegisterTimeMemoryArea, 8, addr @ 0);

/// Result of `VCPUOP_get_physid` (`struct vcpu_get_physid`, `vcpu.h`; 8 bytes): on x86,
/// bits 31:0 the APIC id and bits 63:32 the ACPI id.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuGetPhysid {
    /// Packed APIC and ACPI ids.
    pub phys_id: u64,
}
crate::abi_layout!(VcpuGetPhysid, 8, phys_id @ 0);
