//! TRANSACTION_START / TRANSACTION_END: isolation of writes, commit, abort, conflicts.
mod common;

use common::*;
use pv_abi::io::xs_wire::*;
use xenstore::DomId;

fn setup() -> Harness {
    let mut h = Harness::new();
    h.add_guest(5);
    h.add_guest(6);
    h
}

fn start(h: &mut Harness, id: u16) -> u32 {
    let reply = h.ask(id, XS_TRANSACTION_START, 0, b"\0").unwrap();
    assert_eq!(reply.last(), Some(&0));
    String::from_utf8(reply[..reply.len() - 1].to_vec())
        .unwrap()
        .parse()
        .unwrap()
}

fn write_tx(
    h: &mut Harness,
    id: u16,
    tx: u32,
    path: &str,
    value: &[u8],
) -> Result<Vec<u8>, String> {
    h.ask(id, XS_WRITE, tx, &[path.as_bytes(), b"\0", value].concat())
}

fn end(h: &mut Harness, id: u16, tx: u32, commit: bool) -> Result<Vec<u8>, String> {
    h.ask(
        id,
        XS_TRANSACTION_END,
        tx,
        &nul(if commit { "T" } else { "F" }),
    )
}

#[test]
fn writes_are_private_until_commit() {
    let mut h = setup();
    let tx = start(&mut h, 5);
    assert_ne!(tx, 0);
    write_tx(&mut h, 5, tx, "data/a/b", b"1").unwrap();
    assert_eq!(h.ask(5, XS_READ, tx, &nul("data/a/b")), Ok(b"1".to_vec()));
    assert_eq!(h.ask(5, XS_DIRECTORY, tx, &nul("data/a")), Ok(strs(&["b"])));
    assert_eq!(h.read(5, "data/a/b"), Err("ENOENT".into()));
    assert_eq!(end(&mut h, 5, tx, true), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(5, "data/a/b"), Ok(b"1".to_vec()));
    h.store.check_invariants().unwrap();
}

#[test]
fn abort_discards() {
    let mut h = setup();
    h.write(5, "data/keep", b"0").unwrap();
    let tx = start(&mut h, 5);
    write_tx(&mut h, 5, tx, "data/keep", b"1").unwrap();
    h.ask(5, XS_RM, tx, &nul("data/keep")).unwrap();
    assert_eq!(
        h.ask(5, XS_READ, tx, &nul("data/keep")),
        Err("ENOENT".into())
    );
    assert_eq!(end(&mut h, 5, tx, false), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(5, "data/keep"), Ok(b"0".to_vec()));
    assert_eq!(
        end(&mut h, 5, tx, true),
        Err("ENOENT".into()),
        "transaction is gone"
    );
}

#[test]
fn conflicting_change_gives_eagain() {
    let mut h = setup();
    h.write(5, "data/x", b"0").unwrap();
    let tx = start(&mut h, 5);
    h.ask(5, XS_READ, tx, &nul("data/x")).unwrap();
    write_tx(&mut h, 5, tx, "data/y", b"1").unwrap();
    h.write(5, "data/x", b"other").unwrap();
    assert_eq!(end(&mut h, 5, tx, true), Err("EAGAIN".into()));
    assert_eq!(h.read(5, "data/y"), Err("ENOENT".into()));
    assert_eq!(
        end(&mut h, 5, tx, true),
        Err("ENOENT".into()),
        "gone after EAGAIN too"
    );
}

#[test]
fn unrelated_change_does_not_conflict() {
    let mut h = setup();
    let tx = start(&mut h, 5);
    write_tx(&mut h, 5, tx, "data/y", b"1").unwrap();
    h.write(6, "data/z", b"elsewhere").unwrap();
    assert_eq!(end(&mut h, 5, tx, true), Ok(b"OK\0".to_vec()));
}

#[test]
fn concurrent_creation_of_a_read_absent_node_conflicts() {
    let mut h = setup();
    let tx = start(&mut h, 5);
    assert_eq!(
        h.ask(5, XS_READ, tx, &nul("data/new")),
        Err("ENOENT".into())
    );
    write_tx(&mut h, 5, tx, "data/other", b"").unwrap();
    h.write(5, "data/new", b"").unwrap();
    assert_eq!(end(&mut h, 5, tx, true), Err("EAGAIN".into()));
}

#[test]
fn two_transactions_second_commit_conflicts() {
    let mut h = setup();
    let t1 = start(&mut h, 5);
    let t2 = start(&mut h, 5);
    assert_ne!(t1, t2);
    write_tx(&mut h, 5, t1, "data/k", b"1").unwrap();
    write_tx(&mut h, 5, t2, "data/k", b"2").unwrap();
    assert_eq!(end(&mut h, 5, t1, true), Ok(b"OK\0".to_vec()));
    assert_eq!(end(&mut h, 5, t2, true), Err("EAGAIN".into()));
    assert_eq!(h.read(5, "data/k"), Ok(b"1".to_vec()));
}

#[test]
fn watches_fire_only_on_commit() {
    let mut h = setup();
    h.ask(5, XS_WATCH, 0, &strs(&["data", "t"])).unwrap();
    h.events(5);
    let tx = start(&mut h, 5);
    write_tx(&mut h, 5, tx, "data/w", b"").unwrap();
    assert_eq!(h.events(5), ev(&[]));
    end(&mut h, 5, tx, true).unwrap();
    assert_eq!(h.events(5), ev(&[("data/w", "t")]));
    let tx = start(&mut h, 5);
    write_tx(&mut h, 5, tx, "data/w2", b"").unwrap();
    end(&mut h, 5, tx, false).unwrap();
    assert_eq!(h.events(5), ev(&[]));
}

#[test]
fn transaction_id_rules() {
    let mut h = setup();
    assert_eq!(
        h.ask(5, XS_READ, 42, &nul("data")),
        Err("ENOENT".into()),
        "unknown tx_id"
    );
    assert_eq!(
        h.ask(5, XS_TRANSACTION_START, 42, b"\0"),
        Err("ENOENT".into())
    );
    let tx = start(&mut h, 5);
    assert_eq!(
        h.ask(5, XS_TRANSACTION_START, tx, b"\0"),
        Err("EBUSY".into()),
        "no nesting"
    );
    assert_eq!(
        h.ask(6, XS_READ, tx, &nul("data")),
        Err("ENOENT".into()),
        "ids are per connection"
    );
    assert_eq!(
        h.ask(5, XS_TRANSACTION_END, tx, &nul("X")),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_TRANSACTION_END, 0, &nul("T")),
        Err("ENOENT".into())
    );
    assert_eq!(
        h.ask(5, XS_GET_DOMAIN_PATH, tx, &nul("5")),
        Ok(nul("/local/domain/5"))
    );
}

#[test]
fn transaction_count_and_tracking_quotas() {
    let limits = xenstore::Limits {
        max_transactions: 1,
        max_transaction_nodes: 3,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    let tx = start(&mut h, 5);
    assert_eq!(
        h.ask(5, XS_TRANSACTION_START, 0, b"\0"),
        Err("ENOSPC".into())
    );
    // data/a/b touches data/a/b, data/a and data: 3 tracked nodes.
    assert_eq!(
        write_tx(&mut h, 5, tx, "data/a/b", b""),
        Ok(b"OK\0".to_vec())
    );
    assert_eq!(
        write_tx(&mut h, 5, tx, "data/q", b""),
        Err("ENOSPC".into()),
        "4th tracked node"
    );
    assert_eq!(
        end(&mut h, 5, tx, true),
        Ok(b"OK\0".to_vec()),
        "the failed write left no trace"
    );
    assert_eq!(h.read(5, "data/q"), Err("ENOENT".into()));
    h.store.check_invariants().unwrap();
}

#[test]
fn node_quota_inside_a_transaction_and_at_commit() {
    let limits = xenstore::Limits {
        max_nodes_per_domain: 12,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5); // owns 10 nodes
    let tx = start(&mut h, 5);
    write_tx(&mut h, 5, tx, "data/n1", b"").unwrap();
    write_tx(&mut h, 5, tx, "data/n2", b"").unwrap();
    assert_eq!(
        write_tx(&mut h, 5, tx, "drivers/n3", b""),
        Err("ENOSPC".into())
    );
    h.write(5, "feature/outside", b"").unwrap();
    assert_eq!(end(&mut h, 5, tx, true), Err("ENOSPC".into()));
    assert_eq!(h.store.tree().owned_by(DomId(5)), 11);
    h.store.check_invariants().unwrap();
}
