//! Permission requests: `GET_PERMS`, `SET_PERMS` (also on the special nodes).

use super::{Reply, Request};
use crate::message::{count_strings, one_arg, strings};
use crate::path::canonicalize;
use crate::update::{self, Need};
use crate::{NodePerms, Store, XsError};

/// `GET_PERMS path\0` -> `perm\0perm\0...` (owner entry first).
pub(super) fn get_perms(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let path = canonicalize(
        one_arg(request.payload)?,
        request.domid,
        true,
        &store.limits,
    )?;
    if path.full.starts_with('@') {
        let perms = store.special.get(&path.full).ok_or(XsError::Enoent)?;
        if !perms.access(request.domid).read {
            return Err(XsError::Eacces);
        }
        return Ok(Reply::new(perms.to_wire()));
    }
    let mut view = store.view(request.domid, request.header.tx_id)?;
    let node =
        update::lookup(&mut view, request.domid, &path.full, Need::Read)?.ok_or(XsError::Enoent)?;
    Ok(Reply::new(node.perms.to_wire()))
}

/// `SET_PERMS path\0perm\0perm\0...` -> `OK`. At least one entry (`EINVAL`); for guests at
/// most `max_permissions` (`ENOSPC`), only on nodes they own, without changing the owner
/// (`EPERM`). Special nodes are owned by domain 0, so only the toolstack changes them; such
/// changes apply immediately even inside a transaction.
pub(super) fn set_perms(store: &mut Store, request: &Request<'_>) -> Result<Reply, XsError> {
    let count = count_strings(request.payload);
    if count < 2 {
        return Err(XsError::Einval);
    }
    let privileged = request.domid.is_privileged();
    if !privileged && count - 1 > store.limits.max_permissions {
        return Err(XsError::Enospc);
    }
    let mut args = strings(request.payload);
    let path_arg = args.next().ok_or(XsError::Einval)?;
    let perms = NodePerms::parse_wire(args)?;
    let path = canonicalize(path_arg, request.domid, true, &store.limits)?;
    if path.full.starts_with('@') {
        let current = store.special.get_mut(&path.full).ok_or(XsError::Enoent)?;
        let access = current.access(request.domid);
        if !(access.write && access.owner) {
            return Err(XsError::Eacces);
        }
        if !privileged && perms.owner() != current.owner() {
            return Err(XsError::Eperm);
        }
        *current = perms;
        return Ok(Reply::ok());
    }
    let limits = store.limits;
    store.change(request.domid, request.header.tx_id, |view| {
        update::set_perms(view, request.domid, &path.full, perms, &limits)
    })?;
    Ok(Reply::ok())
}
