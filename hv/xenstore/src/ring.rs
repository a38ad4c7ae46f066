//! Ring transport: moving bytes between a guest's interface page and its connection.
//!
//! The platform implements [`RingPage`] over the guest's 4 KiB xenstore page (volatile,
//! bounds-checked copies) and calls [`Store::service`] whenever the guest signals the store
//! event channel, and for every domain listed in [`ServiceOutcome::other_domains`] or
//! [`Store::take_domains_with_output`]. One call:
//!
//! 1. advertises [`SERVER_FEATURES`] (first call only);
//! 2. honours a reconnect request (`connection` = `XENSTORE_RECONNECT`): drops the
//!    connection's watches, transactions, partial input and queued output, zeroes the four
//!    indices and the error, sets `connection` = `XENSTORE_CONNECTED`;
//! 3. on a broken connection, writes the reason into `error` once and does nothing else;
//! 4. otherwise, repeatedly: consumes request bytes (`req_prod - req_cons` checked to be at
//!    most 1024, wrapping), reassembles and handles whole requests, and copies queued output
//!    into `rsp` up to the free space (`rsp_prod - rsp_cons` checked likewise), until neither
//!    side can progress. A request is only handled while the output queue is empty or has
//!    room for a maximal reply; otherwise it waits (the guest is stalled) until the guest
//!    reads `rsp`.
//!
//! Indices are little-endian `u32`s read and written through the trait; fences order the
//! index accesses against the data copies.

use alloc::vec::Vec;
use core::sync::atomic::{fence, Ordering};
use pv_abi::io::xs_wire::{
    mask_xenstore_idx, offsets, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_RECONNECT,
    XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_DOMID_ANY, XENSTORE_SERVER_FEATURE_ERROR,
    XENSTORE_SERVER_FEATURE_RECONNECTION, XENSTORE_SERVER_FEATURE_WATCHDEPTH,
};

use crate::connection::ConnectionState;
use crate::message::MAX_MESSAGE_SIZE;
use crate::{ops, DomId, ProtocolError, Store};

/// Features this server offers in `server_features`.
pub const SERVER_FEATURES: u32 = XENSTORE_SERVER_FEATURE_RECONNECTION
    | XENSTORE_SERVER_FEATURE_ERROR
    | XENSTORE_SERVER_FEATURE_WATCHDEPTH
    | XENSTORE_SERVER_FEATURE_DOMID_ANY;

/// Upper bound on input/output rounds per [`Store::service`] call.
const MAX_ROUNDS: usize = 64;

/// Byte access to one guest's xenstore interface page (`struct xenstore_domain_interface`).
/// Offsets and lengths passed by this crate always stay within the first 2080 bytes.
pub trait RingPage {
    /// Copies `buf.len()` bytes starting at `offset` out of the page.
    fn read(&self, offset: usize, buf: &mut [u8]);
    /// Copies `data` into the page starting at `offset`.
    fn write(&mut self, offset: usize, data: &[u8]);
}

/// What one [`Store::service`] call did and what the platform should do next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOutcome {
    /// Signal the guest's store event channel: indices moved or the connection was reset.
    pub notify_guest: bool,
    /// The guest broke the protocol (reported once; the connection is now broken).
    pub error: Option<ProtocolError>,
    /// Other guests that received watch events: service (and so notify) them too.
    pub other_domains: Vec<DomId>,
    /// The round bound was hit with work left: call again soon.
    pub call_again: bool,
}

fn read_u32<P: RingPage + ?Sized>(page: &P, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    page.read(offset, &mut bytes);
    u32::from_le_bytes(bytes)
}

fn write_u32<P: RingPage + ?Sized>(page: &mut P, offset: usize, value: u32) {
    page.write(offset, &value.to_le_bytes());
}

/// `prod - cons` of one ring, or `RingIndex` if it exceeds the ring size.
fn ring_used(cons: u32, prod: u32) -> Result<usize, ProtocolError> {
    let used = prod.wrapping_sub(cons) as usize;
    if used > XENSTORE_RING_SIZE {
        return Err(ProtocolError::RingIndex);
    }
    Ok(used)
}

impl Store {
    /// Services guest `domid`'s ring page (see the module doc). Never panics, whatever the
    /// page contains. A domain that is not introduced is left untouched.
    pub fn service<P: RingPage + ?Sized>(&mut self, domid: DomId, page: &mut P) -> ServiceOutcome {
        let mut outcome = ServiceOutcome::default();
        let Some(conn) = self.connections.get_mut(&domid) else {
            log::warn!("xenstore: service for unintroduced dom{domid}");
            return outcome;
        };
        if !conn.features_advertised {
            write_u32(page, offsets::SERVER_FEATURES, SERVER_FEATURES);
            conn.features_advertised = true;
        }
        if read_u32(page, offsets::CONNECTION) == XENSTORE_RECONNECT {
            conn.reset();
            for offset in [
                offsets::REQ_CONS,
                offsets::REQ_PROD,
                offsets::RSP_CONS,
                offsets::RSP_PROD,
            ] {
                write_u32(page, offset, 0);
            }
            write_u32(page, offsets::ERROR, XENSTORE_ERROR_NONE);
            fence(Ordering::SeqCst);
            write_u32(page, offsets::CONNECTION, XENSTORE_CONNECTED);
            outcome.notify_guest = true;
        } else {
            if conn.is_connected() {
                self.pump(domid, page, &mut outcome);
            }
            self.report_broken(domid, page, &mut outcome);
        }
        self.domains_with_output.remove(&domid);
        outcome.other_domains = self.take_domains_with_output();
        outcome
    }

    fn pump<P: RingPage + ?Sized>(
        &mut self,
        domid: DomId,
        page: &mut P,
        outcome: &mut ServiceOutcome,
    ) {
        for round in 0.. {
            if round == MAX_ROUNDS {
                outcome.call_again = true;
                return;
            }
            let step = match self.pump_input(domid, page) {
                Ok(input) => self.pump_output(domid, page).map(|output| input || output),
                Err(error) => Err(error),
            };
            match step {
                Ok(true) => outcome.notify_guest = true,
                Ok(false) => return,
                Err(error) => {
                    if let Some(conn) = self.connections.get_mut(&domid) {
                        conn.mark_broken(error);
                    }
                    return;
                }
            }
            // A handler may have broken the connection (its own events overflowed).
            if !self
                .connections
                .get(&domid)
                .is_some_and(|c| c.is_connected())
            {
                return;
            }
        }
    }

    /// Transition `Broken { reported: false }` -> `Broken { reported: true }`: writes the
    /// reason into the ring's `error` field and reports it in `outcome`, once.
    fn report_broken<P: RingPage + ?Sized>(
        &mut self,
        domid: DomId,
        page: &mut P,
        outcome: &mut ServiceOutcome,
    ) {
        let Some(conn) = self.connections.get_mut(&domid) else {
            return;
        };
        if let ConnectionState::Broken {
            reason,
            reported: reported @ false,
        } = &mut conn.state
        {
            *reported = true;
            write_u32(page, offsets::ERROR, reason.ring_error_code());
            outcome.error = Some(*reason);
            outcome.notify_guest = true;
        }
    }

    /// Consumes request bytes and handles complete requests. Returns whether `req_cons` moved.
    fn pump_input<P: RingPage + ?Sized>(
        &mut self,
        domid: DomId,
        page: &mut P,
    ) -> Result<bool, ProtocolError> {
        let start = read_u32(page, offsets::REQ_CONS);
        let prod = read_u32(page, offsets::REQ_PROD);
        fence(Ordering::Acquire);
        let mut available = ring_used(start, prod)?;
        let mut cons = start;
        let mut chunk = [0u8; XENSTORE_RING_SIZE];
        while let Some(conn) = self.connections.get_mut(&domid) {
            if !conn.is_connected() {
                break;
            }
            if conn.input.complete().is_some() {
                let queued = conn.output.queued_bytes();
                if queued > 0
                    && queued.saturating_add(MAX_MESSAGE_SIZE) > self.limits.max_output_bytes
                {
                    break; // stalled until the guest reads its replies
                }
                if let Some(message) = conn.input.take_complete() {
                    ops::handle(self, domid, &message);
                }
                continue;
            }
            if available == 0 {
                break;
            }
            let offset = mask_xenstore_idx(cons);
            let count = conn
                .input
                .wanted()
                .min(available)
                .min(XENSTORE_RING_SIZE - offset);
            page.read(offsets::REQ + offset, &mut chunk[..count]);
            conn.input.feed(&chunk[..count])?;
            cons = cons.wrapping_add(count as u32);
            available -= count;
        }
        if cons != start {
            fence(Ordering::SeqCst);
            write_u32(page, offsets::REQ_CONS, cons);
        }
        Ok(cons != start)
    }

    /// Copies queued output into `rsp`. Returns whether `rsp_prod` moved.
    fn pump_output<P: RingPage + ?Sized>(
        &mut self,
        domid: DomId,
        page: &mut P,
    ) -> Result<bool, ProtocolError> {
        let Some(conn) = self.connections.get_mut(&domid) else {
            return Ok(false);
        };
        let cons = read_u32(page, offsets::RSP_CONS);
        let start = read_u32(page, offsets::RSP_PROD);
        fence(Ordering::Acquire);
        let mut space = XENSTORE_RING_SIZE - ring_used(cons, start)?;
        let mut prod = start;
        while space > 0 && !conn.output.is_empty() {
            let offset = mask_xenstore_idx(prod);
            let bytes = conn.output.front_chunk();
            let count = bytes.len().min(space).min(XENSTORE_RING_SIZE - offset);
            page.write(offsets::RSP + offset, &bytes[..count]);
            conn.output.consume(count);
            prod = prod.wrapping_add(count as u32);
            space -= count;
        }
        if prod != start {
            fence(Ordering::Release);
            write_u32(page, offsets::RSP_PROD, prod);
        }
        Ok(prod != start)
    }
}
