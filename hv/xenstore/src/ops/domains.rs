//! Domain queries a guest may make: `GET_DOMAIN_PATH`, `IS_DOMAIN_INTRODUCED`, `GET_FEATURE`.

use alloc::format;

use super::{Reply, Request};
use crate::message::{count_strings, one_arg};
use crate::path::domain_path;
use crate::ring::SERVER_FEATURES;
use crate::{DomId, Store, XsError};

fn domid_arg(request: &Request<'_>) -> Result<DomId, XsError> {
    DomId::parse(one_arg(request.payload)?).ok_or(XsError::Einval)
}

/// `GET_DOMAIN_PATH domid\0` -> `/local/domain/<domid>\0` (any id `0..=65535`).
pub(super) fn get_domain_path(request: &Request<'_>) -> Result<Reply, XsError> {
    let mut reply = domain_path(domid_arg(request)?).into_bytes();
    reply.push(0);
    Ok(Reply::new(reply))
}

/// `IS_DOMAIN_INTRODUCED domid\0` -> `T\0` or `F\0`. Domain 0 (the hypervisor) and
/// `DOMID_SELF` are always introduced.
///
/// Current xenstored restricts this to privileged callers; we answer guests too (older
/// xenstored did), as the answer reveals nothing a guest cannot learn from `@releaseDomain`.
pub(super) fn is_domain_introduced(
    store: &mut Store,
    request: &Request<'_>,
) -> Result<Reply, XsError> {
    let domid = domid_arg(request)?;
    let known = domid == DomId::SELF || domid.is_privileged() || store.is_introduced(domid);
    Ok(Reply::new(if known {
        b"T\0".to_vec()
    } else {
        b"F\0".to_vec()
    }))
}

/// `GET_FEATURE` with no argument -> the server feature bits in decimal. Asking about
/// another domain (an argument) is toolstack-only: `EACCES` for guests.
pub(super) fn get_feature(request: &Request<'_>) -> Result<Reply, XsError> {
    if count_strings(request.payload) > 0 && !request.domid.is_privileged() {
        return Err(XsError::Eacces);
    }
    let mut reply = format!("{SERVER_FEATURES}").into_bytes();
    reply.push(0);
    Ok(Reply::new(reply))
}
