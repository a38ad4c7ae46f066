//! [`Store`]: the whole server state — the tree, the special nodes, one [`Connection`] per
//! introduced guest, the toolstack's own watches — and the delivery of watch events.
//!
//! The platform drives it through three doors: the toolstack API
//! ([`toolstack`](crate::toolstack)), domain lifecycle ([`domains`](crate::domains)) and ring
//! servicing ([`ring`](crate::ring)). Watch events for a guest are queued on its connection;
//! the set of guests with freshly queued output is collected so the platform can service
//! and notify them ([`Store::take_domains_with_output`]).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use pv_abi::io::xs_wire::{XENSTORE_PAYLOAD_MAX, XS_WATCH_EVENT};

use crate::connection::{Connection, ConnectionState};
use crate::message::Message;
use crate::special::SpecialNodes;
use crate::tree::Tree;
use crate::view::NodeView;
use crate::watch::{Change, Watch, WatchEvent};
use crate::{DomId, Limits, ProtocolError, XsError};

/// The toolstack's (hypervisor's) own watches and their undrained events.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolWatches {
    pub(crate) watches: Vec<Watch>,
    pub(crate) events: VecDeque<WatchEvent>,
    pub(crate) dropped: u64,
}

impl ToolWatches {
    fn push(&mut self, event: WatchEvent, limit: usize) {
        let special = event.path.starts_with('@');
        if !special && self.events.contains(&event) {
            return;
        }
        if self.events.len() >= limit {
            self.dropped = self.dropped.saturating_add(1);
            log::warn!(
                "xenstore: toolstack event queue full, dropping event for {}",
                event.path
            );
            return;
        }
        self.events.push_back(event);
    }
}

/// Observable state of one guest connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Registered watches.
    pub watches: usize,
    /// Open transactions.
    pub transactions: usize,
    /// Bytes queued for the guest and not yet copied into its ring.
    pub queued_output_bytes: usize,
    /// Why the connection is broken, if it is.
    pub broken: Option<ProtocolError>,
}

/// The xenstore server.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) limits: Limits,
    pub(crate) tree: Tree,
    pub(crate) special: SpecialNodes,
    pub(crate) connections: BTreeMap<DomId, Connection>,
    pub(crate) tool: ToolWatches,
    pub(crate) domains_with_output: BTreeSet<DomId>,
    /// Every domain that has set a watch since it was introduced (a superset of those that
    /// have one now): the only connections a change can fire events on, so that a change
    /// costs the number of watching domains, not of all domains.
    pub(crate) watching: BTreeSet<DomId>,
}

impl Store {
    /// A fresh store: `/`, `/local`, `/local/domain` and `/tool` exist (owned by domain 0,
    /// no access for guests), no domain is introduced.
    pub fn new(limits: Limits) -> Store {
        Store {
            limits,
            tree: Tree::new(),
            special: SpecialNodes::default(),
            connections: BTreeMap::new(),
            tool: ToolWatches::default(),
            domains_with_output: BTreeSet::new(),
            watching: BTreeSet::new(),
        }
    }

    /// The quotas in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The committed tree (read-only; for inspection and invariant checks).
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Whether `domid` has a connection (introduced and not released).
    pub fn is_introduced(&self, domid: DomId) -> bool {
        self.connections.contains_key(&domid)
    }

    /// The state of `domid`'s connection, if introduced.
    pub fn connection_status(&self, domid: DomId) -> Option<ConnectionStatus> {
        let conn = self.connections.get(&domid)?;
        Some(ConnectionStatus {
            watches: conn.watches.len(),
            transactions: conn.transactions.len(),
            queued_output_bytes: conn.output.queued_bytes(),
            broken: match conn.state {
                ConnectionState::Connected => None,
                ConnectionState::Broken { reason, .. } => Some(reason),
            },
        })
    }

    /// Guests that received output (replies or watch events) since the last call, in domid
    /// order. The platform should service their rings (which also notifies them).
    pub fn take_domains_with_output(&mut self) -> Vec<DomId> {
        core::mem::take(&mut self.domains_with_output)
            .into_iter()
            .collect()
    }

    /// The view a request of `domid` with header `tx_id` works on (`ENOENT` for an unknown
    /// transaction).
    pub(crate) fn view(&mut self, domid: DomId, tx_id: u32) -> Result<NodeView<'_>, XsError> {
        if tx_id == 0 {
            return Ok(NodeView::direct(&mut self.tree));
        }
        let bound = (!domid.is_privileged()).then_some(self.limits.max_transaction_nodes);
        let tx = self
            .connections
            .get_mut(&domid)
            .and_then(|c| c.transactions.get_mut(&tx_id))
            .ok_or(XsError::Enoent)?;
        Ok(NodeView::in_transaction(&mut self.tree, tx, bound))
    }

    /// Applies `f` to the view of a request of `domid` with header `tx_id` (see [`Self::view`])
    /// and announces what it changed: now, or at commit inside a transaction.
    pub(crate) fn change(
        &mut self,
        domid: DomId,
        tx_id: u32,
        f: impl FnOnce(&mut NodeView<'_>) -> Result<Vec<Change>, XsError>,
    ) -> Result<(), XsError> {
        let mut view = self.view(domid, tx_id)?;
        let changes = f(&mut view)?;
        let now = view.announce(changes);
        self.deliver(&now);
        Ok(())
    }

    /// Announces committed changes to every watcher allowed to see them.
    pub(crate) fn deliver(&mut self, changes: &[Change]) {
        for change in changes {
            self.fan_out(
                |domid| change.visible_to(domid),
                |w| {
                    w.matches(&change.path, change.scope)
                        .then(|| w.event(&change.path))
                },
            );
        }
    }

    /// Fires the special event `base` (`@introduceDomain` / `@releaseDomain`) about `domid`.
    pub(crate) fn deliver_special(&mut self, base: &str, domid: DomId) {
        let Some(perms) = self.special.get(base).cloned() else {
            return;
        };
        self.fan_out(
            |reader| perms.access(reader).read,
            |w| {
                w.special_event_paths(base, domid)
                    .into_iter()
                    .map(|p| w.event(&p))
                    .collect::<Vec<_>>()
            },
        );
    }

    /// Queues the events `events_of` makes from each watch: on every connected guest that
    /// `visible` admits, and on the toolstack (which sees everything).
    fn fan_out<I: IntoIterator<Item = WatchEvent>>(
        &mut self,
        visible: impl Fn(DomId) -> bool,
        events_of: impl Fn(&Watch) -> I,
    ) {
        for domid in &self.watching {
            let Some(conn) = self.connections.get_mut(domid) else {
                continue;
            };
            if conn.watches.is_empty() || !conn.is_connected() || !visible(conn.domid) {
                continue;
            }
            let events: Vec<WatchEvent> = conn.watches.iter().flat_map(&events_of).collect();
            for event in events {
                queue_event(conn, &event, &self.limits, &mut self.domains_with_output);
            }
        }
        let tool_events: Vec<WatchEvent> = self.tool.watches.iter().flat_map(&events_of).collect();
        for event in tool_events {
            self.tool.push(event, self.limits.max_tool_events);
        }
    }
}

/// Queues `event` for `conn`; an event longer than `XENSTORE_PAYLOAD_MAX` is dropped (as
/// xenstored does); overflowing `max_output_bytes` breaks the connection.
pub(crate) fn queue_event(
    conn: &mut Connection,
    event: &WatchEvent,
    limits: &Limits,
    pending: &mut BTreeSet<DomId>,
) {
    if !conn.is_connected() {
        return;
    }
    let payload = event.payload();
    if payload.len() > XENSTORE_PAYLOAD_MAX {
        return;
    }
    let message = Message::new(XS_WATCH_EVENT, 0, 0, payload);
    match conn.output.push_event(&message, limits.max_output_bytes) {
        Ok(()) => {
            pending.insert(conn.domid);
        }
        Err(_) => conn.mark_broken(ProtocolError::OutputOverflow),
    }
}
