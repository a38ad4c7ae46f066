//! Debian packages as build inputs: download one with `apt-get download` (no root needed),
//! unpack it with `dpkg -x`, and keep the result in a cache under the target directory, so
//! a fresh clone fetches it once and later runs reuse it.
//!
//! ```text
//!   target/debian/<package>/<file>.deb        what apt-get downloaded
//!   target/debian/<package>/root/...          dpkg -x of it (the package's file tree)
//!   target/debian/<package>/.unpacked         written last: the tree is complete
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::artifacts::target_dir;

/// Where `package` is cached.
pub fn cache_dir(package: &str) -> PathBuf {
    target_dir().join("debian").join(package)
}

/// The unpacked file tree of `package` (downloaded and unpacked on first use).
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
    let dir = cache_dir(package);
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
                .args(["download", "-q", package])
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
