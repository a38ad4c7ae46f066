//! Node paths: validation, relative-to-absolute resolution, parent/child arithmetic.
//!
//! Rules (xenstored `canonicalize`, `docs/misc/xenstore.txt`):
//! * characters `A-Z a-z 0-9 - / _ @` only;
//! * a path starting with `/` is absolute; one starting with `@` is a special watch path
//!   (`@introduceDomain`, `@releaseDomain[/<domid>]`), accepted only where the operation allows;
//!   anything else is relative to the caller's home `/local/domain/<domid>`;
//! * no `//`, no trailing `/` (except the root `/` itself), not empty;
//! * at most `XENSTORE_ABS_PATH_MAX` bytes absolute, and for guests at most
//!   [`Limits::max_path_length`] bytes after a leading `/local/domain/<n>/`.

use alloc::format;
use alloc::string::String;
use pv_abi::io::xs_wire::XENSTORE_ABS_PATH_MAX;

use crate::{DomId, Limits, XsError};

/// A path that passed validation, stored in absolute (or special) form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalPath {
    /// Absolute path (`/...`) or special path (`@...`).
    pub full: String,
    /// Whether the caller wrote it relative to its home (events are then reported relative).
    pub relative: bool,
}

/// The parent of every domain's home.
pub const LOCAL_DOMAIN: &str = "/local/domain";

/// `/local/domain/<domid>`: a domain's home, the base of its relative paths.
pub fn domain_path(domid: DomId) -> String {
    format!("/local/domain/{}", domid.0)
}

fn valid_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'@')
}

/// Validates `input` for `caller` and resolves it to absolute form.
///
/// Errors: `EINVAL` for any rule above, or for a special path where `allow_special` is false.
pub fn canonicalize(
    input: &[u8],
    caller: DomId,
    allow_special: bool,
    limits: &Limits,
) -> Result<CanonicalPath, XsError> {
    if !input.iter().all(|&b| valid_char(b)) {
        return Err(XsError::Einval);
    }
    // All bytes are ASCII, so this cannot fail; map the impossible case to EINVAL anyway.
    let text = core::str::from_utf8(input).map_err(|_| XsError::Einval)?;
    let special = text.starts_with('@');
    if special && !allow_special {
        return Err(XsError::Einval);
    }
    let relative = !special && !text.starts_with('/');
    let full = if relative {
        format!("{}/{}", domain_path(caller), text)
    } else {
        String::from(text)
    };

    let trailing_slash = full.len() > 1 && full.ends_with('/');
    if full.is_empty()
        || trailing_slash
        || full.contains("//")
        || full.len() > XENSTORE_ABS_PATH_MAX
    {
        return Err(XsError::Einval);
    }
    if !caller.is_privileged() {
        let counted = full.len() - home_prefix_len(&full);
        if counted > limits.max_path_length {
            return Err(XsError::Einval);
        }
    }
    Ok(CanonicalPath { full, relative })
}

/// Length of a leading `/local/domain/<n>/` (1 to 5 digits) in `path`, or 0.
fn home_prefix_len(path: &str) -> usize {
    const PREFIX: &str = "/local/domain/";
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return 0;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=5).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'/') {
        PREFIX.len() + digits + 1
    } else {
        0
    }
}

/// The parent of an absolute path: `None` for `/`, `/` for a top-level node.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of an absolute path (empty for `/`).
pub fn basename(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// The absolute path of child `name` under `parent`.
pub fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `path` equals `ancestor` or lies below it, at most `depth` levels down
/// (`None` = any depth; `Some(0)` = only `ancestor` itself). xenstored `is_child`.
pub fn is_within(path: &str, ancestor: &str, depth: Option<u32>) -> bool {
    if path == ancestor {
        return true;
    }
    let rest = if ancestor == "/" {
        match path.strip_prefix('/') {
            Some(rest) => rest,
            None => return false,
        }
    } else {
        match path
            .strip_prefix(ancestor)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some(rest) => rest,
            None => return false,
        }
    };
    match depth {
        None => true,
        Some(max) => {
            let levels = rest.split('/').count();
            u32::try_from(levels).is_ok_and(|levels| levels <= max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: DomId = DomId(5);

    fn canon(p: &str) -> Result<CanonicalPath, XsError> {
        canonicalize(p.as_bytes(), GUEST, false, &Limits::default())
    }

    #[test]
    fn relative_paths_resolve_under_home() {
        let c = canon("device/vif").unwrap();
        assert_eq!(c.full, "/local/domain/5/device/vif");
        assert!(c.relative);
        assert!(!canon("/local").unwrap().relative);
        assert_eq!(canon("/").unwrap().full, "/");
    }

    #[test]
    fn invalid_shapes() {
        for bad in ["", "/a/", "a//b", "//", "/a b", "a.b", "/\u{e9}", "x/"] {
            assert_eq!(canon(bad), Err(XsError::Einval), "{bad:?}");
        }
        assert_eq!(canon("@releaseDomain"), Err(XsError::Einval));
        let special = canonicalize(b"@releaseDomain", GUEST, true, &Limits::default()).unwrap();
        assert_eq!(special.full, "@releaseDomain");
        assert!(!special.relative);
    }

    #[test]
    fn guest_length_counts_after_home_prefix() {
        let limits = Limits {
            max_path_length: 10,
            ..Limits::default()
        };
        let ok = "/local/domain/7/0123456789";
        assert!(canonicalize(ok.as_bytes(), GUEST, false, &limits).is_ok());
        let long = "/local/domain/7/0123456789a";
        assert_eq!(
            canonicalize(long.as_bytes(), GUEST, false, &limits),
            Err(XsError::Einval)
        );
        assert!(canonicalize(long.as_bytes(), DomId::HYPERVISOR, false, &limits).is_ok());
        let abs = alloc::format!("/{}", "a".repeat(XENSTORE_ABS_PATH_MAX));
        assert_eq!(
            canonicalize(abs.as_bytes(), DomId::HYPERVISOR, false, &limits).err(),
            Some(XsError::Einval)
        );
    }

    #[test]
    fn parent_basename_child() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(child("/", "a"), "/a");
        assert_eq!(child("/a", "b"), "/a/b");
    }

    #[test]
    fn within() {
        assert!(is_within("/a/b", "/a", None));
        assert!(is_within("/a", "/a", Some(0)));
        assert!(!is_within("/ab", "/a", None));
        assert!(!is_within("/a/b", "/a", Some(0)));
        assert!(is_within("/a/b", "/a", Some(1)));
        assert!(!is_within("/a/b/c", "/a", Some(1)));
        assert!(is_within("/x", "/", Some(1)));
        assert!(!is_within("/x/y", "/", Some(1)));
        assert!(!is_within("@releaseDomain", "/", None));
        assert!(is_within("@releaseDomain/3", "@releaseDomain", Some(1)));
    }
}
