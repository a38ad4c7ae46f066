//! Debian packages as build inputs: download one with `apt-get download` (no root needed),
//! unpack it with `dpkg -x`, and keep the result in a cache under the target directory, keyed
//! by the apt candidate's version, so a fresh clone fetches it once, later runs reuse it, and
//! a new version (a security update) is fetched again.
//!
//! ```text
//!   target/debian/<package>/<version>/<file>.deb   what apt-get downloaded
//!   target/debian/<package>/<version>/root/...     dpkg -x of it (the package's file tree)
//!   target/debian/<package>/<version>/.unpacked    written last: the tree is complete
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::artifacts::target_dir;

/// Where `package` is cached.
pub fn cache_dir(package: &str) -> PathBuf {
    target_dir().join("debian").join(package)
}

/// The candidate version from `apt-cache policy` output.
pub fn candidate_from_policy(policy: &str) -> Option<String> {
    policy.lines().find_map(|l| {
        let v = l.trim().strip_prefix("Candidate:")?.trim();
        (v != "(none)" && !v.is_empty()).then(|| v.to_string())
    })
}

/// The version of `package` apt would install (`apt-cache policy`).
pub fn candidate(package: &str) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["policy", package])
        .output()
        .context("starting apt-cache")?;
    candidate_from_policy(&String::from_utf8_lossy(&out.stdout)).with_context(|| {
        format!("apt has no candidate for {package} (run apt-get update, or is it in the sources?)")
    })
}

/// The unpacked file tree of `package`'s apt candidate (downloaded and unpacked on first use).
///
/// Fails with a message naming the command when `apt-get` or `dpkg` is missing or the
/// package is not in the configured archives.
pub fn unpacked(package: &str) -> Result<PathBuf> {
    if package.is_empty()
        || !package
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        bail!("{package:?} is not a Debian package name");
    }
    let version = candidate(package)?;
    let dir = cache_dir(package).join(version.replace(':', "%3a"));
    let root = dir.join("root");
    let stamp = dir.join(".unpacked");
    if stamp.exists() {
        return Ok(root);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let deb = match find_deb(&dir)? {
        Some(deb) => deb,
        None => {
            eprintln!("fetching Debian package {package} (apt-get download) ...");
            run(Command::new("apt-get")
                .args(["download", "-q", &format!("{package}={version}")])
                .current_dir(&dir))
            .with_context(|| format!("apt-get download {package} (is it in the apt sources?)"))?;
            find_deb(&dir)?.with_context(|| format!("apt-get download {package} left no .deb"))?
        }
    };
    let _ = std::fs::remove_dir_all(&root);
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))
        .with_context(|| format!("dpkg -x {}", deb.display()))?;
    std::fs::write(&stamp, deb.to_string_lossy().as_bytes())?;
    Ok(root)
}

/// The `.deb` in `dir`, if there is one.
fn find_deb(dir: &Path) -> Result<Option<PathBuf>> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Runs `cmd`, failing unless it exits 0.
fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// `gunzip -c src > dst` (via a temporary file, so `dst` is complete or absent).
pub fn gunzip(src: &Path, dst: &Path) -> Result<()> {
    let tmp = dst.with_extension(format!("tmp{}", std::process::id()));
    let out = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let status = Command::new("gzip")
        .arg("-dc")
        .arg(src)
        .stdout(out)
        .status()
        .context("starting gzip")?;
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!("gzip -dc {} failed ({status})", src.display());
    }
    std::fs::rename(&tmp, dst).with_context(|| format!("writing {}", dst.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_version_is_read_from_policy() {
        let policy = "busybox-static:\n  Installed: (none)\n  Candidate: 1:1.35.0-4+deb12u1+b1\n";
        assert_eq!(
            candidate_from_policy(policy).as_deref(),
            Some("1:1.35.0-4+deb12u1+b1")
        );
        assert_eq!(candidate_from_policy("x:\n  Candidate: (none)\n"), None);
    }
}
