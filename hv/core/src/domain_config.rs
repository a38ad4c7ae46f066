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
//!
//! Many domains of one kernel (`hvtool bench-density`) need neither a module per domain nor
//! a long command line per module: a kernel module marked `kernel` is shared, and a text
//! module marked `domains` lists one domain per line with the same settings, naming its
//! kernel module by index (blank lines and `#` comments are skipped):
//!
//! ```text
//!  module 0: "worker.elf kernel"
//!  module 1: "plan.txt domains"      contents:  name=w1 mem=4M kernel=0 -- ticks=1
//!                                                name=w2 mem=4M kernel=0 -- ticks=1
//! ```

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
    /// A line of a `domains` table that cannot be used: a bad setting, no `kernel=N`, or
    /// `N` not a module marked `kernel`.
    BadTableLine {
        /// The table module.
        module: usize,
        /// Line number in it (1-based).
        line: usize,
        /// The offending word (or the whole line).
        word: String,
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
            PlanError::BadTableLine { module, line, word } => write!(
                f,
                "boot module {module} (domains), line {line}: cannot use {word:?} (settings as on a domain module, plus kernel=N naming a module marked `kernel`)"
            ),
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
        Some("kernel") => Some("kernel"),
        Some("domains") => Some("domains"),
        _ => None,
    }
}

/// Whether module `i`'s line marks it as a `domains` table (its contents are the caller's
/// to read and hand to [`plan_with_tables`]).
pub fn is_table(line: &str) -> bool {
    role(line) == Some("domains")
}

fn parse_domain(module: usize, line: &str) -> Result<DomainOptions, PlanError> {
    let (words, cmdline) = split_line(line);
    let bad = |word: &str| PlanError::BadSetting {
        module,
        word: String::from(word),
    };
    parse_settings(words.split_ascii_whitespace().skip(1), cmdline, |_| false).map_err(
        |e| match e {
            SettingError::Word(w) => bad(w),
            SettingError::Memory => PlanError::BadMemory { module },
        },
    )
}

/// Why settings could not be read.
enum SettingError<'a> {
    /// This word.
    Word(&'a str),
    /// `mem` / `max_mem` out of range.
    Memory,
}

/// Reads domain settings; `extra` takes words the caller handles itself (true: taken).
fn parse_settings<'a>(
    words: impl Iterator<Item = &'a str>,
    cmdline: Option<&str>,
    mut extra: impl FnMut(&'a str) -> bool,
) -> Result<DomainOptions, SettingError<'a>> {
    let bad = SettingError::Word;
    let mut o = DomainOptions::single(64 << 20, 0, false, cmdline.unwrap_or("").trim());
    let mut max = None;
    for word in words {
        if extra(word) {
            continue;
        }
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
        return Err(SettingError::Memory);
    }
    Ok(o)
}

/// The domains described by the module lines, or `None` when no module is marked (the
/// classic single-domain boot, configured by the hypervisor command line).
pub fn plan(lines: &[&str]) -> Option<Result<Vec<DomainPlan>, PlanError>> {
    plan_with_tables(lines, &[])
}

/// As [`plan`], with the contents of the `domains` table modules as `(module, text)`.
pub fn plan_with_tables(
    lines: &[&str],
    tables: &[(usize, &str)],
) -> Option<Result<Vec<DomainPlan>, PlanError>> {
    if !lines.iter().any(|l| role(l).is_some()) {
        return None;
    }
    Some(plan_marked(lines, tables))
}

/// The domains of one table line (`None`: blank or comment).
fn table_domain(
    lines: &[&str],
    module: usize,
    number: usize,
    text: &str,
) -> Option<Result<DomainPlan, PlanError>> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let bad = |word: &str| PlanError::BadTableLine {
        module,
        line: number,
        word: String::from(word),
    };
    // Same shape as a module line, whose first word (the file name) is skipped.
    let (words, cmdline) = split_line_words(text);
    let mut kernel = None;
    let mut bad_kernel = None;
    let options = parse_settings(words.split_ascii_whitespace(), cmdline, |w| {
        let Some(v) = w.strip_prefix("kernel=") else {
            return false;
        };
        match v.parse::<usize>() {
            Ok(k) if lines.get(k).is_some_and(|l| role(l) == Some("kernel")) => kernel = Some(k),
            _ => bad_kernel = Some(w),
        }
        true
    });
    let options = match options {
        Ok(o) => o,
        Err(SettingError::Word(w)) => return Some(Err(bad(w))),
        Err(SettingError::Memory) => return Some(Err(bad(text))),
    };
    if let Some(w) = bad_kernel {
        return Some(Err(bad(w)));
    }
    let Some(kernel) = kernel else {
        return Some(Err(bad(text)));
    };
    Some(Ok(DomainPlan {
        kernel,
        ramdisk: None,
        options,
    }))
}

/// The settings words and the command line of a table line (no file name in front).
fn split_line_words(text: &str) -> (&str, Option<&str>) {
    match text.split_once(" -- ") {
        Some((w, c)) => (w, Some(c)),
        None => match text.strip_suffix("--") {
            Some(w) => (w, Some("")),
            None => (text, None),
        },
    }
}

fn plan_marked(lines: &[&str], tables: &[(usize, &str)]) -> Result<Vec<DomainPlan>, PlanError> {
    let mut out: Vec<DomainPlan> = Vec::new();
    let mut names = alloc::collections::BTreeSet::new();
    let mut push = |out: &mut Vec<DomainPlan>, p: DomainPlan, module: usize| {
        if !p.options.name.is_empty() && !names.insert(p.options.name.clone()) {
            return Err(PlanError::DuplicateName { module });
        }
        out.push(p);
        Ok(())
    };
    for (i, line) in lines.iter().enumerate() {
        match role(line) {
            Some("domain") => {
                let options = parse_domain(i, line)?;
                let p = DomainPlan {
                    kernel: i,
                    ramdisk: None,
                    options,
                };
                push(&mut out, p, i)?;
            }
            Some("kernel") => {}
            Some("domains") => {
                let text = tables.iter().find(|(m, _)| *m == i).map_or("", |(_, t)| t);
                for (n, l) in text.lines().enumerate() {
                    if let Some(p) = table_domain(lines, i, n + 1, l) {
                        push(&mut out, p?, i)?;
                    }
                }
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
    fn a_domains_table_makes_many_domains_of_one_shared_kernel() {
        let lines = [
            "w.elf kernel",
            "plan.txt domains",
            "solo.elf domain name=solo",
        ];
        let mut text = alloc::string::String::from("# density\n\n");
        for i in 1..=300 {
            text += &alloc::format!("name=w{i} mem=4M kernel=0 -- ticks=1\n");
        }
        let p = plan_with_tables(&lines, &[(1, &text)]).unwrap().unwrap();
        assert_eq!(p.len(), 301);
        assert!(p[..300]
            .iter()
            .all(|d| d.kernel == 0 && d.ramdisk.is_none()));
        assert_eq!(p[299].options.name, "w300");
        assert_eq!(p[0].options.memory, 4 << 20);
        assert_eq!(p[0].options.cmdline, "ticks=1");
        assert_eq!(p[300].kernel, 2);
        assert!(is_table(lines[1]) && !is_table(lines[0]));
    }

    #[test]
    fn bad_table_lines_are_refused_with_module_and_line() {
        let lines = ["w.elf kernel", "plan.txt domains", "r.img ramdisk"];
        let bad = |text: &str, line: usize, word: &str| {
            assert_eq!(
                plan_with_tables(&lines, &[(1, text)]),
                Some(Err(PlanError::BadTableLine {
                    module: 1,
                    line,
                    word: word.into()
                })),
                "{text:?}"
            );
        };
        bad("name=a mem=4M", 1, "name=a mem=4M");
        bad("name=a kernel=0\nname=b kernel=1", 2, "kernel=1");
        bad("name=a kernel=2", 1, "kernel=2");
        bad("name=a kernel=7", 1, "kernel=7");
        bad("name=a kernel=0 colour=red", 1, "colour=red");
        bad("name=a kernel=0 mem=0", 1, "name=a kernel=0 mem=0");
        assert_eq!(
            plan_with_tables(&lines, &[(1, "name=a kernel=0\nname=a kernel=0")]),
            Some(Err(PlanError::DuplicateName { module: 1 }))
        );
    }

    #[test]
    fn a_cmdline_may_itself_contain_double_dashes() {
        let p = plan(&["k domain name=a -- init=/bin/sh -- -x"])
            .unwrap()
            .unwrap();
        assert_eq!(p[0].options.cmdline, "init=/bin/sh -- -x");
    }
}
