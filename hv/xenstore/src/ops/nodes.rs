//! Node requests: `READ`, `WRITE`, `MKDIR`, `RM`, `DIRECTORY`, `DIRECTORY_PART`.

use alloc::format;
use alloc::vec::Vec;
use pv_abi::io::xs_wire::XENSTORE_PAYLOAD_MAX;

use super::{Reply, Request};
use crate::message::{count_strings, one_arg, parse_decimal};
use crate::path::canonicalize;
use crate::update::{self, Need};
use crate::{Node, Store, XsError};

/// Looks up the node named by a one-argument payload with read access (`ENOENT` if absent).
fn read_node(store: &mut Store, request: &Request<'_>, path_arg: &[u8]) -> Result<Node, XsError> {
    let path = canonicalize(path_arg, request.domid, false, &store.limits)?;
    let mut view = store.view(request.domid, request.header.tx_id)?;
    update::lookup(&mut view, request.domid, &path.full, Need::Read)?.ok_or(XsError::Enoent)
}

/// `READ path\0` -> the value bytes.
pub(super) fn read(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let node = read_node(store, request, one_arg(request.payload)?)?;
    Ok(Reply::new(node.value))
}

/// `DIRECTORY path\0` -> `child\0child\0...`.
pub(super) fn directory(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let node = read_node(store, request, one_arg(request.payload)?)?;
    Ok(Reply::new(node.children_wire()))
}

/// `DIRECTORY_PART path\0offset\0` -> `gencnt\0` then as many whole child names from byte
/// `offset` of the `DIRECTORY` list as fit; an extra `\0` marks the end of the list.
pub(super) fn directory_part(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    if count_strings(request.payload) != 2 {
        return Err(XsError::Einval);
    }
    let mut args = crate::message::strings(request.payload);
    let path_arg = args.next().ok_or(XsError::Einval)?;
    let offset_arg = args.next().ok_or(XsError::Einval)?;
    let node = read_node(store, request, path_arg)?;
    let offset = parse_decimal(offset_arg).ok_or(XsError::Einval)? as usize;
    let list = node.children_wire();

    let mut reply = format!("{}", node.generation).into_bytes();
    reply.push(0);
    let Some(rest) = list.get(offset..).filter(|r| !r.is_empty()) else {
        reply.push(0);
        return Ok(Reply::new(reply));
    };
    let max = XENSTORE_PAYLOAD_MAX - reply.len() - 1;
    let mut taken = 0;
    for name in rest.split_inclusive(|&b| b == 0) {
        if taken + name.len() > max {
            break;
        }
        taken += name.len();
    }
    reply.extend_from_slice(&rest[..taken]);
    if taken == rest.len() {
        reply.push(0);
    }
    Ok(Reply::new(reply))
}

/// `WRITE path\0value` -> `OK`. The value is every byte after the first NUL.
pub(super) fn write(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let nul = request
        .payload
        .iter()
        .position(|&b| b == 0)
        .ok_or(XsError::Einval)?;
    let path = canonicalize(&request.payload[..nul], request.domid, false, &store.limits)?;
    let value: Vec<u8> = request.payload[nul + 1..].to_vec();
    let limits = store.limits;
    store.change(request.domid, request.header.tx_id, |view| {
        update::write(view, request.domid, &path.full, value, &limits)
    })?;
    Ok(Reply::ok())
}

/// `MKDIR path\0` -> `OK`.
pub(super) fn mkdir(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let path = canonicalize(
        one_arg(request.payload)?,
        request.domid,
        false,
        &store.limits,
    )?;
    let limits = store.limits;
    store.change(request.domid, request.header.tx_id, |view| {
        update::mkdir(view, request.domid, &path.full, &limits)
    })?;
    Ok(Reply::ok())
}

/// `RM path\0` -> `OK`.
pub(super) fn rm(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let path = canonicalize(
        one_arg(request.payload)?,
        request.domid,
        false,
        &store.limits,
    )?;
    store.change(request.domid, request.header.tx_id, |view| {
        update::remove(view, request.domid, &path.full)
    })?;
    Ok(Reply::ok())
}
