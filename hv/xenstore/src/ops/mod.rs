//! Guest requests: dispatch by message type, and the reply that goes back.
//!
//! Rules common to all requests (xenstored `process_message`):
//! * unknown types, and `XS_WATCH_EVENT` / `XS_ERROR` sent by a client, fail with `ENOSYS`
//!   (xenstored and `docs/misc/xenstore.txt`);
//! * toolstack-only types (`CONTROL`, `INTRODUCE`, `RELEASE`, `RESUME`, `SET_TARGET`,
//!   `SET_FEATURE`, `GET_QUOTA`, `SET_QUOTA`) fail with `EACCES` for guests; the hypervisor
//!   uses the [`Store`] API instead, so they are not implemented on the wire (`ENOSYS`);
//! * a non-zero `tx_id` must name an open transaction of the caller (`ENOENT`), except for
//!   `WATCH` / `UNWATCH`, which ignore it;
//! * the reply echoes `type`, `req_id` and `tx_id`; an error reply has type `XS_ERROR` and
//!   payload `"<ENAME>\0"`; a reply longer than `XENSTORE_PAYLOAD_MAX` becomes `E2BIG`;
//! * watch events caused by a request are queued before its reply (except the initial event
//!   of `XS_WATCH`, which follows the `OK`).

mod domains;
mod nodes;
mod perms;
mod transactions;
mod watches;

use alloc::vec::Vec;
use pv_abi::io::xs_wire::{XsdSockmsg, XENSTORE_PAYLOAD_MAX, XS_ERROR};

use crate::message::{Message, MessageType};
use crate::store::queue_event;
use crate::watch::WatchEvent;
use crate::{DomId, Store, XsError};

/// One decoded request.
pub(crate) struct Request<'a> {
    /// The calling guest.
    pub domid: DomId,
    /// Its header (`type_`, `req_id`, `tx_id`).
    pub header: XsdSockmsg,
    /// Its payload.
    pub payload: &'a [u8],
}

/// A successful reply payload, optionally followed by a watch event for the caller.
pub(crate) struct Reply {
    payload: Vec<u8>,
    then_event: Option<WatchEvent>,
}

impl Reply {
    fn new(payload: Vec<u8>) -> Reply {
        Reply {
            payload,
            then_event: None,
        }
    }

    /// The usual `OK\0`.
    fn ok() -> Reply {
        Reply::new(b"OK\0".to_vec())
    }
}

/// Processes one complete request from `domid` and queues its reply on the connection.
pub(crate) fn handle(store: &mut Store, domid: DomId, message: &Message) {
    let header = message.header;
    let request = Request {
        domid,
        header,
        payload: &message.payload,
    };
    let (payload, type_, then_event) = match dispatch(store, &request) {
        Ok(reply) if reply.payload.len() <= XENSTORE_PAYLOAD_MAX => {
            (reply.payload, header.type_, reply.then_event)
        }
        Ok(_) => (error_payload(XsError::E2big), XS_ERROR, None),
        Err(error) => (error_payload(error), XS_ERROR, None),
    };
    let Some(conn) = store.connections.get_mut(&domid) else {
        return;
    };
    if !conn.is_connected() {
        return;
    }
    conn.output
        .push_reply(&Message::new(type_, header.req_id, header.tx_id, payload));
    store.domains_with_output.insert(domid);
    if let Some(event) = then_event {
        queue_event(conn, &event, &store.limits, &mut store.domains_with_output);
    }
}

fn error_payload(error: XsError) -> Vec<u8> {
    let mut payload = error.wire_name().as_bytes().to_vec();
    payload.push(0);
    payload
}

fn dispatch(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    use MessageType::*;
    let kind = MessageType::from_wire(request.header.type_).ok_or(XsError::Enosys)?;
    match kind {
        WatchEvent | Error => return Err(XsError::Enosys),
        Control | Introduce | Release | Resume | SetTarget | SetFeature | GetQuota | SetQuota => {
            return Err(if request.domid.is_privileged() {
                XsError::Enosys
            } else {
                XsError::Eacces
            });
        }
        Watch => return watches::watch(store, request),
        Unwatch => return watches::unwatch(store, request),
        _ => {}
    }
    let tx_id = request.header.tx_id;
    if tx_id != 0
        && !store
            .connections
            .get(&request.domid)
            .is_some_and(|c| c.transactions.contains_key(&tx_id))
    {
        return Err(XsError::Enoent);
    }
    match kind {
        Read => nodes::read(store, request),
        Write => nodes::write(store, request),
        Mkdir => nodes::mkdir(store, request),
        Rm => nodes::rm(store, request),
        Directory => nodes::directory(store, request),
        DirectoryPart => nodes::directory_part(store, request),
        GetPerms => perms::get_perms(store, request),
        SetPerms => perms::set_perms(store, request),
        TransactionStart => transactions::start(store, request),
        TransactionEnd => transactions::end(store, request),
        ResetWatches => watches::reset_watches(store, request),
        GetDomainPath => domains::get_domain_path(request),
        IsDomainIntroduced => domains::is_domain_introduced(store, request),
        GetFeature => domains::get_feature(request),
        // Handled above.
        WatchEvent | Error | Control | Introduce | Release | Resume | SetTarget | SetFeature
        | GetQuota | SetQuota | Watch | Unwatch => Err(XsError::Enosys),
    }
}
