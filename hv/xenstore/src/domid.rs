//! Domain identifiers as xenstore sees them.
//!
//! Domain 0 is the hypervisor itself, acting as the (privileged) toolstack: it uses the
//! [`Store`](crate::Store) API directly and bypasses every permission check. Guests are
//! `1..=0x7FEF` (everything below Xen's `DOMID_FIRST_RESERVED`) and talk over a ring.

use core::fmt;

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

impl DomId {
    /// The hypervisor / toolstack: privileged, owns the initial tree.
    pub const HYPERVISOR: DomId = DomId(0);
    /// `DOMID_ANY`: in a permission entry, matches every domain.
    pub const ANY: DomId = DomId(0x7FF5);
    /// `DOMID_SELF`: in `XS_IS_DOMAIN_INTRODUCED`, the caller itself.
    pub const SELF: DomId = DomId(0x7FF0);
    /// Largest id a guest may have (`DOMID_FIRST_RESERVED - 1`).
    pub const MAX_GUEST: DomId = DomId(0x7FEF);

    /// Whether this caller bypasses permission checks and quotas.
    pub const fn is_privileged(self) -> bool {
        self.0 == Self::HYPERVISOR.0
    }

    /// Whether this id may be introduced as a guest connection.
    pub const fn is_guest(self) -> bool {
        self.0 >= 1 && self.0 <= Self::MAX_GUEST.0
    }

    /// Parses a domain id the way xenstored does for `<domid>` arguments: decimal digits only,
    /// value `0..=65535`.
    pub fn parse(text: &[u8]) -> Option<DomId> {
        let value = crate::message::parse_decimal(text)?;
        u16::try_from(value).ok().map(DomId)
    }
}

impl fmt::Display for DomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(DomId(0).is_privileged());
        assert!(!DomId(0).is_guest());
        assert!(DomId(1).is_guest() && DomId(0x7FEF).is_guest());
        assert!(!DomId(0x7FF0).is_guest());
    }

    #[test]
    fn parse_is_strict_decimal() {
        assert_eq!(DomId::parse(b"65535"), Some(DomId(65535)));
        assert_eq!(DomId::parse(b"65536"), None);
        assert_eq!(DomId::parse(b""), None);
        assert_eq!(DomId::parse(b"-1"), None);
        assert_eq!(DomId::parse(b"1x"), None);
    }
}
