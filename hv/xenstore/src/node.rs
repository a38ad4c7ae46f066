//! One node of the store: a value, an ordered list of child names, permissions and a
//! generation count.

use alloc::string::String;
use alloc::vec::Vec;

use crate::NodePerms;

/// A node. Children are kept in creation order (as xenstored lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value: arbitrary bytes, possibly empty.
    pub value: Vec<u8>,
    /// Names (last path component) of the children, in creation order.
    pub children: Vec<String>,
    /// Permissions (entry 0 is the owner).
    pub perms: NodePerms,
    /// Store-wide unique stamp of the last change; changes whenever the node is written
    /// (value, children or permissions). Used for transaction conflict detection and as the
    /// `gencnt` of `XS_DIRECTORY_PART`.
    pub generation: u64,
}

impl Node {
    /// An empty node with the given permissions (generation assigned when stored).
    pub fn empty(perms: NodePerms) -> Node {
        Node {
            value: Vec::new(),
            children: Vec::new(),
            perms,
            generation: 0,
        }
    }

    /// Size counted against [`Limits::max_node_size`](crate::Limits::max_node_size): the value
    /// plus each child name with its NUL.
    pub fn size(&self) -> usize {
        let children: usize = self.children.iter().map(|c| c.len() + 1).sum();
        self.value.len().saturating_add(children)
    }

    /// The `XS_DIRECTORY` payload: each child name followed by a NUL.
    pub fn children_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for name in &self.children {
            crate::message::push_string(&mut out, name.as_bytes());
        }
        out
    }
}
