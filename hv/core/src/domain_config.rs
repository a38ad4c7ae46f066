//! Which boot modules make which domains.
//!
//! With one domain (the classic boot), the first module is the kernel and the second an
//! optional ramdisk; memory and the guest command line come from the hypervisor's command
//! line. With several, the host tool (`hvtool up`, from `xl.cfg` files) marks each kernel
//! module's command line with `domain` and that domain's settings, and each ramdisk module
//! with `ramdisk`; a ramdisk belongs to the domain module before it:
//!
//! ```text
//!  module 0: "web.elf domain name=web mem=32M max_mem=64M on_crash=restart -- console=hvc0"
//!  module 1: "web.img ramdisk"
//!  module 2: "db.elf domain name=db mem=64M superpages"
//! ```
//!
//! The first word of a module's line is its file name (loaders put it there) and is skipped.

use alloc::string::String;
use alloc::vec::Vec;

use crate::cmdline::parse_size;

/// What to do when a domain powers off, reboots or crashes (`xl.cfg` `on_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Destroy it.
    Destroy,
    /// Destroy it and build it again from its modules.
    Restart,
    /// Keep it, stopped, with its memory (for inspection).
    Preserve,
}

impl Action {
    /// The action named by its `xl.cfg` word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "destroy" => Some(Action::Destroy),
            "restart" => Some(Action::Restart),
            "preserve" => Some(Action::Preserve),
            _ => None,
        }
    }

    /// Its `xl.cfg` word (also used on the module command line).
    pub fn word(self) -> &'static str {
        match self {
            Action::Destroy => "destroy",
            Action::Restart => "restart",
            Action::Preserve => "preserve",
        }
    }
}

/// Settings of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainOptions {
    /// Name (empty: taken from the kernel's GUEST_OS note).
    pub name: String,
    /// Memory at start, bytes.
    pub memory: u64,
    /// Reservation ceiling, bytes (≥ `memory`).
    pub max_memory: u64,
    /// Order-9 population and 2 MiB mappings.
    pub superpages: bool,
    /// On `SHUTDOWN_poweroff`.
    pub on_poweroff: Action,
    /// On `SHUTDOWN_reboot`.
    pub on_reboot: Action,
    /// On a crash.
    pub on_crash: Action,
    /// The guest command line.
    pub cmdline: String,
}

impl DomainOptions {
    /// The classic single domain: defaults that stop the machine when it ends.
    pub fn single(memory: u64, max_memory: u64, superpages: bool, cmdline: &str) -> Self {
        Self {
            name: String::new(),
            memory,
            max_memory: max_memory.max(memory),
            superpages,
            on_poweroff: Action::Destroy,
            on_reboot: Action::Destroy,
            on_crash: Action::Destroy,
            cmdline: String::from(cmdline),
        }
    }

    /// Whether some ending rebuilds the domain (so its modules must be kept).
    pub fn restarts(&self) -> bool {
        [self.on_poweroff, self.on_reboot, self.on_crash].contains(&Action::Restart)
    }

    /// What to do for a guest shutdown with `reason` (`SHUTDOWN_*`; crash and watchdog
    /// count as crashes, suspend and unknown reasons as poweroff).
    pub fn action_for(&self, reason: u32) -> Action {
        match reason {
            1 => self.on_reboot,
            3 | 4 => self.on_crash,
            _ => self.on_poweroff,
        }
    }
}

/// One domain to build: its options and the modules that hold its kernel and ramdisk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainPlan {
    /// Index of the kernel module.
    pub kernel: usize,
    /// Index of the ramdisk module, if any.
    pub ramdisk: Option<usize>,
    /// Settings.
    pub options: DomainOptions,
}

/// Why the module lines cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// A ramdisk module with no domain before it, or a second ramdisk for one domain.
    StrayRamdisk {
        /// The module.
        module: usize,
    },
    /// A module that is neither `domain` nor `ramdisk` among marked ones.
    Unmarked {
        /// The module.
        module: usize,
    },
    /// A setting of a `domain` module that cannot be read.
    BadSetting {
        /// The module.
        module: usize,
        /// The word.
        word: String,
    },
    /// `max_mem` below `mem`, or no memory.
    BadMemory {
        /// The module.
        module: usize,
    },
    /// Two domains with one name.
    DuplicateName {
        /// The later module.
        module: usize,
    },
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlanError::StrayRamdisk { module } => write!(
                f,
                "boot module {module} is a ramdisk with no domain module before it (or its domain has one already)"
            ),
            PlanError::Unmarked { module } => write!(
                f,
                "boot module {module} is marked neither `domain` nor `ramdisk`, but other modules are"
            ),
            PlanError::BadSetting { module, word } => {
                write!(f, "boot module {module}: cannot read the setting {word:?}")
            }
            PlanError::BadMemory { module } => write!(
                f,
                "boot module {module}: memory must be at least 1 MiB and max_mem at least mem"
            ),
            PlanError::DuplicateName { module } => {
                write!(f, "boot module {module}: another domain has this name")
            }
        }
    }
}

/// The words after a module's file name, and the part after ` -- `.
fn split_line(line: &str) -> (&str, Option<&str>) {
    let rest = line.trim().split_once(' ').map_or("", |(_, r)| r);
    match rest.split_once(" -- ") {
        Some((w, c)) => (w, Some(c)),
        None => match rest.strip_suffix("--") {
            Some(w) => (w, Some("")),
            None => (rest, None),
        },
    }
}

fn role(line: &str) -> Option<&'static str> {
    match split_line(line).0.split_ascii_whitespace().next() {
        Some("domain") => Some("domain"),
        Some("ramdisk") => Some("ramdisk"),
        _ => None,
    }
}

fn parse_domain(module: usize, line: &str) -> Result<DomainOptions, PlanError> {
    let (words, cmdline) = split_line(line);
    let bad = |word: &str| PlanError::BadSetting {
        module,
        word: String::from(word),
    };
    let mut o = DomainOptions::single(64 << 20, 0, false, cmdline.unwrap_or("").trim());
    let mut max = None;
    for word in words.split_ascii_whitespace().skip(1) {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "name" if !value.is_empty() => o.name = String::from(value),
            "mem" => o.memory = parse_size(value).ok_or_else(|| bad(word))?,
            "max_mem" => max = Some(parse_size(value).ok_or_else(|| bad(word))?),
            "superpages" => o.superpages = true,
            "on_poweroff" => o.on_poweroff = Action::parse(value).ok_or_else(|| bad(word))?,
            "on_reboot" => o.on_reboot = Action::parse(value).ok_or_else(|| bad(word))?,
            "on_crash" => o.on_crash = Action::parse(value).ok_or_else(|| bad(word))?,
            _ => return Err(bad(word)),
        }
    }
    o.max_memory = max.unwrap_or(o.memory);
    if o.memory < (1 << 20) || o.max_memory < o.memory {
        return Err(PlanError::BadMemory { module });
    }
    Ok(o)
}

/// The domains described by the module lines, or `None` when no module is marked (the
/// classic single-domain boot, configured by the hypervisor command line).
pub fn plan(lines: &[&str]) -> Option<Result<Vec<DomainPlan>, PlanError>> {
    if !lines.iter().any(|l| role(l).is_some()) {
        return None;
    }
    Some(plan_marked(lines))
}

fn plan_marked(lines: &[&str]) -> Result<Vec<DomainPlan>, PlanError> {
    let mut out: Vec<DomainPlan> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match role(line) {
            Some("domain") => {
                let options = parse_domain(i, line)?;
                if !options.name.is_empty() && out.iter().any(|p| p.options.name == options.name) {
                    return Err(PlanError::DuplicateName { module: i });
                }
                out.push(DomainPlan {
                    kernel: i,
                    ramdisk: None,
                    options,
                });
            }
            Some(_) => match out.last_mut() {
                Some(p) if p.ramdisk.is_none() && p.kernel + 1 == i => p.ramdisk = Some(i),
                _ => return Err(PlanError::StrayRamdisk { module: i }),
            },
            None => return Err(PlanError::Unmarked { module: i }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmarked_modules_mean_the_classic_boot() {
        assert_eq!(plan(&["/k.elf", "/r.img"]), None);
        assert_eq!(plan(&[]), None);
    }

    #[test]
    fn marked_modules_make_domains_with_their_ramdisks() {
        let p = plan(&[
            "web.elf domain name=web mem=32M max_mem=64M on_crash=restart -- console=hvc0 quiet",
            "web.img ramdisk",
            "db.elf domain name=db mem=64M superpages on_poweroff=preserve on_reboot=destroy",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].kernel, p[0].ramdisk), (0, Some(1)));
        assert_eq!(p[0].options.name, "web");
        assert_eq!(
            (p[0].options.memory, p[0].options.max_memory),
            (32 << 20, 64 << 20)
        );
        assert_eq!(p[0].options.on_crash, Action::Restart);
        assert_eq!(p[0].options.on_reboot, Action::Destroy);
        assert_eq!(p[0].options.cmdline, "console=hvc0 quiet");
        assert!(!p[0].options.superpages);
        assert_eq!((p[1].kernel, p[1].ramdisk), (2, None));
        assert!(p[1].options.superpages);
        assert_eq!(p[1].options.max_memory, 64 << 20);
        assert_eq!(p[1].options.on_poweroff, Action::Preserve);
        assert_eq!(p[1].options.cmdline, "");
    }

    #[test]
    fn bad_lines_are_refused_with_the_module_named() {
        let cases: &[(&[&str], PlanError)] = &[
            (&["r ramdisk"], PlanError::StrayRamdisk { module: 0 }),
            (
                &["k domain name=a", "r ramdisk", "s ramdisk"],
                PlanError::StrayRamdisk { module: 2 },
            ),
            (
                &["k domain name=a", "plain"],
                PlanError::Unmarked { module: 1 },
            ),
            (
                &["k domain mem=lots"],
                PlanError::BadSetting {
                    module: 0,
                    word: "mem=lots".into(),
                },
            ),
            (
                &["k domain colour=red"],
                PlanError::BadSetting {
                    module: 0,
                    word: "colour=red".into(),
                },
            ),
            (
                &["k domain on_crash=coredump"],
                PlanError::BadSetting {
                    module: 0,
                    word: "on_crash=coredump".into(),
                },
            ),
            (
                &["k domain mem=64M max_mem=32M"],
                PlanError::BadMemory { module: 0 },
            ),
            (&["k domain mem=0"], PlanError::BadMemory { module: 0 }),
            (
                &["k domain name=a", "k domain name=a"],
                PlanError::DuplicateName { module: 1 },
            ),
        ];
        for (lines, want) in cases {
            assert_eq!(plan(lines), Some(Err(want.clone())), "{lines:?}");
            assert!(!alloc::format!("{want}").is_empty());
        }
    }

    #[test]
    fn a_cmdline_may_itself_contain_double_dashes() {
        let p = plan(&["k domain name=a -- init=/bin/sh -- -x"])
            .unwrap()
            .unwrap();
        assert_eq!(p[0].options.cmdline, "init=/bin/sh -- -x");
    }
}
