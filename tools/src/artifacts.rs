//! Where things are, and building them: the hypervisor image and our PV guest kernels are
//! cross-compiled for `x86_64-unknown-none` by cargo; this module runs that build and names
//! the resulting files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The bare-metal target the hypervisor and guests are built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ lives inside the workspace")
        .to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Scratch space for generated images and logs.
pub fn scratch_dir() -> PathBuf {
    let d = target_dir().join("hvtool");
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Built bare-metal files.
#[derive(Clone, Debug)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// The hypervisor ELF.
    pub fn hv(&self) -> PathBuf {
        self.dir.join("hv")
    }

    /// One of our guest kernels (`guests/src/bin/NAME.rs`).
    pub fn guest(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Builds the hypervisor and all guests (release profile) and returns where they are.
pub fn build() -> Result<Artifacts> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--target",
            TARGET,
            "-p",
            "hv",
            "-p",
            "guests",
        ])
        .status()
        .context("running cargo build for the bare-metal target")?;
    if !status.success() {
        bail!("cargo build of hv and guests failed ({status})");
    }
    Ok(existing())
}

/// The artifacts of the last build, without building.
pub fn existing() -> Artifacts {
    Artifacts {
        dir: target_dir().join(TARGET).join("release"),
    }
}

/// A copy of `elf` without debug sections (cached in the scratch directory), which is what
/// gets booted: loaders copy every byte of the file, and under emulation (GRUB reading a CD
/// through BIOS calls) that is slow for a file that is mostly DWARF. Falls back to `elf`
/// itself when the file is not an ELF `objcopy` understands, and when `objcopy` is not
/// installed (with a loud warning saying to install binutils).
///
/// Only files this workspace built (under the target directory's bare-metal output) are stripped: other kernels
/// may carry data outside their loadable segments (PV GRUB keeps its modules there).
pub fn stripped(elf: &Path) -> PathBuf {
    // Only cargo's bare-metal output: caches under the target directory (Xen from Debian)
    // must be booted as they are.
    let built_here = match (elf.canonicalize(), target_dir().join(TARGET).canonicalize()) {
        (Ok(e), Ok(t)) => e.starts_with(t),
        _ => false,
    };
    let Ok(meta) = std::fs::metadata(elf) else {
        return elf.to_path_buf();
    };
    if !built_here {
        return elf.to_path_buf();
    }
    let stamp = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let name = elf
        .file_name()
        .map_or("image".into(), |n| n.to_string_lossy().into_owned());
    let out = scratch_dir().join(format!("{name}-{:x}-{stamp:x}.stripped", meta.len()));
    if out.exists() {
        return out;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    match strip_debug(&objcopy(), elf, &tmp) {
        Ok(()) if std::fs::rename(&tmp, &out).is_ok() => return out,
        Ok(()) => {}
        Err(e @ StripError::Missing(_)) => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| eprintln!("hvtool: WARNING: {e}"));
        }
        Err(StripError::Failed) => {}
    }
    let _ = std::fs::remove_file(&tmp);
    elf.to_path_buf()
}

/// The `objcopy` to use (`OBJCOPY` overrides).
fn objcopy() -> String {
    std::env::var("OBJCOPY").unwrap_or_else(|_| "objcopy".into())
}

/// Why an image could not be stripped.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// The tool is not installed.
    #[error(
        "{0} is not installed, so images boot with their debug sections (GRUB loads those \
         very slowly): install binutils (apt-get install binutils)"
    )]
    Missing(String),
    /// The tool ran and failed (not an ELF it understands).
    #[error("objcopy failed")]
    Failed,
}

/// `objcopy --strip-debug elf out` with `program`.
pub fn strip_debug(program: &str, elf: &Path, out: &Path) -> Result<(), StripError> {
    match Command::new(program)
        .arg("--strip-debug")
        .arg(elf)
        .arg(out)
        .status()
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(StripError::Missing(program.into()))
        }
        Ok(s) if s.success() => Ok(()),
        _ => Err(StripError::Failed),
    }
}

/// The names of our guests (`guests/src/bin/NAME.rs`), sorted.
pub fn guest_names() -> Vec<String> {
    let dir = workspace_root().join("guests/src/bin");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(String::from)
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_objcopy_is_reported_with_what_to_install() {
        let dir = scratch_dir();
        let e =
            strip_debug("hvtool-no-such-objcopy", &dir.join("in"), &dir.join("out")).unwrap_err();
        assert!(matches!(e, StripError::Missing(_)));
        assert!(e.to_string().contains("install binutils"), "{e}");
    }

    #[test]
    fn guest_names_are_the_guest_binaries() {
        let names = guest_names();
        for want in ["demo", "hello", "hcfuzz", "mmu_test", "unikernel"] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains('/') || n.ends_with(".rs")));
    }
}
