//! One domain's port table and VIRQ bindings.
//!
//! The table grows on demand up to `NR_PORTS` slots (index = port number); slot 0 exists but
//! is never allocated. New ports are the lowest free port, as in Xen. VIRQ bindings are kept
//! in a map keyed by (binding vCPU, VIRQ) — vCPU 0 for VIRQs that are not per-vCPU.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::error::EvtchnError;
use super::port::{Channel, PortState};
use super::types::{Port, VcpuId, Virq, NR_PORTS};

/// The event-channel state of one domain.
#[derive(Clone, Debug)]
pub struct DomainChannels {
    nr_vcpus: u32,
    channels: Vec<Channel>,
    virqs: BTreeMap<(VcpuId, Virq), Port>,
}

impl DomainChannels {
    /// An empty table for a domain with `nr_vcpus` vCPUs.
    pub fn new(nr_vcpus: u32) -> Self {
        Self {
            nr_vcpus,
            channels: Vec::new(),
            virqs: BTreeMap::new(),
        }
    }

    /// Checks that `vcpu` exists.
    pub fn check_vcpu(&self, vcpu: VcpuId) -> Result<(), EvtchnError> {
        if vcpu.0 < self.nr_vcpus {
            Ok(())
        } else {
            Err(EvtchnError::NoSuchVcpu)
        }
    }

    /// The channel at `port`; ports never allocated read as free.
    ///
    /// Errors: `InvalidPort` for port 0 and ports ≥ `NR_PORTS`.
    #[inline]
    pub fn get(&self, port: Port) -> Result<Channel, EvtchnError> {
        if !port.is_bindable() {
            return Err(EvtchnError::InvalidPort);
        }
        Ok(self
            .channels
            .get(port.0 as usize)
            .copied()
            .unwrap_or(Channel::FREE))
    }

    /// Replaces the channel at a bindable `port`, growing the table as needed.
    ///
    /// Pre: `port.is_bindable()` (checked; an invalid port is ignored, which callers avoid by
    /// validating first).
    pub fn set(&mut self, port: Port, channel: Channel) {
        if !port.is_bindable() {
            return;
        }
        let index = port.0 as usize;
        if index >= self.channels.len() {
            if channel.is_free() {
                return;
            }
            self.channels.resize(index + 1, Channel::FREE);
        }
        self.channels[index] = channel;
    }

    /// The lowest free port, without allocating it.
    ///
    /// Errors: `NoFreePort` when ports `1..NR_PORTS` are all in use.
    pub fn find_free(&self) -> Result<Port, EvtchnError> {
        (1..NR_PORTS)
            .map(Port)
            .find(|&p| self.get(p).is_ok_and(|c| c.is_free()))
            .ok_or(EvtchnError::NoFreePort)
    }

    /// Every port that is not free, with its channel, in port order.
    pub fn bound_ports(&self) -> impl Iterator<Item = (Port, Channel)> + '_ {
        self.channels
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_free())
            .filter_map(|(i, c)| Some((Port(u32::try_from(i).ok()?), *c)))
    }

    /// The port bound to `virq` in the table of `table_vcpu`, if any.
    pub fn virq_port(&self, table_vcpu: VcpuId, virq: Virq) -> Option<Port> {
        self.virqs.get(&(table_vcpu, virq)).copied()
    }

    /// Records that `virq` in the table of `table_vcpu` is bound to `port`.
    pub fn bind_virq_port(&mut self, table_vcpu: VcpuId, virq: Virq, port: Port) {
        self.virqs.insert((table_vcpu, virq), port);
    }

    /// Forgets the binding of `virq` in the table of `table_vcpu`.
    pub fn unbind_virq_port(&mut self, table_vcpu: VcpuId, virq: Virq) {
        self.virqs.remove(&(table_vcpu, virq));
    }

    /// Frees `port`: state `Free`, notify vCPU 0, VIRQ binding removed. The caller handles
    /// the peer of an interdomain port and the pending bit.
    pub fn free(&mut self, port: Port) {
        if let Ok(Channel {
            state: PortState::Virq { virq },
            notify_vcpu,
        }) = self.get(port)
        {
            self.unbind_virq_port(virq.table_vcpu(notify_vcpu), virq);
        }
        self.set(port, Channel::FREE);
        while self.channels.last().is_some_and(Channel::is_free) {
            self.channels.pop();
        }
    }

    /// All VIRQ bindings (for consistency checks).
    #[cfg(test)]
    pub fn virq_bindings(&self) -> impl Iterator<Item = (VcpuId, Virq, Port)> + '_ {
        self.virqs.iter().map(|(&(v, q), &p)| (v, q, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_port_skips_zero_and_used_ports() {
        let mut d = DomainChannels::new(1);
        assert_eq!(d.find_free(), Ok(Port(1)));
        d.set(Port(1), Channel::new(PortState::Ipi, VcpuId(0)));
        d.set(Port(3), Channel::new(PortState::Ipi, VcpuId(0)));
        assert_eq!(d.find_free(), Ok(Port(2)));
        d.set(Port(2), Channel::new(PortState::Ipi, VcpuId(0)));
        assert_eq!(d.find_free(), Ok(Port(4)));
        d.free(Port(3));
        assert_eq!(d.find_free(), Ok(Port(3)));
        d.free(Port(2));
        d.free(Port(1));
        assert_eq!(d.bound_ports().count(), 0);
    }

    #[test]
    fn full_table_reports_no_free_port() {
        let mut d = DomainChannels::new(1);
        for p in 1..NR_PORTS {
            d.set(Port(p), Channel::new(PortState::Ipi, VcpuId(0)));
        }
        assert_eq!(d.find_free(), Err(EvtchnError::NoFreePort));
    }

    #[test]
    fn invalid_ports_are_rejected_and_never_stored() {
        let mut d = DomainChannels::new(1);
        assert_eq!(d.get(Port(0)), Err(EvtchnError::InvalidPort));
        assert_eq!(d.get(Port(NR_PORTS)), Err(EvtchnError::InvalidPort));
        assert_eq!(d.get(Port(u32::MAX)), Err(EvtchnError::InvalidPort));
        d.set(Port(0), Channel::new(PortState::Ipi, VcpuId(0)));
        d.set(Port(NR_PORTS), Channel::new(PortState::Ipi, VcpuId(0)));
        assert_eq!(d.bound_ports().count(), 0);
        assert_eq!(d.get(Port(NR_PORTS - 1)), Ok(Channel::FREE));
    }
}
