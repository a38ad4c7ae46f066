//! Watch requests: `WATCH`, `UNWATCH`, `RESET_WATCHES`.

use alloc::vec::Vec;

use super::{Reply, Request};
use crate::message::{parse_decimal, strings};
use crate::path::{canonicalize, domain_path};
use crate::watch::Watch;
use crate::{Store, XsError};

/// `WATCH path\0token\0[depth\0]` -> `OK`, then one event `path\0token\0` right away.
/// Errors: `EINVAL` (argument count, path, depth), `EEXIST` (same path and token already
/// watched), `ENOSPC` (`max_watches`). The header's `tx_id` is ignored.
pub(super) fn watch(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let args: Vec<&[u8]> = strings(request.payload).collect();
    let depth = match args.len() {
        2 => None,
        3 => Some(parse_decimal(args[2]).ok_or(XsError::Einval)?),
        _ => return Err(XsError::Einval),
    };
    let path = canonicalize(args[0], request.domid, true, &store.limits)?;
    let token = args[1].to_vec();
    let max = store.limits.max_watches;
    let conn = store
        .connections
        .get_mut(&request.domid)
        .ok_or(XsError::Enoent)?;
    if conn
        .watches
        .iter()
        .any(|w| w.path == path.full && w.token == token)
    {
        return Err(XsError::Eexist);
    }
    if !request.domid.is_privileged() && conn.watches.len() >= max {
        return Err(XsError::Enospc);
    }
    let relative_prefix = if path.relative {
        domain_path(request.domid).len() + 1
    } else {
        0
    };
    let watch = Watch {
        path: path.full,
        token,
        depth,
        relative_prefix,
    };
    let initial = watch.event(&watch.path);
    conn.watches.push(watch);
    store.watching.insert(request.domid);
    Ok(Reply {
        payload: b"OK\0".to_vec(),
        then_event: Some(initial),
    })
}

/// `UNWATCH path\0token\0` -> `OK`; `ENOENT` if no such watch.
pub(super) fn unwatch(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let args: Vec<&[u8]> = strings(request.payload).collect();
    let [path_arg, token] = args[..] else {
        return Err(XsError::Einval);
    };
    let path = canonicalize(path_arg, request.domid, true, &store.limits)?;
    let conn = store
        .connections
        .get_mut(&request.domid)
        .ok_or(XsError::Enoent)?;
    let index = conn
        .watches
        .iter()
        .position(|w| w.path == path.full && w.token == token)
        .ok_or(XsError::Enoent)?;
    conn.watches.remove(index);
    Ok(Reply::ok())
}

/// `RESET_WATCHES` -> `OK`: drops all watches and transactions of the caller.
pub(super) fn reset_watches(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let conn = store
        .connections
        .get_mut(&request.domid)
        .ok_or(XsError::Enoent)?;
    conn.watches.clear();
    conn.transactions.clear();
    Ok(Reply::ok())
}
