//! What an `xl.cfg` means for this hypervisor: the keys a PV unikernel host needs, checked
//! and turned into a [`DomainConfig`].
//!
//! | key | meaning here |
//! |---|---|
//! | `name` | required; letters, digits, `_ . -` |
//! | `type` / `builder` | `"pv"` / `"generic"`; anything else is refused (PV guests only) |
//! | `kernel`, `ramdisk` | paths; relative ones are taken from the config file's directory |
//! | `cmdline`, or `root` + `extra` | the guest command line, as `xl` builds it |
//! | `memory`, `maxmem` | MiB (default 64; `maxmem` defaults to `memory`, never below it) |
//! | `vcpus`, `maxvcpus` | accepted; one vCPU per domain runs here, more is reported |
//! | `on_poweroff`, `on_reboot`, `on_crash` | `destroy`, `restart` or `preserve` |
//! | `superpages` | `0` / `1`: populate in order-9 extents, allow 2 MiB mappings |
//!
//! Any other key is reported as a [`Warning`] with its line — never dropped silently.

use std::path::{Path, PathBuf};

use super::syntax::{Setting, Value};

pub use hv_core::domain_config::Action;

/// A checked domain configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// The domain's name.
    pub name: String,
    /// The kernel image.
    pub kernel: PathBuf,
    /// An optional ramdisk.
    pub ramdisk: Option<PathBuf>,
    /// The guest command line.
    pub cmdline: String,
    /// Memory at start, MiB.
    pub memory_mib: u64,
    /// Maximum memory, MiB (≥ `memory_mib`).
    pub maxmem_mib: u64,
    /// vCPUs asked for (one runs).
    pub vcpus: u64,
    /// On `SHUTDOWN_poweroff`.
    pub on_poweroff: Action,
    /// On `SHUTDOWN_reboot`.
    pub on_reboot: Action,
    /// On a crash.
    pub on_crash: Action,
    /// Built in order-9 extents with 2 MiB mappings allowed.
    pub superpages: bool,
}

/// Memory when the file names none, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 64;

/// A key that was read but is not used here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Its line.
    pub line: usize,
    /// The key.
    pub key: String,
    /// Why it has no effect.
    pub message: String,
}

/// A setting that cannot be used: its line, key and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {key}: {message}")]
pub struct KeyError {
    /// Line of the setting (0 when a required key is missing).
    pub line: usize,
    /// The key.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

fn err(s: &Setting, message: impl Into<String>) -> KeyError {
    KeyError {
        line: s.line,
        key: s.key.clone(),
        message: message.into(),
    }
}

fn string(s: &Setting) -> Result<&str, KeyError> {
    match &s.value {
        Value::String(v) => Ok(v),
        _ => Err(err(s, "expected a quoted string")),
    }
}

fn number(s: &Setting) -> Result<u64, KeyError> {
    match &s.value {
        Value::Number(n) => Ok(*n),
        // xl also takes numbers written as strings.
        Value::String(v) => v
            .trim()
            .parse()
            .map_err(|_| err(s, format!("expected a number, found \"{v}\""))),
        Value::List(_) => Err(err(s, "expected a number, found a list")),
    }
}

fn action(s: &Setting) -> Result<Action, KeyError> {
    let word = string(s)?;
    match Action::parse(word) {
        Some(a) => Ok(a),
        None => Err(err(
            s,
            format!(
                "\"{word}\" is not supported here: use \"destroy\", \"restart\" or \"preserve\""
            ),
        )),
    }
}

fn path(s: &Setting, base: &Path) -> Result<PathBuf, KeyError> {
    let p = string(s)?;
    if p.is_empty() {
        return Err(err(s, "the path is empty"));
    }
    Ok(base.join(p))
}

/// Keys of `xl.cfg(5)` that make sense for other guests or other toolstacks: read, reported,
/// not used.
fn unsupported_reason(key: &str) -> &'static str {
    match key {
        "vif" | "disk" | "pci" | "usb" | "usbdev" | "vtpm" | "p9" | "channel" | "vkb"
        | "vdispl" | "vsnd" | "dtdev" | "iomem" | "ioports" | "irqs" => {
            "devices need a backend domain, which this hypervisor has none of; ignored"
        }
        "bootloader" | "bootloader_args" => "this hypervisor boots the kernel directly; ignored",
        _ => "not supported by this hypervisor; ignored",
    }
}

/// Applies `+=` to an earlier value: strings concatenate, lists extend.
fn merge(settings: &[Setting]) -> Result<Vec<Setting>, KeyError> {
    let mut out: Vec<Setting> = Vec::new();
    for s in settings {
        let earlier = out.iter_mut().rev().find(|e| e.key == s.key);
        match (s.append, earlier) {
            (false, Some(e)) => *e = s.clone(),
            (false, None) | (true, None) => out.push(Setting {
                append: false,
                ..s.clone()
            }),
            (true, Some(e)) => match (&mut e.value, &s.value) {
                (Value::String(a), Value::String(b)) => a.push_str(b),
                (Value::List(a), Value::List(b)) => a.extend(b.iter().cloned()),
                _ => {
                    return Err(err(
                        s,
                        "'+=' needs a string after a string, or a list after a list",
                    ))
                }
            },
        }
    }
    Ok(out)
}

/// Checks `settings` (read from a file in directory `base`) and builds the configuration,
/// with warnings for keys that have no effect here.
pub fn interpret(
    settings: &[Setting],
    base: &Path,
) -> Result<(DomainConfig, Vec<Warning>), KeyError> {
    let settings = merge(settings)?;
    let mut warnings = Vec::new();
    let (mut name, mut kernel, mut ramdisk) = (None, None, None);
    let (mut cmdline, mut root, mut extra) = (None, None, None);
    let (mut memory, mut maxmem, mut vcpus) = (None, None, 1);
    let mut cfg_actions = [Action::Destroy, Action::Restart, Action::Destroy];
    let mut superpages = false;
    for s in &settings {
        match s.key.as_str() {
            "name" => {
                let n = string(s)?;
                let ok = !n.is_empty()
                    && n.len() <= 64
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if !ok {
                    return Err(err(
                        s,
                        "a name is 1 to 64 letters, digits, '_', '.' or '-'",
                    ));
                }
                name = Some(n.to_string());
            }
            "type" => match string(s)? {
                "pv" => {}
                other => {
                    return Err(err(
                        s,
                        format!("type \"{other}\" is not supported: this hypervisor runs PV guests only (type = \"pv\")"),
                    ))
                }
            },
            "builder" => match string(s)? {
                "generic" => {}
                other => {
                    return Err(err(
                        s,
                        format!("builder \"{other}\" is not supported: this hypervisor runs PV guests only"),
                    ))
                }
            },
            "kernel" => kernel = Some(path(s, base)?),
            "ramdisk" => ramdisk = Some(path(s, base)?),
            "cmdline" => cmdline = Some(string(s)?.to_string()),
            "root" => root = Some(string(s)?.to_string()),
            "extra" => extra = Some(string(s)?.to_string()),
            "memory" => memory = Some((number(s)?, s)),
            "maxmem" => maxmem = Some((number(s)?, s)),
            "vcpus" | "maxvcpus" => {
                let n = number(s)?;
                if n == 0 {
                    return Err(err(s, "a domain needs at least one vCPU"));
                }
                if n > 1 {
                    warnings.push(Warning {
                        line: s.line,
                        key: s.key.clone(),
                        message: format!(
                            "{n} vCPUs asked for; this hypervisor runs one vCPU per domain"
                        ),
                    });
                }
                if s.key == "vcpus" {
                    vcpus = n;
                }
            }
            "on_poweroff" => cfg_actions[0] = action(s)?,
            "on_reboot" => cfg_actions[1] = action(s)?,
            "on_crash" => cfg_actions[2] = action(s)?,
            "superpages" => {
                superpages = match number(s)? {
                    0 => false,
                    1 => true,
                    _ => return Err(err(s, "expected 0 or 1")),
                }
            }
            other => warnings.push(Warning {
                line: s.line,
                key: other.to_string(),
                message: unsupported_reason(other).to_string(),
            }),
        }
    }
    let missing = |key: &str| KeyError {
        line: 0,
        key: key.into(),
        message: "is required".into(),
    };
    let name = name.ok_or_else(|| missing("name"))?;
    let kernel = kernel.ok_or_else(|| missing("kernel"))?;
    let memory_mib = match memory {
        Some((0, s)) => return Err(err(s, "memory must be at least 1 MiB")),
        Some((m, _)) => m,
        None => DEFAULT_MEMORY_MIB,
    };
    let maxmem_mib = match maxmem {
        Some((m, s)) if m < memory_mib => {
            return Err(err(
                s,
                format!("maxmem ({m} MiB) is below memory ({memory_mib} MiB)"),
            ))
        }
        Some((m, _)) => m,
        None => memory_mib,
    };
    // xl: `cmdline` wins; otherwise "root=ROOT EXTRA".
    let cmdline = cmdline.unwrap_or_else(|| {
        let mut c = root.map(|r| format!("root={r}")).unwrap_or_default();
        if let Some(e) = extra {
            if !c.is_empty() {
                c.push(' ');
            }
            c.push_str(&e);
        }
        c
    });
    let [on_poweroff, on_reboot, on_crash] = cfg_actions;
    Ok((
        DomainConfig {
            name,
            kernel,
            ramdisk,
            cmdline,
            memory_mib,
            maxmem_mib,
            vcpus,
            on_poweroff,
            on_reboot,
            on_crash,
            superpages,
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::syntax::parse;
    use super::*;

    fn read(text: &str) -> Result<(DomainConfig, Vec<Warning>), KeyError> {
        interpret(&parse(text).unwrap(), Path::new("/cfg"))
    }

    #[test]
    fn xen_documentation_pv_example_runs_with_warnings_for_devices_and_vcpus() {
        let (c, w) = read(
            "name = \"example.pvlinux\"\ntype = \"pv\"\nkernel = \"/boot/vmlinuz\"\n\
             extra = \"root=/dev/xvda1\"\nmemory = 128\nmaxmem = 512\nvcpus = 2\n\
             vif = [ '' ]\ndisk = [ '/dev/vg/guest-volume,raw,xvda,rw' ]\n",
        )
        .unwrap();
        assert_eq!(c.name, "example.pvlinux");
        assert_eq!(c.kernel, PathBuf::from("/boot/vmlinuz"));
        assert_eq!(c.cmdline, "root=/dev/xvda1");
        assert_eq!((c.memory_mib, c.maxmem_mib, c.vcpus), (128, 512, 2));
        assert_eq!(
            (c.on_poweroff, c.on_reboot, c.on_crash),
            (Action::Destroy, Action::Restart, Action::Destroy)
        );
        assert!(!c.superpages);
        let keys: Vec<(&str, usize)> = w.iter().map(|w| (w.key.as_str(), w.line)).collect();
        assert_eq!(keys, vec![("vcpus", 7), ("vif", 8), ("disk", 9)]);
        assert!(w[1].message.contains("backend"));
    }

    #[test]
    fn paths_are_relative_to_the_config_directory() {
        let (c, _) = read("name='a'\nkernel='k.elf'\nramdisk=\"sub/r.img\"").unwrap();
        assert_eq!(c.kernel, PathBuf::from("/cfg/k.elf"));
        assert_eq!(c.ramdisk, Some(PathBuf::from("/cfg/sub/r.img")));
    }

    #[test]
    fn cmdline_beats_root_and_extra_and_append_extends() {
        let (c, _) = read("name='a'\nkernel='k'\nroot='/dev/x'\nextra='quiet'\n").unwrap();
        assert_eq!(c.cmdline, "root=/dev/x quiet");
        let (c, _) = read("name='a'\nkernel='k'\nextra='a'\ncmdline='b'\n").unwrap();
        assert_eq!(c.cmdline, "b");
        let (c, _) = read("name='a'\nkernel='k'\nextra='a'\nextra+=' b'\n").unwrap();
        assert_eq!(c.cmdline, "a b");
    }

    #[test]
    fn defaults_and_superpages() {
        let (c, w) = read("name='u'\nkernel='k'\nsuperpages=1\non_crash='restart'").unwrap();
        assert_eq!(
            (c.memory_mib, c.maxmem_mib),
            (DEFAULT_MEMORY_MIB, DEFAULT_MEMORY_MIB)
        );
        assert!(c.superpages);
        assert_eq!(c.on_crash, Action::Restart);
        assert!(w.is_empty());
        // Numbers given as strings, as xl accepts.
        let (c, _) = read("name='u'\nkernel='k'\nmemory='32'").unwrap();
        assert_eq!(c.memory_mib, 32);
    }

    #[test]
    fn errors_name_line_and_key() {
        let cases: &[(&str, usize, &str, &str)] = &[
            ("kernel='k'", 0, "name", "required"),
            ("name='a'", 0, "kernel", "required"),
            ("name='a b'\nkernel='k'", 1, "name", "letters"),
            (
                "name='a'\nkernel='k'\ntype='hvm'",
                3,
                "type",
                "PV guests only",
            ),
            ("name='a'\nkernel='k'\nmemory=[1]", 3, "memory", "list"),
            (
                "name='a'\nkernel='k'\nmemory='lots'",
                3,
                "memory",
                "\"lots\"",
            ),
            ("name='a'\nkernel='k'\nmemory=0", 3, "memory", "at least"),
            (
                "name='a'\nkernel='k'\nmemory=64\nmaxmem=32",
                4,
                "maxmem",
                "below",
            ),
            (
                "name='a'\nkernel='k'\non_crash='coredump-destroy'",
                3,
                "on_crash",
                "destroy",
            ),
            (
                "name='a'\nkernel='k'\nsuperpages=2",
                3,
                "superpages",
                "0 or 1",
            ),
            ("name='a'\nkernel=''", 2, "kernel", "empty"),
            ("name=3\nkernel='k'", 1, "name", "quoted string"),
            ("name='a'\nkernel='k'\nvcpus=0", 3, "vcpus", "at least one"),
            (
                "name='a'\nkernel='k'\nextra=[]\nextra+='x'",
                4,
                "extra",
                "'+='",
            ),
        ];
        for (text, line, key, words) in cases {
            let e = read(text).unwrap_err();
            assert_eq!((e.line, e.key.as_str()), (*line, *key), "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }
}
