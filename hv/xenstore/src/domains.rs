//! Domain lifecycle as the toolstack sees it: introduce (start serving a guest) and release
//! (stop, and clean up after it).
//!
//! Introducing domain N creates its home like `xl` (libxl `libxl__domain_make`) does, all
//! owned by the hypervisor unless marked guest-owned:
//!
//! ```text
//!   /local/domain/N                    [n0, rN]   read-only for the guest
//!     domid = "N"                      [n0, rN]
//!     cpu, memory, device, control     [n0, rN]
//!     control/shutdown                 [nN]       guest-owned (read and write)
//!     control/feature-poweroff|-reboot|-suspend, control/sysrq           [nN]
//!     data, drivers, feature, attr, error                                 [nN]
//! ```
//!
//! Existing values are kept (the toolstack may prepare nodes before introducing).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::connection::Connection;
use crate::path::{self, domain_path};
use crate::special::{INTRODUCE_DOMAIN, RELEASE_DOMAIN};
use crate::view::NodeView;
use crate::{DomId, NodePerms, Perm, Store, XsError};

/// Nodes created under a guest's home at introduction: (relative path, guest-owned).
pub const HOME_LAYOUT: [(&str, bool); 16] = [
    ("", false),
    ("domid", false),
    ("cpu", false),
    ("memory", false),
    ("device", false),
    ("control", false),
    ("control/shutdown", true),
    ("control/feature-poweroff", true),
    ("control/feature-reboot", true),
    ("control/feature-suspend", true),
    ("control/sysrq", true),
    ("data", true),
    ("drivers", true),
    ("feature", true),
    ("attr", true),
    ("error", true),
];

impl Store {
    /// Starts serving guest `domid`: creates its connection and its home (see the module
    /// doc), then fires `@introduceDomain`.
    ///
    /// Errors: `EINVAL` if `domid` is not a guest id (`1..=0x7FEF`), `EEXIST` if already
    /// introduced.
    pub fn introduce_domain(&mut self, domid: DomId) -> Result<(), XsError> {
        if !domid.is_guest() {
            return Err(XsError::Einval);
        }
        if self.is_introduced(domid) {
            return Err(XsError::Eexist);
        }
        let home = domain_path(domid);
        let read_only = NodePerms::new(DomId::HYPERVISOR, Perm::None).with(domid, Perm::Read);
        let guest_owned = NodePerms::new(domid, Perm::None);
        for (relative, owned) in HOME_LAYOUT {
            let full = if relative.is_empty() {
                home.clone()
            } else {
                format!("{home}/{relative}")
            };
            let perms = if owned {
                guest_owned.clone()
            } else {
                read_only.clone()
            };
            self.tool_mkdir(&full)?;
            self.tool_set_perms(&full, perms)?;
        }
        if self.tool_read(&format!("{home}/domid"))?.is_empty() {
            self.tool_write(&format!("{home}/domid"), format!("{}", domid.0).as_bytes())?;
        }
        self.connections.insert(domid, Connection::new(domid));
        self.deliver_special(INTRODUCE_DOMAIN, domid);
        Ok(())
    }

    /// Stops serving `domid` and cleans up after it, then fires `@releaseDomain`:
    /// * its connection goes, with its watches, transactions and queued output;
    /// * `/local/domain/<domid>` and every other node the domain owns are removed (firing
    ///   watches of others);
    /// * permission entries naming the domain are dropped everywhere, so a later domain
    ///   reusing the id inherits nothing.
    ///
    /// Errors: `ENOENT` if not introduced.
    pub fn release_domain(&mut self, domid: DomId) -> Result<(), XsError> {
        self.connections.remove(&domid).ok_or(XsError::Enoent)?;
        self.watching.remove(&domid);
        self.domains_with_output.remove(&domid);
        let home = domain_path(domid);
        if self.tree.get(&home).is_some() {
            self.remove_for_release(domid, &home);
        }
        for path in self.topmost_owned_by(domid) {
            self.remove_for_release(domid, &path);
        }
        self.forget_acl_entries(domid);
        self.special.forget_domain(domid);
        self.deliver_special(RELEASE_DOMAIN, domid);
        Ok(())
    }

    fn remove_for_release(&mut self, domid: DomId, path: &str) {
        // Cannot fail: the path exists, is not `/`, and the toolstack bypasses checks.
        if let Err(error) = self.tool_rm(path) {
            log::error!("xenstore: releasing dom{domid}: removing {path} failed: {error:?}");
        }
    }

    /// Paths of nodes owned by `domid` that have no ancestor also owned by it.
    fn topmost_owned_by(&self, domid: DomId) -> Vec<String> {
        let mut tops: Vec<String> = Vec::new();
        for (p, node) in self.tree.iter() {
            if node.perms.owner() != domid {
                continue;
            }
            let covered = tops.iter().any(|t| path::is_within(p, t, None));
            if !covered {
                tops.push(p.clone());
            }
        }
        tops
    }

    /// Removes ACL entries naming `domid` from every node (no watch events: xenstored does
    /// this silently too). Each changed node gets a new generation, so open transactions
    /// that read it will fail to commit.
    fn forget_acl_entries(&mut self, domid: DomId) {
        let affected: Vec<String> = self
            .tree
            .iter()
            .filter(|(_, n)| n.perms.entries()[1..].iter().any(|e| e.domid == domid))
            .map(|(p, _)| p.clone())
            .collect();
        let mut view = NodeView::direct(&mut self.tree);
        for p in affected {
            if let Ok(Some(mut node)) = view.get_cloned(&p) {
                node.perms.remove_acl_for(domid);
                view.put(&p, node);
            }
        }
    }
}
