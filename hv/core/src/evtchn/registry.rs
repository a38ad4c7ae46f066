//! The registry of every domain's event channels, its domain lifecycle, and the entry points
//! the hypervisor itself uses (`bind_backend`, `raise_virq`, `notify_from_backend`).
//!
//! Guest operations live in `bind.rs` (creating bindings) and `ops.rs` (using and closing
//! them). All of them keep one invariant: an `Interdomain` port names a live domain's port that
//! is `Interdomain` back to it.

use alloc::collections::BTreeMap;

use super::delivery::{set_pending, Delivery, SharedInfoPages};
use super::domain::DomainChannels;
use super::error::EvtchnError;
use super::port::{Channel, PortState};
use super::types::{BackendService, DomId, Port, VcpuId, Virq};

/// A port that was raised, and what that did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notified {
    /// Domain owning the raised port.
    pub dom: DomId,
    /// The raised port.
    pub port: Port,
    /// The vCPU notified (the port's `notify_vcpu`).
    pub vcpu: VcpuId,
    /// Effect on the shared bits.
    pub delivery: Delivery,
}

impl Notified {
    /// The vCPU to kick, if the delivery asks for it.
    pub fn kick(&self) -> Option<(DomId, VcpuId)> {
        (self.delivery == Delivery::Kick).then_some((self.dom, self.vcpu))
    }
}

/// Event channels of all domains.
#[derive(Clone, Debug, Default)]
pub struct EventChannels {
    pub(super) domains: BTreeMap<DomId, DomainChannels>,
}

impl EventChannels {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an empty port table for `dom` with `nr_vcpus` vCPUs.
    ///
    /// Errors: `InvalidDomain` for a reserved id or zero vCPUs; `DomainExists`.
    pub fn create_domain(&mut self, dom: DomId, nr_vcpus: u32) -> Result<(), EvtchnError> {
        if !dom.is_ordinary() || nr_vcpus == 0 {
            return Err(EvtchnError::InvalidDomain);
        }
        if self.domains.contains_key(&dom) {
            return Err(EvtchnError::DomainExists);
        }
        self.domains.insert(dom, DomainChannels::new(nr_vcpus));
        Ok(())
    }

    /// Closes every port of `dom` and forgets the domain. Each interdomain peer goes back to
    /// `Unbound { remote: dom }` (its pending bit is left alone, as in Xen).
    ///
    /// Errors: `NoSuchDomain`.
    pub fn destroy_domain(&mut self, dom: DomId) -> Result<(), EvtchnError> {
        let table = self.domains.remove(&dom).ok_or(EvtchnError::NoSuchDomain)?;
        for (_, channel) in table.bound_ports() {
            if let PortState::Interdomain {
                remote_dom,
                remote_port,
            } = channel.state
            {
                self.unbind_peer(remote_dom, remote_port, dom);
            }
        }
        Ok(())
    }

    /// Whether `dom` has a port table.
    pub fn has_domain(&self, dom: DomId) -> bool {
        self.domains.contains_key(&dom)
    }

    /// The channel at `port` of `dom` (free ports read as `Free`).
    ///
    /// Errors: `NoSuchDomain`, `InvalidPort`.
    // Inlinable across crates: every event send reads its channel here, and a cross-crate
    // call is an indirect call through the GOT.
    #[inline]
    pub fn channel(&self, dom: DomId, port: Port) -> Result<Channel, EvtchnError> {
        self.domain(dom)?.get(port)
    }

    /// Every bound port of `dom`, in port order (empty for an unknown domain).
    pub fn bound_ports(&self, dom: DomId) -> impl Iterator<Item = (Port, Channel)> + '_ {
        self.domains
            .get(&dom)
            .into_iter()
            .flat_map(DomainChannels::bound_ports)
    }

    /// Creates the guest end of a connection to a backend inside the hypervisor, at the lowest
    /// free port of `dom`, notifying vCPU 0 (used at domain build for the console and xenstore
    /// ports that go into `start_info`).
    ///
    /// Post: the port is `Backend { service }`. Errors: `NoSuchDomain`, `NoFreePort`.
    pub fn bind_backend(
        &mut self,
        dom: DomId,
        service: BackendService,
    ) -> Result<Port, EvtchnError> {
        let table = self.domain_mut(dom)?;
        let port = table.find_free()?;
        table.set(
            port,
            Channel::new(PortState::Backend { service }, VcpuId(0)),
        );
        Ok(port)
    }

    /// The backend raises its port in `dom` (e.g. console input arrived, xenstore answered).
    ///
    /// Errors: `NoSuchDomain`, `InvalidPort`, `NotBackend` if the port is no longer bound to a
    /// backend (the guest closed it).
    pub fn notify_from_backend(
        &self,
        dom: DomId,
        port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Result<Notified, EvtchnError> {
        match self.channel(dom, port)?.state {
            PortState::Backend { .. } => Ok(self.raise(dom, port, pages)),
            _ => Err(EvtchnError::NotBackend),
        }
    }

    /// Raises `virq` on `vcpu` of `dom` (`send_guest_vcpu_virq`); VIRQs that are not per-vCPU
    /// use the binding on vCPU 0 whatever `vcpu` says (`send_guest_global_virq`).
    ///
    /// Returns `Ok(None)` when the VIRQ is not bound. Errors: `NoSuchDomain`, `InvalidVirq`,
    /// `NoSuchVcpu`.
    pub fn raise_virq(
        &self,
        dom: DomId,
        vcpu: VcpuId,
        virq: Virq,
        pages: &mut impl SharedInfoPages,
    ) -> Result<Option<Notified>, EvtchnError> {
        let table = self.domain(dom)?;
        if !virq.is_valid() {
            return Err(EvtchnError::InvalidVirq);
        }
        let table_vcpu = virq.table_vcpu(vcpu);
        table.check_vcpu(table_vcpu)?;
        Ok(table
            .virq_port(table_vcpu, virq)
            .map(|port| self.raise(dom, port, pages)))
    }

    /// Sets `port` of `dom` pending towards its notify vCPU.
    ///
    /// Pre: `dom` exists and `port` is bindable (callers looked the channel up).
    pub(super) fn raise(
        &self,
        dom: DomId,
        port: Port,
        pages: &mut impl SharedInfoPages,
    ) -> Notified {
        let vcpu = self.channel(dom, port).map_or(VcpuId(0), |c| c.notify_vcpu);
        Self::raise_to(dom, port, vcpu, pages)
    }

    /// [`Self::raise`] for a caller that has just read the channel: `vcpu` is its
    /// `notify_vcpu` (the send path, which would otherwise look the port up twice).
    pub(super) fn raise_to(
        dom: DomId,
        port: Port,
        vcpu: VcpuId,
        pages: &mut impl SharedInfoPages,
    ) -> Notified {
        let delivery = match pages.event_bits(dom) {
            Some(mut bits) => set_pending(&mut bits, port, vcpu),
            None => Delivery::NoSharedInfo,
        };
        Notified {
            dom,
            port,
            vcpu,
            delivery,
        }
    }

    /// Turns the peer `(dom, port)` of a closing interdomain port owned by `closing` back into
    /// `Unbound { remote: closing }`, keeping its notify vCPU. A peer that is not connected
    /// back to `closing` is left alone (cannot happen while the invariant holds).
    pub(super) fn unbind_peer(&mut self, dom: DomId, port: Port, closing: DomId) {
        let Some(table) = self.domains.get_mut(&dom) else {
            return;
        };
        if let Ok(peer) = table.get(port) {
            if matches!(peer.state, PortState::Interdomain { remote_dom, .. } if remote_dom == closing)
            {
                let state = PortState::Unbound { remote: closing };
                table.set(port, Channel::new(state, peer.notify_vcpu));
            }
        }
    }

    #[inline]
    pub(super) fn domain(&self, dom: DomId) -> Result<&DomainChannels, EvtchnError> {
        self.domains.get(&dom).ok_or(EvtchnError::NoSuchDomain)
    }

    pub(super) fn domain_mut(&mut self, dom: DomId) -> Result<&mut DomainChannels, EvtchnError> {
        self.domains.get_mut(&dom).ok_or(EvtchnError::NoSuchDomain)
    }
}
