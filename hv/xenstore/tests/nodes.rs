//! Node requests from a guest: READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART,
//! GET_PERMS, SET_PERMS, with their error rules.
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

#[test]
fn write_then_read_relative_and_absolute() {
    let mut h = setup();
    assert_eq!(h.write(5, "data/x", b"hello"), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(5, "data/x"), Ok(b"hello".to_vec()));
    assert_eq!(h.read(5, "/local/domain/5/data/x"), Ok(b"hello".to_vec()));
    assert_eq!(
        h.store.tool_read("/local/domain/5/data/x").unwrap(),
        b"hello"
    );
}

#[test]
fn write_value_may_contain_nuls_and_be_empty() {
    let mut h = setup();
    h.write(5, "data/bin", b"a\0b\0").unwrap();
    assert_eq!(h.read(5, "data/bin"), Ok(b"a\0b\0".to_vec()));
    h.write(5, "data/empty", b"").unwrap();
    assert_eq!(h.read(5, "data/empty"), Ok(Vec::new()));
}

#[test]
fn write_creates_parents_owned_by_the_guest() {
    let mut h = setup();
    h.write(5, "data/a/b/c", b"v").unwrap();
    assert_eq!(h.read(5, "data/a/b"), Ok(Vec::new()));
    let perms = h.store.tool_get_perms("/local/domain/5/data/a").unwrap();
    assert_eq!(perms, NodePerms::new(DomId(5), Perm::None));
    h.store.check_invariants().unwrap();
}

#[test]
fn write_payload_without_nul_is_einval() {
    let mut h = setup();
    assert_eq!(h.ask(5, XS_WRITE, 0, b"data/x"), Err("EINVAL".into()));
}

#[test]
fn read_errors() {
    let mut h = setup();
    assert_eq!(h.read(5, "data/missing"), Err("ENOENT".into()));
    // Parent unreadable: the guest may not even learn whether the node exists.
    assert_eq!(
        h.read(5, "/local/domain/6/data/missing"),
        Err("EACCES".into())
    );
    h.write(6, "data/secret", b"s").unwrap();
    assert_eq!(
        h.read(5, "/local/domain/6/data/secret"),
        Err("EACCES".into())
    );
    assert_eq!(h.read(5, "/"), Err("EACCES".into()));
    assert_eq!(h.read(5, "bad//path"), Err("EINVAL".into()));
    assert_eq!(h.read(5, "data/"), Err("EINVAL".into()));
    assert_eq!(h.read(5, "da ta"), Err("EINVAL".into()));
    assert_eq!(h.read(5, "@releaseDomain"), Err("EINVAL".into()));
    assert_eq!(h.ask(5, XS_READ, 0, b"data\0extra\0"), Err("EINVAL".into()));
    assert_eq!(h.ask(5, XS_READ, 0, b""), Err("EINVAL".into()));
}

#[test]
fn guest_cannot_write_read_only_home() {
    let mut h = setup();
    assert_eq!(h.write(5, "newnode", b"x"), Err("EACCES".into()));
    assert_eq!(h.write(5, "domid", b"9"), Err("EACCES".into()));
    assert_eq!(h.read(5, "domid"), Ok(b"5".to_vec()));
    assert_eq!(
        h.write(5, "/local/domain/6/data/x", b"x"),
        Err("EACCES".into())
    );
}

#[test]
fn mkdir_creates_once_and_keeps_values() {
    let mut h = setup();
    assert_eq!(
        h.ask(5, XS_MKDIR, 0, &nul("data/d/e")),
        Ok(b"OK\0".to_vec())
    );
    h.write(5, "data/d", b"keep").unwrap();
    assert_eq!(h.ask(5, XS_MKDIR, 0, &nul("data/d")), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(5, "data/d"), Ok(b"keep".to_vec()));
    assert_eq!(h.ask(5, XS_MKDIR, 0, &nul("domid")), Err("EACCES".into()));
}

#[test]
fn rm_is_recursive_and_tolerant() {
    let mut h = setup();
    h.write(5, "data/t/a/b", b"1").unwrap();
    h.write(5, "data/t/c", b"2").unwrap();
    assert_eq!(h.ask(5, XS_RM, 0, &nul("data/t")), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(5, "data/t/a/b"), Err("ENOENT".into()));
    assert_eq!(h.read(5, "data/t"), Err("ENOENT".into()));
    // Missing node with existing parent: fine. Missing parent too: ENOENT.
    assert_eq!(h.ask(5, XS_RM, 0, &nul("data/t")), Ok(b"OK\0".to_vec()));
    assert_eq!(h.ask(5, XS_RM, 0, &nul("data/t/x")), Err("ENOENT".into()));
    assert_eq!(h.ask(5, XS_RM, 0, &nul("/")), Err("EACCES".into()));
    assert_eq!(h.store.tool_rm("/"), Err(xenstore::XsError::Einval));
    assert_eq!(h.store.tree().owned_by(DomId(5)), 10);
    h.store.check_invariants().unwrap();
}

#[test]
fn directory_lists_children_in_creation_order() {
    let mut h = setup();
    for name in ["zeta", "alpha", "mid"] {
        h.write(5, &format!("data/dir/{name}"), b"").unwrap();
    }
    assert_eq!(
        h.ask(5, XS_DIRECTORY, 0, &nul("data/dir")),
        Ok(strs(&["zeta", "alpha", "mid"]))
    );
    h.write(5, "data/leaf", b"").unwrap();
    assert_eq!(h.ask(5, XS_DIRECTORY, 0, &nul("data/leaf")), Ok(Vec::new()));
    assert_eq!(
        h.ask(5, XS_DIRECTORY, 0, &nul("data/none")),
        Err("ENOENT".into())
    );
}

#[test]
fn directory_too_big_is_e2big_and_directory_part_pages() {
    let mut h = setup();
    // 300 children of 19 bytes (+NUL) = 6000 bytes of names: beyond one payload.
    for i in 0..300 {
        h.store
            .tool_write(&format!("/big/child-{i:012}"), b"")
            .unwrap();
    }
    h.store
        .tool_set_perms("/big", NodePerms::new(DomId(0), Perm::Read))
        .unwrap();
    assert_eq!(h.ask(5, XS_DIRECTORY, 0, &nul("/big")), Err("E2BIG".into()));

    let mut names = Vec::new();
    let mut offset = 0usize;
    let mut generation = None;
    loop {
        let reply = h
            .ask(
                5,
                XS_DIRECTORY_PART,
                0,
                &strs(&["/big", &offset.to_string()]),
            )
            .unwrap();
        assert!(reply.len() <= XENSTORE_PAYLOAD_MAX);
        let gen_end = reply.iter().position(|&b| b == 0).unwrap();
        let gen = String::from_utf8(reply[..gen_end].to_vec()).unwrap();
        assert!(
            generation.is_none() || generation.as_ref() == Some(&gen),
            "generation stable"
        );
        generation = Some(gen);
        let list = &reply[gen_end + 1..];
        let (chunk, done) = match list.strip_suffix(b"\0\0") {
            Some(body) => (&list[..body.len() + 1], true),
            None if list == b"\0" => (&list[..0], true),
            None => (list, false),
        };
        offset += chunk.len();
        names.extend(
            chunk
                .split(|&b| b == 0)
                .filter(|n| !n.is_empty())
                .map(|n| n.to_vec()),
        );
        if done {
            break;
        }
    }
    assert_eq!(names.len(), 300);
    assert_eq!(names[299], b"child-000000000299");
    // Offset past the end: generation then an empty list.
    let reply = h
        .ask(5, XS_DIRECTORY_PART, 0, &strs(&["/big", "999999"]))
        .unwrap();
    assert!(reply.ends_with(b"\0\0"));
    assert_eq!(
        h.ask(5, XS_DIRECTORY_PART, 0, &nul("/big")),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_DIRECTORY_PART, 0, &strs(&["/big", "x"])),
        Err("EINVAL".into())
    );
}

#[test]
fn get_and_set_perms() {
    let mut h = setup();
    h.write(5, "data/p", b"v").unwrap();
    assert_eq!(h.ask(5, XS_GET_PERMS, 0, &nul("data/p")), Ok(strs(&["n5"])));
    assert_eq!(
        h.ask(5, XS_GET_PERMS, 0, &nul("/local/domain/5")),
        Ok(strs(&["n0", "r5"]))
    );
    // Grant read to domain 6.
    let payload = strs(&["data/p", "n5", "r6"]);
    assert_eq!(h.ask(5, XS_SET_PERMS, 0, &payload), Ok(b"OK\0".to_vec()));
    assert_eq!(h.read(6, "/local/domain/5/data/p"), Ok(b"v".to_vec()));
    assert_eq!(
        h.write(6, "/local/domain/5/data/p", b"x"),
        Err("EACCES".into())
    );
    // Domain 6 may not change them; domain 5 may not give the node away.
    assert_eq!(
        h.ask(6, XS_SET_PERMS, 0, &strs(&["/local/domain/5/data/p", "n6"])),
        Err("EACCES".into())
    );
    assert_eq!(
        h.ask(5, XS_SET_PERMS, 0, &strs(&["data/p", "n6"])),
        Err("EPERM".into())
    );
    // Malformed or too many entries.
    assert_eq!(
        h.ask(5, XS_SET_PERMS, 0, &nul("data/p")),
        Err("EINVAL".into())
    );
    assert_eq!(
        h.ask(5, XS_SET_PERMS, 0, &strs(&["data/p", "q5"])),
        Err("EINVAL".into())
    );
    let many = strs(&["data/p", "n5", "r1", "r2", "r3", "r4", "r6"]);
    assert_eq!(h.ask(5, XS_SET_PERMS, 0, &many), Err("ENOSPC".into()));
    assert_eq!(
        h.ask(5, XS_SET_PERMS, 0, &strs(&["data/none", "n5"])),
        Err("ENOENT".into())
    );
}

#[test]
fn special_node_perms() {
    let mut h = setup();
    assert_eq!(
        h.ask(5, XS_GET_PERMS, 0, &nul("@releaseDomain")),
        Ok(strs(&["n0", "r32757"]))
    );
    assert_eq!(
        h.ask(5, XS_GET_PERMS, 0, &nul("@introduceDomain")),
        Err("EACCES".into())
    );
    assert_eq!(
        h.ask(5, XS_GET_PERMS, 0, &nul("@other")),
        Err("ENOENT".into())
    );
    assert_eq!(
        h.ask(5, XS_SET_PERMS, 0, &strs(&["@releaseDomain", "n5"])),
        Err("EACCES".into())
    );
    h.store
        .tool_set_perms(
            "@introduceDomain",
            NodePerms::new(DomId(0), Perm::None).with(DomId(5), Perm::Read),
        )
        .unwrap();
    assert_eq!(
        h.ask(5, XS_GET_PERMS, 0, &nul("@introduceDomain")),
        Ok(strs(&["n0", "r5"]))
    );
}

#[test]
fn node_size_and_node_count_quotas() {
    let limits = xenstore::Limits {
        max_nodes_per_domain: 14,
        max_node_size: 64,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5); // owns 10 nodes of its home layout
    assert_eq!(h.write(5, "data/big", &[b'x'; 65]), Err("ENOSPC".into()));
    h.write(5, "data/ok", &[b'x'; 64]).unwrap();
    assert_eq!(
        h.write(5, "data/a/b/c/d", b""),
        Err("ENOSPC".into()),
        "4 new nodes > 3 left"
    );
    assert_eq!(
        h.read(5, "data/a"),
        Err("ENOENT".into()),
        "nothing created on failure"
    );
    h.write(5, "data/a/b/c", b"").unwrap();
    assert_eq!(h.write(5, "data/z", b""), Err("ENOSPC".into()));
    h.store.check_invariants().unwrap();
}

#[test]
fn long_relative_paths_are_einval() {
    let limits = xenstore::Limits {
        max_path_length: 20,
        ..Default::default()
    };
    let mut h = Harness::with_limits(limits);
    h.add_guest(5);
    h.write(5, "data/0123456789abcde", b"").unwrap(); // 20 bytes after the home prefix
    assert_eq!(
        h.write(5, "data/0123456789abcdef", b""),
        Err("EINVAL".into())
    );
}
