//! 2-level event channels for every domain, in one registry.
//!
//! An event channel is a pair of ports (or a port and a hypervisor source such as a VIRQ).
//! Raising a port sets its bit in the owning guest's `shared_info` and may ask the platform to
//! kick a vCPU. The registry ([`EventChannels`]) holds only bookkeeping — which port is bound to
//! what — and reaches guest memory through the [`EventBits`] / [`SharedInfoPages`] traits the
//! platform implements with atomic accesses.
//!
//! | file          | concern                                                          |
//! |---------------|------------------------------------------------------------------|
//! | `types`       | `DomId`, `Port`, `VcpuId`, `Virq`, `BackendService`              |
//! | `port`        | per-port state machine (`PortState`, transitions diagram)        |
//! | `domain`      | one domain's port table and VIRQ bindings                        |
//! | `registry`    | all domains; lifecycle; hypervisor-side entry points             |
//! | `bind`        | `alloc_unbound`, `bind_interdomain`, `bind_virq`, `bind_ipi`     |
//! | `ops`         | `close`, `send`, `status`, `unmask`, `bind_vcpu`, `reset`        |
//! | `delivery`    | Xen's pending/mask/selector/upcall rule over `EventBits`          |
//! | `error`       | `EvtchnError` and its errno                                      |
//!
//! Typical hypercall-boundary use: decode the `evtchn_*` structure, call the matching method
//! with the calling domain and the platform's `SharedInfoPages`, convert an error with
//! [`EvtchnError::to_errno`], and kick any vCPU a [`Notified`] asks for. A
//! [`SendOutcome::Backend`] tells the platform to run the console or xenstore backend.
//!
//! Not implemented: PIRQs (`bind_pirq` → the boundary returns `-ENOSYS`/`-EPERM`), the FIFO
//! ABI (`init_control`, `expand_array`, `set_priority` → `-ENOSYS`, and guests fall back to
//! 2-level), and `SCHEDOP_poll` wake-ups (a [`Delivery::Pending`] or [`Delivery::Kick`] marks a
//! port that became pending, which is where a poller check would go).

mod bind;
mod delivery;
mod domain;
mod error;
mod ops;
mod port;
mod registry;
mod types;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use delivery::{set_pending, unmask, Delivery, EventBits, SharedInfoPages};
pub use error::EvtchnError;
pub use ops::{ChannelStatus, SendOutcome, StatusKind};
pub use port::{Channel, PortState};
pub use registry::{EventChannels, Notified};
pub use types::{
    BackendService, DomId, Port, VcpuId, Virq, VirqKind, BITS_PER_EVTCHN_WORD, NR_PORTS,
};
