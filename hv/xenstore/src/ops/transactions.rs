//! Transaction requests: `TRANSACTION_START`, `TRANSACTION_END`.

use alloc::format;

use super::{Reply, Request};
use crate::message::one_arg;
use crate::transaction::Transaction;
use crate::{Store, XsError};

/// `TRANSACTION_START` (payload ignored) -> decimal id `\0`. `EBUSY` inside a transaction
/// (no nesting), `ENOSPC` past `max_transactions`.
pub(super) fn start(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    if request.header.tx_id != 0 {
        return Err(XsError::Ebusy);
    }
    let max = store.limits.max_transactions;
    let conn = store
        .connections
        .get_mut(&request.domid)
        .ok_or(XsError::Enoent)?;
    if !request.domid.is_privileged() && conn.transactions.len() >= max {
        return Err(XsError::Enospc);
    }
    let id = conn.allocate_transaction_id().ok_or(XsError::Enospc)?;
    conn.transactions.insert(id, Transaction::default());
    let mut reply = format!("{id}").into_bytes();
    reply.push(0);
    Ok(Reply::new(reply))
}

/// `TRANSACTION_END T\0` (commit) or `F\0` (abort), on the transaction in `tx_id` -> `OK`.
/// `EINVAL` for another argument, `ENOENT` without a transaction, `EAGAIN` (retry) or
/// `ENOSPC` if the commit fails. The transaction is gone afterwards in every case but
/// `EINVAL`.
pub(super) fn end(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let commit = match one_arg(request.payload)? {
        b"T" => true,
        b"F" => false,
        _ => return Err(XsError::Einval),
    };
    let tx_id = request.header.tx_id;
    let conn = store
        .connections
        .get_mut(&request.domid)
        .ok_or(XsError::Enoent)?;
    let transaction = conn.transactions.remove(&tx_id).ok_or(XsError::Enoent)?;
    if commit {
        let changes = transaction.commit(&mut store.tree, request.domid, &store.limits)?;
        store.deliver(&changes);
    }
    Ok(Reply::ok())
}
