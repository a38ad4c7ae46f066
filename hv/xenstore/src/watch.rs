//! Watches, changes and watch events.
//!
//! A [`Change`] is what a modification of the store reports: the changed path, whether the
//! change covers the path's subtree or only the node itself, and the permission sets that
//! decide who may hear about it. Each watch whose path is the changed path or one of its
//! ancestors (within the watch's depth, if any) turns it into a [`WatchEvent`]
//! (`XS_WATCH_EVENT` payload `path\0token\0`).
//!
//! Matching, as in xenstored (`fire_watches`):
//! * write, mkdir, set_perms: [`Scope::Subtree`] on the written path;
//! * rm: [`Scope::Subtree`] on the removed root (so watches on it and its ancestors fire),
//!   and [`Scope::Exact`] on every removed descendant (so watches on those fire);
//! * special events (`@introduceDomain`, `@releaseDomain`): see [`Watch::special_event_paths`].
//!
//! A non-privileged watcher hears of a change only if it may read the changed node (under its
//! new or old permissions) or the node's parent: [`Change::readers`] holds those sets.

use alloc::string::String;
use alloc::vec::Vec;

use crate::path;
use crate::{DomId, NodePerms};

/// Which watches a change reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Watches on the path or any ancestor (bounded by the watch depth).
    Subtree,
    /// Watches on exactly this path.
    Exact,
}

/// One modification to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The absolute path that changed.
    pub path: String,
    /// Which watches it reaches.
    pub scope: Scope,
    /// Permission sets, any of which granting read lets a watcher hear of the change.
    pub readers: Vec<NodePerms>,
}

impl Change {
    /// Whether `watcher` may be told about this change.
    pub fn visible_to(&self, watcher: DomId) -> bool {
        watcher.is_privileged() || self.readers.iter().any(|p| p.access(watcher).read)
    }
}

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Watched path, absolute or special (`@...`).
    pub path: String,
    /// Opaque token echoed in events (no NUL bytes).
    pub token: Vec<u8>,
    /// Levels below `path` that still match (`None` = unlimited).
    pub depth: Option<u32>,
    /// Bytes to strip from event paths: the length of `/local/domain/<id>/` if the watch was
    /// registered with a relative path, else 0.
    pub relative_prefix: usize,
}

/// A watch event ready to be sent: `path\0token\0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The event path (relative if the watch was registered relative).
    pub path: String,
    /// The watch's token.
    pub token: Vec<u8>,
}

impl WatchEvent {
    /// The `XS_WATCH_EVENT` payload.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.path.len() + self.token.len() + 2);
        crate::message::push_string(&mut out, self.path.as_bytes());
        crate::message::push_string(&mut out, &self.token);
        out
    }
}

impl Watch {
    /// Whether a change at `changed` with `scope` fires this watch.
    pub fn matches(&self, changed: &str, scope: Scope) -> bool {
        match scope {
            Scope::Subtree => path::is_within(changed, &self.path, self.depth),
            Scope::Exact => changed == self.path,
        }
    }

    /// The event this watch produces for a change at absolute path `changed`.
    pub fn event(&self, changed: &str) -> WatchEvent {
        let shown = changed.get(self.relative_prefix..).unwrap_or(changed);
        WatchEvent {
            path: String::from(shown),
            token: self.token.clone(),
        }
    }

    /// Event paths for a special event `base` (`@introduceDomain` / `@releaseDomain`) about
    /// domain `domid` (xenstored `fire_special_watches` with both flags):
    /// * a watch on exactly `base` without depth gets `base`;
    /// * a watch on `base/<domid>`, or on `base` with depth >= 1, gets `base/<domid>`.
    pub fn special_event_paths(&self, base: &str, domid: DomId) -> Vec<String> {
        let mut out = Vec::new();
        if self.path == base && self.depth.is_none() {
            out.push(String::from(base));
        }
        let with_domid = alloc::format!("{base}/{}", domid.0);
        let deep = self.depth.is_some_and(|d| d > 0)
            && path::is_within(&with_domid, &self.path, self.depth);
        if self.path == with_domid || deep {
            out.push(with_domid);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Perm;

    fn watch(path: &str, depth: Option<u32>) -> Watch {
        Watch {
            path: String::from(path),
            token: b"t".to_vec(),
            depth,
            relative_prefix: 0,
        }
    }

    #[test]
    fn subtree_and_exact() {
        let w = watch("/a", None);
        assert!(w.matches("/a/b/c", Scope::Subtree));
        assert!(!w.matches("/a/b/c", Scope::Exact));
        assert!(w.matches("/a", Scope::Exact));
        assert!(!watch("/a", Some(1)).matches("/a/b/c", Scope::Subtree));
    }

    #[test]
    fn relative_event_paths() {
        let w = Watch {
            relative_prefix: "/local/domain/5/".len(),
            ..watch("/local/domain/5/x", None)
        };
        assert_eq!(w.event("/local/domain/5/x/y").path, "x/y");
        assert_eq!(w.event("/local/domain/5/x/y").payload(), b"x/y\0t\0");
    }

    #[test]
    fn special_paths() {
        assert_eq!(
            watch("@releaseDomain", None).special_event_paths("@releaseDomain", DomId(3)),
            ["@releaseDomain"]
        );
        assert_eq!(
            watch("@releaseDomain", Some(1)).special_event_paths("@releaseDomain", DomId(3)),
            ["@releaseDomain/3"]
        );
        assert_eq!(
            watch("@releaseDomain/3", None).special_event_paths("@releaseDomain", DomId(3)),
            ["@releaseDomain/3"]
        );
        assert!(watch("@releaseDomain/4", None)
            .special_event_paths("@releaseDomain", DomId(3))
            .is_empty());
        assert!(watch("@releaseDomain", Some(0))
            .special_event_paths("@releaseDomain", DomId(3))
            .is_empty());
        assert!(watch("/", None)
            .special_event_paths("@releaseDomain", DomId(3))
            .is_empty());
    }

    #[test]
    fn visibility() {
        let change = Change {
            path: String::from("/x"),
            scope: Scope::Subtree,
            readers: alloc::vec![NodePerms::new(DomId(0), Perm::None).with(DomId(4), Perm::Read)],
        };
        assert!(change.visible_to(DomId(4)));
        assert!(!change.visible_to(DomId(5)));
        assert!(change.visible_to(DomId(0)));
    }
}
