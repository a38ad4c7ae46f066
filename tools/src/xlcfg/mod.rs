//! Domain configurations in Xen's `xl.cfg` syntax, read on the host and handed to the
//! hypervisor in a compact, checked form.
//!
//! ```text
//!  web.cfg ──syntax::parse──▶ [Setting] ──domain::interpret──▶ DomainConfig ──boot_words──▶
//!  "name=web mem=64M max_mem=64M on_crash=restart superpages -- console=hvc0"
//!  (the kernel module's command line; the ramdisk follows as the next module)
//! ```
//!
//! Every error names the file, the line and the key; keys that have no effect here are
//! reported as warnings, never dropped silently.

pub mod domain;
pub mod syntax;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use domain::{Action, DomainConfig, Warning};

/// Why a configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read it: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not `xl.cfg` syntax.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser expected.
        message: String,
    },
    /// A key with an unusable value, or a required key missing.
    #[error("{}", key_message(file, *line, key, message))]
    Key {
        /// The file.
        file: PathBuf,
        /// 1-based line, 0 for a missing key.
        line: usize,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A file the configuration names does not exist.
    #[error("{file}: {key} = \"{}\": no such file", path.display())]
    MissingFile {
        /// The configuration file.
        file: PathBuf,
        /// `kernel` or `ramdisk`.
        key: &'static str,
        /// The missing path.
        path: PathBuf,
    },
    /// Two configurations use one name.
    #[error("{file}: name = \"{name}\" is already used by {}", first.display())]
    DuplicateName {
        /// The later file.
        file: PathBuf,
        /// The name.
        name: String,
        /// The file that used it first.
        first: PathBuf,
    },
    /// The domains do not fit in the machine.
    #[error("the domains ask for {asked} MiB of memory in all, but the machine has {available} MiB for guests (use --machine-memory)")]
    TooMuchMemory {
        /// Sum of the domains' `maxmem`.
        asked: u64,
        /// What the machine leaves for guests.
        available: u64,
    },
}

fn key_message(file: &Path, line: usize, key: &str, message: &str) -> String {
    if line == 0 {
        format!("{}: {key} {message}", file.display())
    } else {
        format!("{}:{line}: {key}: {message}", file.display())
    }
}

/// One configuration file, read and checked (its files are not looked at yet).
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The file it came from.
    pub file: PathBuf,
    /// The configuration.
    pub config: DomainConfig,
    /// Keys without effect here.
    pub warnings: Vec<Warning>,
}

/// Reads `text` as the contents of `file`.
pub fn from_text(file: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let settings = syntax::parse(text).map_err(|e| ConfigError::Syntax {
        file: file.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let (config, warnings) = domain::interpret(&settings, base).map_err(|e| ConfigError::Key {
        file: file.to_path_buf(),
        line: e.line,
        key: e.key,
        message: e.message,
    })?;
    Ok(Loaded {
        file: file.to_path_buf(),
        config,
        warnings,
    })
}

/// Reads and checks one configuration file.
pub fn load(file: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    from_text(file, &text)
}

/// Machine memory the hypervisor keeps for itself (heap, frame table, M2P), MiB.
pub const HYPERVISOR_RESERVE_MIB: u64 = 96;

/// Checks a set of configurations against each other and the machine: files exist, names
/// are unique, and the domains' maximum memory fits in `machine_mib`.
pub fn check_set(set: &[Loaded], machine_mib: u64) -> Result<(), ConfigError> {
    let mut names: Vec<(&str, &Path)> = Vec::new();
    let mut seen = HashSet::new();
    for l in set {
        let c = &l.config;
        for (key, p) in [("kernel", Some(&c.kernel)), ("ramdisk", c.ramdisk.as_ref())] {
            if let Some(p) = p {
                if !p.is_file() {
                    return Err(ConfigError::MissingFile {
                        file: l.file.clone(),
                        key,
                        path: p.clone(),
                    });
                }
            }
        }
        if !seen.insert(c.name.as_str()) {
            let first = names.iter().find(|(n, _)| *n == c.name).map(|(_, f)| *f);
            return Err(ConfigError::DuplicateName {
                file: l.file.clone(),
                name: c.name.clone(),
                first: first.unwrap_or(&l.file).to_path_buf(),
            });
        }
        names.push((&c.name, &l.file));
    }
    let asked: u64 = set.iter().map(|l| l.config.maxmem_mib).sum();
    let available = machine_mib.saturating_sub(HYPERVISOR_RESERVE_MIB);
    if asked > available {
        return Err(ConfigError::TooMuchMemory { asked, available });
    }
    Ok(())
}

impl DomainConfig {
    /// The compact form the hypervisor reads from the kernel module's command line.
    pub fn boot_words(&self) -> String {
        let mut w = format!(
            "name={} mem={}M max_mem={}M on_poweroff={} on_reboot={} on_crash={}",
            self.name,
            self.memory_mib,
            self.maxmem_mib,
            self.on_poweroff.word(),
            self.on_reboot.word(),
            self.on_crash.word()
        );
        if self.superpages {
            w.push_str(" superpages");
        }
        if !self.cmdline.is_empty() {
            w.push_str(" -- ");
            w.push_str(&self.cmdline);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xlcfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let f = Path::new("/etc/xen/web.cfg");
        let e = from_text(f, "name='w'\nkernel='k'\nmemory='x'\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/xen/web.cfg:3: memory: expected a number, found \"x\""
        );
        let e = from_text(f, "name='w'\n").unwrap_err();
        assert_eq!(e.to_string(), "/etc/xen/web.cfg: kernel is required");
        let e = from_text(f, "name='w'\nkernel 'k'\n").unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/xen/web.cfg:2: expected"),
            "{e}"
        );
        let e = load(Path::new("/nonexistent/x.cfg")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/x.cfg: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn a_set_is_refused_for_missing_files_duplicate_names_and_memory() {
        let d = scratch("set");
        write(&d, "k.elf", "kernel");
        let a = load(&write(&d, "a.cfg", "name='a'\nkernel='k.elf'\nmemory=64\n")).unwrap();
        let b = load(&write(
            &d,
            "b.cfg",
            "name='b'\nkernel='k.elf'\nmaxmem=512\n",
        ))
        .unwrap();
        check_set(&[a.clone(), b.clone()], 2048).unwrap();

        let e = check_set(&[a.clone(), b.clone()], 512).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::TooMuchMemory {
                    asked: 576,
                    available: 416
                }
            ),
            "{e}"
        );

        let a2 = load(&write(&d, "a2.cfg", "name='a'\nkernel='k.elf'\n")).unwrap();
        let e = check_set(&[a.clone(), a2], 2048).unwrap_err();
        assert!(e.to_string().contains("already used by"), "{e}");
        assert!(e.to_string().contains("a.cfg"), "{e}");

        let m = load(&write(
            &d,
            "m.cfg",
            "name='m'\nkernel='k.elf'\nramdisk='nope.img'\n",
        ))
        .unwrap();
        let e = check_set(&[m], 2048).unwrap_err();
        assert!(e.to_string().contains("m.cfg: ramdisk = "), "{e}");
        assert!(e.to_string().ends_with("nope.img\": no such file"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn boot_words_carry_everything_the_hypervisor_needs() {
        let l = from_text(
            Path::new("/c/x.cfg"),
            "name='x'\nkernel='k'\nmemory=32\nmaxmem=48\non_reboot='destroy'\n\
             on_crash='restart'\nsuperpages=1\nextra='console=hvc0 quiet'\n",
        )
        .unwrap();
        assert_eq!(
            l.config.boot_words(),
            "name=x mem=32M max_mem=48M on_poweroff=destroy on_reboot=destroy on_crash=restart \
             superpages -- console=hvc0 quiet"
        );
    }
}
