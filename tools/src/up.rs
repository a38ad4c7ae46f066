//! `hvtool up A.cfg B.cfg …`: several domains from `xl.cfg` files in one boot.
//!
//! Each configuration becomes a kernel module whose command line carries the domain's
//! settings (`domain name=… mem=… -- guest cmdline`) and, if it has one, a `ramdisk` module
//! right after it; the hypervisor builds one domain per kernel module
//! (`hv_core::domain_config`). Everything is checked before QEMU starts.

use std::path::PathBuf;

use anyhow::Result;

use crate::qemu::BootModule;
use crate::xlcfg::{self, Loaded};

/// Machine memory for `hvtool up` unless `--machine-memory` says otherwise, MiB.
pub const DEFAULT_MACHINE_MIB: u64 = 2048;

/// Reads and checks `files` for a machine of `machine_mib`. Warnings (keys without effect
/// here) are returned with their file for the caller to show.
pub fn load_all(files: &[PathBuf], machine_mib: u64) -> Result<(Vec<Loaded>, Vec<String>)> {
    if files.is_empty() {
        anyhow::bail!("give at least one domain configuration file (xl.cfg syntax)");
    }
    let mut set = Vec::new();
    for f in files {
        set.push(xlcfg::load(f)?);
    }
    xlcfg::check_set(&set, machine_mib)?;
    let warnings = set
        .iter()
        .flat_map(|l| {
            l.warnings
                .iter()
                .map(move |w| format!("{}:{}: {}: {}", l.file.display(), w.line, w.key, w.message))
        })
        .collect();
    Ok((set, warnings))
}

/// The boot modules for `set`, in order.
pub fn modules(set: &[Loaded]) -> Vec<BootModule> {
    let mut out = Vec::new();
    for l in set {
        out.push(BootModule {
            path: l.config.kernel.clone(),
            args: format!("domain {}", l.config.boot_words()),
        });
        if let Some(r) = &l.config.ramdisk {
            out.push(BootModule {
                path: r.clone(),
                args: "ramdisk".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_mark_kernels_and_ramdisks_in_order() {
        let d = std::env::temp_dir().join(format!("hvtool-up-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("k"), "k").unwrap();
        std::fs::write(d.join("r"), "r").unwrap();
        std::fs::write(
            d.join("a.cfg"),
            "name='a'\nkernel='k'\nramdisk='r'\nextra='x'\n",
        )
        .unwrap();
        std::fs::write(
            d.join("b.cfg"),
            "name='b'\nkernel='k'\nmemory=16\nvif=['']\n",
        )
        .unwrap();
        let (set, warnings) =
            load_all(&[d.join("a.cfg"), d.join("b.cfg")], DEFAULT_MACHINE_MIB).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("b.cfg:4: vif:"), "{warnings:?}");
        let m = modules(&set);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].path, d.join("k"));
        assert!(
            m[0].args.starts_with("domain name=a mem=64M"),
            "{}",
            m[0].args
        );
        assert!(m[0].args.ends_with("-- x"));
        assert_eq!(
            (m[1].path.clone(), m[1].args.as_str()),
            (d.join("r"), "ramdisk")
        );
        assert!(m[2].args.starts_with("domain name=b mem=16M"));
        assert!(load_all(&[], DEFAULT_MACHINE_MIB).is_err());
        let e = load_all(&[d.join("a.cfg")], 100).unwrap_err();
        assert!(e.to_string().contains("--machine-memory"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
