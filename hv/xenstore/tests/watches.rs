//! WATCH, UNWATCH, RESET_WATCHES and watch event delivery.
mod common;

use common::*;
use pv_abi::io::xs_wire::*;
use xenstore::{DomId, NodePerms, Perm};

fn setup() -> Harness {
    let mut h = Harness::new();
    h.add_guest(5);
    h.add_guest(6);
    h
}

fn watch(h: &mut Harness, id: u16, path: &str, token: &str) -> Result<Vec<u8>, String> {
    h.ask(id, XS_WATCH, 0, &strs(&[path, token]))
}

#[test]
fn watch_fires_initially_then_on_changes_below() {
    let mut h = setup();
    assert_eq!(watch(&mut h, 5, "data", "tok"), Ok(b"OK\0".to_vec()));
    assert_eq!(
        h.events(5),
        ev(&[("data", "tok")]),
        "initial event, relative"
    );
    h.write(5, "data/a/b", b"1").unwrap();
    assert_eq!(h.events(5), ev(&[("data/a/b", "tok")]));
    h.ask(5, XS_MKDIR, 0, &nul("data/m")).unwrap();
    assert_eq!(h.events(5), ev(&[("data/m", "tok")]));
    h.ask(5, XS_MKDIR, 0, &nul("data/m")).unwrap();
    assert_eq!(
        h.events(5),
        ev(&[]),
        "mkdir of an existing node changes nothing"
    );
    h.write(5, "drivers/x", b"1").unwrap();
    assert_eq!(h.events(5), ev(&[]), "sibling subtree");
}

#[test]
fn absolute_watch_gets_absolute_paths() {
    let mut h = setup();
    watch(&mut h, 5, "/local/domain/5/data", "t").unwrap();
    h.events(5);
    h.write(5, "data/q", b"").unwrap();
    assert_eq!(h.events(5), ev(&[("/local/domain/5/data/q", "t")]));
}

#[test]
fn events_precede_the_reply_that_caused_them() {
    let mut h = setup();
    watch(&mut h, 5, "data", "t").unwrap();
    h.events(5);
    let before = h.guest(5).received.len();
    h.write(5, "data/x", b"v").unwrap();
    let stream = h.guest(5).received[before..].to_vec();
    assert_eq!(
        u32::from_le_bytes(stream[0..4].try_into().unwrap()),
        XS_WATCH_EVENT
    );
}

#[test]
fn rm_fires_on_ancestors_and_on_removed_descendants() {
    let mut h = setup();
    h.write(5, "data/t/a/b", b"").unwrap();
    watch(&mut h, 5, "data/t/a/b", "deep").unwrap();
    watch(&mut h, 5, "data", "top").unwrap();
    watch(&mut h, 5, "data/t/a/b/none", "missing").unwrap();
    h.events(5);
    h.ask(5, XS_RM, 0, &nul("data/t")).unwrap();
    let mut events = h.events(5);
    events.sort();
    assert_eq!(events, ev(&[("data/t", "top"), ("data/t/a/b", "deep")]));
}

#[test]
fn set_perms_fires_even_for_watchers_losing_access() {
    let mut h = setup();
    h.write(5, "data/shared", b"").unwrap();
    h.ask(5, XS_SET_PERMS, 0, &strs(&["data/shared", "n5", "r6"]))
        .unwrap();
    watch(&mut h, 6, "/local/domain/5/data/shared", "w6").unwrap();
    assert_eq!(h.events(6), ev(&[("/local/domain/5/data/shared", "w6")]));
    h.ask(5, XS_SET_PERMS, 0, &strs(&["data/shared", "n5"]))
        .unwrap();
    assert_eq!(
        h.events(6),
        ev(&[("/local/domain/5/data/shared", "w6")]),
        "old perms allowed it"
    );
    h.write(5, "data/shared", b"x").unwrap();
    assert_eq!(h.events(6), ev(&[]), "no longer readable");
}

#[test]
fn other_domains_get_events_and_the_outcome_names_them() {
    let mut h = setup();
    h.write(5, "data/shared", b"").unwrap();
    h.ask(5, XS_SET_PERMS, 0, &strs(&["data/shared", "n5", "r6"]))
        .unwrap();
    watch(&mut h, 6, "/local/domain/5/data/shared", "w").unwrap();
    h.events(6);
    h.send(5, XS_WRITE, 0, b"data/shared\0v");
    let outcome = h.service_one(DomId(5));
    assert_eq!(outcome.other_domains, vec![DomId(6)]);
    h.run();
    assert_eq!(h.events(6), ev(&[("/local/domain/5/data/shared", "w")]));
}

#[test]
fn watch_depth() {
    let mut h = setup();
    h.ask(5, XS_WATCH, 0, &strs(&["data", "d1", "1"])).unwrap();
    h.events(5);
    h.write(5, "data/a", b"").unwrap();
    h.write(5, "data/a/b", b"").unwrap();
    assert_eq!(h.events(5), ev(&[("data/a", "d1")]));
    assert_eq!(
        h.ask(5, XS_WATCH, 0, &strs(&["data", "d", "-1"])),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_WATCH, 0, &strs(&["data", "d", "1", "x"])),
        Err("EINVAL".into())
    );
}

#[test]
fn watch_errors_and_unwatch() {
    let mut h = setup();
    assert_eq!(watch(&mut h, 5, "data", "t"), Ok(b"OK\0".to_vec()));
    assert_eq!(
        watch(&mut h, 5, "/local/domain/5/data", "t"),
        Err("EEXIST".into()),
        "same canonical path"
    );
    assert_eq!(h.ask(5, XS_WATCH, 0, &nul("data")), Err("EINVAL".into()));
    assert_eq!(watch(&mut h, 5, "bad//path", "t"), Err("EINVAL".into()));
    assert_eq!(
        h.ask(5, XS_UNWATCH, 0, &strs(&["data", "other"])),
        Err("ENOENT".into())
    );
    assert_eq!(
        h.ask(5, XS_UNWATCH, 0, &strs(&["data", "t"])),
        Ok(b"OK\0".to_vec())
    );
    h.events(5);
    h.write(5, "data/x", b"").unwrap();
    assert_eq!(h.events(5), ev(&[]));
    // WATCH ignores tx_id, even an unknown one.
    assert_eq!(
        h.ask(5, XS_WATCH, 77, &strs(&["data", "t2"])),
        Ok(b"OK\0".to_vec())
    );
}

#[test]
fn watch_quota() {
    let limits = xenstore::Limits {
        max_watches: 2,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    watch(&mut h, 5, "a", "1").unwrap();
    watch(&mut h, 5, "b", "2").unwrap();
    assert_eq!(watch(&mut h, 5, "c", "3"), Err("ENOSPC".into()));
}

#[test]
fn reset_watches_drops_watches_and_transactions() {
    let mut h = setup();
    watch(&mut h, 5, "data", "t").unwrap();
    let tx = h.ask(5, XS_TRANSACTION_START, 0, b"\0").unwrap();
    let tx: u32 = String::from_utf8(tx[..tx.len() - 1].to_vec())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(h.ask(5, XS_RESET_WATCHES, 0, b"\0"), Ok(b"OK\0".to_vec()));
    h.events(5);
    h.write(5, "data/x", b"").unwrap();
    assert_eq!(h.events(5), ev(&[]));
    assert_eq!(
        h.ask(5, XS_TRANSACTION_END, tx, &nul("T")),
        Err("ENOENT".into())
    );
}

#[test]
fn special_watches() {
    let mut h = setup();
    watch(&mut h, 5, "@releaseDomain", "rel").unwrap();
    watch(&mut h, 5, "@introduceDomain", "intro").unwrap();
    h.ask(5, XS_WATCH, 0, &strs(&["@releaseDomain", "reldepth", "1"]))
        .unwrap();
    h.events(5);
    h.add_guest(7);
    h.run();
    assert_eq!(
        h.events(5),
        ev(&[]),
        "@introduceDomain is toolstack-only by default"
    );
    h.store.release_domain(DomId(7)).unwrap();
    h.run();
    assert_eq!(
        h.events(5),
        ev(&[("@releaseDomain", "rel"), ("@releaseDomain/7", "reldepth")])
    );
    h.store
        .tool_set_perms(
            "@introduceDomain",
            NodePerms::new(DomId(0), Perm::None).with(DomId(5), Perm::Read),
        )
        .unwrap();
    h.store.introduce_domain(DomId(8)).unwrap();
    h.run();
    assert_eq!(h.events(5), ev(&[("@introduceDomain", "intro")]));
}

#[test]
fn duplicate_pending_events_are_merged() {
    let mut h = setup();
    watch(&mut h, 5, "data", "t").unwrap();
    h.events(5);
    h.guest(5).draining = false;
    h.store.tool_write("/local/domain/5/data/x", b"1").unwrap();
    h.store.tool_write("/local/domain/5/data/x", b"2").unwrap();
    h.run();
    h.guest(5).draining = true;
    h.run();
    assert_eq!(h.events(5), ev(&[("data/x", "t")]));
}
