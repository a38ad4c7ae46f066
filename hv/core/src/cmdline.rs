//! The hypervisor command line.
//!
//! ```text
//!  hv [log=LEVEL] [mem=SIZE] [superpages[=0|1]] [max_mem=SIZE] [profile]
//!     [selftest=hvfault|stackoverflow] [bootscrub[=0|1|idle]] [-- GUEST COMMAND LINE]
//! ```
//!
//! * `log=` — error, warn, info (default), debug, trace.
//! * `mem=` — memory of the first domain: a number with an optional K/M/G suffix (default 64M).
//! * `superpages` — build the domain with superpages allowed (populated with order-9 extents,
//!   2 MiB PSE mappings permitted); off by default, as Xen's `allowsuperpage` was.
//! * `max_mem=` — the domain's reservation ceiling for `increase_reservation` (default `mem`).
//! * `shutdown_after=` — ask every domain to shut down (xenstore `control/shutdown` =
//!   `poweroff`) after this long: `2s`, `1500ms`, or plain seconds. A domain that has not
//!   shut down 5 s later is destroyed.
//! * `bootscrub` — as Xen's: free memory may hold old data at boot; with `bootscrub=1` it is
//!   all scrubbed before the domains are built (so they take clean memory untouched); by
//!   default (`idle`) the idle loop scrubs it and a domain built before that scrubs what it
//!   takes.
//! * `flushbatch=0` — flush the TLB at once for every MMU change that needs it, instead of
//!   once per multicall / `mmuext_op` batch (for measuring what the batching saves).
//! * everything after `--` is the guest's command line (start_info.cmd_line).
//!
//! Unknown words are collected so the caller can warn about them; nothing here fails.

use alloc::string::String;
use alloc::vec::Vec;

/// Log verbosity, mirroring `log::LevelFilter` without depending on it here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    Info,
    /// Per-hypercall detail.
    Debug,
    /// Everything.
    Trace,
}

/// Parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Log level.
    pub log_level: LogLevel,
    /// Memory of the first domain, bytes.
    pub domain_memory: u64,
    /// Reservation ceiling of the first domain, bytes.
    pub domain_max_memory: Option<u64>,
    /// Whether the first domain allows superpages.
    pub superpages: bool,
    /// The guest command line (after `--`), if given.
    pub guest_cmdline: Option<String>,
    /// A self-test of a failure path, if asked for.
    pub selftest: Option<SelfTest>,
    /// Request a clean shutdown of every domain after this many nanoseconds.
    pub shutdown_after_ns: Option<u64>,
    /// Keep per-domain profiles (exits and cycles per kind; off by default: two TSC reads
    /// per exit cost ~20% on the cheapest paths under TCG).
    pub profile: bool,
    /// Collect TLB flushes over an MMU batch (`flushbatch`, on by default; see
    /// `mm::tlb`). Off only to measure what it saves.
    pub flush_batch: bool,
    /// Scrub all free memory before building the domains (`bootscrub=1`), not in the idle loop.
    pub bootscrub: bool,
    /// Words that were not understood.
    pub unknown: Vec<String>,
}

/// Deliberate failures that integration tests use to check the hypervisor's failure paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// Take a page fault in hypervisor context (must print a report and exit with failure).
    HypervisorFault,
    /// Recurse until the hypervisor's stack overflows (must hit the guard page and be
    /// reported, not run over what lies below the stack).
    StackOverflow,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_level: LogLevel::Info,
            domain_memory: 64 << 20,
            domain_max_memory: None,
            superpages: false,
            guest_cmdline: None,
            selftest: None,
            shutdown_after_ns: None,
            profile: false,
            flush_batch: true,
            bootscrub: false,
            unknown: Vec::new(),
        }
    }
}

/// Parses a size such as `64M`, `1G`, `4096K`, `1048576`.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Parses a duration such as `2s`, `1500ms` or `3` (seconds) into nanoseconds.
pub fn parse_duration_ns(s: &str) -> Option<u64> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse::<u64>().ok()?.checked_mul(1_000_000);
    }
    s.strip_suffix('s')
        .unwrap_or(s)
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)
}

/// Parses the hypervisor command line.
pub fn parse(cmdline: &str) -> Options {
    let mut opts = Options::default();
    let (hv, guest) = match cmdline.split_once(" -- ") {
        Some((h, g)) => (h, Some(g)),
        None => match cmdline
            .strip_suffix(" --")
            .or_else(|| cmdline.strip_prefix("-- "))
        {
            Some(rest) if cmdline.starts_with("-- ") => ("", Some(rest)),
            Some(rest) => (rest, Some("")),
            None => (cmdline, None),
        },
    };
    opts.guest_cmdline = guest.map(|g| String::from(g.trim()));
    for (i, word) in hv.split_ascii_whitespace().enumerate() {
        // Loaders put the image path first (QEMU -kernel, GRUB multiboot).
        if i == 0 && word.contains('/') && !word.contains('=') {
            continue;
        }
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        let ok = match key {
            "log" | "loglvl" => match value {
                "error" => Some(LogLevel::Error),
                "warn" | "warning" => Some(LogLevel::Warn),
                "info" => Some(LogLevel::Info),
                "debug" => Some(LogLevel::Debug),
                "trace" | "all" => Some(LogLevel::Trace),
                _ => None,
            }
            .map(|l| opts.log_level = l)
            .is_some(),
            "mem" | "dom_mem" => parse_size(value).map(|m| opts.domain_memory = m).is_some(),
            "max_mem" => parse_size(value)
                .map(|m| opts.domain_max_memory = Some(m))
                .is_some(),
            "superpages" => on_off(value).map(|b| opts.superpages = b).is_some(),
            "profile" => on_off(value).map(|b| opts.profile = b).is_some(),
            "flushbatch" => on_off(value).map(|b| opts.flush_batch = b).is_some(),
            "bootscrub" => match value {
                "idle" => Some(false),
                _ => on_off(value),
            }
            .map(|b| opts.bootscrub = b)
            .is_some(),
            "shutdown_after" => parse_duration_ns(value)
                .map(|d| opts.shutdown_after_ns = Some(d))
                .is_some(),
            "selftest" => match value {
                "hvfault" => Some(SelfTest::HypervisorFault),
                "stackoverflow" => Some(SelfTest::StackOverflow),
                _ => None,
            }
            .map(|t| opts.selftest = Some(t))
            .is_some(),
            _ => false,
        };
        if !ok {
            opts.unknown.push(String::from(word));
        }
    }
    opts
}

/// A switch's value: empty, `1`, `on`, `yes` turn it on; `0`, `off`, `no` turn it off.
fn on_off(value: &str) -> Option<bool> {
    match value {
        "" | "1" | "on" | "yes" => Some(true),
        "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = parse("");
        assert_eq!(o, Options::default());
    }

    #[test]
    fn profile_is_off_unless_asked() {
        assert!(!parse("log=info").profile);
        assert!(parse("profile").profile);
        assert!(parse("profile=on").profile);
        assert!(parse("log=info").flush_batch);
        assert!(!parse("flushbatch=0").flush_batch);
        assert!(!parse("profile=0").profile);
        assert_eq!(parse("profile=maybe").unknown, ["profile=maybe"]);
    }

    #[test]
    fn bootscrub_defaults_to_the_idle_loop() {
        assert!(!parse("log=info").bootscrub);
        assert!(parse("bootscrub").bootscrub);
        assert!(!parse("bootscrub=idle").bootscrub);
        assert_eq!(parse("bootscrub=x").unknown, ["bootscrub=x"]);
    }

    #[test]
    fn full_line() {
        let o = parse("/boot/hv log=debug mem=128M superpages -- console=hvc0 quiet");
        assert_eq!(o.log_level, LogLevel::Debug);
        assert_eq!(o.domain_memory, 128 << 20);
        assert!(o.superpages);
        assert_eq!(o.guest_cmdline.as_deref(), Some("console=hvc0 quiet"));
        assert!(o.unknown.is_empty());
        assert_eq!(parse("x/y z/w").unknown, vec!["z/w"]);
        assert_eq!(
            parse("selftest=hvfault").selftest,
            Some(SelfTest::HypervisorFault)
        );
        assert_eq!(
            parse("selftest=stackoverflow").selftest,
            Some(SelfTest::StackOverflow)
        );
    }

    #[test]
    fn guest_line_at_edges() {
        assert_eq!(parse("-- a b").guest_cmdline.as_deref(), Some("a b"));
        assert_eq!(parse("log=warn --").guest_cmdline.as_deref(), Some(""));
        assert_eq!(parse("log=warn --").log_level, LogLevel::Warn);
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let o = parse("mem=lots superpages=maybe log=loud");
        assert_eq!(o.domain_memory, 64 << 20);
        assert!(!o.superpages);
        assert_eq!(o.unknown.len(), 3);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("2s"), Some(2_000_000_000));
        assert_eq!(parse_duration_ns("1500ms"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("3"), Some(3_000_000_000));
        assert_eq!(parse_duration_ns("soon"), None);
        assert_eq!(
            parse("shutdown_after=250ms").shutdown_after_ns,
            Some(250_000_000)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096K"), Some(4 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("12345"), Some(12345));
        assert_eq!(parse_size("99999999999999999G"), None);
        assert_eq!(parse_size(""), None);
    }
}
