//! Domain lifecycle, the toolstack API, and the domain / misc requests guests may send.
mod common;

use common::*;
use pv_abi::io::xs_wire::*;
use xenstore::{DomId, NodePerms, Perm, WatchEvent, XsError};

fn event(path: &str, token: &str) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        token: token.as_bytes().to_vec(),
    }
}

#[test]
fn introduce_builds_the_home_and_fires() {
    let mut h = Harness::new();
    h.store.tool_watch("@introduceDomain", "i").unwrap();
    h.store.tool_watch("/local/domain", "ld").unwrap();
    h.store.take_tool_events();
    h.add_guest(3);
    assert!(h.store.is_introduced(DomId(3)));
    assert_eq!(h.store.tool_read("/local/domain/3/domid").unwrap(), b"3");
    assert_eq!(
        h.store.tool_get_perms("/local/domain/3").unwrap(),
        NodePerms::new(DomId(0), Perm::None).with(DomId(3), Perm::Read)
    );
    assert_eq!(
        h.store
            .tool_get_perms("/local/domain/3/control/shutdown")
            .unwrap(),
        NodePerms::new(DomId(3), Perm::None)
    );
    let events = h.store.take_tool_events();
    assert!(events.contains(&event("@introduceDomain", "i")));
    assert!(events.contains(&event("/local/domain/3", "ld")));
    assert_eq!(h.store.introduce_domain(DomId(3)), Err(XsError::Eexist));
    assert_eq!(h.store.introduce_domain(DomId(0)), Err(XsError::Einval));
    assert_eq!(
        h.store.introduce_domain(DomId(0x7FF0)),
        Err(XsError::Einval)
    );
    h.store.check_invariants().unwrap();
}

#[test]
fn introduce_keeps_values_prepared_by_the_toolstack() {
    let mut h = Harness::new();
    h.store
        .tool_write("/local/domain/4/name", b"guest")
        .unwrap();
    h.store
        .tool_write("/local/domain/4/control/shutdown", b"")
        .unwrap();
    h.add_guest(4);
    assert_eq!(h.store.tool_read("/local/domain/4/name").unwrap(), b"guest");
    // Written before the home got its permissions: still [n0], as the toolstack left it.
    assert_eq!(h.read(4, "name"), Err("EACCES".into()));
    // Written after: inherits the home's [n0, r4].
    h.store.tool_write("/local/domain/4/vm", b"/vm/4").unwrap();
    assert_eq!(h.read(4, "vm"), Ok(b"/vm/4".to_vec()));
    assert_eq!(
        h.write(4, "control/shutdown", b"poweroff"),
        Ok(b"OK\0".to_vec())
    );
}

#[test]
fn release_cleans_up_everything_the_domain_had() {
    let mut h = Harness::new();
    h.add_guest(5);
    h.add_guest(6);
    let base = h.store.tree().len();
    h.write(5, "data/x", b"1").unwrap();
    // A node elsewhere owned by 5, and an ACL entry for 5 on a node of 6.
    h.store.tool_write("/elsewhere/owned", b"").unwrap();
    h.store
        .tool_set_perms("/elsewhere/owned", NodePerms::new(DomId(5), Perm::None))
        .unwrap();
    h.write(6, "data/shared", b"").unwrap();
    h.ask(6, XS_SET_PERMS, 0, &strs(&["data/shared", "n6", "r5"]))
        .unwrap();
    h.ask(5, XS_WATCH, 0, &strs(&["/local/domain/6/data/shared", "t"]))
        .unwrap();
    h.ask(6, XS_WATCH, 0, &strs(&["@releaseDomain", "rel"]))
        .unwrap();
    h.ask(6, XS_WATCH, 0, &strs(&["/local/domain/5", "home5"]))
        .unwrap();
    h.events(6);
    h.guest(5).draining = false;
    h.store
        .tool_write("/local/domain/6/data/shared", b"queued for 5")
        .unwrap();

    h.store.release_domain(DomId(5)).unwrap();
    h.run();
    assert!(!h.store.is_introduced(DomId(5)));
    assert_eq!(h.store.connection_status(DomId(5)), None);
    assert_eq!(h.store.tree().owned_by(DomId(5)), 0);
    assert_eq!(h.store.tool_read("/local/domain/5"), Err(XsError::Enoent));
    assert_eq!(h.store.tool_read("/elsewhere/owned"), Err(XsError::Enoent));
    assert_eq!(
        h.store
            .tool_get_perms("/local/domain/6/data/shared")
            .unwrap(),
        NodePerms::new(DomId(6), Perm::None)
    );
    let events = h.events(6);
    assert!(events.contains(&("@releaseDomain".into(), "rel".into())));
    assert!(
        !events.contains(&("/local/domain/5".into(), "home5".into())),
        "6 cannot read 5's home"
    );
    assert_eq!(h.store.release_domain(DomId(5)), Err(XsError::Enoent));
    let home_nodes = xenstore::domains::HOME_LAYOUT.len();
    assert_eq!(
        h.store.tree().len(),
        base - home_nodes + 2,
        "5's home gone; /elsewhere and 6's data/shared stay"
    );
    h.store.check_invariants().unwrap();

    // The id can be reused and starts clean.
    h.guests.remove(&DomId(5));
    h.add_guest(5);
    assert_eq!(h.read(5, "data/x"), Err("ENOENT".into()));
    assert_eq!(h.store.connection_status(DomId(5)).unwrap().watches, 0);
}

#[test]
fn domain_queries() {
    let mut h = Harness::new();
    h.add_guest(5);
    assert_eq!(
        h.ask(5, XS_GET_DOMAIN_PATH, 0, &nul("17")),
        Ok(nul("/local/domain/17"))
    );
    assert_eq!(
        h.ask(5, XS_GET_DOMAIN_PATH, 0, &nul("65536")),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_GET_DOMAIN_PATH, 0, &nul("x")),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_IS_DOMAIN_INTRODUCED, 0, &nul("5")),
        Ok(nul("T"))
    );
    assert_eq!(
        h.ask(5, XS_IS_DOMAIN_INTRODUCED, 0, &nul("0")),
        Ok(nul("T"))
    );
    assert_eq!(
        h.ask(5, XS_IS_DOMAIN_INTRODUCED, 0, &nul("32752")),
        Ok(nul("T")),
        "DOMID_SELF"
    );
    assert_eq!(
        h.ask(5, XS_IS_DOMAIN_INTRODUCED, 0, &nul("9")),
        Ok(nul("F"))
    );
    assert_eq!(h.ask(5, XS_GET_FEATURE, 0, b""), Ok(nul("15")));
    assert_eq!(h.ask(5, XS_GET_FEATURE, 0, &nul("5")), Err("EACCES".into()));
}

#[test]
fn privileged_and_unknown_types() {
    let mut h = Harness::new();
    h.add_guest(5);
    for t in [
        XS_CONTROL,
        XS_INTRODUCE,
        XS_RELEASE,
        XS_RESUME,
        XS_SET_TARGET,
        XS_SET_FEATURE,
        XS_GET_QUOTA,
        XS_SET_QUOTA,
    ] {
        assert_eq!(h.ask(5, t, 0, &nul("1")), Err("EACCES".into()), "type {t}");
    }
    for t in [
        XS_WATCH_EVENT,
        XS_ERROR,
        XS_RESTRICT_REMOVED,
        XS_TYPE_COUNT,
        XS_INVALID,
        u32::MAX,
    ] {
        let reply = h.call(5, t, 0, b"x\0");
        assert_eq!(reply.header.type_, XS_ERROR);
        assert_eq!(reply.payload, nul("ENOSYS"), "type {t}");
    }
}

#[test]
fn replies_echo_ids() {
    let mut h = Harness::new();
    h.add_guest(5);
    h.guest(5).next_req_id = 0xdead_beef;
    let reply = h.call(5, XS_READ, 0, &nul("domid"));
    assert_eq!(
        (reply.header.req_id, reply.header.tx_id, reply.header.len),
        (0xdead_beef, 0, 1)
    );
    let reply = h.call(5, XS_READ, 99, &nul("domid"));
    assert_eq!((reply.header.type_, reply.header.tx_id), (XS_ERROR, 99));
}

#[test]
fn toolstack_api() {
    let mut h = Harness::new();
    assert_eq!(h.store.tool_read("/nope"), Err(XsError::Enoent));
    assert_eq!(h.store.tool_read("bad//"), Err(XsError::Einval));
    h.store.tool_write("/a/b", b"v").unwrap();
    assert_eq!(h.store.tool_directory("/a").unwrap(), vec!["b".to_string()]);
    assert_eq!(
        h.store.tool_directory("/").unwrap(),
        vec!["local", "tool", "a"]
    );
    h.store.tool_mkdir("/a/c").unwrap();
    h.store.tool_watch("/a", "w").unwrap();
    assert_eq!(h.store.tool_watch("/a", "w"), Err(XsError::Eexist));
    assert_eq!(h.store.take_tool_events(), vec![event("/a", "w")]);
    h.store.tool_rm("/a/b").unwrap();
    h.store
        .tool_set_perms("/a/c", NodePerms::new(DomId(0), Perm::Read))
        .unwrap();
    assert_eq!(
        h.store.take_tool_events(),
        vec![event("/a/b", "w"), event("/a/c", "w")]
    );
    h.store.tool_unwatch("/a", "w").unwrap();
    assert_eq!(h.store.tool_unwatch("/a", "w"), Err(XsError::Enoent));
    h.store.tool_write("/a/d", b"").unwrap();
    assert_eq!(h.store.take_tool_events(), vec![]);
    assert_eq!(
        h.store
            .tool_set_perms("@nope", NodePerms::new(DomId(0), Perm::Read)),
        Err(XsError::Enoent)
    );
}

#[test]
fn toolstack_sees_guest_writes_and_may_drop_when_full() {
    let limits = xenstore::Limits {
        max_tool_events: 2,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    h.store
        .tool_watch("/local/domain/5/control", "ctl")
        .unwrap();
    h.store.take_tool_events();
    h.write(5, "control/shutdown", b"done").unwrap();
    assert_eq!(
        h.store.take_tool_events(),
        vec![event("/local/domain/5/control/shutdown", "ctl")]
    );
    for name in ["feature-poweroff", "feature-reboot", "feature-suspend"] {
        h.write(5, &format!("control/{name}"), b"1").unwrap();
    }
    assert_eq!(h.store.take_tool_events().len(), 2);
    assert_eq!(h.store.tool_events_dropped(), 1);
}
