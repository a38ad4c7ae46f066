//! Transactions: a private overlay of node changes, validated optimistically at commit.
//!
//! Every node a transaction touches is *tracked* with the generation it had in the committed
//! tree at first access (or "absent"). Reads of untouched nodes see the committed tree; writes
//! and deletes go to the overlay. At commit, if any tracked node's committed generation
//! differs from the recorded one, another change intervened and the commit fails with
//! `EAGAIN` (xenstored's rule: conflicts are detected on nodes the transaction read or wrote).
//! Otherwise the overlay is applied and the watch changes recorded during the transaction
//! are announced.
//!
//! States of a tracked node:
//!
//! ```text
//!   (untracked) --get--> Read --put--> Written(node) --delete--> Deleted
//!        |                 `--delete--> Deleted --put--> Written(node)
//!        `----put/delete----^ (tracked on the fly)
//! ```
//!
//! Reads of untouched nodes are not isolated from concurrent changes, but any such change
//! makes the commit fail, so a committed transaction always saw a consistent store.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::tree::Tree;
use crate::watch::{Change, Scope};
use crate::{DomId, Limits, Node, XsError};

/// The transaction's view of one tracked node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackedState {
    /// Only read: the committed node (or its absence) is what the transaction sees.
    Read,
    /// Written in the transaction (generation provisional until commit).
    Written(Node),
    /// Deleted in the transaction.
    Deleted,
}

/// One tracked node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// Committed generation at first access; `None` if the node did not exist.
    pub base_generation: Option<u64>,
    /// What the transaction sees now.
    pub state: TrackedState,
}

/// An open transaction of one connection.
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    pub(crate) tracked: BTreeMap<String, Tracked>,
    /// Net change of owned-node counts per domain caused by the overlay.
    pub(crate) owner_delta: BTreeMap<DomId, i64>,
    /// Changes to announce if the transaction commits, one per path, in order of first
    /// change.
    pub(crate) changes: Vec<PendingChange>,
}

/// A change recorded in a transaction. Repeated changes to one path merge into one entry,
/// so the list never outgrows the tracked nodes: the scope widens to `Subtree` if any change
/// had it, and the readers are those of the first change (the permissions before the
/// transaction touched the node) followed by those of the latest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingChange {
    change: Change,
    original_readers: usize,
}

impl Transaction {
    /// Starts tracking `path` with its committed generation, if not yet tracked.
    /// `limit` bounds the number of tracked nodes (`None` = no bound).
    pub(crate) fn track(
        &mut self,
        tree: &Tree,
        path: &str,
        limit: Option<usize>,
    ) -> Result<(), XsError> {
        if self.tracked.contains_key(path) {
            return Ok(());
        }
        if limit.is_some_and(|max| self.tracked.len() >= max) {
            return Err(XsError::Enospc);
        }
        let base_generation = tree.get(path).map(|n| n.generation);
        self.tracked.insert(
            String::from(path),
            Tracked {
                base_generation,
                state: TrackedState::Read,
            },
        );
        Ok(())
    }

    /// Records changes for announcement at commit, merging per path (see [`PendingChange`]).
    pub(crate) fn record(&mut self, changes: Vec<Change>) {
        for change in changes {
            match self
                .changes
                .iter_mut()
                .find(|p| p.change.path == change.path)
            {
                Some(pending) => {
                    if change.scope == Scope::Subtree {
                        pending.change.scope = Scope::Subtree;
                    }
                    pending.change.readers.truncate(pending.original_readers);
                    pending.change.readers.extend(change.readers);
                }
                None => {
                    let original_readers = change.readers.len();
                    self.changes.push(PendingChange {
                        change,
                        original_readers,
                    });
                }
            }
        }
    }

    pub(crate) fn adjust_owner(&mut self, domid: DomId, delta: i64) {
        let entry = self.owner_delta.entry(domid).or_insert(0);
        *entry = entry.saturating_add(delta);
    }

    /// Validates and applies the transaction to `tree` on behalf of `caller`.
    ///
    /// Pre-state: open. Post-state: consumed. On success the overlay is in `tree` (every
    /// written node gets a fresh generation) and the recorded changes are returned for
    /// announcement. Errors: `EAGAIN` if a tracked node changed since first access; `ENOSPC`
    /// if an unprivileged caller would end up owning more than `max_nodes_per_domain` nodes.
    /// On error `tree` is untouched.
    pub(crate) fn commit(
        self,
        tree: &mut Tree,
        caller: DomId,
        limits: &Limits,
    ) -> Result<Vec<Change>, XsError> {
        for (path, tracked) in &self.tracked {
            if tree.get(path).map(|n| n.generation) != tracked.base_generation {
                return Err(XsError::Eagain);
            }
        }
        if !caller.is_privileged() {
            let delta = self.owner_delta.get(&caller).copied().unwrap_or(0);
            let after = i64::from(tree.owned_by(caller)).saturating_add(delta);
            if delta > 0 && after > i64::from(limits.max_nodes_per_domain) {
                return Err(XsError::Enospc);
            }
        }
        for (path, tracked) in self.tracked {
            match tracked.state {
                TrackedState::Read => {}
                TrackedState::Written(mut node) => {
                    node.generation = tree.next_generation();
                    tree.insert(path, node);
                }
                TrackedState::Deleted => {
                    tree.remove(&path);
                }
            }
        }
        Ok(self.changes.into_iter().map(|p| p.change).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodePerms, Perm};

    fn change(path: &str, scope: Scope, reader: u16) -> Change {
        let readers = alloc::vec![NodePerms::new(DomId(reader), Perm::None)];
        Change {
            path: String::from(path),
            scope,
            readers,
        }
    }

    #[test]
    fn repeated_changes_merge_per_path() {
        let mut tx = Transaction::default();
        for i in 0..100 {
            tx.record(alloc::vec![
                change("/a", Scope::Exact, i),
                change("/b", Scope::Exact, i)
            ]);
        }
        tx.record(alloc::vec![change("/a", Scope::Subtree, 200)]);
        assert_eq!(tx.changes.len(), 2);
        let a = &tx.changes[0].change;
        assert_eq!(a.scope, Scope::Subtree);
        let owners: alloc::vec::Vec<u16> = a.readers.iter().map(|p| p.owner().0).collect();
        assert_eq!(owners, [0, 200], "first and latest readers");
    }
}
