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
/// itself when `objcopy` is unavailable or the file is not an ELF it understands.
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
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(elf)
        .arg(&tmp)
        .status()
        .is_ok_and(|s| s.success());
    if ok && std::fs::rename(&tmp, &out).is_ok() {
        out
    } else {
        let _ = std::fs::remove_file(&tmp);
        elf.to_path_buf()
    }
}
