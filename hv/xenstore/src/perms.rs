//! Node permissions, xenstored's model.
//!
//! A node carries one or more entries `<letter><domid>`, letter `n` (none), `r` (read),
//! `w` (write) or `b` (both):
//!
//! ```text
//!   [ n0 , r5 , b7 ]
//!     |     `----`--- ACL: domain 5 may read, domain 7 may read and write
//!     `-------------- owner 0; its letter is the default for every domain not listed
//! ```
//!
//! The owner always has full access (read, write, and changing the permissions). A listed
//! domain gets its entry's rights (the first matching entry wins); everyone else gets the
//! owner entry's letter. `DOMID_ANY` in an entry matches every domain. The privileged caller
//! (domain 0) has full access to everything.

use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::message;
use crate::{DomId, XsError};

/// The rights one permission entry grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// `n`: no access.
    None,
    /// `r`: read only.
    Read,
    /// `w`: write only.
    Write,
    /// `b`: read and write.
    Both,
}

impl Perm {
    /// The wire letter.
    pub const fn letter(self) -> u8 {
        match self {
            Perm::None => b'n',
            Perm::Read => b'r',
            Perm::Write => b'w',
            Perm::Both => b'b',
        }
    }

    fn from_letter(letter: u8) -> Option<Perm> {
        Some(match letter {
            b'n' => Perm::None,
            b'r' => Perm::Read,
            b'w' => Perm::Write,
            b'b' => Perm::Both,
            _ => return None,
        })
    }

    fn access(self) -> Access {
        let read = matches!(self, Perm::Read | Perm::Both);
        let write = matches!(self, Perm::Write | Perm::Both);
        Access {
            read,
            write,
            owner: false,
        }
    }
}

/// What a caller may do with one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// May read the value, children and permissions.
    pub read: bool,
    /// May write the value, create children, remove the node.
    pub write: bool,
    /// May change the permissions (owner or privileged).
    pub owner: bool,
}

impl Access {
    /// Full access: the owner's and the privileged caller's.
    pub const FULL: Access = Access {
        read: true,
        write: true,
        owner: true,
    };
}

/// One permission entry: a domain and its rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermEntry {
    /// The domain the entry is about (`DOMID_ANY` matches all).
    pub domid: DomId,
    /// Its rights.
    pub perm: Perm,
}

impl PermEntry {
    /// Parses one wire entry such as `r5`: a letter then a decimal domid `0..=65535`.
    pub fn parse(text: &[u8]) -> Result<PermEntry, XsError> {
        let (&letter, digits) = text.split_first().ok_or(XsError::Einval)?;
        let perm = Perm::from_letter(letter).ok_or(XsError::Einval)?;
        let domid = DomId::parse(digits).ok_or(XsError::Einval)?;
        Ok(PermEntry { domid, perm })
    }

    fn matches(&self, caller: DomId) -> bool {
        self.domid == caller || self.domid == DomId::ANY
    }
}

/// The permission list of a node. Invariant: never empty (entry 0 is the owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePerms {
    entries: Vec<PermEntry>,
}

impl NodePerms {
    /// `[<others><owner>]`: owned by `owner`, `others` for every other domain.
    pub fn new(owner: DomId, others: Perm) -> NodePerms {
        NodePerms {
            entries: alloc::vec![PermEntry {
                domid: owner,
                perm: others
            }],
        }
    }

    /// Adds an ACL entry for `domid` (builder style).
    pub fn with(mut self, domid: DomId, perm: Perm) -> NodePerms {
        self.entries.push(PermEntry { domid, perm });
        self
    }

    /// Builds from entries; `None` if there are none.
    pub fn from_entries(entries: Vec<PermEntry>) -> Option<NodePerms> {
        (!entries.is_empty()).then_some(NodePerms { entries })
    }

    /// Parses the wire strings of `XS_SET_PERMS` (`EINVAL` if none or one is malformed).
    pub fn parse_wire<'a>(strings: impl Iterator<Item = &'a [u8]>) -> Result<NodePerms, XsError> {
        let entries = strings
            .map(PermEntry::parse)
            .collect::<Result<Vec<_>, _>>()?;
        NodePerms::from_entries(entries).ok_or(XsError::Einval)
    }

    /// The wire form of `XS_GET_PERMS`: each entry as `<letter><domid>\0`.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.entries {
            let mut text = alloc::string::String::new();
            // Writing into a String cannot fail.
            let _ = write!(text, "{}{}", entry.perm.letter() as char, entry.domid.0);
            message::push_string(&mut out, text.as_bytes());
        }
        out
    }

    /// The owning domain (entry 0).
    pub fn owner(&self) -> DomId {
        self.entries[0].domid
    }

    /// All entries, owner first.
    pub fn entries(&self) -> &[PermEntry] {
        &self.entries
    }

    /// What `caller` may do (see the module doc).
    pub fn access(&self, caller: DomId) -> Access {
        if caller.is_privileged() || self.entries[0].matches(caller) {
            return Access::FULL;
        }
        match self.entries[1..].iter().find(|e| e.matches(caller)) {
            Some(entry) => entry.perm.access(),
            None => self.entries[0].perm.access(),
        }
    }

    /// Replaces the owner, keeping its default letter and the ACL (how unprivileged callers
    /// come to own the nodes they create).
    pub(crate) fn set_owner(&mut self, owner: DomId) {
        self.entries[0].domid = owner;
    }

    /// Drops ACL entries (not the owner entry) naming `domid`. Returns whether any existed.
    pub(crate) fn remove_acl_for(&mut self, domid: DomId) -> bool {
        let before = self.entries.len();
        let owner = self.entries[0];
        self.entries.retain(|e| e.domid != domid);
        if self.entries.first() != Some(&owner) {
            self.entries.insert(0, owner);
        }
        self.entries.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_acl_and_default() {
        let p = NodePerms::new(DomId(0), Perm::None).with(DomId(5), Perm::Read);
        assert_eq!(
            p.access(DomId(5)),
            Access {
                read: true,
                write: false,
                owner: false
            }
        );
        assert_eq!(
            p.access(DomId(6)),
            Access {
                read: false,
                write: false,
                owner: false
            }
        );
        assert_eq!(p.access(DomId(0)), Access::FULL);
        let q = NodePerms::new(DomId(7), Perm::Read).with(DomId(5), Perm::Write);
        assert_eq!(q.access(DomId(7)), Access::FULL);
        assert!(q.access(DomId(9)).read);
        assert!(!q.access(DomId(5)).read && q.access(DomId(5)).write);
        let any = NodePerms::new(DomId(0), Perm::None).with(DomId::ANY, Perm::Read);
        assert!(any.access(DomId(42)).read);
    }

    #[test]
    fn wire_round_trip() {
        let p = NodePerms::parse_wire([&b"n0"[..], b"r5", b"b65535"].into_iter()).unwrap();
        assert_eq!(p.to_wire(), b"n0\0r5\0b65535\0");
        assert_eq!(p.owner(), DomId(0));
        for bad in [&b""[..], b"x1", b"r", b"r-1", b"r65536", b"r 1"] {
            assert_eq!(PermEntry::parse(bad), Err(XsError::Einval), "{bad:?}");
        }
        assert_eq!(
            NodePerms::parse_wire(core::iter::empty()),
            Err(XsError::Einval)
        );
    }

    #[test]
    fn remove_acl_keeps_owner() {
        let mut p = NodePerms::new(DomId(5), Perm::None)
            .with(DomId(5), Perm::Read)
            .with(DomId(6), Perm::Both);
        assert!(p.remove_acl_for(DomId(5)));
        assert_eq!(p.entries().len(), 2);
        assert_eq!(p.owner(), DomId(5));
        assert!(!p.remove_acl_for(DomId(9)));
    }
}
