//! Property tests: no input panics the server, invariants hold after every step, replies
//! arrive exactly once and in order, and node operations agree with a simple model.
mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use pv_abi::io::xs_wire::*;
use xenstore::message::Message;
use xenstore::{DomId, Limits};

// ---- 1. Arbitrary bytes and pages ----

proptest! {
    #[test]
    fn random_request_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let mut h = Harness::new();
        h.add_guest(5);
        for chunk in chunks {
            h.send_raw(5, &chunk);
            h.service_one(DomId(5));
            h.store.check_invariants().unwrap();
        }
    }

    #[test]
    fn random_pages_never_panic(page in prop::collection::vec(any::<u8>(), 4096), rounds in 1..4usize) {
        let mut store = xenstore::Store::new(Limits::default());
        store.introduce_domain(DomId(5)).unwrap();
        let mut page = VecPage(page);
        for _ in 0..rounds {
            let _ = store.service(DomId(5), &mut page);
            store.check_invariants().unwrap();
        }
    }

    #[test]
    fn random_headers_with_small_payloads(msgs in prop::collection::vec((0u32..30, any::<u32>(), 0u32..3, prop::collection::vec(prop::sample::select(b"ab/@\0-_1 .".to_vec()), 0..24)), 0..40)) {
        let mut h = Harness::new();
        h.add_guest(5);
        for (type_, req_id, tx_id, payload) in msgs {
            let bytes = Message::new(type_, req_id, tx_id, payload).to_bytes();
            h.send_raw(5, &bytes);
        }
        h.run();
        h.store.check_invariants().unwrap();
        prop_assert!(h.guest(5).inbox.is_empty(), "all output framed");
    }
}

// ---- 2. Valid request sequences from two guests ----

const PATHS: [&str; 8] = [
    "data/a",
    "data/a/b",
    "data/a/b/c",
    "data/b",
    "/local/domain/6/data/x",
    "/local/domain/5/data/a",
    "@releaseDomain",
    "domid",
];

#[derive(Clone, Debug)]
enum Op {
    Read(usize),
    Write(usize, Vec<u8>),
    Mkdir(usize),
    Rm(usize),
    Directory(usize),
    DirectoryPart(usize, u16),
    GetPerms(usize),
    SetPerms(usize, Vec<(u8, u16)>),
    Watch(usize, u8, Option<u8>),
    Unwatch(usize, u8),
    TxStart,
    TxEnd(bool),
    ResetWatches,
    ToolWrite(usize, Vec<u8>),
    ToggleDraining,
}

fn op() -> impl Strategy<Value = Op> {
    let path = 0..PATHS.len();
    let value = prop::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        path.clone().prop_map(Op::Read),
        (path.clone(), value.clone()).prop_map(|(p, v)| Op::Write(p, v)),
        path.clone().prop_map(Op::Mkdir),
        path.clone().prop_map(Op::Rm),
        path.clone().prop_map(Op::Directory),
        (path.clone(), 0u16..20).prop_map(|(p, o)| Op::DirectoryPart(p, o)),
        path.clone().prop_map(Op::GetPerms),
        (path.clone(), prop::collection::vec((0u8..4, 0u16..8), 1..4))
            .prop_map(|(p, e)| Op::SetPerms(p, e)),
        (path.clone(), 0u8..3, prop::option::of(0u8..3)).prop_map(|(p, t, d)| Op::Watch(p, t, d)),
        (path.clone(), 0u8..3).prop_map(|(p, t)| Op::Unwatch(p, t)),
        Just(Op::TxStart),
        any::<bool>().prop_map(Op::TxEnd),
        Just(Op::ResetWatches),
        (path.clone(), value).prop_map(|(p, v)| Op::ToolWrite(p, v)),
        Just(Op::ToggleDraining),
    ]
}

/// Per-guest bookkeeping of the test driver.
#[derive(Default)]
struct Driver {
    sent: BTreeMap<u16, Vec<u32>>,
    open_tx: BTreeMap<u16, Vec<u32>>,
}

impl Driver {
    fn tx(&self, id: u16, pick: usize) -> u32 {
        self.open_tx
            .get(&id)
            .and_then(|v| {
                if v.is_empty() {
                    None
                } else {
                    Some(v[pick % v.len()])
                }
            })
            .unwrap_or(0)
    }
}

fn request(h: &mut Harness, d: &mut Driver, id: u16, pick: usize, op: &Op) {
    let tx = d.tx(id, pick);
    let (type_, tx_id, payload): (u32, u32, Vec<u8>) = match op {
        Op::Read(p) => (XS_READ, tx, nul(PATHS[*p])),
        Op::Write(p, v) => (XS_WRITE, tx, [PATHS[*p].as_bytes(), b"\0", v].concat()),
        Op::Mkdir(p) => (XS_MKDIR, tx, nul(PATHS[*p])),
        Op::Rm(p) => (XS_RM, tx, nul(PATHS[*p])),
        Op::Directory(p) => (XS_DIRECTORY, tx, nul(PATHS[*p])),
        Op::DirectoryPart(p, o) => (XS_DIRECTORY_PART, tx, strs(&[PATHS[*p], &o.to_string()])),
        Op::GetPerms(p) => (XS_GET_PERMS, tx, nul(PATHS[*p])),
        Op::SetPerms(p, entries) => {
            let mut parts = vec![PATHS[*p].to_string()];
            parts.extend(
                entries
                    .iter()
                    .map(|(l, dom)| format!("{}{}", b"nrwb"[*l as usize] as char, dom)),
            );
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            (XS_SET_PERMS, tx, strs(&refs))
        }
        Op::Watch(p, t, depth) => {
            let token = format!("t{t}");
            match depth {
                Some(dep) => (XS_WATCH, 0, strs(&[PATHS[*p], &token, &dep.to_string()])),
                None => (XS_WATCH, 0, strs(&[PATHS[*p], &token])),
            }
        }
        Op::Unwatch(p, t) => (XS_UNWATCH, 0, strs(&[PATHS[*p], &format!("t{t}")])),
        Op::TxStart => (XS_TRANSACTION_START, 0, nul("")),
        Op::TxEnd(commit) => (XS_TRANSACTION_END, tx, nul(if *commit { "T" } else { "F" })),
        Op::ResetWatches => (XS_RESET_WATCHES, 0, nul("")),
        Op::ToolWrite(p, v) => {
            let path = PATHS[*p];
            if path.starts_with('/') {
                let _ = h.store.tool_write(path, v);
            }
            return;
        }
        Op::ToggleDraining => {
            let g = h.guest(id);
            g.draining = !g.draining;
            return;
        }
    };
    let req_id = h.send(id, type_, tx_id, &payload);
    d.sent.entry(id).or_default().push(req_id);
    if matches!(op, Op::TxEnd(_)) || matches!(op, Op::ResetWatches) {
        // The transaction is gone whatever the reply (ResetWatches drops them all).
        let open = d.open_tx.entry(id).or_default();
        if matches!(op, Op::ResetWatches) {
            open.clear();
        } else {
            open.retain(|t| *t != tx);
        }
    }
}

/// Collects TRANSACTION_START replies into the driver's open transactions.
fn learn_transactions(h: &mut Harness, d: &mut Driver, id: u16) {
    for reply in h.guest(id).replies.iter() {
        if reply.header.type_ == XS_TRANSACTION_START {
            let text =
                String::from_utf8_lossy(&reply.payload[..reply.payload.len() - 1]).to_string();
            let t: u32 = text.parse().unwrap();
            let open = d.open_tx.entry(id).or_default();
            if !open.contains(&t) {
                open.push(t);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn valid_sequences_keep_invariants_and_order(steps in prop::collection::vec((0u16..2, any::<usize>(), op()), 1..60)) {
        let limits = Limits { max_output_bytes: 6000, max_nodes_per_domain: 20, max_transactions: 3, ..Default::default() };
        let mut h = Harness::with_limits(limits);
        h.add_guest(5);
        h.add_guest(6);
        let mut d = Driver::default();
        for (who, pick, op) in &steps {
            let id = 5 + *who;
            request(&mut h, &mut d, id, *pick, op);
            h.run();
            learn_transactions(&mut h, &mut d, id);
            h.store.check_invariants().map_err(TestCaseError::fail)?;
            for guest in [5u16, 6] {
                let limit = h.store.limits().max_nodes_per_domain;
                prop_assert!(h.store.tree().owned_by(DomId(guest)) <= limit);
            }
        }
        // Let everyone drain, then check every request got exactly one reply, in order,
        // unless the connection broke (then the ring stops mid-stream by design).
        for id in [5u16, 6] {
            h.guest(id).draining = true;
        }
        h.run();
        for id in [5u16, 6] {
            let broken = h.store.connection_status(DomId(id)).unwrap().broken.is_some();
            let got: Vec<u32> = h.guest(id).replies.iter().map(|m| m.header.req_id).collect();
            let sent = d.sent.get(&id).cloned().unwrap_or_default();
            if broken {
                prop_assert!(sent.starts_with(&got), "replies are a prefix of requests");
            } else {
                prop_assert_eq!(got, sent);
                prop_assert!(h.guest(id).inbox.is_empty());
                prop_assert_eq!(h.store.connection_status(DomId(id)).unwrap().queued_output_bytes, 0);
            }
        }
    }
}

// ---- 3. Node operations agree with a model ----

#[derive(Clone, Debug)]
enum ModelOp {
    Write(usize, Vec<u8>),
    Mkdir(usize),
    Rm(usize),
}

const MODEL_PATHS: [&str; 7] = [
    "data/a",
    "data/a/b",
    "data/a/b/c",
    "data/a/d",
    "data/e",
    "data/e/f",
    "data/g/h/i",
];

fn model_op() -> impl Strategy<Value = ModelOp> {
    let p = 0..MODEL_PATHS.len();
    prop_oneof![
        (p.clone(), prop::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(p, v)| ModelOp::Write(p, v)),
        p.clone().prop_map(ModelOp::Mkdir),
        p.prop_map(ModelOp::Rm),
    ]
}

/// The model: absolute-free relative paths under `data` mapped to values.
fn apply(model: &mut BTreeMap<String, Vec<u8>>, op: &ModelOp) -> Result<(), &'static str> {
    let ancestors = |p: &str| -> Vec<String> {
        let parts: Vec<&str> = p.split('/').collect();
        (1..parts.len()).map(|n| parts[..n].join("/")).collect()
    };
    match op {
        ModelOp::Write(p, v) => {
            for a in ancestors(MODEL_PATHS[*p]) {
                model.entry(a).or_default();
            }
            model.insert(MODEL_PATHS[*p].to_string(), v.clone());
        }
        ModelOp::Mkdir(p) => {
            for a in ancestors(MODEL_PATHS[*p]) {
                model.entry(a).or_default();
            }
            model.entry(MODEL_PATHS[*p].to_string()).or_default();
        }
        ModelOp::Rm(p) => {
            let path = MODEL_PATHS[*p];
            let parent = &path[..path.rfind('/').unwrap()];
            if !model.contains_key(path) && !model.contains_key(parent) {
                return Err("ENOENT");
            }
            let prefix = format!("{path}/");
            model.retain(|k, _| k != path && !k.starts_with(&prefix));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn node_operations_match_the_model(ops in prop::collection::vec(model_op(), 1..40), in_tx in any::<bool>()) {
        let mut h = Harness::new();
        h.add_guest(5);
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        model.insert("data".into(), Vec::new());
        let tx = if in_tx {
            let r = h.ask(5, XS_TRANSACTION_START, 0, b"\0").unwrap();
            String::from_utf8(r[..r.len() - 1].to_vec()).unwrap().parse().unwrap()
        } else {
            0
        };
        for op in &ops {
            let expected = apply(&mut model, op).map(|_| b"OK\0".to_vec()).map_err(String::from);
            let got = match op {
                ModelOp::Write(p, v) => h.ask(5, XS_WRITE, tx, &[MODEL_PATHS[*p].as_bytes(), b"\0", v].concat()),
                ModelOp::Mkdir(p) => h.ask(5, XS_MKDIR, tx, &nul(MODEL_PATHS[*p])),
                ModelOp::Rm(p) => h.ask(5, XS_RM, tx, &nul(MODEL_PATHS[*p])),
            };
            prop_assert_eq!(got, expected, "{:?}", op);
            for path in MODEL_PATHS.iter().chain(["data/g", "data/g/h"].iter()) {
                let got = h.ask(5, XS_READ, tx, &nul(path));
                let want = model.get(*path).cloned().ok_or_else(|| "ENOENT".to_string());
                prop_assert_eq!(got, want, "read {}", path);
            }
        }
        if in_tx {
            prop_assert_eq!(h.ask(5, XS_TRANSACTION_END, tx, &nul("T")), Ok(b"OK\0".to_vec()));
        }
        for (path, value) in &model {
            prop_assert_eq!(h.read(5, path), Ok(value.clone()));
            let mut children: Vec<String> = model
                .keys()
                .filter_map(|k| k.strip_prefix(&format!("{path}/")).filter(|rest| !rest.contains('/')).map(String::from))
                .collect();
            children.sort();
            let listed = h.ask(5, XS_DIRECTORY, 0, &nul(path)).unwrap();
            let mut listed: Vec<String> =
                listed.split(|&b| b == 0).filter(|n| !n.is_empty()).map(|n| String::from_utf8(n.to_vec()).unwrap()).collect();
            listed.sort();
            prop_assert_eq!(listed, children);
        }
        h.store.check_invariants().map_err(TestCaseError::fail)?;
    }
}

// ---- 4. A guest that reads its ring a few bytes at a time ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn stingy_reader_gets_every_byte_in_order(max_read in 1usize..40, sizes in prop::collection::vec(0usize..1500, 1..12)) {
        let mut h = Harness::new();
        h.add_guest(5);
        h.guest(5).max_read = Some(max_read);
        let mut expected = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let value = vec![b'a' + (i % 26) as u8; *size];
            h.store.tool_write(&format!("/local/domain/5/data/v{i}"), &value).unwrap();
            let req_id = h.send(5, XS_READ, 0, &nul(&format!("data/v{i}")));
            expected.extend(Message::new(XS_READ, req_id, 0, value).to_bytes());
        }
        h.run();
        prop_assert_eq!(&h.guest(5).received, &expected);
    }
}
