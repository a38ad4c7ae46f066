//! GRUB rescue ISOs that boot the hypervisor through multiboot2, with the guest kernel and an
//! optional ramdisk as `module2` modules. Images are cached under `target/hvtool/` by a hash of
//! their inputs, so repeated runs (benchmarks) reuse them.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::artifacts::scratch_dir;
use crate::qemu::BootModule;

/// Quotes a word for grub.cfg (single quotes, no expansion inside).
fn grub_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The grub.cfg that boots `/boot/hv` with `cmdline` and modules `(file name, arguments)`.
pub fn grub_cfg(cmdline: &str, modules: &[(String, String)]) -> String {
    let mut cfg = String::from(
        "set timeout=0\nset default=0\nserial --unit=0 --speed=115200\n\
         terminal_input serial\nterminal_output serial\nmenuentry \"hv\" {\n",
    );
    let words: Vec<String> = cmdline.split_whitespace().map(grub_quote).collect();
    let _ = writeln!(cfg, "  multiboot2 /boot/hv {}", words.join(" "));
    for (name, args) in modules {
        let mut line = format!("  module2 /boot/{name} {name}");
        for w in args.split_whitespace() {
            line.push(' ');
            line.push_str(&grub_quote(w));
        }
        let _ = writeln!(cfg, "{line}");
    }
    cfg.push_str("  boot\n}\n");
    cfg
}

fn input_hash(hv: &Path, cmdline: &str, modules: &[BootModule]) -> Result<u64> {
    let mut h = DefaultHasher::new();
    cmdline.hash(&mut h);
    for m in modules {
        m.args.hash(&mut h);
    }
    for p in std::iter::once(hv).chain(modules.iter().map(|m| m.path.as_path())) {
        let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        p.hash(&mut h);
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    Ok(h.finish())
}

/// Builds (or reuses) an ISO booting `hv` with `cmdline` and `modules`; returns its path.
pub fn make_iso(hv: &Path, cmdline: &str, modules: &[BootModule]) -> Result<PathBuf> {
    let key = input_hash(hv, cmdline, modules)?;
    let out = scratch_dir().join(format!("boot-{key:016x}.iso"));
    if out.exists() {
        return Ok(out);
    }
    let stage = scratch_dir().join(format!("iso-stage-{key:016x}-{}", std::process::id()));
    let boot = stage.join("boot");
    std::fs::create_dir_all(boot.join("grub"))?;
    std::fs::copy(hv, boot.join("hv")).with_context(|| format!("copying {}", hv.display()))?;
    let mut names = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let name = format!("mod{i}");
        std::fs::copy(&m.path, boot.join(&name))
            .with_context(|| format!("copying {}", m.path.display()))?;
        names.push((name, m.args.clone()));
    }
    std::fs::write(boot.join("grub/grub.cfg"), grub_cfg(cmdline, &names))?;
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let output = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&tmp)
        .arg(&stage)
        .output()
        .context("running grub-mkrescue (install grub-pc-bin, grub-common, xorriso, mtools)")?;
    let _ = std::fs::remove_dir_all(&stage);
    if !output.status.success() {
        bail!(
            "grub-mkrescue failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfg_quotes_words_and_lists_modules() {
        let mods = [
            ("mod0".to_string(), "domain name=a -- x".to_string()),
            ("mod1".to_string(), String::new()),
        ];
        let cfg = grub_cfg("log=debug -- it's ok", &mods);
        assert!(cfg.contains("multiboot2 /boot/hv 'log=debug' '--' 'it'\\''s' 'ok'"));
        assert!(cfg.contains(
            "module2 /boot/mod0 mod0 'domain' 'name=a' '--' 'x'\n  module2 /boot/mod1 mod1\n"
        ));
    }
}
