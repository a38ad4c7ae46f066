//! The boot vCPU's initial register state for a laid-out 64-bit PV domain.
//!
//! Mirrors the toolstack's `vcpu_x86_64`: all registers zero except
//!
//! ```text
//!  rip = entry            rsp = top of the boot stack page    rsi = VA of start_info
//!  rflags = IF (0x200)    cs = FLAT_KERNEL_CS64 (0xe033)      ss = FLAT_KERNEL_SS64 (0xe02b)
//!  ds = es = fs = gs = 0  cr3 = mfn(L4) << 12                 kernel_ss:kernel_sp = ss:rsp
//!  flags = VGCF_in_kernel | VGCF_online   dr6 = 0xffff0ff0    dr7 = 0x400
//! ```

pub use pv_abi::arch_x86::{
    FLAT_KERNEL_CS64, FLAT_KERNEL_DS64, FLAT_KERNEL_SS64, VGCF_IN_KERNEL, VGCF_ONLINE,
};

use super::layout::StartOfDayLayout;

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;
/// Architectural reset value of DR6.
pub const DR6_DEFAULT: u64 = 0xffff_0ff0;
/// Architectural reset value of DR7.
pub const DR7_DEFAULT: u64 = 0x400;

/// Registers of the boot vCPU (everything not listed is zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootVcpuState {
    /// Entry point.
    pub rip: u64,
    /// Top of the boot stack.
    pub rsp: u64,
    /// VA of start_info.
    pub rsi: u64,
    /// IF only.
    pub rflags: u64,
    /// Code selector.
    pub cs: u16,
    /// Stack selector.
    pub ss: u16,
    /// Data selectors ds/es/fs/gs.
    pub data_selector: u16,
    /// Machine address of the bootstrap L4.
    pub cr3: u64,
    /// Kernel stack selector for ring transitions (`kernel_ss`).
    pub kernel_ss: u16,
    /// Kernel stack pointer for ring transitions (`kernel_sp`).
    pub kernel_sp: u64,
    /// `VGCF_*`.
    pub flags: u64,
    /// DR6.
    pub dr6: u64,
    /// DR7.
    pub dr7: u64,
}

impl BootVcpuState {
    /// The boot state for `layout`, entering at `entry`, with the bootstrap L4 at machine
    /// frame `l4_mfn`.
    pub fn new(layout: &StartOfDayLayout, entry: u64, l4_mfn: u64) -> Self {
        let rsp = layout.boot_stack_top();
        Self {
            rip: entry,
            rsp,
            rsi: layout.start_info_va(),
            rflags: RFLAGS_IF,
            cs: FLAT_KERNEL_CS64,
            ss: FLAT_KERNEL_SS64,
            data_selector: FLAT_KERNEL_DS64,
            cr3: l4_mfn << 12,
            kernel_ss: FLAT_KERNEL_SS64,
            kernel_sp: rsp,
            flags: VGCF_IN_KERNEL | VGCF_ONLINE,
            dr6: DR6_DEFAULT,
            dr7: DR7_DEFAULT,
        }
    }
}
