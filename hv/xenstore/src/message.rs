//! Messages: the type numbers as an enum, payload argument parsing, and encoding.
//!
//! Parsing follows xenstored's helpers: a payload is a sequence of NUL-terminated strings;
//! bytes after the last NUL are ignored unless a request defines them (the value of
//! `XS_WRITE`). Nothing here can panic on any input.

use alloc::vec::Vec;
use pv_abi::io::xs_wire::{self, XsdSockmsg};
use pv_abi::zerocopy::IntoBytes;

use crate::XsError;

/// Size of the wire header.
pub const HEADER_SIZE: usize = core::mem::size_of::<XsdSockmsg>();
/// Largest whole message (header plus maximal payload).
pub const MAX_MESSAGE_SIZE: usize = HEADER_SIZE + xs_wire::XENSTORE_PAYLOAD_MAX;

/// The message types of `enum xsd_sockmsg_type`, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the `XS_*` constant of the same name
pub enum MessageType {
    Control,
    Directory,
    Read,
    GetPerms,
    Watch,
    Unwatch,
    TransactionStart,
    TransactionEnd,
    Introduce,
    Release,
    GetDomainPath,
    Write,
    Mkdir,
    Rm,
    SetPerms,
    WatchEvent,
    Error,
    IsDomainIntroduced,
    Resume,
    SetTarget,
    ResetWatches,
    DirectoryPart,
    GetFeature,
    SetFeature,
    GetQuota,
    SetQuota,
}

impl MessageType {
    /// Decodes a wire type; `None` for unassigned numbers (including the removed type 20).
    pub const fn from_wire(value: u32) -> Option<MessageType> {
        use MessageType::*;
        Some(match value {
            xs_wire::XS_CONTROL => Control,
            xs_wire::XS_DIRECTORY => Directory,
            xs_wire::XS_READ => Read,
            xs_wire::XS_GET_PERMS => GetPerms,
            xs_wire::XS_WATCH => Watch,
            xs_wire::XS_UNWATCH => Unwatch,
            xs_wire::XS_TRANSACTION_START => TransactionStart,
            xs_wire::XS_TRANSACTION_END => TransactionEnd,
            xs_wire::XS_INTRODUCE => Introduce,
            xs_wire::XS_RELEASE => Release,
            xs_wire::XS_GET_DOMAIN_PATH => GetDomainPath,
            xs_wire::XS_WRITE => Write,
            xs_wire::XS_MKDIR => Mkdir,
            xs_wire::XS_RM => Rm,
            xs_wire::XS_SET_PERMS => SetPerms,
            xs_wire::XS_WATCH_EVENT => WatchEvent,
            xs_wire::XS_ERROR => Error,
            xs_wire::XS_IS_DOMAIN_INTRODUCED => IsDomainIntroduced,
            xs_wire::XS_RESUME => Resume,
            xs_wire::XS_SET_TARGET => SetTarget,
            xs_wire::XS_RESET_WATCHES => ResetWatches,
            xs_wire::XS_DIRECTORY_PART => DirectoryPart,
            xs_wire::XS_GET_FEATURE => GetFeature,
            xs_wire::XS_SET_FEATURE => SetFeature,
            xs_wire::XS_GET_QUOTA => GetQuota,
            xs_wire::XS_SET_QUOTA => SetQuota,
            _ => return None,
        })
    }
}

/// One whole message: header plus payload (`header.len == payload.len()` once assembled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The wire header.
    pub header: XsdSockmsg,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl Message {
    /// Builds a message of `type_` echoing `req_id`/`tx_id`, with `len` set from the payload.
    /// The caller guarantees `payload.len() <= XENSTORE_PAYLOAD_MAX`.
    pub fn new(type_: u32, req_id: u32, tx_id: u32, payload: Vec<u8>) -> Message {
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        Message {
            header: XsdSockmsg {
                type_,
                req_id,
                tx_id,
                len,
            },
            payload,
        }
    }

    /// The wire bytes: header then payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_SIZE + self.payload.len());
        bytes.extend_from_slice(self.header.as_bytes());
        bytes.extend_from_slice(&self.payload);
        bytes
    }
}

/// The single argument of a one-string request (xenstored `onearg`): the payload must be
/// non-empty and contain exactly one NUL, at its end. Returns the string without the NUL.
pub fn one_arg(payload: &[u8]) -> Result<&[u8], XsError> {
    match payload.iter().position(|&b| b == 0) {
        Some(nul) if nul + 1 == payload.len() => Ok(&payload[..nul]),
        _ => Err(XsError::Einval),
    }
}

/// The NUL-terminated strings of a payload, in order, without their NULs. Bytes after the
/// last NUL are not yielded.
pub fn strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let terminated = match payload.iter().rposition(|&b| b == 0) {
        Some(last) => &payload[..last],
        None => &[][..],
    };
    let has_any = payload.contains(&0);
    terminated.split(|&b| b == 0).filter(move |_| has_any)
}

/// Number of NUL bytes in a payload (xenstored `xenstore_count_strings`).
pub fn count_strings(payload: &[u8]) -> usize {
    payload.iter().filter(|&&b| b == 0).count()
}

/// Parses an unsigned decimal number: one or more ASCII digits, no sign, no spaces, no
/// overflow of `u32`.
pub fn parse_decimal(text: &[u8]) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u32, |acc, &b| {
        let digit = u32::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Appends `text` and a NUL terminator.
pub fn push_string(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn one_arg_rules() {
        assert_eq!(one_arg(b"a/b\0"), Ok(&b"a/b"[..]));
        assert_eq!(one_arg(b"\0"), Ok(&b""[..]));
        assert_eq!(one_arg(b""), Err(XsError::Einval));
        assert_eq!(one_arg(b"a"), Err(XsError::Einval));
        assert_eq!(one_arg(b"a\0b\0"), Err(XsError::Einval));
        assert_eq!(one_arg(b"a\0b"), Err(XsError::Einval));
    }

    #[test]
    fn strings_ignore_unterminated_tail() {
        let all: Vec<&[u8]> = strings(b"a\0bc\0tail").collect();
        assert_eq!(all, vec![&b"a"[..], &b"bc"[..]]);
        assert_eq!(strings(b"no-nul").count(), 0);
        assert_eq!(strings(b"").count(), 0);
        let empties: Vec<&[u8]> = strings(b"\0\0").collect();
        assert_eq!(empties, vec![&b""[..], &b""[..]]);
        assert_eq!(count_strings(b"a\0\0x"), 2);
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_decimal(b"4294967296"), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b""), None);
    }

    #[test]
    fn types_round_trip() {
        for n in 0..=30u32 {
            let t = MessageType::from_wire(n);
            assert_eq!(t.is_some(), n != 20 && n < 27, "type {n}");
        }
        assert_eq!(MessageType::from_wire(0xffff), None);
    }

    #[test]
    fn encode() {
        let m = Message::new(xs_wire::XS_READ, 9, 3, b"v".to_vec());
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), 17);
        assert_eq!(&bytes[12..16], &1u32.to_le_bytes());
    }
}
