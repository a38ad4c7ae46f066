//! Domain lifecycle as the toolstack sees it: introduce (start serving a guest) and release
//! (stop, and clean up after it).
//!
//! Introducing domain N creates its home like `xl` (libxl `libxl__domain_make`) does, all
//! owned by the hypervisor unless marked guest-owned:
//!
//! ```text
//!   /local/domain/N                    [n0, rN]   read-only for the guest
//!     domid = "N"                      [n0, rN]
//!     cpu, memory, device, control     [n0, rN]
//!     control/shutdown                 [nN]       guest-owned (read and write)
//!     control/feature-poweroff|-reboot|-suspend, control/sysrq           [nN]
//!     data, drivers, feature, attr, error                                 [nN]
//! ```
//!
//! Existing values are kept (the toolstack may prepare nodes before introducing).

use alloc::format;
use alloc::string::String;
use alloc::string::ToString;
use alloc::vec::Vec;
use pv_abi::io::xs_wire::XENSTORE_ABS_PATH_MAX;

use crate::connection::Connection;
use crate::path::{self, domain_path};
use crate::special::{INTRODUCE_DOMAIN, RELEASE_DOMAIN};
use crate::view::NodeView;
use crate::watch::{Change, Scope};
use crate::{DomId, Node, NodePerms, Perm, Store, XsError};

/// Nodes created under a guest's home at introduction: (relative path, guest-owned).
pub const HOME_LAYOUT: [(&str, bool); 16] = [
    ("", false),
    ("domid", false),
    ("cpu", false),
    ("memory", false),
    ("device", false),
    ("control", false),
    ("control/shutdown", true),
    ("control/feature-poweroff", true),
    ("control/feature-reboot", true),
    ("control/feature-suspend", true),
    ("control/sysrq", true),
    ("data", true),
    ("drivers", true),
    ("feature", true),
    ("attr", true),
    ("error", true),
];

impl Store {
    /// Starts serving guest `domid`: creates its connection and its home (see the module
    /// doc), then fires `@introduceDomain`.
    ///
    /// Errors: `EINVAL` if `domid` is not a guest id (`1..=0x7FEF`), `EEXIST` if already
    /// introduced.
    pub fn introduce_domain(&mut self, domid: DomId) -> Result<(), XsError> {
        self.introduce_domain_with(domid, &[])
    }

    /// [`Store::introduce_domain`], writing `entries` (paths relative to the home, values)
    /// as part of the home — what `xl` writes at creation (`name`, `memory/target`, …).
    /// An entry's missing ancestors are created; new nodes inherit their parent's
    /// permissions, as a toolstack write after introduction would give them.
    ///
    /// A fresh home (the usual case) is built in one step: every node is made locally and
    /// stored once, `/local/domain` gains one child, and a change is announced per node
    /// only if anyone watches — no per-node lookups, permission walks or clones of
    /// `/local/domain`. A home the toolstack prepared beforehand is completed node by node,
    /// keeping its values ([`Store::introduce_stepwise`]). Both give the same tree.
    ///
    /// Errors: as [`Store::introduce_domain`]; `EINVAL` for an invalid entry path (nothing
    /// changed then).
    pub fn introduce_domain_with(
        &mut self,
        domid: DomId,
        entries: &[(&str, &[u8])],
    ) -> Result<(), XsError> {
        if !domid.is_guest() {
            return Err(XsError::Einval);
        }
        if self.is_introduced(domid) {
            return Err(XsError::Eexist);
        }
        let home = domain_path(domid);
        if self.tree.get(&home).is_none() && self.tree.get(path::LOCAL_DOMAIN).is_some() {
            let nodes = home_nodes(domid, &home, entries)?;
            self.store_fresh_home(&home, nodes);
        } else {
            self.introduce_stepwise(domid, &home, entries)?;
        }
        self.connections.insert(domid, Connection::new(domid));
        self.deliver_special(INTRODUCE_DOMAIN, domid);
        Ok(())
    }

    /// Completes a home node by node through the toolstack API: each [`HOME_LAYOUT`] node
    /// is made if missing and given its permissions, values already there are kept; then
    /// `entries` are written.
    fn introduce_stepwise(
        &mut self,
        domid: DomId,
        home: &str,
        entries: &[(&str, &[u8])],
    ) -> Result<(), XsError> {
        for (relative, _) in entries {
            check_relative(relative)?;
        }
        let read_only = NodePerms::new(DomId::HYPERVISOR, Perm::None).with(domid, Perm::Read);
        let guest_owned = NodePerms::new(domid, Perm::None);
        for (relative, owned) in HOME_LAYOUT {
            let full = if relative.is_empty() {
                String::from(home)
            } else {
                format!("{home}/{relative}")
            };
            let perms = if owned {
                guest_owned.clone()
            } else {
                read_only.clone()
            };
            self.tool_mkdir(&full)?;
            self.tool_set_perms(&full, perms)?;
        }
        if self.tool_read(&format!("{home}/domid"))?.is_empty() {
            self.tool_write(&format!("{home}/domid"), format!("{}", domid.0).as_bytes())?;
        }
        for (relative, value) in entries {
            self.tool_write(&format!("{home}/{relative}"), value)?;
        }
        Ok(())
    }

    /// Stores the nodes of a fresh home (`nodes[0]` is the home itself, parents before
    /// children, paths relative to `home`), links it under `/local/domain` and announces
    /// the changes to watchers, if there are any.
    fn store_fresh_home(&mut self, home: &str, nodes: Vec<HomeNode>) {
        let anyone_watches = !self.watching.is_empty() || !self.tool.watches.is_empty();
        let mut changes = Vec::new();
        if anyone_watches {
            let local_domain = self.tree.get(path::LOCAL_DOMAIN).map(|n| n.perms.clone());
            for home_node in nodes.iter().filter(|n| n.announced) {
                let (relative, node) = (home_node.relative(), &home_node.node);
                let parent_perms = match relative.rsplit_once('/') {
                    Some((parent, _)) => {
                        node_index(&nodes, parent).map(|i| nodes[i].node.perms.clone())
                    }
                    None if relative.is_empty() => local_domain.clone(),
                    None => nodes.first().map(|n| n.node.perms.clone()),
                };
                changes.push(Change {
                    path: home_node.full.clone(),
                    scope: Scope::Subtree,
                    readers: [Some(node.perms.clone()), parent_perms]
                        .into_iter()
                        .flatten()
                        .collect(),
                });
            }
        }
        self.tree
            .add_child(path::LOCAL_DOMAIN, String::from(path::basename(home)));
        for HomeNode { full, mut node, .. } in nodes {
            node.generation = self.tree.next_generation();
            self.tree.insert(full, node);
        }
        self.deliver(&changes);
    }

    /// Stops serving `domid` and cleans up after it, then fires `@releaseDomain`:
    /// * its connection goes, with its watches, transactions and queued output;
    /// * `/local/domain/<domid>` and every other node the domain owns are removed (firing
    ///   watches of others);
    /// * permission entries naming the domain are dropped everywhere, so a later domain
    ///   reusing the id inherits nothing.
    ///
    /// Errors: `ENOENT` if not introduced.
    pub fn release_domain(&mut self, domid: DomId) -> Result<(), XsError> {
        self.connections.remove(&domid).ok_or(XsError::Enoent)?;
        self.watching.remove(&domid);
        self.domains_with_output.remove(&domid);
        let home = domain_path(domid);
        if self.tree.get(&home).is_some() {
            self.remove_for_release(domid, &home);
        }
        // Nodes it owns elsewhere (the per-owner count says whether to look at all).
        if self.tree.owned_by(domid) > 0 {
            for path in self.topmost_owned_by(domid) {
                self.remove_for_release(domid, &path);
            }
        }
        self.forget_acl_entries(domid);
        self.special.forget_domain(domid);
        self.deliver_special(RELEASE_DOMAIN, domid);
        Ok(())
    }

    fn remove_for_release(&mut self, domid: DomId, path: &str) {
        // Cannot fail: the path exists, is not `/`, and the toolstack bypasses checks.
        if let Err(error) = self.tool_rm(path) {
            log::error!("xenstore: releasing dom{domid}: removing {path} failed: {error:?}");
        }
    }

    /// Paths of nodes owned by `domid` that have no ancestor also owned by it.
    fn topmost_owned_by(&self, domid: DomId) -> Vec<String> {
        let mut tops: Vec<String> = Vec::new();
        for (p, node) in self.tree.iter() {
            if node.perms.owner() != domid {
                continue;
            }
            let covered = tops.iter().any(|t| path::is_within(p, t, None));
            if !covered {
                tops.push(p.clone());
            }
        }
        tops
    }

    /// Removes ACL entries naming `domid` from every node (no watch events: xenstored does
    /// this silently too). Each changed node gets a new generation, so open transactions
    /// that read it will fail to commit.
    fn forget_acl_entries(&mut self, domid: DomId) {
        let affected: Vec<String> = self
            .tree
            .iter()
            .filter(|(_, n)| n.perms.entries()[1..].iter().any(|e| e.domid == domid))
            .map(|(p, _)| p.clone())
            .collect();
        let mut view = NodeView::direct(&mut self.tree);
        for p in affected {
            if let Ok(Some(mut node)) = view.get_cloned(&p) {
                node.perms.remove_acl_for(domid);
                view.put(&p, node);
            }
        }
    }
}

/// One node of a fresh home.
struct HomeNode {
    /// Absolute path.
    full: String,
    /// Where the path relative to the home starts in `full`.
    relative_at: usize,
    node: Node,
    /// Whether storing it fires watches: the layout's nodes and the written entries do,
    /// ancestors made on the way do not (as for a toolstack write).
    announced: bool,
}

impl HomeNode {
    /// The path relative to the home (`""`: the home).
    fn relative(&self) -> &str {
        self.full.get(self.relative_at..).unwrap_or("")
    }
}

/// `home` joined with a relative path (`""` is the home itself).
fn join(home: &str, relative: &str) -> String {
    let mut full = String::with_capacity(home.len() + 1 + relative.len());
    full.push_str(home);
    if !relative.is_empty() {
        full.push('/');
        full.push_str(relative);
    }
    full
}

/// `EINVAL` unless `relative` is a non-empty relative path of non-empty components made of
/// xenstore path characters.
fn check_relative(relative: &str) -> Result<(), XsError> {
    let ok = !relative.is_empty()
        && relative.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        });
    if ok {
        Ok(())
    } else {
        Err(XsError::Einval)
    }
}

/// The nodes of a fresh home for `domid` at `home`: [`HOME_LAYOUT`] with `domid`'s value,
/// then `entries` (missing ancestors made empty), each new node with its parent's
/// permissions and listed by its parent in creation order. Parents come before children;
/// paths are relative to `home`. `EINVAL` for an invalid entry path or one whose full path
/// is longer than `XENSTORE_ABS_PATH_MAX` (what the toolstack API allows).
fn home_nodes(
    domid: DomId,
    home: &str,
    entries: &[(&str, &[u8])],
) -> Result<Vec<HomeNode>, XsError> {
    let read_only = NodePerms::new(DomId::HYPERVISOR, Perm::None).with(domid, Perm::Read);
    let guest_owned = NodePerms::new(domid, Perm::None);
    let mut nodes: Vec<HomeNode> = Vec::with_capacity(HOME_LAYOUT.len() + entries.len() + 2);
    for (relative, owned) in HOME_LAYOUT {
        let perms = if owned { &guest_owned } else { &read_only };
        ensure_node(&mut nodes, home, relative, perms.clone());
        set_value(&mut nodes, relative, &[]);
    }
    let domid_text = domid.0.to_string();
    set_value(&mut nodes, "domid", domid_text.as_bytes());
    for (relative, value) in entries {
        check_relative(relative)?;
        if home.len() + 1 + relative.len() > XENSTORE_ABS_PATH_MAX {
            return Err(XsError::Einval);
        }
        // Ancestors first, each inheriting its parent's permissions.
        let mut end = 0;
        for component in relative.split('/') {
            end += component.len();
            let prefix = &relative[..end];
            let parent = prefix.rsplit_once('/').map_or("", |(p, _)| p);
            let perms = node_index(&nodes, parent)
                .map(|i| nodes[i].node.perms.clone())
                .unwrap_or_else(|| read_only.clone());
            ensure_node(&mut nodes, home, prefix, perms);
            end += 1;
        }
        set_value(&mut nodes, relative, value);
    }
    Ok(nodes)
}

fn node_index(nodes: &[HomeNode], relative: &str) -> Option<usize> {
    nodes.iter().position(|n| n.relative() == relative)
}

/// Adds an empty, unannounced node at `relative` with `perms` (listed by its parent, which
/// must already be in `nodes`), unless it is there already.
fn ensure_node(nodes: &mut Vec<HomeNode>, home: &str, relative: &str, perms: NodePerms) {
    if node_index(nodes, relative).is_some() {
        return;
    }
    if !relative.is_empty() {
        let (parent, name) = relative.rsplit_once('/').unwrap_or(("", relative));
        if let Some(i) = node_index(nodes, parent) {
            nodes[i].node.children.push(String::from(name));
        }
    }
    nodes.push(HomeNode {
        full: join(home, relative),
        relative_at: if relative.is_empty() {
            home.len()
        } else {
            home.len() + 1
        },
        node: Node::empty(perms),
        announced: false,
    });
}

/// Sets the value of the node at `relative` and marks it announced.
fn set_value(nodes: &mut [HomeNode], relative: &str, value: &[u8]) {
    if let Some(i) = node_index(nodes, relative) {
        nodes[i].node.value = value.to_vec();
        nodes[i].announced = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchEvent;
    use crate::Limits;

    const ENTRIES: [(&str, &[u8]); 5] = [
        ("name", b"w1"),
        ("domid", b"7"),
        ("memory/target", b"4096"),
        ("memory/static-max", b"8192"),
        ("vm/deep/er", b"x"),
    ];

    /// Every node as (path, value, children, permissions): the tree without generations.
    fn shape(store: &Store) -> Vec<(String, Vec<u8>, Vec<String>, NodePerms)> {
        store
            .tree()
            .iter()
            .map(|(p, n)| {
                (
                    p.clone(),
                    n.value.clone(),
                    n.children.clone(),
                    n.perms.clone(),
                )
            })
            .collect()
    }

    fn watched_store() -> Store {
        let mut store = Store::new(Limits::default());
        store.tool_watch("/local/domain", "ld").unwrap();
        store.take_tool_events();
        store
    }

    fn sorted_events(store: &mut Store) -> Vec<WatchEvent> {
        let mut events = store.take_tool_events();
        events.sort_by(|a, b| a.path.cmp(&b.path));
        events.dedup();
        events
    }

    #[test]
    fn a_home_built_in_one_step_equals_one_built_node_by_node() {
        let dom = DomId(7);
        let mut one_step = watched_store();
        one_step.introduce_domain_with(dom, &ENTRIES).unwrap();
        let mut stepwise = watched_store();
        stepwise
            .introduce_stepwise(dom, &domain_path(dom), &ENTRIES)
            .unwrap();
        stepwise.connections.insert(dom, Connection::new(dom));
        stepwise.deliver_special(INTRODUCE_DOMAIN, dom);
        assert_eq!(shape(&one_step), shape(&stepwise));
        assert_eq!(
            one_step.tree().owner_counts(),
            stepwise.tree().owner_counts()
        );
        let events = sorted_events(&mut one_step);
        assert_eq!(events, sorted_events(&mut stepwise));
        // One event per layout node and written entry (20), not per ancestor made on the way, under the watch on /local/domain.
        assert_eq!(events.len(), 20);
        one_step.check_invariants().unwrap();
        // The generation of /local/domain moved (transactions that read it must retry).
        let before = Store::new(Limits::default());
        assert_ne!(
            before.tree().get(path::LOCAL_DOMAIN).unwrap().generation,
            one_step.tree().get(path::LOCAL_DOMAIN).unwrap().generation
        );
    }

    #[test]
    fn bad_entry_paths_are_refused_without_a_change() {
        let mut store = Store::new(Limits::default());
        let before = shape(&store);
        for bad in ["", "/abs", "a//b", "a/", "sp ace", "x@y"] {
            assert_eq!(
                store.introduce_domain_with(DomId(3), &[(bad, b"v")]),
                Err(XsError::Einval),
                "{bad:?}"
            );
            assert_eq!(shape(&store), before);
            assert!(!store.is_introduced(DomId(3)));
        }
        let long = "a".repeat(XENSTORE_ABS_PATH_MAX);
        assert_eq!(
            store.introduce_domain_with(DomId(3), &[(&long, b"v")]),
            Err(XsError::Einval)
        );
        assert_eq!(shape(&store), before);
    }
}
