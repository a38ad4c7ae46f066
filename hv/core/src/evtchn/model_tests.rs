//! Model-based property test: random operation sequences over three domains, checked against
//! a plain map of expected port states, with the registry's invariants re-checked after every
//! step.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::testing::{FakePages, FakeSharedInfo};
use super::*;

#[derive(Clone, Debug)]
enum Op {
    Create(u16),
    Destroy(u16),
    AllocUnbound(u16, u16),
    BindInterdomain(u16, u16, u32),
    BindVirq(u16, u32, u32),
    BindIpi(u16, u32),
    BindBackend(u16),
    Close(u16, u32),
    Send(u16, u32),
    Unmask(u16, u32),
    Mask(u16, u32),
    BindVcpu(u16, u32, u32),
    Reset(u16),
    RaiseVirq(u16, u32, u32),
    NotifyBackend(u16, u32),
    Status(u16, u32),
}

fn dom() -> impl Strategy<Value = u16> {
    prop_oneof![4 => 1u16..=3, 1 => Just(9u16), 1 => Just(DomId::SELF.0)]
}

fn port() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..10, 1 => Just(4095u32), 1 => Just(4096u32), 1 => any::<u32>()]
}

fn vcpu() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..3, 1 => any::<u32>()]
}

fn virq() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(11),
        Just(23),
        Just(24),
        any::<u32>()
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => dom().prop_map(Op::Create),
        1 => dom().prop_map(Op::Destroy),
        4 => (dom(), dom()).prop_map(|(a, b)| Op::AllocUnbound(a, b)),
        4 => (dom(), dom(), port()).prop_map(|(a, b, p)| Op::BindInterdomain(a, b, p)),
        2 => (dom(), virq(), vcpu()).prop_map(|(d, q, v)| Op::BindVirq(d, q, v)),
        2 => (dom(), vcpu()).prop_map(|(d, v)| Op::BindIpi(d, v)),
        1 => dom().prop_map(Op::BindBackend),
        4 => (dom(), port()).prop_map(|(d, p)| Op::Close(d, p)),
        4 => (dom(), port()).prop_map(|(d, p)| Op::Send(d, p)),
        2 => (dom(), port()).prop_map(|(d, p)| Op::Unmask(d, p)),
        2 => (dom(), port()).prop_map(|(d, p)| Op::Mask(d, p)),
        2 => (dom(), port(), vcpu()).prop_map(|(d, p, v)| Op::BindVcpu(d, p, v)),
        1 => dom().prop_map(Op::Reset),
        2 => (dom(), vcpu(), virq()).prop_map(|(d, v, q)| Op::RaiseVirq(d, v, q)),
        1 => (dom(), port()).prop_map(|(d, p)| Op::NotifyBackend(d, p)),
        1 => (dom(), port()).prop_map(|(d, p)| Op::Status(d, p)),
    ]
}

/// Expected states of bound ports, by (domain, port), and the live domains.
#[derive(Default)]
struct Model {
    live: BTreeMap<DomId, u32>,
    ports: BTreeMap<(DomId, Port), PortState>,
}

impl Model {
    fn destroy(&mut self, dom: DomId) {
        self.live.remove(&dom);
        let mine: Vec<_> = self
            .ports
            .keys()
            .filter(|(o, _)| *o == dom)
            .copied()
            .collect();
        for (o, p) in mine {
            self.free_port(o, p);
        }
    }

    fn free_port(&mut self, dom: DomId, port: Port) {
        if let Some(PortState::Interdomain {
            remote_dom,
            remote_port,
        }) = self.ports.remove(&(dom, port))
        {
            if remote_dom != dom || remote_port != port {
                self.ports.insert(
                    (remote_dom, remote_port),
                    PortState::Unbound { remote: dom },
                );
            }
        }
    }
}

fn check_invariants(ev: &EventChannels, model: &Model, pages: &FakePages) {
    let mut seen = BTreeMap::new();
    for (&dom, &nr_vcpus) in &model.live {
        assert!(ev.has_domain(dom));
        for (port, channel) in ev.bound_ports(dom) {
            assert!(port.is_bindable());
            assert!(channel.notify_vcpu.0 < nr_vcpus, "notify vCPU out of range");
            if let PortState::Interdomain {
                remote_dom,
                remote_port,
            } = channel.state
            {
                let peer = ev
                    .channel(remote_dom, remote_port)
                    .expect("peer domain is live");
                assert_eq!(
                    peer.state,
                    PortState::Interdomain {
                        remote_dom: dom,
                        remote_port: port
                    }
                );
            }
            seen.insert((dom, port), channel.state);
        }
        let table = &ev.domains[&dom];
        let mut virq_ports = 0;
        for (table_vcpu, virq, port) in table.virq_bindings() {
            let channel = table.get(port).unwrap();
            assert_eq!(channel.state, PortState::Virq { virq });
            assert_eq!(virq.table_vcpu(channel.notify_vcpu), table_vcpu);
            virq_ports += 1;
        }
        let bound_virqs = ev
            .bound_ports(dom)
            .filter(|(_, c)| matches!(c.state, PortState::Virq { .. }))
            .count();
        assert_eq!(virq_ports, bound_virqs);
        // A port that is not bound is never left pending.
        let si = pages.get(dom.0);
        for p in 1..NR_PORTS {
            if si.pending(p) {
                assert!(
                    seen.contains_key(&(dom, Port(p))),
                    "free port {p} of {dom:?} pending"
                );
            }
        }
    }
    assert_eq!(seen, model.ports, "registry and model disagree");
    for dom in [1u16, 2, 3, 9].map(DomId) {
        assert_eq!(ev.has_domain(dom), model.live.contains_key(&dom));
    }
}

fn run(ops: Vec<Op>) {
    let mut ev = EventChannels::new();
    let mut model = Model::default();
    let mut pages = FakePages::default();
    for (d, n) in [(1u16, 1u32), (2, 2), (3, 2)] {
        ev.create_domain(DomId(d), n).unwrap();
        model.live.insert(DomId(d), n);
        pages
            .pages
            .insert(DomId(d), FakeSharedInfo::new(n as usize));
    }
    for op in ops {
        apply(&mut ev, &mut model, &mut pages, op);
        check_invariants(&ev, &model, &pages);
    }
    // Tear everything down: no port may be left pointing at a destroyed domain.
    for d in [1u16, 2, 3].map(DomId) {
        if model.live.contains_key(&d) {
            ev.destroy_domain(d).unwrap();
            model.destroy(d);
        }
        for other in model.live.keys() {
            for (_, channel) in ev.bound_ports(*other) {
                let points_at_d = matches!(channel.state,
                    PortState::Interdomain { remote_dom, .. } if remote_dom == d);
                assert!(!points_at_d);
            }
        }
        check_invariants(&ev, &model, &pages);
    }
}

fn apply(ev: &mut EventChannels, model: &mut Model, pages: &mut FakePages, op: Op) {
    match op {
        Op::Create(d) => {
            let dom = DomId(d);
            let ok = ev.create_domain(dom, 2).is_ok();
            assert_eq!(ok, dom.is_ordinary() && !model.live.contains_key(&dom));
            if ok {
                model.live.insert(dom, 2);
                pages.pages.insert(dom, FakeSharedInfo::new(2));
            }
        }
        Op::Destroy(d) => {
            let dom = DomId(d);
            assert_eq!(
                ev.destroy_domain(dom).is_ok(),
                model.live.contains_key(&dom)
            );
            model.destroy(dom);
        }
        Op::AllocUnbound(c, r) => {
            let caller = DomId(c);
            if let Ok(port) = ev.alloc_unbound(caller, DomId::SELF, DomId(r)) {
                let remote = DomId(r).resolve(caller);
                assert!(model
                    .ports
                    .insert((caller, port), PortState::Unbound { remote })
                    .is_none());
            } else {
                assert!(!model.live.contains_key(&caller));
            }
        }
        Op::BindInterdomain(c, r, p) => {
            let (caller, remote_dom, remote_port) = (DomId(c), DomId(r).resolve(DomId(c)), Port(p));
            let expect = model.live.contains_key(&caller)
                && model.ports.get(&(remote_dom, remote_port))
                    == Some(&PortState::Unbound { remote: caller });
            match ev.bind_interdomain(caller, DomId(r), remote_port, pages) {
                Ok((local, n)) => {
                    assert!(expect);
                    assert_eq!((n.dom, n.port), (caller, local));
                    let to_remote = PortState::Interdomain {
                        remote_dom,
                        remote_port,
                    };
                    model.ports.insert((caller, local), to_remote);
                    let to_local = PortState::Interdomain {
                        remote_dom: caller,
                        remote_port: local,
                    };
                    model.ports.insert((remote_dom, remote_port), to_local);
                }
                Err(_) => assert!(!expect),
            }
        }
        Op::BindVirq(d, q, v) => {
            if let Ok(port) = ev.bind_virq(DomId(d), Virq(q), VcpuId(v)) {
                model
                    .ports
                    .insert((DomId(d), port), PortState::Virq { virq: Virq(q) });
            }
        }
        Op::BindIpi(d, v) => {
            if let Ok(port) = ev.bind_ipi(DomId(d), VcpuId(v)) {
                model.ports.insert((DomId(d), port), PortState::Ipi);
            }
        }
        Op::BindBackend(d) => {
            if let Ok(port) = ev.bind_backend(DomId(d), BackendService::Console) {
                let state = PortState::Backend {
                    service: BackendService::Console,
                };
                model.ports.insert((DomId(d), port), state);
            }
        }
        Op::Close(d, p) => {
            let expect = model.ports.contains_key(&(DomId(d), Port(p)));
            assert_eq!(ev.close(DomId(d), Port(p), pages).is_ok(), expect);
            if expect {
                model.free_port(DomId(d), Port(p));
            }
        }
        Op::Send(d, p) => {
            let result = ev.send(DomId(d), Port(p), pages);
            let state = model.ports.get(&(DomId(d), Port(p))).copied();
            match (state, result) {
                (
                    Some(PortState::Interdomain {
                        remote_dom,
                        remote_port,
                    }),
                    Ok(SendOutcome::Raised(n)),
                ) => {
                    assert_eq!((n.dom, n.port), (remote_dom, remote_port));
                    assert!(
                        n.delivery == Delivery::AlreadyPending
                            || pages.get(remote_dom.0).pending(remote_port.0)
                    );
                }
                (Some(PortState::Ipi), Ok(SendOutcome::Raised(n))) => assert_eq!(n.port, Port(p)),
                (Some(PortState::Unbound { .. }), Ok(SendOutcome::Dropped)) => {}
                (Some(PortState::Backend { .. }), Ok(SendOutcome::Backend { .. })) => {}
                (Some(PortState::Virq { .. }) | None, Err(_)) => {}
                (state, result) => panic!("send on {state:?} gave {result:?}"),
            }
        }
        Op::Unmask(d, p) => {
            let _ = ev.unmask(DomId(d), Port(p), pages);
        }
        Op::Mask(d, p) => {
            if let Some(si) = pages.pages.get_mut(&DomId(d)) {
                si.set_mask(p % NR_PORTS, true);
            }
        }
        Op::BindVcpu(d, p, v) => {
            let _ = ev.bind_vcpu(DomId(d), Port(p), VcpuId(v));
        }
        Op::Reset(d) => {
            let dom = DomId(d).resolve(DomId(1));
            if ev.reset(DomId(1), DomId(d), pages).is_ok() {
                assert_eq!(dom, DomId(1));
                let mine: Vec<_> = model
                    .ports
                    .iter()
                    .filter(|((o, _), s)| *o == dom && !matches!(s, PortState::Backend { .. }))
                    .map(|(k, _)| *k)
                    .collect();
                for (o, p) in mine {
                    model.free_port(o, p);
                }
            }
        }
        Op::RaiseVirq(d, v, q) => {
            if let Ok(Some(n)) = ev.raise_virq(DomId(d), VcpuId(v), Virq(q), pages) {
                assert_eq!(
                    model.ports.get(&(n.dom, n.port)),
                    Some(&PortState::Virq { virq: Virq(q) })
                );
            }
        }
        Op::NotifyBackend(d, p) => {
            let expect = matches!(
                model.ports.get(&(DomId(d), Port(p))),
                Some(PortState::Backend { .. })
            );
            assert_eq!(
                ev.notify_from_backend(DomId(d), Port(p), pages).is_ok(),
                expect
            );
        }
        Op::Status(d, p) => {
            let _ = ev.status(DomId(d), DomId::SELF, Port(p));
        }
    }
}

proptest! {
    #[test]
    fn random_operations_keep_the_registry_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
