//! Guest operations that create a binding: `alloc_unbound`, `bind_interdomain`, `bind_virq`,
//! `bind_ipi`. Each allocates the lowest free port of the calling domain.
//!
//! `caller` is the domain issuing the hypercall; `DOMID_SELF` in arguments resolves to it.
//! Errors follow Xen's checks in Xen's order, so the same bad request gets the same errno.

use super::delivery::SharedInfoPages;
use super::error::EvtchnError;
use super::port::{Channel, PortState};
use super::registry::{EventChannels, Notified};
use super::types::{DomId, Port, VcpuId, Virq, VirqKind};

impl EventChannels {
    /// `EVTCHNOP_alloc_unbound`: allocates a port in `dom` that `remote_dom` may bind to.
    ///
    /// Post: the port is `Unbound { remote }` with `remote` = `remote_dom` resolved against
    /// the caller; `remote_dom` need not exist yet (as in Xen).
    /// Errors: `NoSuchDomain` (dom), `NotPermitted` (dom is not the caller: only the hypervisor
    /// creates ports in other domains), `NoFreePort`.
    pub fn alloc_unbound(
        &mut self,
        caller: DomId,
        dom: DomId,
        remote_dom: DomId,
    ) -> Result<Port, EvtchnError> {
        let dom = dom.resolve(caller);
        let remote = remote_dom.resolve(caller);
        let table = self.domain_mut(dom)?;
        if dom != caller {
            return Err(EvtchnError::NotPermitted);
        }
        let port = table.find_free()?;
        table.set(port, Channel::new(PortState::Unbound { remote }, VcpuId(0)));
        Ok(port)
    }

    /// `EVTCHNOP_bind_interdomain`: connects a new port of `caller` to `remote_port` of
    /// `remote_dom`, which must be `Unbound { remote: caller }`.
    ///
    /// Post: both ports are `Interdomain`, naming each other; like Xen, the new local port is
    /// set pending (an event sent to the unbound port may have been lost), which is the
    /// returned `Notified`. Errors: `NoSuchDomain` (either side), `NoFreePort`, `InvalidPort`
    /// (remote port number), `WrongState` (remote port not waiting for the caller).
    pub fn bind_interdomain(
        &mut self,
        caller: DomId,
        remote_dom: DomId,
        remote_port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Result<(Port, Notified), EvtchnError> {
        let remote_dom = remote_dom.resolve(caller);
        let remote_table = self.domain(remote_dom)?;
        let local_port = self.domain(caller)?.find_free()?;
        let remote = remote_table.get(remote_port)?;
        if remote.state != (PortState::Unbound { remote: caller }) {
            return Err(EvtchnError::WrongState);
        }
        let to_remote = PortState::Interdomain {
            remote_dom,
            remote_port,
        };
        let to_local = PortState::Interdomain {
            remote_dom: caller,
            remote_port: local_port,
        };
        self.domain_mut(remote_dom)?
            .set(remote_port, Channel::new(to_local, remote.notify_vcpu));
        self.domain_mut(caller)?
            .set(local_port, Channel::new(to_remote, VcpuId(0)));
        let notified = self.raise(caller, local_port, pages);
        Ok((local_port, notified))
    }

    /// `EVTCHNOP_bind_virq`: binds `virq` on `vcpu` of `caller` to a new port.
    ///
    /// Per-vCPU VIRQs (`VIRQ_TIMER`, ...) bind per vCPU; the others (`VIRQ_CONSOLE`, ...) must
    /// name vCPU 0. Unlike Xen, which lets only the hardware domain (or a chosen handler) bind
    /// global VIRQs, every domain may bind them here: they are raised per domain by
    /// `raise_virq`. Post: the port is `Virq { virq }` notifying `vcpu`.
    /// Errors: `NoSuchDomain`, `InvalidVirq` (number, or non-zero vCPU for a non-per-vCPU
    /// VIRQ), `NoSuchVcpu`, `VirqAlreadyBound`, `NoFreePort`.
    pub fn bind_virq(
        &mut self,
        caller: DomId,
        virq: Virq,
        vcpu: VcpuId,
    ) -> Result<Port, EvtchnError> {
        let table = self.domain_mut(caller)?;
        if !virq.is_valid() || (virq.kind() != VirqKind::PerVcpu && vcpu != VcpuId(0)) {
            return Err(EvtchnError::InvalidVirq);
        }
        table.check_vcpu(vcpu)?;
        if table.virq_port(vcpu, virq).is_some() {
            return Err(EvtchnError::VirqAlreadyBound);
        }
        let port = table.find_free()?;
        table.set(port, Channel::new(PortState::Virq { virq }, vcpu));
        table.bind_virq_port(vcpu, virq, port);
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`: binds a new port of `caller` that notifies `vcpu`.
    ///
    /// Post: the port is `Ipi` notifying `vcpu`. Errors: `NoSuchDomain`, `NoSuchVcpu`,
    /// `NoFreePort`.
    pub fn bind_ipi(&mut self, caller: DomId, vcpu: VcpuId) -> Result<Port, EvtchnError> {
        let table = self.domain_mut(caller)?;
        table.check_vcpu(vcpu)?;
        let port = table.find_free()?;
        table.set(port, Channel::new(PortState::Ipi, vcpu));
        Ok(port)
    }
}
