//! The xenstore wire protocol (`xen/include/public/io/xs_wire.h`, documented in
//! `docs/misc/xenstore.txt` and `docs/misc/xenstore-ring.txt`).
//!
//! Every message in either direction is an [`XsdSockmsg`] header followed by `len` payload
//! bytes (`len <= XENSTORE_PAYLOAD_MAX`). Payloads are NUL-terminated strings, except the value
//! part of `XS_WRITE` and the reply to `XS_READ`, which are raw bytes. A guest talks to the
//! server through one shared page laid out as [`XenstoreDomainInterface`]:
//!
//! ```text
//!  offset  size  field
//!       0  1024  req[]            guest -> server byte ring
//!    1024  1024  rsp[]            server -> guest byte ring (replies and watch events)
//!    2048     4  req_cons         written by the server
//!    2052     4  req_prod         written by the guest
//!    2056     4  rsp_cons         written by the guest
//!    2060     4  rsp_prod         written by the server
//!    2064     4  server_features  XENSTORE_SERVER_FEATURE_* bits, written by the server only
//!    2068     4  connection       XENSTORE_CONNECTED / XENSTORE_RECONNECT
//!    2072     4  error            XENSTORE_ERROR_*, written by the server
//!    2076     4  evtchn_port      filled in by Xen for dom0less guests (0 = unused)
//!    2080         (rest of the 4 KiB page unused)
//! ```
//!
//! The four indices are free-running `u32` byte counters: byte `i` of a stream lives at
//! `ring[i % XENSTORE_RING_SIZE]`, and `prod - cons` (wrapping) is the number of unread bytes,
//! which must never exceed `XENSTORE_RING_SIZE`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// ---- Message types (`enum xsd_sockmsg_type`) ----

/// Implementation-specific control command (privileged). Formerly `XS_DEBUG`.
pub const XS_CONTROL: u32 = 0;
/// Deprecated name of [`XS_CONTROL`].
pub const XS_DEBUG: u32 = XS_CONTROL;
/// List the children of a node: `path\0` -> `name\0name\0...`.
pub const XS_DIRECTORY: u32 = 1;
/// Read a node's value: `path\0` -> raw value bytes.
pub const XS_READ: u32 = 2;
/// Read a node's permissions: `path\0` -> `perm\0perm\0...` (e.g. `n0\0r5\0`).
pub const XS_GET_PERMS: u32 = 3;
/// Register a watch: `path\0token\0[depth\0]` -> `OK\0`, then one initial event.
pub const XS_WATCH: u32 = 4;
/// Remove a watch: `path\0token\0` -> `OK\0`.
pub const XS_UNWATCH: u32 = 5;
/// Start a transaction: `\0` -> decimal id `\0`.
pub const XS_TRANSACTION_START: u32 = 6;
/// End the transaction named by `tx_id`: `T\0` (commit) or `F\0` (abort) -> `OK\0`.
pub const XS_TRANSACTION_END: u32 = 7;
/// Toolstack: start serving a domain (privileged).
pub const XS_INTRODUCE: u32 = 8;
/// Toolstack: stop serving a domain (privileged).
pub const XS_RELEASE: u32 = 9;
/// `domid\0` -> `/local/domain/<domid>\0`.
pub const XS_GET_DOMAIN_PATH: u32 = 10;
/// Write a value, creating missing parents: `path\0value` (value not NUL-terminated).
pub const XS_WRITE: u32 = 11;
/// Create a node (and missing parents) if absent: `path\0`.
pub const XS_MKDIR: u32 = 12;
/// Remove a node and all its children: `path\0`.
pub const XS_RM: u32 = 13;
/// Replace a node's permissions: `path\0perm\0perm\0...`.
pub const XS_SET_PERMS: u32 = 14;
/// Server -> client only: a watch fired: `path\0token\0` (req_id = tx_id = 0).
pub const XS_WATCH_EVENT: u32 = 15;
/// Server -> client only: the request failed: `ENAME\0`.
pub const XS_ERROR: u32 = 16;
/// `domid\0` -> `T\0` or `F\0`.
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
/// Toolstack: re-arm `@releaseDomain` for a resumed domain (privileged).
pub const XS_RESUME: u32 = 18;
/// Toolstack: let one domain act for another (privileged).
pub const XS_SET_TARGET: u32 = 19;
/// Type 20 was `XS_RESTRICT`; it has been removed and is now invalid.
pub const XS_RESTRICT_REMOVED: u32 = 20;
/// Drop all watches and transactions of the caller: `\0` -> `OK\0`.
pub const XS_RESET_WATCHES: u32 = 21;
/// Paged `XS_DIRECTORY`: `path\0offset\0` -> `gencnt\0name\0...` (a final extra `\0` ends the list).
pub const XS_DIRECTORY_PART: u32 = 22;
/// `[domid\0]` -> decimal feature bits `\0`.
pub const XS_GET_FEATURE: u32 = 23;
/// Toolstack: set a domain's feature bits (privileged).
pub const XS_SET_FEATURE: u32 = 24;
/// Toolstack: read quotas (privileged).
pub const XS_GET_QUOTA: u32 = 25;
/// Toolstack: set quotas (privileged).
pub const XS_SET_QUOTA: u32 = 26;
/// Number of defined message types (one past the last).
pub const XS_TYPE_COUNT: u32 = 27;
/// Guaranteed never to be a valid type.
pub const XS_INVALID: u32 = 0xffff;

// ---- Errors (`xsd_errors[]`): sent by name, not by number ----

/// One entry of the error-name table: the errno number and the string sent on the wire
/// (the reply payload is the name followed by a NUL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XsdError {
    /// Positive errno value (Xen's `public/errno.h`, same as Linux on x86).
    pub errnum: i32,
    /// Name transmitted in an `XS_ERROR` reply, e.g. `"ENOENT"`.
    pub name: &'static str,
}

/// Builds one [`XsdError`] from an errno name and number (the `XSD_ERROR(x)` idiom).
macro_rules! xsd_error {
    ($name:ident = $num:expr) => {
        #[doc = concat!("`", stringify!($name), "` (errno ", stringify!($num), ").")]
        pub const $name: XsdError = XsdError {
            errnum: $num,
            name: stringify!($name),
        };
    };
}

xsd_error!(EINVAL = 22);
xsd_error!(EACCES = 13);
xsd_error!(EEXIST = 17);
xsd_error!(EISDIR = 21);
xsd_error!(ENOENT = 2);
xsd_error!(ENOMEM = 12);
xsd_error!(ENOSPC = 28);
xsd_error!(EIO = 5);
xsd_error!(ENOTEMPTY = 39);
xsd_error!(ENOSYS = 38);
xsd_error!(EROFS = 30);
xsd_error!(EBUSY = 16);
xsd_error!(EAGAIN = 11);
xsd_error!(EISCONN = 106);
xsd_error!(E2BIG = 7);
xsd_error!(EPERM = 1);

/// The error table in the header's order (new errors are only ever appended). An errno the
/// server cannot translate is sent as the first entry, `EINVAL`.
pub const XSD_ERRORS: [XsdError; 16] = [
    EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS, EBUSY,
    EAGAIN, EISCONN, E2BIG, EPERM,
];

/// Message header (`struct xsd_sockmsg`), followed on the wire by `len` payload bytes.
///
/// Contract: replies echo the request's `req_id` and `tx_id`; an error reply has
/// `type_ = XS_ERROR`. Watch events carry `req_id = tx_id = 0`. `tx_id = 0` means "not in a
/// transaction". `len` never exceeds [`XENSTORE_PAYLOAD_MAX`]; a client that sends more is
/// disconnected. All fields are native-endian (little-endian on x86).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XsdSockmsg {
    /// Message type, one of the `XS_*` constants.
    pub type_: u32,
    /// Request identifier chosen by the client, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0 if not in a transaction).
    pub tx_id: u32,
    /// Number of payload bytes that follow.
    pub len: u32,
}
crate::abi_layout!(XsdSockmsg, 16, type_ @ 0, req_id @ 4, tx_id @ 8, len @ 12);

/// Index of the path string in a watch event payload (`enum xs_watch_type`).
pub const XS_WATCH_PATH: usize = 0;
/// Index of the token string in a watch event payload.
pub const XS_WATCH_TOKEN: usize = 1;

/// Size of each of the two byte rings in the interface page.
pub const XENSTORE_RING_SIZE: usize = 1024;

/// Reduces a free-running ring index to an offset inside a ring (`MASK_XENSTORE_IDX`).
pub const fn mask_xenstore_idx(idx: u32) -> usize {
    (idx as usize) & (XENSTORE_RING_SIZE - 1)
}

/// The shared xenstore ring page (`struct xenstore_domain_interface`), see the module diagram.
///
/// Contract: the guest writes `req[]`, `req_prod` and `rsp_cons` (and `connection` = 1 to ask
/// for a reconnect); the server writes `rsp[]`, `rsp_prod`, `req_cons`, `server_features`,
/// `error` and sets `connection` back to 0. A party may only overwrite ring bytes the other has
/// consumed. Both sides signal the event channel after every update.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenstoreDomainInterface {
    /// Requests to the server.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and asynchronous watch events to the guest.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Next request byte the server will read.
    pub req_cons: u32,
    /// Next request byte the guest will write.
    pub req_prod: u32,
    /// Next response byte the guest will read.
    pub rsp_cons: u32,
    /// Next response byte the server will write.
    pub rsp_prod: u32,
    /// `XENSTORE_SERVER_FEATURE_*` bits offered by the server (never cleared once set).
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`: why the server stopped serving this ring (0 = no error).
    pub error: u32,
    /// Event channel for the server to signal (dom0less only; 0 = use the introduced port).
    pub evtchn_port: u32,
}
crate::abi_layout!(
    XenstoreDomainInterface, 2080,
    req @ 0, rsp @ 1024, req_cons @ 2048, req_prod @ 2052, rsp_cons @ 2056, rsp_prod @ 2060,
    server_features @ 2064, connection @ 2068, error @ 2072, evtchn_port @ 2076,
);

/// Largest payload (`len`) of any message, in both directions.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path accepted.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest path relative to a domain's home (`/local/domain/<id>/`) a client should use.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// Server feature: the guest may reset the ring via the `connection` field.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// Server feature: the `error` field is meaningful.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// Server feature: `XS_WATCH` accepts a third `depth` parameter.
pub const XENSTORE_SERVER_FEATURE_WATCHDEPTH: u32 = 4;
/// Server feature: permissions may name `DOMID_ANY`.
pub const XENSTORE_SERVER_FEATURE_DOMID_ANY: u32 = 8;

/// `connection`: steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection`: the guest asked for a reconnect; the server resets and writes 0.
pub const XENSTORE_RECONNECT: u32 = 1;

/// `error`: no error.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error`: inconsistent producer/consumer index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error`: protocol violation (payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// Byte offsets of the interface fields, for copying them one at a time through a
/// bounds-checked accessor (each index is a little-endian `u32`).
pub mod offsets {
    use super::XenstoreDomainInterface as I;
    use core::mem::offset_of;
    /// `req[]`.
    pub const REQ: usize = offset_of!(I, req);
    /// `rsp[]`.
    pub const RSP: usize = offset_of!(I, rsp);
    /// `req_cons`.
    pub const REQ_CONS: usize = offset_of!(I, req_cons);
    /// `req_prod`.
    pub const REQ_PROD: usize = offset_of!(I, req_prod);
    /// `rsp_cons`.
    pub const RSP_CONS: usize = offset_of!(I, rsp_cons);
    /// `rsp_prod`.
    pub const RSP_PROD: usize = offset_of!(I, rsp_prod);
    /// `server_features`.
    pub const SERVER_FEATURES: usize = offset_of!(I, server_features);
    /// `connection`.
    pub const CONNECTION: usize = offset_of!(I, connection);
    /// `error`.
    pub const ERROR: usize = offset_of!(I, error);
    /// `evtchn_port`.
    pub const EVTCHN_PORT: usize = offset_of!(I, evtchn_port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table_matches_header_order_and_errnos() {
        let names: [&str; 16] = XSD_ERRORS.map(|e| e.name);
        assert_eq!(
            names,
            [
                "EINVAL",
                "EACCES",
                "EEXIST",
                "EISDIR",
                "ENOENT",
                "ENOMEM",
                "ENOSPC",
                "EIO",
                "ENOTEMPTY",
                "ENOSYS",
                "EROFS",
                "EBUSY",
                "EAGAIN",
                "EISCONN",
                "E2BIG",
                "EPERM"
            ]
        );
        assert_eq!(ENOENT.errnum, 2);
        assert_eq!(EISCONN.errnum, 106);
    }

    #[test]
    fn header_round_trips_as_bytes() {
        let h = XsdSockmsg {
            type_: XS_READ,
            req_id: 7,
            tx_id: 0,
            len: 5,
        };
        let bytes = h.as_bytes();
        assert_eq!(&bytes[..4], &2u32.to_le_bytes());
        assert_eq!(XsdSockmsg::read_from_bytes(bytes).unwrap(), h);
    }

    #[test]
    fn ring_index_masks_and_offsets() {
        assert_eq!(mask_xenstore_idx(1024 + 3), 3);
        assert_eq!(mask_xenstore_idx(u32::MAX), 1023);
        assert_eq!(offsets::REQ_PROD, 2052);
        assert_eq!(offsets::EVTCHN_PORT, 2076);
    }
}
