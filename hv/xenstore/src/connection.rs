//! The server-side state of one guest's ring connection.
//!
//! ```text
//!   Connected --protocol error / output overflow--> Broken { reported: false }
//!   Broken { reported: false } --service() writes ring `error`--> Broken { reported: true }
//!   any --guest sets `connection` = RECONNECT, service()--> Connected (state reset)
//! ```
//!
//! Entering `Broken` drops the connection's watches, transactions, queued output and partial
//! input (xenstored `ignore_connection`). The domain stays introduced until released.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::input::InputAssembler;
use crate::output::OutputQueue;
use crate::transaction::Transaction;
use crate::watch::Watch;
use crate::{DomId, ProtocolError};

/// Whether a connection is being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Requests are served.
    Connected,
    /// Nothing is served until the guest reconnects or the domain is released.
    Broken {
        /// Why.
        reason: ProtocolError,
        /// Whether the reason was already written to the ring and reported to the platform.
        reported: bool,
    },
}

/// One guest connection.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The guest.
    pub domid: DomId,
    /// Its watches, in registration order.
    pub watches: Vec<Watch>,
    /// Its open transactions by id.
    pub transactions: BTreeMap<u32, Transaction>,
    next_transaction_id: u32,
    /// Replies and events not yet copied into the ring.
    pub output: OutputQueue,
    /// The request being reassembled.
    pub input: InputAssembler,
    /// Served or broken.
    pub state: ConnectionState,
    /// Whether `server_features` has been written into this guest's ring page.
    pub features_advertised: bool,
}

impl Connection {
    /// A fresh, connected connection for `domid`.
    pub fn new(domid: DomId) -> Connection {
        Connection {
            domid,
            watches: Vec::new(),
            transactions: BTreeMap::new(),
            next_transaction_id: 1,
            output: OutputQueue::default(),
            input: InputAssembler::default(),
            state: ConnectionState::Connected,
            features_advertised: false,
        }
    }

    /// Allocates a transaction id: never 0 (which means "no transaction") and never one in
    /// use. `None` only if all 2^32-1 ids are in use, which quotas prevent.
    pub fn allocate_transaction_id(&mut self) -> Option<u32> {
        // One pass over every used id plus the skipped 0 always finds a free one.
        for _ in 0..=self.transactions.len().saturating_add(1) {
            let id = self.next_transaction_id;
            self.next_transaction_id = id.wrapping_add(1);
            if id != 0 && !self.transactions.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// Post-state: `Broken { reason, reported: false }`, with watches, transactions, output
    /// and input dropped. A connection already broken keeps its first reason.
    pub fn mark_broken(&mut self, reason: ProtocolError) {
        if matches!(self.state, ConnectionState::Connected) {
            log::warn!(
                "xenstore: dom{} connection broken: {:?}",
                self.domid,
                reason
            );
            self.state = ConnectionState::Broken {
                reason,
                reported: false,
            };
        }
        self.drop_session();
    }

    /// Post-state: `Connected` with no watches, transactions, output or input (ring reconnect).
    pub fn reset(&mut self) {
        self.state = ConnectionState::Connected;
        self.drop_session();
    }

    fn drop_session(&mut self) {
        self.watches.clear();
        self.transactions.clear();
        self.output.clear();
        self.input = InputAssembler::default();
    }

    /// Whether requests are served.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, ConnectionState::Connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_ids_skip_zero_and_used() {
        let mut c = Connection::new(DomId(1));
        c.next_transaction_id = u32::MAX;
        assert_eq!(c.allocate_transaction_id(), Some(u32::MAX));
        c.transactions.insert(1, Transaction::default());
        assert_eq!(c.allocate_transaction_id(), Some(2));
    }

    #[test]
    fn broken_keeps_first_reason() {
        let mut c = Connection::new(DomId(1));
        c.mark_broken(ProtocolError::RingIndex);
        c.mark_broken(ProtocolError::PayloadTooLong);
        assert_eq!(
            c.state,
            ConnectionState::Broken {
                reason: ProtocolError::RingIndex,
                reported: false
            }
        );
        c.reset();
        assert!(c.is_connected());
    }
}
