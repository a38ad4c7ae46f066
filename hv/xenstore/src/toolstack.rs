//! The toolstack API: how the hypervisor itself (domain 0, privileged) reads and changes the
//! store and watches it. Paths are absolute (relative ones resolve under
//! `/local/domain/0`); no permission checks or quotas apply; nothing blocks.
//!
//! Changes made here fire guest watches like guest requests do; afterwards call
//! [`Store::take_domains_with_output`] and service those guests.

use alloc::string::String;
use alloc::vec::Vec;

use crate::path::{canonicalize, CanonicalPath};
use crate::update;
use crate::view::NodeView;
use crate::watch::{Change, Watch, WatchEvent};
use crate::{DomId, NodePerms, Store, XsError};

const TOOL: DomId = DomId::HYPERVISOR;

impl Store {
    fn tool_path(&self, path: &str, allow_special: bool) -> Result<CanonicalPath, XsError> {
        canonicalize(path.as_bytes(), TOOL, allow_special, &self.limits)
    }

    /// Applies `f` outside any transaction, announcing its changes at once.
    fn tool_change(
        &mut self,
        f: impl FnOnce(&mut NodeView<'_>) -> Result<Vec<Change>, XsError>,
    ) -> Result<(), XsError> {
        self.change(TOOL, 0, f)
    }

    /// The value at `path`. `ENOENT` if absent, `EINVAL` for a bad path.
    pub fn tool_read(&self, path: &str) -> Result<Vec<u8>, XsError> {
        let path = self.tool_path(path, false)?;
        self.tree
            .get(&path.full)
            .map(|n| n.value.clone())
            .ok_or(XsError::Enoent)
    }

    /// The child names of `path`, in creation order.
    pub fn tool_directory(&self, path: &str) -> Result<Vec<String>, XsError> {
        let path = self.tool_path(path, false)?;
        self.tree
            .get(&path.full)
            .map(|n| n.children.clone())
            .ok_or(XsError::Enoent)
    }

    /// The permissions of `path` (also `@introduceDomain` / `@releaseDomain`).
    pub fn tool_get_perms(&self, path: &str) -> Result<NodePerms, XsError> {
        let path = self.tool_path(path, true)?;
        let perms = match self.special.get(&path.full) {
            Some(perms) => Some(perms),
            None => self.tree.get(&path.full).map(|n| &n.perms),
        };
        perms.cloned().ok_or(XsError::Enoent)
    }

    /// Writes `value` at `path`, creating missing ancestors; new nodes inherit their
    /// parent's permissions. Fires watches.
    pub fn tool_write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        let path = self.tool_path(path, false)?;
        let limits = self.limits;
        self.tool_change(|view| update::write(view, TOOL, &path.full, value.to_vec(), &limits))
    }

    /// Creates `path` (and missing ancestors) if absent. Fires watches if it created any.
    pub fn tool_mkdir(&mut self, path: &str) -> Result<(), XsError> {
        let path = self.tool_path(path, false)?;
        let limits = self.limits;
        self.tool_change(|view| update::mkdir(view, TOOL, &path.full, &limits))
    }

    /// Removes `path` and its subtree (`EINVAL` for `/`; `ENOENT` if even the parent is
    /// missing). Fires watches.
    pub fn tool_rm(&mut self, path: &str) -> Result<(), XsError> {
        let path = self.tool_path(path, false)?;
        self.tool_change(|view| update::remove(view, TOOL, &path.full))
    }

    /// Replaces the permissions of `path` (also `@introduceDomain` / `@releaseDomain`, to let
    /// guests watch them). Fires watches for ordinary nodes.
    pub fn tool_set_perms(&mut self, path: &str, perms: NodePerms) -> Result<(), XsError> {
        let path = self.tool_path(path, true)?;
        if let Some(current) = self.special.get_mut(&path.full) {
            *current = perms;
            return Ok(());
        }
        if path.full.starts_with('@') {
            return Err(XsError::Enoent);
        }
        let limits = self.limits;
        self.tool_change(|view| update::set_perms(view, TOOL, &path.full, perms, &limits))
    }

    /// Watches `path` (or a special `@...` path) for the hypervisor; events are collected
    /// for [`Store::take_tool_events`]. Like a guest watch it fires once immediately.
    /// `EEXIST` if the same path and token are already watched.
    pub fn tool_watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let path = self.tool_path(path, true)?;
        let token = token.as_bytes().to_vec();
        if token.contains(&0) {
            return Err(XsError::Einval);
        }
        if self
            .tool
            .watches
            .iter()
            .any(|w| w.path == path.full && w.token == token)
        {
            return Err(XsError::Eexist);
        }
        let relative_prefix = if path.relative {
            crate::path::domain_path(TOOL).len() + 1
        } else {
            0
        };
        let watch = Watch {
            path: path.full,
            token,
            depth: None,
            relative_prefix,
        };
        let initial = watch.event(&watch.path);
        self.tool.watches.push(watch);
        self.tool.events.push_back(initial);
        Ok(())
    }

    /// Removes a watch registered with [`Store::tool_watch`] (`ENOENT` if none).
    pub fn tool_unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let path = self.tool_path(path, true)?;
        let index = self
            .tool
            .watches
            .iter()
            .position(|w| w.path == path.full && w.token == token.as_bytes())
            .ok_or(XsError::Enoent)?;
        self.tool.watches.remove(index);
        Ok(())
    }

    /// Drains the hypervisor's watch events, oldest first.
    pub fn take_tool_events(&mut self) -> Vec<WatchEvent> {
        self.tool.events.drain(..).collect()
    }

    /// How many toolstack events were dropped because `max_tool_events` were pending.
    pub fn tool_events_dropped(&self) -> u64 {
        self.tool.dropped
    }
}
