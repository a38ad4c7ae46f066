//! Debian's Linux kernel and busybox for the Linux tests and `bench-linux`, and the test
//! initramfs.
//!
//! Packages are fetched and cached by `crate::debian` (`apt-get download` + `dpkg -x` into
//! `target/debian/<package>/<version>/`; a new version gets a new directory). The kernel package is the one `linux-image-amd64` depends on in the apt candidate (on
//! bookworm: `linux-image-6.1.0-N-amd64` from bookworm-security, not backports).
//!
//! The initramfs (cpio newc, gzip): busybox and its applet links, `tests/linux/init` as
//! `/init`, the test programs [`PROGRAMS`] (`tests/linux/NAME.c`) built with `gcc -static`,
//! and the 32-bit `tests/linux/hello32.S`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::artifacts::{target_dir, workspace_root};
use crate::cpio::Cpio;
use crate::debian;

/// The meta-package whose dependency names the current kernel package.
pub const KERNEL_META_PACKAGE: &str = "linux-image-amd64";
/// The package with a static busybox.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

fn output(cmd: &mut Command) -> Result<String> {
    let what = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `Depends:` of `linux-image-amd64` that names a kernel image package, from
/// `apt-cache depends` output.
pub fn kernel_package_from_depends(depends: &str) -> Option<String> {
    depends.lines().find_map(|l| {
        let name = l.trim().strip_prefix("Depends:")?.trim();
        let name = name.trim_start_matches('<').trim_end_matches('>');
        (name.starts_with("linux-image-") && name != KERNEL_META_PACKAGE).then(|| name.to_string())
    })
}

/// The kernel image package of the apt candidate, e.g. `linux-image-6.1.0-57-amd64`.
pub fn kernel_package() -> Result<String> {
    let depends = output(Command::new("apt-cache").args(["depends", KERNEL_META_PACKAGE]))?;
    kernel_package_from_depends(&depends)
        .with_context(|| format!("apt-cache names no kernel package for {KERNEL_META_PACKAGE}"))
}

fn cache_root() -> PathBuf {
    target_dir().join("linux")
}

/// Debian's current kernel bzImage (`/boot/vmlinuz-*` of the kernel package).
pub fn debian_kernel() -> Result<PathBuf> {
    let package = kernel_package()?;
    let root = debian::unpacked(&package)?;
    let boot = root.join("boot");
    std::fs::read_dir(&boot)
        .with_context(|| format!("{} has no /boot", package))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{package} ships no vmlinuz"))
}

/// Debian's static busybox.
pub fn busybox() -> Result<PathBuf> {
    let root = debian::unpacked(BUSYBOX_PACKAGE)?;
    let path = root.join("bin/busybox");
    if !path.exists() {
        bail!("{BUSYBOX_PACKAGE} ships no bin/busybox");
    }
    Ok(path)
}

/// Busybox applets the init script and the checks use.
const APPLETS: [&str; 14] = [
    "sh", "mount", "grep", "awk", "cat", "echo", "poweroff", "reboot", "true", "sleep", "ls",
    "dmesg", "uname", "free",
];

/// The static test programs in `/bin`: `hvcheck` (the user-space checks) and `hugecheck`
/// (hugepages: the hugetlbfs checks and the `bench-hugepages` guest side).
pub const PROGRAMS: [&str; 2] = ["hvcheck", "hugecheck"];

/// Builds `tests/linux/NAME.c` statically into `dir`.
fn build_program(dir: &Path, name: &str) -> Result<PathBuf> {
    let src = workspace_root().join(format!("tests/linux/{name}.c"));
    let out = dir.join(name);
    output(
        Command::new("gcc")
            .args(["-static", "-O2", "-pthread", "-Wall", "-o"])
            .arg(&out)
            .arg(&src),
    )
    .with_context(|| {
        format!("building the static test program {name} (is gcc with static glibc installed?)")
    })?;
    Ok(out)
}

/// Builds `tests/linux/hello32.S` into a 32-bit static program in `dir` (no C library:
/// `gcc -m32 -nostdlib` needs only the assembler and linker, not gcc-multilib).
fn build_hello32(dir: &Path) -> Result<PathBuf> {
    let src = workspace_root().join("tests/linux/hello32.S");
    let out = dir.join("hello32");
    output(
        Command::new("gcc")
            .args(["-m32", "-nostdlib", "-static", "-o"])
            .arg(&out)
            .arg(&src),
    )
    .context("building the 32-bit test program")?;
    Ok(out)
}

/// Writes the test initramfs (gzip-compressed cpio) to `out`, with `busybox`.
pub fn build_initramfs(busybox: &Path, out: &Path) -> Result<()> {
    let work = target_dir().join("linux/initramfs-build");
    std::fs::create_dir_all(&work)?;
    let hello32 = build_hello32(&work)?;
    let init = workspace_root().join("tests/linux/init");
    let mut c = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "tmp"] {
        c.dir(d, 0o755);
    }
    c.char_device("dev/console", 0o600, 5, 1);
    c.char_device("dev/null", 0o666, 1, 3);
    c.file(
        "init",
        0o755,
        &std::fs::read(&init).context("reading tests/linux/init")?,
    );
    c.file("bin/busybox", 0o755, &std::fs::read(busybox)?);
    for name in PROGRAMS {
        let program = build_program(&work, name)?;
        c.file(&format!("bin/{name}"), 0o755, &std::fs::read(&program)?);
    }
    c.file("bin/hello32", 0o755, &std::fs::read(&hello32)?);
    for applet in APPLETS {
        c.symlink(&format!("bin/{applet}"), "busybox");
    }
    let archive = c.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &archive)?;
    std::fs::write(out, gz.finish()?).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Kernel command-line words for Debian's kernel in a domain built with superpages:
/// transparent huge pages off (and `/init` told so). With THP on, a fork pins the child's
/// page tables and Linux's PV walker, taking each huge PMD for a PTE page, sets PG_pinned
/// (= PG_owner_priv_1, which for an anonymous page means PG_swapcache) on the THP head; the
/// copy-on-write fault after it oopses in `delete_from_swap_cache`. That happens inside the
/// guest, so no hypervisor can prevent it. Cost: anonymous memory gets no 2 MiB pages;
/// hugetlbfs and `MAP_HUGETLB` keep them.
pub const SUPERPAGE_LINUX_WORDS: &str = "transparent_hugepage=never hvthp=off";

/// A boot of `kernel` with `initramfs` in a domain of `mib` MiB built with superpages
/// (hypervisor log at info), the guest command line `cmdline` and
/// [`SUPERPAGE_LINUX_WORDS`], at most `timeout`.
pub fn superpage_config(
    hv: &Path,
    kernel: &Path,
    initramfs: &Path,
    mib: u32,
    cmdline: &str,
    timeout: std::time::Duration,
) -> crate::qemu::RunConfig {
    let mut cfg = crate::qemu::RunConfig::new(hv.to_path_buf(), kernel.to_path_buf());
    cfg.ramdisk = Some(initramfs.to_path_buf());
    cfg.hv_args = vec![
        "log=info".into(),
        format!("mem={mib}M"),
        "superpages".into(),
    ];
    cfg.guest_cmdline = Some(format!("{cmdline} {SUPERPAGE_LINUX_WORDS}"));
    cfg.machine_mib = mib + 256;
    cfg.timeout = timeout;
    cfg
}

/// The test initramfs at its usual place (`target/linux/initramfs.cpio.gz`), rebuilt each call.
pub fn test_initramfs() -> Result<PathBuf> {
    let out = cache_root().join("initramfs.cpio.gz");
    build_initramfs(&busybox()?, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_package_is_the_image_dependency() {
        let depends = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            kernel_package_from_depends(depends).as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        assert_eq!(kernel_package_from_depends("linux-image-amd64\n"), None);
    }
}
