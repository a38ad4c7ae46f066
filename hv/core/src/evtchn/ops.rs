//! Guest operations on existing ports: `close`, `send`, `status`, `unmask`, `bind_vcpu`,
//! `reset`.

use alloc::vec::Vec;

use pv_abi::event_channel::{
    EvtchnStatus, EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_IPI, EVTCHNSTAT_UNBOUND,
    EVTCHNSTAT_VIRQ,
};

use super::delivery::{self, EventBits, SharedInfoPages};
use super::error::EvtchnError;
use super::port::{Channel, PortState};
use super::registry::{EventChannels, Notified};
use super::types::{BackendService, DomId, Port, VcpuId, Virq, VirqKind, NR_PORTS};

/// What `send` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// A port was raised: the interdomain peer, or the IPI port itself.
    Raised(Notified),
    /// The port leads to a backend inside the hypervisor, which should now look at its ring.
    Backend {
        /// Domain that sent.
        dom: DomId,
        /// Its port.
        port: Port,
        /// The backend to run.
        service: BackendService,
    },
    /// The port is unbound: the notification is silently dropped (Xen does the same).
    Dropped,
}

/// A port's state as `EVTCHNOP_status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// `EVTCHNSTAT_closed`.
    Closed,
    /// `EVTCHNSTAT_unbound`, waiting for `remote`.
    Unbound {
        /// The domain allowed to bind.
        remote: DomId,
    },
    /// `EVTCHNSTAT_interdomain`. A `Backend` port reports domain 0, port 0: there is no real
    /// remote port, and 0 is never a valid one.
    Interdomain {
        /// The peer's domain.
        dom: DomId,
        /// The peer's port.
        port: Port,
    },
    /// `EVTCHNSTAT_virq`.
    Virq(Virq),
    /// `EVTCHNSTAT_ipi`.
    Ipi,
}

/// The answer to `EVTCHNOP_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelStatus {
    /// The port's state.
    pub kind: StatusKind,
    /// The vCPU it notifies.
    pub vcpu: VcpuId,
}

impl ChannelStatus {
    /// Writes the OUT fields of `evtchn_status` (`status`, `vcpu`, the union words).
    pub fn fill(&self, out: &mut EvtchnStatus) {
        let (status, word0, word1) = match self.kind {
            StatusKind::Closed => (EVTCHNSTAT_CLOSED, 0, 0),
            StatusKind::Unbound { remote } => (EVTCHNSTAT_UNBOUND, u32::from(remote.0), 0),
            StatusKind::Interdomain { dom, port } => {
                (EVTCHNSTAT_INTERDOMAIN, u32::from(dom.0), port.0)
            }
            StatusKind::Virq(virq) => (EVTCHNSTAT_VIRQ, virq.0, 0),
            StatusKind::Ipi => (EVTCHNSTAT_IPI, 0, 0),
        };
        out.status = status;
        out.vcpu = self.vcpu.0;
        out.u_word0 = word0;
        out.u_word1 = word1;
    }
}

impl EventChannels {
    /// `EVTCHNOP_close`: frees `port` of `caller` and clears its pending bit.
    ///
    /// Pre: port bound (any state but `Free`). Post: `Free`; an interdomain peer becomes
    /// `Unbound { remote: caller }`; a VIRQ binding is forgotten.
    /// Errors: `NoSuchDomain`, `InvalidPort`, `WrongState` (already free).
    pub fn close(
        &mut self,
        caller: DomId,
        port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Result<(), EvtchnError> {
        let channel = self.channel(caller, port)?;
        match channel.state {
            PortState::Free => return Err(EvtchnError::WrongState),
            PortState::Interdomain {
                remote_dom,
                remote_port,
            } => {
                self.domain_mut(caller)?.free(port);
                self.unbind_peer(remote_dom, remote_port, caller);
            }
            PortState::Unbound { .. }
            | PortState::Virq { .. }
            | PortState::Ipi
            | PortState::Backend { .. } => self.domain_mut(caller)?.free(port),
        }
        if let Some(mut bits) = pages.event_bits(caller) {
            bits.clear_pending(port);
        }
        Ok(())
    }

    /// `EVTCHNOP_send`: notifies the other end of `port` of `caller`.
    ///
    /// Interdomain: raises the peer port towards its notify vCPU. Ipi: raises the port itself.
    /// Backend: reports the service to run. Unbound: dropped. No state changes.
    /// Errors: `NoSuchDomain`, `InvalidPort`, `WrongState` (free or VIRQ port).
    pub fn send(
        &self,
        caller: DomId,
        port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Result<SendOutcome, EvtchnError> {
        // Each channel is read once: the raise goes to the notify vCPU read here.
        let channel = self.channel(caller, port)?;
        match channel.state {
            PortState::Interdomain {
                remote_dom,
                remote_port,
            } => {
                // The invariant guarantees the peer; check rather than trust it.
                let peer = self.channel(remote_dom, remote_port)?;
                match peer.state {
                    PortState::Interdomain { .. } => {}
                    _ => return Err(EvtchnError::WrongState),
                }
                Ok(SendOutcome::Raised(Self::raise_to(
                    remote_dom,
                    remote_port,
                    peer.notify_vcpu,
                    pages,
                )))
            }
            PortState::Ipi => Ok(SendOutcome::Raised(Self::raise_to(
                caller,
                port,
                channel.notify_vcpu,
                pages,
            ))),
            PortState::Backend { service } => Ok(SendOutcome::Backend {
                dom: caller,
                port,
                service,
            }),
            PortState::Unbound { .. } => Ok(SendOutcome::Dropped),
            PortState::Free | PortState::Virq { .. } => Err(EvtchnError::WrongState),
        }
    }

    /// `EVTCHNOP_status`: the state of `port` in `dom` (which may be `DOMID_SELF`). Port 0
    /// reports `Closed`, as Xen's reserved port does.
    ///
    /// Errors: `NoSuchDomain`, `NotPermitted` (another domain), `InvalidPort` (≥ 4096).
    pub fn status(
        &self,
        caller: DomId,
        dom: DomId,
        port: Port,
    ) -> Result<ChannelStatus, EvtchnError> {
        let dom = dom.resolve(caller);
        let table = self.domain(dom)?;
        if dom != caller {
            return Err(EvtchnError::NotPermitted);
        }
        if port.0 >= NR_PORTS {
            return Err(EvtchnError::InvalidPort);
        }
        let channel = if port.0 == 0 {
            Channel::FREE
        } else {
            table.get(port)?
        };
        let kind = match channel.state {
            PortState::Free => StatusKind::Closed,
            PortState::Unbound { remote } => StatusKind::Unbound { remote },
            PortState::Interdomain {
                remote_dom,
                remote_port,
            } => StatusKind::Interdomain {
                dom: remote_dom,
                port: remote_port,
            },
            PortState::Backend { .. } => StatusKind::Interdomain {
                dom: DomId(0),
                port: Port(0),
            },
            PortState::Virq { virq } => StatusKind::Virq(virq),
            PortState::Ipi => StatusKind::Ipi,
        };
        Ok(ChannelStatus {
            kind,
            vcpu: channel.notify_vcpu,
        })
    }

    /// `EVTCHNOP_unmask`: clears `port`'s mask and re-delivers it to its notify vCPU if it is
    /// pending. Works on any port number `1..4096`, bound or not, like Xen.
    ///
    /// Returns the vCPU to kick, if any. Errors: `NoSuchDomain`, `InvalidPort`.
    pub fn unmask(
        &self,
        caller: DomId,
        port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Result<Option<VcpuId>, EvtchnError> {
        let vcpu = self.channel(caller, port)?.notify_vcpu;
        let kick = match pages.event_bits(caller) {
            Some(mut bits) => delivery::unmask(&mut bits, port, vcpu),
            None => false,
        };
        Ok(kick.then_some(vcpu))
    }

    /// `EVTCHNOP_bind_vcpu`: sends `port`'s future upcalls to `vcpu`.
    ///
    /// Allowed for `Unbound`, `Interdomain`, `Backend` and non-per-vCPU `Virq` ports; the VIRQ
    /// stays in vCPU 0's binding table. Errors: `NoSuchDomain`, `NoSuchVcpu`, `InvalidPort`,
    /// `WrongState` (free, IPI, or per-vCPU VIRQ port).
    pub fn bind_vcpu(
        &mut self,
        caller: DomId,
        port: Port,
        vcpu: VcpuId,
    ) -> Result<(), EvtchnError> {
        let table = self.domain_mut(caller)?;
        table.check_vcpu(vcpu)?;
        let channel = table.get(port)?;
        match channel.state {
            PortState::Virq { virq } if virq.kind() != VirqKind::PerVcpu => {}
            PortState::Unbound { .. }
            | PortState::Interdomain { .. }
            | PortState::Backend { .. } => {}
            PortState::Free | PortState::Virq { .. } | PortState::Ipi => {
                return Err(EvtchnError::WrongState)
            }
        }
        table.set(port, Channel::new(channel.state, vcpu));
        Ok(())
    }

    /// `EVTCHNOP_reset`: closes every port of `dom` (which may be `DOMID_SELF`) except its
    /// `Backend` ports — those belong to the hypervisor's connections, like Xen's
    /// hypervisor-attached channels that reset leaves alone.
    ///
    /// Errors: `NoSuchDomain`, `NotPermitted` (another domain).
    pub fn reset(
        &mut self,
        caller: DomId,
        dom: DomId,
        pages: &mut impl SharedInfoPages,
    ) -> Result<(), EvtchnError> {
        let dom = dom.resolve(caller);
        let table = self.domain(dom)?;
        if dom != caller {
            return Err(EvtchnError::NotPermitted);
        }
        let ports: Vec<Port> = table
            .bound_ports()
            .filter(|(_, c)| !matches!(c.state, PortState::Backend { .. }))
            .map(|(p, _)| p)
            .collect();
        for port in ports {
            self.close(caller, port, pages)?;
        }
        Ok(())
    }
}
