//! `physdev_op` (`xen/include/public/physdev.h`): the sub-operations a PV domU without
//! passed-through devices meets — IOPL, the I/O bitmap, IRQ status and EOI, and the PIRQ
//! EOI page — plus the full list of sub-operation numbers so a dispatcher can name them.
//!
//! Prototype: `physdev_op(cmd, arg)`. The legacy `physdev_op_compat` (hypercall 19) takes a
//! single pointer to `{ u32 cmd; union arg }` instead. Constant names are Xen's, upper-cased.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Obsolete since interface 0x00030202; unsupported by current Xen.
pub const PHYSDEVOP_IRQ_UNMASK_NOTIFY: u32 = 4;
/// Query an IRQ's status; `arg` → [`PhysdevIrqStatusQuery`].
pub const PHYSDEVOP_IRQ_STATUS_QUERY: u32 = 5;
/// Set the vCPU's virtual I/O privilege level; `arg` → [`PhysdevSetIopl`].
pub const PHYSDEVOP_SET_IOPL: u32 = 6;
/// Set the vCPU's I/O-port permission bitmap; `arg` → [`PhysdevSetIobitmap`].
pub const PHYSDEVOP_SET_IOBITMAP: u32 = 7;
/// Read an IO-APIC register (privileged).
pub const PHYSDEVOP_APIC_READ: u32 = 8;
/// Write an IO-APIC register (privileged).
pub const PHYSDEVOP_APIC_WRITE: u32 = 9;
/// Allocate an upcall vector for an IRQ (privileged).
pub const PHYSDEVOP_ALLOC_IRQ_VECTOR: u32 = 10;
/// Free an IRQ's upcall vector (privileged).
pub const PHYSDEVOP_FREE_IRQ_VECTOR: u32 = 11;
/// Signal end-of-interrupt for a PIRQ; `arg` → [`PhysdevEoi`].
pub const PHYSDEVOP_EOI: u32 = 12;
/// Map a GSI/MSI to a PIRQ (with devices).
pub const PHYSDEVOP_MAP_PIRQ: u32 = 13;
/// Unmap a PIRQ (with devices).
pub const PHYSDEVOP_UNMAP_PIRQ: u32 = 14;
/// Report a PCI device (dom0).
pub const PHYSDEVOP_MANAGE_PCI_ADD: u32 = 15;
/// Report a PCI device's removal (dom0).
pub const PHYSDEVOP_MANAGE_PCI_REMOVE: u32 = 16;
/// Register the PIRQ EOI page, v1 semantics (also changes `PHYSDEVOP_eoi`); `arg` →
/// [`PhysdevPirqEoiGmfn`].
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V1: u32 = 17;
/// Restore MSI state after resume (dom0).
pub const PHYSDEVOP_RESTORE_MSI: u32 = 19;
/// Report a PCI device with extended info (dom0).
pub const PHYSDEVOP_MANAGE_PCI_ADD_EXT: u32 = 20;
/// Set up a GSI (dom0).
pub const PHYSDEVOP_SETUP_GSI: u32 = 21;
/// Allocate a free PIRQ number.
pub const PHYSDEVOP_GET_FREE_PIRQ: u32 = 23;
/// Report reserved MMCONFIG space (dom0).
pub const PHYSDEVOP_PCI_MMCFG_RESERVED: u32 = 24;
/// Add a PCI device (dom0).
pub const PHYSDEVOP_PCI_DEVICE_ADD: u32 = 25;
/// Remove a PCI device (dom0).
pub const PHYSDEVOP_PCI_DEVICE_REMOVE: u32 = 26;
/// Restore MSI state, extended (dom0).
pub const PHYSDEVOP_RESTORE_MSI_EXT: u32 = 27;
/// Register the PIRQ EOI page (bit `pirq` set ⇒ the guest must issue `PHYSDEVOP_eoi`);
/// `arg` → [`PhysdevPirqEoiGmfn`].
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V2: u32 = 28;
/// Debug-port (USB debug) operation (dom0).
pub const PHYSDEVOP_DBGP_OP: u32 = 29;
/// Prepare MSI-X (dom0).
pub const PHYSDEVOP_PREPARE_MSIX: u32 = 30;
/// Release MSI-X (dom0).
pub const PHYSDEVOP_RELEASE_MSIX: u32 = 31;
/// Reset a PCI device (dom0).
pub const PHYSDEVOP_PCI_DEVICE_RESET: u32 = 32;

/// [`PhysdevIrqStatusQuery::flags`]: the guest must issue `PHYSDEVOP_eoi` after servicing.
pub const XENIRQSTAT_NEEDS_EOI: u32 = 1 << 0;
/// [`PhysdevIrqStatusQuery::flags`]: the IRQ is shared with other guests.
pub const XENIRQSTAT_SHARED: u32 = 1 << 1;

/// Argument of `PHYSDEVOP_set_iopl` (`struct physdev_set_iopl`, `physdev.h`; 4 bytes).
/// Values above 3 are refused with `-EINVAL`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PhysdevSetIopl {
    /// New virtual IOPL, 0..=3.
    pub iopl: u32,
}
crate::abi_layout!(PhysdevSetIopl, 4, iopl @ 0);

/// Argument of `PHYSDEVOP_set_iobitmap` (`struct physdev_set_iobitmap`, `physdev.h`;
/// 16 bytes): ports `0..nr_ports` are governed by the bitmap at guest address `bitmap`
/// (bit set = access denied, as in a TSS I/O bitmap). With `nr_ports` ≠ 0 Xen always reads
/// 2 bytes at a time, possibly one past `nr_ports` bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PhysdevSetIobitmap {
    /// Guest address of the bitmap.
    pub bitmap: u64,
    /// Number of ports covered.
    pub nr_ports: u32,
    /// Padding (implicit in C).
    pub pad0: u32,
}
crate::abi_layout!(PhysdevSetIobitmap, 16, bitmap @ 0, nr_ports @ 8, pad0 @ 12);

/// Argument of `PHYSDEVOP_eoi` (`struct physdev_eoi`, `physdev.h`; 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PhysdevEoi {
    /// PIRQ serviced.
    pub irq: u32,
}
crate::abi_layout!(PhysdevEoi, 4, irq @ 0);

/// Argument of `PHYSDEVOP_irq_status_query` (`struct physdev_irq_status_query`,
/// `physdev.h`; 8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PhysdevIrqStatusQuery {
    /// IN: the PIRQ.
    pub irq: u32,
    /// OUT: `XENIRQSTAT_*` flags.
    pub flags: u32,
}
crate::abi_layout!(PhysdevIrqStatusQuery, 8, irq @ 0, flags @ 4);

/// Argument of `PHYSDEVOP_pirq_eoi_gmfn_v1` / `_v2` (`struct physdev_pirq_eoi_gmfn`,
/// `physdev.h`; 8 bytes): the guest frame (MFN for PV) the hypervisor uses as a bitmap,
/// indexed by PIRQ, of "EOI needed".
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PhysdevPirqEoiGmfn {
    /// The bitmap frame.
    pub gmfn: u64,
}
crate::abi_layout!(PhysdevPirqEoiGmfn, 8, gmfn @ 0);

/// Alias matching the `_v2` name used by the PV Linux and Mini-OS sources.
pub type PhysdevPirqEoiGmfnV2 = PhysdevPirqEoiGmfn;
