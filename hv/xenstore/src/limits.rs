//! Quotas that keep every guest's share of hypervisor memory bounded.
//!
//! They apply to unprivileged callers (guests) only; the toolstack (domain 0) is trusted. The
//! defaults are xenstored's (`tools/xenstored/domain.c`, `quotas[]`), except the output bound,
//! which xenstored folds into a 2.5 MB per-domain memory quota.
//!
//! Rough worst case for one guest (all quotas maxed, longest paths):
//!
//! ```text
//!   tree          max_nodes_per_domain * (XENSTORE_ABS_PATH_MAX + max_node_size)   ~  5 MB
//!   transactions  max_transactions * max_transaction_nodes * (same per node)       ~ 50 MB
//!   watches       max_watches * (XENSTORE_ABS_PATH_MAX + token)                    ~  1 MB
//!   output        max_output_bytes + one message (16 + 4096)                       ~ 260 KB
//! ```
//!
//! Realistic guests use a few kilobytes. Lower `max_transaction_nodes` first if the bound
//! matters.

use pv_abi::io::xs_wire::XENSTORE_REL_PATH_MAX;

/// Per-guest resource limits. Exceeding one fails the request with `ENOSPC` (`EINVAL` for
/// paths), except `max_output_bytes`, whose overflow breaks the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Nodes a guest may own (xenstored "nodes", default 1000). Checked when a guest creates
    /// nodes, inside or outside a transaction and again at commit.
    pub max_nodes_per_domain: u32,
    /// Largest node a guest may write (xenstored "node-size", default 2048): value bytes plus
    /// the NUL-terminated names of its children. Checked on every node a guest's request
    /// writes, including a parent gaining a child.
    pub max_node_size: usize,
    /// Longest path a guest may use, counted after its `/local/domain/<id>/` prefix if present
    /// (xenstored "path-max", default `XENSTORE_REL_PATH_MAX` = 2048). Longer paths get
    /// `EINVAL`. Every caller is also held to `XENSTORE_ABS_PATH_MAX` (3072) absolute bytes.
    pub max_path_length: usize,
    /// Permission entries in one `XS_SET_PERMS` (xenstored "node-permissions", default 5).
    pub max_permissions: usize,
    /// Watches per connection (xenstored "watches", default 128).
    pub max_watches: usize,
    /// Open transactions per connection (xenstored "transactions", default 10).
    pub max_transactions: usize,
    /// Distinct nodes one transaction may read or write (xenstored "transaction-nodes",
    /// default 1024).
    pub max_transaction_nodes: usize,
    /// Bytes of replies and watch events queued for a guest that has not yet copied them
    /// into its ring (default 256 KiB). Requests are not handled while the queue is
    /// non-empty and within one maximal message (4112 bytes) of this bound (the guest is
    /// *stalled* and resumes once it reads its ring); a watch event that would push the queue past it marks the connection broken
    /// with [`ProtocolError::OutputOverflow`](crate::ProtocolError::OutputOverflow).
    pub max_output_bytes: usize,
    /// Watch events queued for the toolstack's own watches (default 4096). Further events
    /// are dropped and counted (see [`Store::tool_events_dropped`](crate::Store::tool_events_dropped)).
    pub max_tool_events: usize,
}

impl Limits {
    /// xenstored's defaults (see the field docs).
    pub const XENSTORED: Limits = Limits {
        max_nodes_per_domain: 1000,
        max_node_size: 2048,
        max_path_length: XENSTORE_REL_PATH_MAX,
        max_permissions: 5,
        max_watches: 128,
        max_transactions: 10,
        max_transaction_nodes: 1024,
        max_output_bytes: 256 * 1024,
        max_tool_events: 4096,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::XENSTORED
    }
}
