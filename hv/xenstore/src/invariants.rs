//! Consistency checks over the whole store, for tests and debug assertions: the tree is a
//! tree, owner counts match, and every connection respects its quotas.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use crate::message::MAX_MESSAGE_SIZE;
use crate::path;
use crate::{DomId, Store};

impl Store {
    /// Checks the store's invariants; `Err` describes the first violation found.
    ///
    /// * `/` exists; every other node's parent exists and lists it exactly once; every
    ///   listed child exists;
    /// * per-owner node counts equal a recount of the tree;
    /// * each connection holds at most `max_watches` watches and `max_transactions`
    ///   transactions, and at most `max_output_bytes` plus one message of queued output.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.tree.get("/").is_none() {
            return Err(String::from("root missing"));
        }
        let mut counts: BTreeMap<DomId, u32> = BTreeMap::new();
        for (p, node) in self.tree.iter() {
            *counts.entry(node.perms.owner()).or_insert(0) += 1;
            for child in &node.children {
                if self.tree.get(&path::child(p, child)).is_none() {
                    return Err(format!("{p} lists missing child {child}"));
                }
            }
            let Some(parent) = path::parent(p) else {
                continue;
            };
            let name = path::basename(p);
            let listed = self
                .tree
                .get(parent)
                .map(|n| n.children.iter().filter(|c| *c == name).count());
            if listed != Some(1) {
                return Err(format!("{p} listed {listed:?} times by its parent"));
            }
        }
        if &counts != self.tree.owner_counts() {
            return Err(format!(
                "owner counts {:?} != recount {counts:?}",
                self.tree.owner_counts()
            ));
        }
        for (domid, conn) in &self.connections {
            if conn.watches.len() > self.limits.max_watches {
                return Err(format!("dom{domid}: {} watches", conn.watches.len()));
            }
            if conn.transactions.len() > self.limits.max_transactions {
                return Err(format!(
                    "dom{domid}: {} transactions",
                    conn.transactions.len()
                ));
            }
            if conn.output.queued_bytes() > self.limits.max_output_bytes + MAX_MESSAGE_SIZE {
                return Err(format!(
                    "dom{domid}: {} bytes queued",
                    conn.output.queued_bytes()
                ));
            }
        }
        Ok(())
    }
}
