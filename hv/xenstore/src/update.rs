//! Permission-checked node operations on a [`NodeView`]: lookup, write, mkdir, rm,
//! set_perms. Used by guest requests and by the toolstack API alike.
//!
//! Permission and error rules follow xenstored (`get_node_chk_perm`, `errno_from_parents`):
//! * an existing node without the needed right gives `EACCES`;
//! * a missing node gives `ENOENT` only if the nearest existing ancestor grants (part of)
//!   the needed right, `EACCES` otherwise — so a guest learns nothing about paths it could
//!   not see anyway;
//! * creating nodes requires write access to the nearest existing ancestor; new nodes copy
//!   their parent's permissions, and a guest becomes the owner of the nodes it creates.
//!
//! Every operation validates first and mutates after (see [`view`](crate::view)), so a
//! failed request leaves the store unchanged.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::path;
use crate::view::NodeView;
use crate::watch::{Change, Scope};
use crate::{DomId, Limits, Node, NodePerms, XsError};

/// The right an operation needs on its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Read the node.
    Read,
    /// Write the node.
    Write,
    /// Write and own the node (changing permissions).
    WriteOwner,
}

fn granted(perms: &NodePerms, caller: DomId, need: Need) -> bool {
    let a = perms.access(caller);
    match need {
        Need::Read => a.read,
        Need::Write => a.write,
        Need::WriteOwner => a.write && a.owner,
    }
}

fn partly_granted(perms: &NodePerms, caller: DomId, need: Need) -> bool {
    let a = perms.access(caller);
    match need {
        Need::Read => a.read,
        Need::Write => a.write,
        Need::WriteOwner => a.write || a.owner,
    }
}

/// The node at `path` if `caller` has `need` on it; `Ok(None)` if it is missing and the
/// caller may know that; `EACCES` otherwise.
pub fn lookup(
    view: &mut NodeView<'_>,
    caller: DomId,
    path: &str,
    need: Need,
) -> Result<Option<Node>, XsError> {
    if let Some(node) = view.get(path)? {
        return if granted(&node.perms, caller, need) {
            Ok(Some(node.clone()))
        } else {
            Err(XsError::Eacces)
        };
    }
    let mut ancestor = path::parent(path);
    while let Some(p) = ancestor {
        if let Some(node) = view.get(p)? {
            return if partly_granted(&node.perms, caller, need) {
                Ok(None)
            } else {
                Err(XsError::Eacces)
            };
        }
        ancestor = path::parent(p);
    }
    Err(XsError::Eacces)
}

fn check_size(caller: DomId, node: &Node, limits: &Limits) -> Result<(), XsError> {
    if !caller.is_privileged() && node.size() > limits.max_node_size {
        return Err(XsError::Enospc);
    }
    Ok(())
}

/// The change record for a write-like change at `path` with the node's permissions `perms`
/// (plus `old` ones, for set_perms): readers are those sets and the parent's.
fn change(
    view: &mut NodeView<'_>,
    path: &str,
    perms: NodePerms,
    old: Option<NodePerms>,
) -> Result<Change, XsError> {
    let mut readers = vec![perms];
    readers.extend(old);
    if let Some(parent) = path::parent(path) {
        if let Some(node) = view.get(parent)? {
            readers.push(node.perms.clone());
        }
    }
    Ok(Change {
        path: String::from(path),
        scope: Scope::Subtree,
        readers,
    })
}

/// Creates `path` with `value` and any missing ancestors (empty values).
fn create(
    view: &mut NodeView<'_>,
    caller: DomId,
    path: &str,
    value: Vec<u8>,
    limits: &Limits,
) -> Result<NodePerms, XsError> {
    // Collect the missing paths, deepest first, up to the nearest existing ancestor.
    let mut missing = vec![String::from(path)];
    let (mut parent_path, mut parent) = loop {
        let last = missing.last().map(String::as_str).unwrap_or(path);
        let up = path::parent(last).ok_or(XsError::Enoent)?;
        match view.get_cloned(up)? {
            Some(node) => break (String::from(up), node),
            None => missing.push(String::from(up)),
        }
    };
    if !caller.is_privileged() {
        let count = u64::from(view.owned_by(caller)) + missing.len() as u64;
        if count > u64::from(limits.max_nodes_per_domain) {
            return Err(XsError::Enospc);
        }
    }
    // Build every node first and validate sizes, then store them top-down.
    let mut built: Vec<(String, Node)> = Vec::with_capacity(missing.len() + 1);
    for child_path in missing.iter().rev() {
        parent
            .children
            .push(String::from(path::basename(child_path)));
        check_size(caller, &parent, limits)?;
        let mut perms = parent.perms.clone();
        if !caller.is_privileged() {
            perms.set_owner(caller);
        }
        built.push((
            core::mem::replace(&mut parent_path, child_path.clone()),
            parent,
        ));
        parent = Node::empty(perms);
    }
    parent.value = value;
    check_size(caller, &parent, limits)?;
    let perms = parent.perms.clone();
    built.push((parent_path, parent));
    for (p, node) in built {
        view.put(&p, node);
    }
    Ok(perms)
}

/// `XS_WRITE`: sets the value of `path`, creating it and missing ancestors.
pub fn write(
    view: &mut NodeView<'_>,
    caller: DomId,
    path: &str,
    value: Vec<u8>,
    limits: &Limits,
) -> Result<Vec<Change>, XsError> {
    let perms = match lookup(view, caller, path, Need::Write)? {
        Some(mut node) => {
            node.value = value;
            check_size(caller, &node, limits)?;
            let perms = node.perms.clone();
            view.put(path, node);
            perms
        }
        None => create(view, caller, path, value, limits)?,
    };
    Ok(vec![change(view, path, perms, None)?])
}

/// `XS_MKDIR`: creates `path` (and missing ancestors) if absent; no change if present.
pub fn mkdir(
    view: &mut NodeView<'_>,
    caller: DomId,
    path: &str,
    limits: &Limits,
) -> Result<Vec<Change>, XsError> {
    if lookup(view, caller, path, Need::Write)?.is_some() {
        return Ok(Vec::new());
    }
    let perms = create(view, caller, path, Vec::new(), limits)?;
    Ok(vec![change(view, path, perms, None)?])
}

/// `XS_RM`: removes `path` and its whole subtree. Removing a missing node whose parent
/// exists succeeds with no change; `ENOENT` if the parent is missing too; `EINVAL` for `/`.
pub fn remove(view: &mut NodeView<'_>, caller: DomId, path: &str) -> Result<Vec<Change>, XsError> {
    let Some(node) = lookup(view, caller, path, Need::Write)? else {
        let parent = path::parent(path).ok_or(XsError::Enoent)?;
        return if view.get(parent)?.is_some() {
            Ok(Vec::new())
        } else {
            Err(XsError::Enoent)
        };
    };
    let parent_path = path::parent(path).ok_or(XsError::Einval)?;
    let parent = view.get_cloned(parent_path)?.ok_or(XsError::Enoent)?;

    // Collect the subtree in post-order (children before parents), with permissions.
    let mut order: Vec<(String, NodePerms, NodePerms)> = Vec::new();
    let mut stack: Vec<(String, Node, NodePerms, bool)> =
        vec![(String::from(path), node, parent.perms.clone(), false)];
    while let Some((p, n, parent_perms, expanded)) = stack.pop() {
        if expanded {
            order.push((p, n.perms, parent_perms));
            continue;
        }
        let children: Vec<String> = n.children.iter().map(|c| path::child(&p, c)).collect();
        let perms = n.perms.clone();
        stack.push((p, n, parent_perms, true));
        for child_path in children {
            if let Some(child) = view.get_cloned(&child_path)? {
                stack.push((child_path, child, perms.clone(), false));
            }
        }
    }

    let mut changes = Vec::with_capacity(order.len());
    for (p, perms, parent_perms) in order {
        view.delete(&p);
        let scope = if p == path {
            Scope::Subtree
        } else {
            Scope::Exact
        };
        changes.push(Change {
            path: p,
            scope,
            readers: vec![perms, parent_perms],
        });
    }
    let mut parent = parent;
    let name = path::basename(path);
    parent.children.retain(|c| c != name);
    view.put(parent_path, parent);
    Ok(changes)
}

/// `XS_SET_PERMS`: replaces the permissions of `path`. Guests must own the node, may not
/// change its owner (`EPERM`) and may give at most `max_permissions` entries (`ENOSPC`).
pub fn set_perms(
    view: &mut NodeView<'_>,
    caller: DomId,
    path: &str,
    perms: NodePerms,
    limits: &Limits,
) -> Result<Vec<Change>, XsError> {
    if !caller.is_privileged() && perms.entries().len() > limits.max_permissions {
        return Err(XsError::Enospc);
    }
    let mut node = lookup(view, caller, path, Need::WriteOwner)?.ok_or(XsError::Enoent)?;
    if !caller.is_privileged() && perms.owner() != node.perms.owner() {
        return Err(XsError::Eperm);
    }
    let old = core::mem::replace(&mut node.perms, perms.clone());
    view.put(path, node);
    Ok(vec![change(view, path, perms, Some(old))?])
}
