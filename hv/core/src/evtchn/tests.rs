//! Unit tests of the registry operations, one Xen behaviour per test.

use pv_abi::event_channel::{
    EvtchnStatus, EVTCHNSTAT_INTERDOMAIN, VIRQ_ARGO, VIRQ_CONSOLE, VIRQ_DEBUG, VIRQ_TIMER,
};

use super::testing::FakePages;
use super::*;

const D1: DomId = DomId(1);
const D2: DomId = DomId(2);

fn setup() -> (EventChannels, FakePages) {
    let mut ev = EventChannels::new();
    ev.create_domain(D1, 2).unwrap();
    ev.create_domain(D2, 1).unwrap();
    (ev, FakePages::with(&[(1, 2), (2, 1)]))
}

#[test]
fn create_domain_rejects_duplicates_reserved_ids_and_zero_vcpus() {
    let (mut ev, _) = setup();
    assert_eq!(ev.create_domain(D1, 1), Err(EvtchnError::DomainExists));
    assert_eq!(
        ev.create_domain(DomId::SELF, 1),
        Err(EvtchnError::InvalidDomain)
    );
    assert_eq!(
        ev.create_domain(DomId(9), 0),
        Err(EvtchnError::InvalidDomain)
    );
}

#[test]
fn interdomain_connect_send_and_close() {
    let (mut ev, mut pages) = setup();
    let p1 = ev.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    assert_eq!(p1, Port(1));
    assert_eq!(
        ev.channel(D1, p1).unwrap().state,
        PortState::Unbound { remote: D2 }
    );

    let (p2, notified) = ev.bind_interdomain(D2, D1, p1, &mut pages).unwrap();
    // The new local port is raised conservatively.
    assert_eq!(notified.dom, D2);
    assert_eq!(notified.delivery, Delivery::Kick);
    assert!(pages.get(2).pending(p2.0));
    assert_eq!(
        ev.channel(D1, p1).unwrap().state,
        PortState::Interdomain {
            remote_dom: D2,
            remote_port: p2
        }
    );

    // D2 sends: D1's port is raised.
    match ev.send(D2, p2, &mut pages).unwrap() {
        SendOutcome::Raised(n) => {
            assert_eq!(
                (n.dom, n.port, n.vcpu, n.delivery),
                (D1, p1, VcpuId(0), Delivery::Kick)
            );
            assert_eq!(n.kick(), Some((D1, VcpuId(0))));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(pages.get(1).pending(p1.0));

    // D1 closes: its port is freed and its pending bit cleared; D2's goes back to unbound.
    ev.close(D1, p1, &mut pages).unwrap();
    assert!(!pages.get(1).pending(p1.0));
    assert_eq!(ev.channel(D1, p1).unwrap(), Channel::FREE);
    assert_eq!(
        ev.channel(D2, p2).unwrap().state,
        PortState::Unbound { remote: D1 }
    );
    assert_eq!(ev.send(D2, p2, &mut pages), Ok(SendOutcome::Dropped));
    assert_eq!(ev.close(D1, p1, &mut pages), Err(EvtchnError::WrongState));
}

#[test]
fn interdomain_send_goes_to_the_peer_ports_notify_vcpu() {
    let (mut ev, mut pages) = setup();
    let p1 = ev.alloc_unbound(D1, DomId::SELF, D2).unwrap();
    let (p2, _) = ev.bind_interdomain(D2, D1, p1, &mut pages).unwrap();
    // D1's end notifies its vCPU 1; D2's end stays on vCPU 0.
    ev.bind_vcpu(D1, p1, VcpuId(1)).unwrap();
    let SendOutcome::Raised(n) = ev.send(D2, p2, &mut pages).unwrap() else {
        panic!("interdomain send not raised")
    };
    assert_eq!(
        (n.dom, n.port, n.vcpu, n.delivery),
        (D1, p1, VcpuId(1), Delivery::Kick)
    );
    assert!(pages.get(1).upcall[1]);
    assert!(!pages.get(1).upcall[0]);
}

#[test]
fn bind_interdomain_checks_remote_port() {
    let (mut ev, mut pages) = setup();
    let for_d1 = ev.alloc_unbound(D2, D2, D1).unwrap();
    let for_self = ev.alloc_unbound(D2, DomId::SELF, DomId::SELF).unwrap();
    assert_eq!(
        ev.bind_interdomain(D1, DomId(7), for_d1, &mut pages),
        Err(EvtchnError::NoSuchDomain)
    );
    assert_eq!(
        ev.bind_interdomain(D1, D2, Port(0), &mut pages),
        Err(EvtchnError::InvalidPort)
    );
    assert_eq!(
        ev.bind_interdomain(D1, D2, Port(4096), &mut pages),
        Err(EvtchnError::InvalidPort)
    );
    assert_eq!(
        ev.bind_interdomain(D1, D2, Port(77), &mut pages),
        Err(EvtchnError::WrongState)
    );
    assert_eq!(
        ev.bind_interdomain(D1, D2, for_self, &mut pages),
        Err(EvtchnError::WrongState)
    );
    // A failed bind leaves no port behind.
    assert_eq!(ev.bound_ports(D1).count(), 0);
    ev.bind_interdomain(D1, D2, for_d1, &mut pages).unwrap();
    // Already connected: cannot bind twice.
    assert_eq!(
        ev.bind_interdomain(D1, D2, for_d1, &mut pages),
        Err(EvtchnError::WrongState)
    );
}

#[test]
fn loopback_interdomain_within_one_domain() {
    let (mut ev, mut pages) = setup();
    let a = ev.alloc_unbound(D1, DomId::SELF, DomId::SELF).unwrap();
    assert_eq!(
        ev.channel(D1, a).unwrap().state,
        PortState::Unbound { remote: D1 }
    );
    let (b, _) = ev.bind_interdomain(D1, DomId::SELF, a, &mut pages).unwrap();
    assert_ne!(a, b);
    ev.close(D1, b, &mut pages).unwrap();
    assert_eq!(
        ev.channel(D1, a).unwrap().state,
        PortState::Unbound { remote: D1 }
    );
}

#[test]
fn alloc_unbound_only_for_self() {
    let (mut ev, _) = setup();
    assert_eq!(ev.alloc_unbound(D1, D2, D1), Err(EvtchnError::NotPermitted));
    assert_eq!(
        ev.alloc_unbound(D1, DomId(9), D1),
        Err(EvtchnError::NoSuchDomain)
    );
    // The remote domain need not exist.
    assert!(ev.alloc_unbound(D1, D1, DomId(9)).is_ok());
}

#[test]
fn bind_virq_rules() {
    let (mut ev, mut pages) = setup();
    let timer0 = ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(0)).unwrap();
    let timer1 = ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(1)).unwrap();
    assert_ne!(timer0, timer1);
    assert_eq!(
        ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(1)),
        Err(EvtchnError::VirqAlreadyBound)
    );
    assert_eq!(
        ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(2)),
        Err(EvtchnError::NoSuchVcpu)
    );
    assert_eq!(
        ev.bind_virq(D1, Virq(24), VcpuId(0)),
        Err(EvtchnError::InvalidVirq)
    );
    assert_eq!(
        ev.bind_virq(D1, Virq(u32::MAX), VcpuId(0)),
        Err(EvtchnError::InvalidVirq)
    );
    assert_eq!(
        ev.bind_virq(D1, Virq(VIRQ_CONSOLE), VcpuId(1)),
        Err(EvtchnError::InvalidVirq)
    );
    assert_eq!(
        ev.bind_virq(D1, Virq(VIRQ_ARGO), VcpuId(1)),
        Err(EvtchnError::InvalidVirq)
    );
    let console = ev.bind_virq(D1, Virq(VIRQ_CONSOLE), VcpuId(0)).unwrap();

    // Raising the timer on vCPU 1 hits vCPU 1's port.
    let n = ev
        .raise_virq(D1, VcpuId(1), Virq(VIRQ_TIMER), &mut pages)
        .unwrap()
        .unwrap();
    assert_eq!(
        (n.port, n.vcpu, n.delivery),
        (timer1, VcpuId(1), Delivery::Kick)
    );
    // A global VIRQ raised "on vCPU 1" uses the vCPU 0 binding.
    let n = ev
        .raise_virq(D1, VcpuId(1), Virq(VIRQ_CONSOLE), &mut pages)
        .unwrap()
        .unwrap();
    assert_eq!((n.port, n.vcpu), (console, VcpuId(0)));
    // Unbound VIRQ: nothing to do.
    assert_eq!(
        ev.raise_virq(D1, VcpuId(0), Virq(VIRQ_DEBUG), &mut pages),
        Ok(None)
    );
    assert_eq!(
        ev.raise_virq(D1, VcpuId(5), Virq(VIRQ_TIMER), &mut pages),
        Err(EvtchnError::NoSuchVcpu)
    );
    assert_eq!(
        ev.raise_virq(D1, VcpuId(0), Virq(99), &mut pages),
        Err(EvtchnError::InvalidVirq)
    );

    // Sending on a VIRQ port is refused; closing it unbinds the VIRQ.
    assert_eq!(
        ev.send(D1, timer0, &mut pages),
        Err(EvtchnError::WrongState)
    );
    ev.close(D1, timer0, &mut pages).unwrap();
    assert_eq!(
        ev.raise_virq(D1, VcpuId(0), Virq(VIRQ_TIMER), &mut pages),
        Ok(None)
    );
    assert!(ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(0)).is_ok());
}

#[test]
fn global_virq_moved_by_bind_vcpu_keeps_its_binding() {
    let (mut ev, mut pages) = setup();
    let console = ev.bind_virq(D1, Virq(VIRQ_CONSOLE), VcpuId(0)).unwrap();
    ev.bind_vcpu(D1, console, VcpuId(1)).unwrap();
    let n = ev
        .raise_virq(D1, VcpuId(0), Virq(VIRQ_CONSOLE), &mut pages)
        .unwrap()
        .unwrap();
    assert_eq!((n.port, n.vcpu), (console, VcpuId(1)));
    assert_eq!(
        ev.bind_virq(D1, Virq(VIRQ_CONSOLE), VcpuId(0)),
        Err(EvtchnError::VirqAlreadyBound)
    );
    ev.close(D1, console, &mut pages).unwrap();
    assert!(ev.bind_virq(D1, Virq(VIRQ_CONSOLE), VcpuId(0)).is_ok());
}

#[test]
fn bind_vcpu_rules() {
    let (mut ev, _) = setup();
    let timer = ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(0)).unwrap();
    let ipi = ev.bind_ipi(D1, VcpuId(1)).unwrap();
    let unbound = ev.alloc_unbound(D1, D1, D2).unwrap();
    assert_eq!(
        ev.bind_vcpu(D1, timer, VcpuId(1)),
        Err(EvtchnError::WrongState)
    );
    assert_eq!(
        ev.bind_vcpu(D1, ipi, VcpuId(0)),
        Err(EvtchnError::WrongState)
    );
    assert_eq!(
        ev.bind_vcpu(D1, Port(100), VcpuId(0)),
        Err(EvtchnError::WrongState)
    );
    assert_eq!(
        ev.bind_vcpu(D1, unbound, VcpuId(2)),
        Err(EvtchnError::NoSuchVcpu)
    );
    assert_eq!(
        ev.bind_vcpu(D1, Port(0), VcpuId(0)),
        Err(EvtchnError::InvalidPort)
    );
    ev.bind_vcpu(D1, unbound, VcpuId(1)).unwrap();
    assert_eq!(ev.channel(D1, unbound).unwrap().notify_vcpu, VcpuId(1));
}

#[test]
fn ipi_send_is_a_loopback_to_the_bound_vcpu() {
    let (mut ev, mut pages) = setup();
    assert_eq!(ev.bind_ipi(D1, VcpuId(2)), Err(EvtchnError::NoSuchVcpu));
    let ipi = ev.bind_ipi(D1, VcpuId(1)).unwrap();
    let SendOutcome::Raised(n) = ev.send(D1, ipi, &mut pages).unwrap() else {
        panic!()
    };
    assert_eq!(
        (n.dom, n.port, n.vcpu, n.delivery),
        (D1, ipi, VcpuId(1), Delivery::Kick)
    );
    assert!(pages.get(1).upcall[1]);
    assert!(!pages.get(1).upcall[0]);
}

#[test]
fn backend_ports() {
    let (mut ev, mut pages) = setup();
    let console = ev.bind_backend(D1, BackendService::Console).unwrap();
    let store = ev.bind_backend(D1, BackendService::Xenstore).unwrap();
    assert_eq!((console, store), (Port(1), Port(2)));
    assert_eq!(
        ev.send(D1, console, &mut pages),
        Ok(SendOutcome::Backend {
            dom: D1,
            port: console,
            service: BackendService::Console
        })
    );
    let n = ev.notify_from_backend(D1, store, &mut pages).unwrap();
    assert_eq!((n.port, n.delivery), (store, Delivery::Kick));

    let mut out = EvtchnStatus::default();
    let status = ev.status(D1, DomId::SELF, console).unwrap();
    assert_eq!(
        status.kind,
        StatusKind::Interdomain {
            dom: DomId(0),
            port: Port(0)
        }
    );
    status.fill(&mut out);
    assert_eq!(
        (out.status, out.u_word0, out.u_word1),
        (EVTCHNSTAT_INTERDOMAIN, 0, 0)
    );

    // Nobody can bind to a backend port.
    assert_eq!(
        ev.bind_interdomain(D2, D1, console, &mut pages),
        Err(EvtchnError::WrongState)
    );
    // Reset keeps backend ports; close frees them.
    let other = ev.bind_ipi(D1, VcpuId(0)).unwrap();
    ev.reset(D1, DomId::SELF, &mut pages).unwrap();
    assert_eq!(ev.channel(D1, other).unwrap(), Channel::FREE);
    assert!(matches!(
        ev.channel(D1, console).unwrap().state,
        PortState::Backend { .. }
    ));
    ev.close(D1, console, &mut pages).unwrap();
    assert_eq!(
        ev.notify_from_backend(D1, console, &mut pages),
        Err(EvtchnError::NotBackend)
    );
}

#[test]
fn status_reports_each_state() {
    let (mut ev, mut pages) = setup();
    let unbound = ev.alloc_unbound(D1, D1, D2).unwrap();
    let (d2_port, _) = ev.bind_interdomain(D2, D1, unbound, &mut pages).unwrap();
    let virq = ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(1)).unwrap();
    let ipi = ev.bind_ipi(D1, VcpuId(1)).unwrap();
    let waiting = ev.alloc_unbound(D1, D1, DomId(5)).unwrap();
    let st = |ev: &EventChannels, p| ev.status(D1, D1, p).unwrap();
    assert_eq!(
        st(&ev, unbound).kind,
        StatusKind::Interdomain {
            dom: D2,
            port: d2_port
        }
    );
    assert_eq!(
        st(&ev, virq),
        ChannelStatus {
            kind: StatusKind::Virq(Virq(0)),
            vcpu: VcpuId(1)
        }
    );
    assert_eq!(st(&ev, ipi).kind, StatusKind::Ipi);
    assert_eq!(
        st(&ev, waiting).kind,
        StatusKind::Unbound { remote: DomId(5) }
    );
    assert_eq!(st(&ev, Port(0)).kind, StatusKind::Closed);
    assert_eq!(st(&ev, Port(4095)).kind, StatusKind::Closed);
    assert_eq!(ev.status(D1, D1, Port(4096)), Err(EvtchnError::InvalidPort));
    assert_eq!(ev.status(D1, D2, Port(1)), Err(EvtchnError::NotPermitted));
    assert_eq!(
        ev.status(D1, DomId(8), Port(1)),
        Err(EvtchnError::NoSuchDomain)
    );
}

#[test]
fn unmask_redelivers_to_notify_vcpu() {
    let (mut ev, mut pages) = setup();
    let ipi = ev.bind_ipi(D1, VcpuId(1)).unwrap();
    pages.get_mut(1).set_mask(ipi.0, true);
    let SendOutcome::Raised(n) = ev.send(D1, ipi, &mut pages).unwrap() else {
        panic!()
    };
    assert_eq!(n.delivery, Delivery::Pending);
    assert_eq!(ev.unmask(D1, ipi, &mut pages), Ok(Some(VcpuId(1))));
    assert_eq!(ev.unmask(D1, ipi, &mut pages), Ok(None));
    assert_eq!(
        ev.unmask(D1, Port(0), &mut pages),
        Err(EvtchnError::InvalidPort)
    );
    assert_eq!(
        ev.unmask(D1, Port(5000), &mut pages),
        Err(EvtchnError::InvalidPort)
    );
}

#[test]
fn missing_shared_info_drops_events_without_failing() {
    let (mut ev, _) = setup();
    let mut none = FakePages::default();
    let ipi = ev.bind_ipi(D1, VcpuId(0)).unwrap();
    let SendOutcome::Raised(n) = ev.send(D1, ipi, &mut none).unwrap() else {
        panic!()
    };
    assert_eq!(n.delivery, Delivery::NoSharedInfo);
    assert_eq!(n.kick(), None);
    ev.close(D1, ipi, &mut none).unwrap();
}

#[test]
fn destroy_domain_unbinds_peers() {
    let (mut ev, mut pages) = setup();
    let p1 = ev.alloc_unbound(D1, D1, D2).unwrap();
    let (p2, _) = ev.bind_interdomain(D2, D1, p1, &mut pages).unwrap();
    ev.destroy_domain(D1).unwrap();
    assert!(!ev.has_domain(D1));
    assert_eq!(
        ev.channel(D2, p2).unwrap().state,
        PortState::Unbound { remote: D1 }
    );
    assert_eq!(ev.destroy_domain(D1), Err(EvtchnError::NoSuchDomain));
    assert_eq!(ev.send(D1, p1, &mut pages), Err(EvtchnError::NoSuchDomain));
}

#[test]
fn reset_closes_everything_and_only_for_self() {
    let (mut ev, mut pages) = setup();
    let p1 = ev.alloc_unbound(D1, D1, D2).unwrap();
    let (p2, _) = ev.bind_interdomain(D2, D1, p1, &mut pages).unwrap();
    ev.bind_virq(D1, Virq(VIRQ_TIMER), VcpuId(0)).unwrap();
    assert_eq!(ev.reset(D2, D1, &mut pages), Err(EvtchnError::NotPermitted));
    ev.reset(D1, D1, &mut pages).unwrap();
    assert_eq!(ev.bound_ports(D1).count(), 0);
    assert_eq!(
        ev.channel(D2, p2).unwrap().state,
        PortState::Unbound { remote: D1 }
    );
    assert_eq!(
        ev.raise_virq(D1, VcpuId(0), Virq(VIRQ_TIMER), &mut pages),
        Ok(None)
    );
}

#[test]
fn port_exhaustion_reports_enospc() {
    let (mut ev, _) = setup();
    for _ in 1..NR_PORTS {
        ev.bind_ipi(D2, VcpuId(0)).unwrap();
    }
    assert_eq!(ev.bind_ipi(D2, VcpuId(0)), Err(EvtchnError::NoFreePort));
    assert_eq!(ev.alloc_unbound(D2, D2, D1), Err(EvtchnError::NoFreePort));
    assert_eq!(
        ev.bind_backend(D2, BackendService::Console),
        Err(EvtchnError::NoFreePort)
    );
}
