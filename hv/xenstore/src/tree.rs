//! The committed store: a map from absolute path to [`Node`], plus per-owner node counts and
//! the generation counter.
//!
//! This layer stores and removes whole nodes; it does not keep parents and children
//! consistent by itself. The node operations (through the crate-private `view`) do that, through the same
//! code path for direct changes and for transactions.

use alloc::collections::BTreeMap;
use alloc::string::String;

use crate::{DomId, Node, NodePerms, Perm};

/// Nodes present in a fresh store, all owned by domain 0 with no access for others.
pub const INITIAL_NODES: [&str; 4] = ["/", "/local", "/local/domain", "/tool"];

/// The committed tree.
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    owned: BTreeMap<DomId, u32>,
    generation: u64,
}

impl Tree {
    /// A tree holding [`INITIAL_NODES`].
    ///
    /// Post-state: every initial node exists with permissions `[n0]`, and each lists the next
    /// one as its child where applicable (`/` has `local` and `tool`).
    pub fn new() -> Tree {
        let mut tree = Tree {
            nodes: BTreeMap::new(),
            owned: BTreeMap::new(),
            generation: 0,
        };
        for path in INITIAL_NODES {
            let mut node = Node::empty(NodePerms::new(DomId::HYPERVISOR, Perm::None));
            node.generation = tree.next_generation();
            tree.insert(String::from(path), node);
        }
        for path in INITIAL_NODES.iter().skip(1) {
            if let Some(parent) = crate::path::parent(path) {
                let name = String::from(crate::path::basename(path));
                if let Some(p) = tree.nodes.get_mut(parent) {
                    p.children.push(name);
                }
            }
        }
        tree
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Stores `node` at `path`, replacing any previous node, and moves the owner accounting.
    pub fn insert(&mut self, path: String, node: Node) {
        let owner = node.perms.owner();
        if let Some(old) = self.nodes.insert(path, node) {
            self.uncount(old.perms.owner());
        }
        let count = self.owned.entry(owner).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Appends `name` to the children of the node at `path` and gives it a fresh generation
    /// (the child itself is the caller's business). False if there is no such node.
    pub(crate) fn add_child(&mut self, path: &str, name: String) -> bool {
        let generation = self.next_generation();
        let Some(node) = self.nodes.get_mut(path) else {
            return false;
        };
        node.children.push(name);
        node.generation = generation;
        true
    }

    /// Removes the node at `path` (children are the caller's business).
    pub fn remove(&mut self, path: &str) -> Option<Node> {
        let old = self.nodes.remove(path)?;
        self.uncount(old.perms.owner());
        Some(old)
    }

    fn uncount(&mut self, owner: DomId) {
        if let Some(count) = self.owned.get_mut(&owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.owned.remove(&owner);
            }
        }
    }

    /// Number of nodes owned by `domid`.
    pub fn owned_by(&self, domid: DomId) -> u32 {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// A fresh, strictly increasing generation number.
    pub fn next_generation(&mut self) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: the root exists.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Per-owner counts, for invariant checks.
    pub fn owner_counts(&self) -> &BTreeMap<DomId, u32> {
        &self.owned
    }
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_layout() {
        let t = Tree::new();
        assert_eq!(t.len(), 4);
        assert_eq!(t.get("/").unwrap().children, ["local", "tool"]);
        assert_eq!(t.get("/local").unwrap().children, ["domain"]);
        assert_eq!(t.owned_by(DomId(0)), 4);
    }

    #[test]
    fn insert_and_remove_move_counts() {
        let mut t = Tree::new();
        let node = Node::empty(NodePerms::new(DomId(3), Perm::None));
        t.insert(String::from("/x"), node.clone());
        assert_eq!(t.owned_by(DomId(3)), 1);
        t.insert(
            String::from("/x"),
            Node::empty(NodePerms::new(DomId(4), Perm::None)),
        );
        assert_eq!(t.owned_by(DomId(3)), 0);
        assert_eq!(t.owned_by(DomId(4)), 1);
        assert!(t.remove("/x").is_some());
        assert_eq!(t.owned_by(DomId(4)), 0);
        assert!(t.remove("/x").is_none());
    }
}
