//! The special nodes `@introduceDomain` and `@releaseDomain`.
//!
//! They hold no value or children, only permissions, which decide who receives the special
//! watch events (and may be read with `XS_GET_PERMS` / changed with `XS_SET_PERMS`).
//! Defaults as in xenstored's `setup_structure`: `@introduceDomain` is `[n0]` (toolstack
//! only); `@releaseDomain` is `[n0, r<DOMID_ANY>]` (every domain may watch it).

use crate::{DomId, NodePerms, Perm};

/// Path of the special node fired when a domain is introduced.
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
/// Path of the special node fired when a domain is released.
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// Permissions of the two special nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialNodes {
    introduce: NodePerms,
    release: NodePerms,
}

impl Default for SpecialNodes {
    fn default() -> Self {
        SpecialNodes {
            introduce: NodePerms::new(DomId::HYPERVISOR, Perm::None),
            release: NodePerms::new(DomId::HYPERVISOR, Perm::None).with(DomId::ANY, Perm::Read),
        }
    }
}

impl SpecialNodes {
    /// Permissions of the special node at `path` (exact name), if it is one.
    pub fn get(&self, path: &str) -> Option<&NodePerms> {
        match path {
            INTRODUCE_DOMAIN => Some(&self.introduce),
            RELEASE_DOMAIN => Some(&self.release),
            _ => None,
        }
    }

    /// Mutable permissions of the special node at `path`, if it is one.
    pub fn get_mut(&mut self, path: &str) -> Option<&mut NodePerms> {
        match path {
            INTRODUCE_DOMAIN => Some(&mut self.introduce),
            RELEASE_DOMAIN => Some(&mut self.release),
            _ => None,
        }
    }

    /// Drops ACL entries naming a released domain.
    pub fn forget_domain(&mut self, domid: DomId) {
        for perms in [&mut self.introduce, &mut self.release] {
            perms.remove_acl_for(domid);
            if perms.owner() == domid {
                perms.set_owner(DomId::HYPERVISOR);
            }
        }
    }
}
