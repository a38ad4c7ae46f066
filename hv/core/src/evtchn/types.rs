//! Names used by the event-channel registry: domain ids, ports, vCPU ids, VIRQs and the
//! hypervisor's own backend services.
//!
//! `Port`, `VcpuId` and `Virq` wrap the raw guest-supplied numbers without claiming they are
//! valid; every operation validates them against the domain it acts on.

use pv_abi::event_channel::{
    EVTCHN_2L_NR_CHANNELS, NR_VIRQS, VIRQ_ARGO, VIRQ_DEBUG, VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU,
};

pub use crate::types::DomId;

/// An event-channel port number (`evtchn_port_t`), not yet validated.
///
/// Valid ports of the 2-level ABI are `1..NR_PORTS`; port 0 is reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u32);

/// Number of ports of the 2-level ABI (`EVTCHN_2L_NR_CHANNELS`).
pub const NR_PORTS: u32 = EVTCHN_2L_NR_CHANNELS;

/// Bits per word of `evtchn_pending` / `evtchn_mask` (and bits of `evtchn_pending_sel`).
pub const BITS_PER_EVTCHN_WORD: u32 = 64;

impl Port {
    /// Whether the port may carry a binding: `1..NR_PORTS`.
    pub fn is_bindable(self) -> bool {
        self.0 != 0 && self.0 < NR_PORTS
    }

    /// Index of the port's word in `evtchn_pending`/`evtchn_mask`, which is also its bit in the
    /// vCPU's `evtchn_pending_sel`.
    pub fn word(self) -> u32 {
        self.0 / BITS_PER_EVTCHN_WORD
    }
}

/// A vCPU id within a domain, not yet validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VcpuId(pub u32);

/// How a VIRQ is bound and delivered (Xen's `enum virq_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirqKind {
    /// Bound and raised separately on each vCPU (`VIRQ_TIMER`, `VIRQ_DEBUG`, ...).
    PerVcpu,
    /// One binding per domain, on vCPU 0 (`VIRQ_ARGO`).
    PerDomain,
    /// A system-wide event (`VIRQ_CONSOLE`, ...), bound on vCPU 0.
    Global,
}

/// A virtual IRQ number (`VIRQ_*`), not yet validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Virq(pub u32);

impl Virq {
    /// Whether the number is below `NR_VIRQS`.
    pub fn is_valid(self) -> bool {
        self.0 < NR_VIRQS
    }

    /// The binding kind, as Xen classifies it on x86 (all arch VIRQs are global).
    pub fn kind(self) -> VirqKind {
        match self.0 {
            VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU => VirqKind::PerVcpu,
            VIRQ_ARGO => VirqKind::PerDomain,
            _ => VirqKind::Global,
        }
    }

    /// The vCPU whose binding table holds this VIRQ when it is bound on `vcpu`: `vcpu` itself
    /// for per-vCPU VIRQs, vCPU 0 otherwise.
    pub fn table_vcpu(self, vcpu: VcpuId) -> VcpuId {
        match self.kind() {
            VirqKind::PerVcpu => vcpu,
            VirqKind::PerDomain | VirqKind::Global => VcpuId(0),
        }
    }
}

/// A device backend implemented inside the hypervisor, reachable through a `Backend` port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackendService {
    /// The PV console ring (`start_info.console.domU`).
    Console,
    /// The xenstore ring (`start_info.store_*`).
    Xenstore,
}
