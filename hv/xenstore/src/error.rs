//! The two error types of this crate.
//!
//! * [`XsError`]: a request failed. It becomes an `XS_ERROR` reply whose payload is the errno
//!   *name* (`"ENOENT\0"`), and is also what the toolstack API returns.
//! * [`ProtocolError`]: a guest broke the ring protocol. Its connection is marked broken
//!   (no more requests are served until it reconnects or is released) and the reason is written
//!   into the ring page's `error` field.

use pv_abi::io::xs_wire::{self, XsdError};

/// Why one xenstore request failed. Each variant is the errno xenstored would send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsError {
    /// `EINVAL`: malformed payload, bad path, bad argument.
    Einval,
    /// `EACCES`: the caller lacks the needed permission (or the type is privileged-only).
    Eacces,
    /// `EEXIST`: a watch with that path and token already exists.
    Eexist,
    /// `ENOENT`: no such node, watch, transaction or domain.
    Enoent,
    /// `ENOSPC`: a quota of [`Limits`](crate::Limits) would be exceeded.
    Enospc,
    /// `ENOSYS`: unknown or unsupported message type.
    Enosys,
    /// `EBUSY`: `XS_TRANSACTION_START` inside a transaction.
    Ebusy,
    /// `EAGAIN`: a transaction conflicted with another change; retry it.
    Eagain,
    /// `E2BIG`: the reply would exceed `XENSTORE_PAYLOAD_MAX`.
    E2big,
    /// `EPERM`: an unprivileged caller tried to change a node's owner.
    Eperm,
}

impl XsError {
    /// The wire table entry (errno number and name).
    pub const fn xsd_error(self) -> XsdError {
        match self {
            XsError::Einval => xs_wire::EINVAL,
            XsError::Eacces => xs_wire::EACCES,
            XsError::Eexist => xs_wire::EEXIST,
            XsError::Enoent => xs_wire::ENOENT,
            XsError::Enospc => xs_wire::ENOSPC,
            XsError::Enosys => xs_wire::ENOSYS,
            XsError::Ebusy => xs_wire::EBUSY,
            XsError::Eagain => xs_wire::EAGAIN,
            XsError::E2big => xs_wire::E2BIG,
            XsError::Eperm => xs_wire::EPERM,
        }
    }

    /// The name sent in an `XS_ERROR` reply, e.g. `"ENOENT"` (without the NUL).
    pub const fn wire_name(self) -> &'static str {
        self.xsd_error().name
    }

    /// The positive errno number.
    pub const fn errno(self) -> i32 {
        self.xsd_error().errnum
    }
}

/// How a guest broke the ring protocol. The connection stops being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// `prod - cons` of a ring exceeded `XENSTORE_RING_SIZE` (`XENSTORE_ERROR_RINGIDX`).
    RingIndex,
    /// A request header announced more than `XENSTORE_PAYLOAD_MAX` bytes
    /// (`XENSTORE_ERROR_PROTO`).
    PayloadTooLong,
    /// The guest did not drain its replies and watch events, and its queued output reached
    /// [`Limits::max_output_bytes`](crate::Limits::max_output_bytes) (`XENSTORE_ERROR_COMM`).
    OutputOverflow,
}

impl ProtocolError {
    /// Value written into the ring page's `error` field.
    pub const fn ring_error_code(self) -> u32 {
        match self {
            ProtocolError::RingIndex => xs_wire::XENSTORE_ERROR_RINGIDX,
            ProtocolError::PayloadTooLong => xs_wire::XENSTORE_ERROR_PROTO,
            ProtocolError::OutputOverflow => xs_wire::XENSTORE_ERROR_COMM,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(XsError::Enoent.wire_name(), "ENOENT");
        assert_eq!(XsError::E2big.wire_name(), "E2BIG");
        assert_eq!(XsError::Eagain.errno(), 11);
        assert_eq!(ProtocolError::RingIndex.ring_error_code(), 2);
    }
}
