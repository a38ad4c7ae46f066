//! Event channels: `HYPERVISOR_event_channel_op` (hypercall 32) and its compat form
//! `event_channel_op_compat` (hypercall 16), mirroring `xen/include/public/event_channel.h`.
//!
//! A port is a `u32` index into a domain's event-channel table. With the 2-level ABI a 64-bit
//! guest has [`EVTCHN_2L_NR_CHANNELS`] ports whose pending/mask bits live in `shared_info`.
//! Port 0 is reserved and never valid for a binding.
//!
//! Every operation takes one structure; `IN` fields are read by the hypervisor, `OUT` fields
//! are written back on success. All structures are plain data copied in and out of guest memory.
//!
//! The VIRQ numbers and `DOMID_SELF` come from `xen.h`; they are repeated here (marked) because
//! the event-channel operations are their only users in this crate so far.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `EVTCHNOP_bind_interdomain`: connect a new local port to a remote domain's unbound port.
pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
/// `EVTCHNOP_bind_virq`: bind a virtual IRQ to a new port.
pub const EVTCHNOP_BIND_VIRQ: u32 = 1;
/// `EVTCHNOP_bind_pirq`: bind a physical IRQ to a new port (device passthrough only).
pub const EVTCHNOP_BIND_PIRQ: u32 = 2;
/// `EVTCHNOP_close`: close a port (an interdomain peer goes back to unbound).
pub const EVTCHNOP_CLOSE: u32 = 3;
/// `EVTCHNOP_send`: notify the other end of a port.
pub const EVTCHNOP_SEND: u32 = 4;
/// `EVTCHNOP_status`: report a port's state.
pub const EVTCHNOP_STATUS: u32 = 5;
/// `EVTCHNOP_alloc_unbound`: allocate a port that a named remote domain may bind to.
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
/// `EVTCHNOP_bind_ipi`: bind a new port for inter-vCPU notifications.
pub const EVTCHNOP_BIND_IPI: u32 = 7;
/// `EVTCHNOP_bind_vcpu`: choose the vCPU that receives a port's upcalls.
pub const EVTCHNOP_BIND_VCPU: u32 = 8;
/// `EVTCHNOP_unmask`: clear a port's mask and re-deliver it if it is pending.
pub const EVTCHNOP_UNMASK: u32 = 9;
/// `EVTCHNOP_reset`: close every port of a domain.
pub const EVTCHNOP_RESET: u32 = 10;
/// `EVTCHNOP_init_control`: switch to the FIFO ABI (we stay 2-level: the guest falls back).
pub const EVTCHNOP_INIT_CONTROL: u32 = 11;
/// `EVTCHNOP_expand_array`: add an event array page (FIFO ABI only).
pub const EVTCHNOP_EXPAND_ARRAY: u32 = 12;
/// `EVTCHNOP_set_priority`: set a port's priority (FIFO ABI only).
pub const EVTCHNOP_SET_PRIORITY: u32 = 13;

/// Number of ports of the 2-level ABI on a 64-bit guest: 64 words × 64 bits.
pub const EVTCHN_2L_NR_CHANNELS: u32 = 64 * 64;

/// `EVTCHNSTAT_closed`: the port is not in use.
pub const EVTCHNSTAT_CLOSED: u32 = 0;
/// `EVTCHNSTAT_unbound`: the port waits for a remote domain to bind to it.
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// `EVTCHNSTAT_interdomain`: the port is connected to a port of a remote domain.
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
/// `EVTCHNSTAT_pirq`: the port is bound to a physical IRQ.
pub const EVTCHNSTAT_PIRQ: u32 = 3;
/// `EVTCHNSTAT_virq`: the port is bound to a virtual IRQ.
pub const EVTCHNSTAT_VIRQ: u32 = 4;
/// `EVTCHNSTAT_ipi`: the port is bound for inter-vCPU notifications.
pub const EVTCHNSTAT_IPI: u32 = 5;

/// `BIND_PIRQ__WILL_SHARE`: `evtchn_bind_pirq.flags` bit allowing the IRQ to be shared.
pub const BIND_PIRQ_WILL_SHARE: u32 = 1;

// Domain ids and VIRQ numbers live in `xen.h`; re-exported here because every event-channel
// user needs them.
pub use crate::xen::{
    DOMID_FIRST_RESERVED, DOMID_SELF, NR_VIRQS, VIRQ_ARCH_0, VIRQ_ARGO, VIRQ_CONSOLE,
    VIRQ_CON_RING, VIRQ_DEBUG, VIRQ_DEBUGGER, VIRQ_DOM_EXC, VIRQ_ENOMEM, VIRQ_MEM_EVENT,
    VIRQ_PCPU_STATE, VIRQ_TBUF, VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU,
};

/// `struct evtchn_alloc_unbound` (8 B): allocate a port in `dom` that `remote_dom` may bind.
/// IN `dom`, `remote_dom` (either may be `DOMID_SELF`); OUT `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnAllocUnbound {
    /// IN: domain in which to allocate the port.
    pub dom: u16,
    /// IN: the only domain allowed to bind to the port.
    pub remote_dom: u16,
    /// OUT: the allocated port.
    pub port: u32,
}
crate::abi_layout!(EvtchnAllocUnbound, 8, dom @ 0, remote_dom @ 2, port @ 4);

/// `struct evtchn_bind_interdomain` (12 B): bind a new local port to `remote_port` of
/// `remote_dom`, which must be unbound and waiting for the caller. IN `remote_dom`,
/// `remote_port`; OUT `local_port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnBindInterdomain {
    /// IN: the remote domain (may be `DOMID_SELF` for a loopback).
    pub remote_dom: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
    /// IN: the remote unbound port.
    pub remote_port: u32,
    /// OUT: the new local port.
    pub local_port: u32,
}
crate::abi_layout!(EvtchnBindInterdomain, 12, remote_dom @ 0, remote_port @ 4, local_port @ 8);

/// `struct evtchn_bind_virq` (12 B): bind `virq` on `vcpu` to a new port. Global VIRQs
/// must name vCPU 0. IN `virq`, `vcpu`; OUT `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnBindVirq {
    /// IN: VIRQ number (`VIRQ_*`).
    pub virq: u32,
    /// IN: vCPU to bind on.
    pub vcpu: u32,
    /// OUT: the new port.
    pub port: u32,
}
crate::abi_layout!(EvtchnBindVirq, 12, virq @ 0, vcpu @ 4, port @ 8);

/// `struct evtchn_bind_pirq` (12 B): bind physical IRQ `pirq` to a new port.
/// IN `pirq`, `flags` (`BIND_PIRQ__*`); OUT `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnBindPirq {
    /// IN: physical IRQ number.
    pub pirq: u32,
    /// IN: `BIND_PIRQ__*` flags.
    pub flags: u32,
    /// OUT: the new port.
    pub port: u32,
}
crate::abi_layout!(EvtchnBindPirq, 12, pirq @ 0, flags @ 4, port @ 8);

/// `struct evtchn_bind_ipi` (8 B): bind a new port that notifies `vcpu` of the caller.
/// IN `vcpu`; OUT `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnBindIpi {
    /// IN: vCPU to notify.
    pub vcpu: u32,
    /// OUT: the new port.
    pub port: u32,
}
crate::abi_layout!(EvtchnBindIpi, 8, vcpu @ 0, port @ 4);

/// `struct evtchn_close` (4 B): close `port` of the caller. IN `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnClose {
    /// IN: port to close.
    pub port: u32,
}
crate::abi_layout!(EvtchnClose, 4, port @ 0);

/// `struct evtchn_send` (4 B): notify the other end of `port`. IN `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnSend {
    /// IN: local port.
    pub port: u32,
}
crate::abi_layout!(EvtchnSend, 4, port @ 0);

/// `struct evtchn_status` (24 B): state of `port` in `dom`.
///
/// IN `dom` (may be `DOMID_SELF`), `port`; OUT `status` (`EVTCHNSTAT_*`), `vcpu` (the vCPU
/// notified) and the C union `u` at offset 16, made explicit as two words:
///
/// ```text
///  offset 16        offset 20
///  +----------------+----------------+
///  | u_word0        | u_word1        |
///  +----------------+----------------+
///  unbound:      dom (low 16 bits)
///  interdomain:  dom (low 16 bits)  | port
///  pirq:         pirq
///  virq:         virq
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnStatus {
    /// IN: domain to query.
    pub dom: u16,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: u16,
    /// IN: port to query.
    pub port: u32,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: vCPU to which the port is bound.
    pub vcpu: u32,
    /// OUT: union word 0 (see the diagram).
    pub u_word0: u32,
    /// OUT: union word 1 (`interdomain.port`).
    pub u_word1: u32,
}
crate::abi_layout!(EvtchnStatus, 24, dom @ 0, port @ 4, status @ 8, vcpu @ 12,
    u_word0 @ 16, u_word1 @ 20);

/// `struct evtchn_bind_vcpu` (8 B): deliver `port`'s upcalls to `vcpu`. IN both fields.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnBindVcpu {
    /// IN: local port.
    pub port: u32,
    /// IN: vCPU to notify from now on.
    pub vcpu: u32,
}
crate::abi_layout!(EvtchnBindVcpu, 8, port @ 0, vcpu @ 4);

/// `struct evtchn_unmask` (4 B): unmask `port` and re-deliver it if pending. IN `port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnUnmask {
    /// IN: local port.
    pub port: u32,
}
crate::abi_layout!(EvtchnUnmask, 4, port @ 0);

/// `struct evtchn_reset` (2 B): close every port of `dom` (may be `DOMID_SELF`). IN `dom`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnReset {
    /// IN: domain whose ports to close.
    pub dom: u16,
}
crate::abi_layout!(EvtchnReset, 2, dom @ 0);

/// `struct evtchn_init_control` (24 B): register the FIFO control block of `vcpu` at
/// `control_gfn` + `offset`. IN `control_gfn`, `offset`, `vcpu`; OUT `link_bits`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnInitControl {
    /// IN: guest frame of the control block.
    pub control_gfn: u64,
    /// IN: byte offset of the control block in that frame.
    pub offset: u32,
    /// IN: vCPU the control block belongs to.
    pub vcpu: u32,
    /// OUT: number of link bits of the FIFO ABI.
    pub link_bits: u8,
    /// Padding (`_pad[7]` in C).
    pub _pad: [u8; 7],
}
crate::abi_layout!(EvtchnInitControl, 24, control_gfn @ 0, offset @ 8, vcpu @ 12,
    link_bits @ 16, _pad @ 17);

/// `struct evtchn_expand_array` (8 B): add the event-array page at `array_gfn` (FIFO ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnExpandArray {
    /// IN: guest frame of the new event-array page.
    pub array_gfn: u64,
}
crate::abi_layout!(EvtchnExpandArray, 8, array_gfn @ 0);

/// `struct evtchn_set_priority` (8 B): set `port`'s FIFO priority. IN both fields.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnSetPriority {
    /// IN: local port.
    pub port: u32,
    /// IN: priority (0 highest, 15 lowest).
    pub priority: u32,
}
crate::abi_layout!(EvtchnSetPriority, 8, port @ 0, priority @ 4);

/// Size of the union in [`EvtchnOp`]: its largest member, [`EvtchnStatus`].
pub const EVTCHN_OP_UNION_SIZE: usize = 24;

/// `struct evtchn_op` (28 B): the argument of the compat hypercall `event_channel_op_compat`
/// (16): `cmd` (`EVTCHNOP_*`) followed by the operation's structure at offset 4, read back
/// and written out as the first bytes of `u`. The union only holds the structures of
/// commands 0–9; the 4-byte alignment of the union is why `u` starts at offset 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EvtchnOp {
    /// `EVTCHNOP_*`.
    pub cmd: u32,
    /// The operation's structure, as raw bytes.
    pub u: [u8; EVTCHN_OP_UNION_SIZE],
}
crate::abi_layout!(EvtchnOp, 28, cmd @ 0, u @ 4);
const _: () = assert!(core::mem::size_of::<EvtchnStatus>() == EVTCHN_OP_UNION_SIZE);
