//! `shared_info`, `vcpu_info` and `vcpu_time_info` (see the layout in the parent module).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

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
