//! [`NodeView`]: the store as one request sees it — the committed tree directly, or through
//! a transaction's overlay. All node operations go through it, so transactional and direct
//! requests share one implementation.
//!
//! Discipline: an operation `get`s every node before it `put`s or `delete`s it. `get` is the
//! only fallible step (a transaction may hit `max_transaction_nodes`), so once an operation
//! has looked at everything and validated its inputs, its mutations cannot fail halfway.

use alloc::string::String;
use alloc::vec::Vec;

use crate::transaction::{TrackedState, Transaction};
use crate::tree::Tree;
use crate::watch::Change;
use crate::{DomId, Node, XsError};

/// The store seen by one request.
pub struct NodeView<'a> {
    tree: &'a mut Tree,
    transaction: Option<&'a mut Transaction>,
    max_transaction_nodes: Option<usize>,
}

impl<'a> NodeView<'a> {
    /// Direct access to the committed tree.
    pub fn direct(tree: &'a mut Tree) -> NodeView<'a> {
        NodeView {
            tree,
            transaction: None,
            max_transaction_nodes: None,
        }
    }

    /// Access through `transaction`; it may track at most `max_nodes` nodes (`None` = no
    /// bound, for privileged callers).
    pub fn in_transaction(
        tree: &'a mut Tree,
        transaction: &'a mut Transaction,
        max_nodes: Option<usize>,
    ) -> NodeView<'a> {
        NodeView {
            tree,
            transaction: Some(transaction),
            max_transaction_nodes: max_nodes,
        }
    }

    /// The node at `path` as this view sees it. In a transaction, starts tracking it
    /// (`ENOSPC` past the tracking bound).
    pub fn get(&mut self, path: &str) -> Result<Option<&Node>, XsError> {
        let Some(tx) = self.transaction.as_deref_mut() else {
            return Ok(self.tree.get(path));
        };
        tx.track(self.tree, path, self.max_transaction_nodes)?;
        Ok(match tx.tracked.get(path).map(|t| &t.state) {
            Some(TrackedState::Written(node)) => Some(node),
            Some(TrackedState::Deleted) => None,
            Some(TrackedState::Read) | None => self.tree.get(path),
        })
    }

    /// A copy of the node at `path` (see [`NodeView::get`]).
    pub fn get_cloned(&mut self, path: &str) -> Result<Option<Node>, XsError> {
        Ok(self.get(path)?.cloned())
    }

    /// Stores `node` at `path` with a fresh generation, replacing what was there.
    pub fn put(&mut self, path: &str, mut node: Node) {
        node.generation = self.tree.next_generation();
        match self.transaction.as_deref_mut() {
            None => self.tree.insert(String::from(path), node),
            Some(tx) => {
                let old_owner = view_owner(self.tree, tx, path);
                // Tracking ignores the bound here: by discipline `path` was already fetched.
                let _ = tx.track(self.tree, path, None);
                tx.adjust_owner(node.perms.owner(), 1);
                if let Some(owner) = old_owner {
                    tx.adjust_owner(owner, -1);
                }
                if let Some(t) = tx.tracked.get_mut(path) {
                    t.state = TrackedState::Written(node);
                }
            }
        }
    }

    /// Deletes the node at `path` (its children and its parent's child list are the caller's
    /// business).
    pub fn delete(&mut self, path: &str) {
        match self.transaction.as_deref_mut() {
            None => {
                self.tree.remove(path);
            }
            Some(tx) => {
                let old_owner = view_owner(self.tree, tx, path);
                let _ = tx.track(self.tree, path, None);
                if let Some(owner) = old_owner {
                    tx.adjust_owner(owner, -1);
                }
                if let Some(t) = tx.tracked.get_mut(path) {
                    t.state = TrackedState::Deleted;
                }
            }
        }
    }

    /// Nodes owned by `domid` as this view sees them.
    pub fn owned_by(&self, domid: DomId) -> u32 {
        let committed = i64::from(self.tree.owned_by(domid));
        let delta = self
            .transaction
            .as_deref()
            .and_then(|tx| tx.owner_delta.get(&domid))
            .copied()
            .unwrap_or(0);
        u32::try_from(committed.saturating_add(delta).max(0)).unwrap_or(u32::MAX)
    }

    /// Hands over `changes`: in a transaction they are kept for commit and nothing is
    /// returned; otherwise they are returned for immediate announcement.
    pub fn announce(&mut self, changes: Vec<Change>) -> Vec<Change> {
        match self.transaction.as_deref_mut() {
            Some(tx) => {
                tx.record(changes);
                Vec::new()
            }
            None => changes,
        }
    }
}

fn view_owner(tree: &Tree, tx: &Transaction, path: &str) -> Option<DomId> {
    match tx.tracked.get(path).map(|t| &t.state) {
        Some(TrackedState::Written(node)) => Some(node.perms.owner()),
        Some(TrackedState::Deleted) => None,
        Some(TrackedState::Read) | None => tree.get(path).map(|n| n.perms.owner()),
    }
}
