//! The state of one port, and the transitions between states.
//!
//! ```text
//!                  alloc_unbound                 bind_interdomain (by the remote)
//!        +-------------------------> Unbound ------------------------+
//!        |                          ^   |                            v
//!      Free <------- close ---------+---|---------------------- Interdomain
//!        |  ^                       peer closes / peer destroyed      |
//!        |  |                                                         |
//!        |  +---------------- close (any bound state) ----------------+
//!        |
//!        +-- bind_interdomain (local side) --> Interdomain
//!        +-- bind_virq -----------------------> Virq
//!        +-- bind_ipi ------------------------> Ipi
//!        +-- bind_backend (hypervisor) -------> Backend
//! ```
//!
//! Every bound state returns to `Free` on `close`, `reset` (except `Backend`) and
//! `destroy_domain`. An `Interdomain` port whose peer is closed or destroyed goes back to
//! `Unbound { remote: peer domain }`, as in Xen, so the peer may bind to it again.

use super::types::{BackendService, DomId, Port, VcpuId, Virq};

/// What a port is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortState {
    /// Not in use (`ECS_FREE`).
    Free,
    /// Allocated and waiting for `remote` to bind to it (`ECS_UNBOUND`).
    Unbound {
        /// The only domain allowed to bind.
        remote: DomId,
    },
    /// Connected to `remote_port` of `remote_dom` (`ECS_INTERDOMAIN`). The peer port is
    /// `Interdomain` back to this one; a domain may be connected to itself (loopback).
    Interdomain {
        /// The peer's domain.
        remote_dom: DomId,
        /// The peer's port.
        remote_port: Port,
    },
    /// Bound to a virtual IRQ (`ECS_VIRQ`); raised by the hypervisor through `raise_virq`.
    Virq {
        /// The VIRQ.
        virq: Virq,
    },
    /// Bound for inter-vCPU notifications (`ECS_IPI`): `send` raises the port itself.
    Ipi,
    /// Connected to a device backend inside the hypervisor. To the guest this is an
    /// interdomain port to domain 0; `send` notifies the service and the service raises the
    /// port with `notify_from_backend`.
    Backend {
        /// The backend at the other end.
        service: BackendService,
    },
}

/// One slot of a domain's port table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// What the port is bound to.
    pub state: PortState,
    /// The vCPU that receives the port's upcalls (`notify_vcpu_id`). Set by `bind_virq` and
    /// `bind_ipi`, changed by `bind_vcpu`, back to 0 when the port is freed.
    pub notify_vcpu: VcpuId,
}

impl Channel {
    /// A free port.
    pub const FREE: Channel = Channel {
        state: PortState::Free,
        notify_vcpu: VcpuId(0),
    };

    /// A port in `state`, notifying `notify_vcpu`.
    pub fn new(state: PortState, notify_vcpu: VcpuId) -> Self {
        Self { state, notify_vcpu }
    }

    /// Whether the port is free.
    pub fn is_free(&self) -> bool {
        self.state == PortState::Free
    }
}
