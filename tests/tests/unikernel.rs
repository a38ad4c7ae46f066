//! The unikernel guests: `unikernel` exercises every PV ABI feature a Mini-OS-class kernel
//! needs and prints one verdict per feature; `demo` is the guest `just run` shows. Both must
//! end in a clean poweroff.

mod common;

use common::{boot, config, run};

use tools::qemu::{BootMethod, Machine, Outcome, RunResult};

/// Every feature the `unikernel` guest reports on, in order.
const FEATURES: [&str; 24] = [
    "traps",
    "iret",
    "callbacks",
    "sse",
    "fpu_taskswitch",
    "cpuid-emulation",
    "msr-emulation",
    "set_gdt",
    "update_descriptor",
    "ldt",
    "user-selectors",
    "vcpu-misc",
    "privileged-instructions",
    "debug-registers",
    "time",
    "timers",
    "time-memory-area",
    "block-yield-poll",
    "events",
    "console-ring",
    "grant-table",
    "xenstore",
    "shutdown-watch",
    "register-vcpu-info",
];

/// Asserts that each line was seen, listing every missing one at once.
fn assert_saw_all(r: &RunResult, lines: &[String]) {
    let missing: Vec<&String> = lines.iter().filter(|l| !r.saw(l)).collect();
    assert!(missing.is_empty(), "missing from the log: {missing:#?}");
}

fn verdict_lines() -> Vec<String> {
    FEATURES
        .iter()
        .map(|f| format!("(d1) unikernel: {f}: PASS"))
        .collect()
}

/// Every verdict and the total line.
fn all_passed_lines() -> Vec<String> {
    let mut want = verdict_lines();
    want.push(format!(
        "(d1) unikernel: {n}/{n} passed",
        n = FEATURES.len()
    ));
    want
}

#[test]
fn unikernel_passes_every_feature() {
    // With the per-domain profile on, so the teardown table can be checked too.
    let mut cfg = config("unikernel");
    cfg.hv_args.push("profile".into());
    let r = run(&cfg);
    let mut want = all_passed_lines();
    // Printed only into the console ring: the hypervisor must drain it.
    want.push("(d1) unikernel: console-ring: this line went through the console ring".into());
    assert_saw_all(&r, &want);
    assert!(!r.saw(": FAIL ("), "a feature failed");
    assert!(r.saw("domain 1 shut down: poweroff"));
    assert_eq!(r.outcome, Outcome::Poweroff);
    assert_profile_table(&r);
}

/// The TSC frequency the hypervisor calibrated (`TSC N MHz, APIC timer M MHz`).
fn calibrated_mhz(r: &RunResult) -> (u64, u64) {
    let line = r
        .lines
        .iter()
        .find_map(|l| {
            l.text
                .split_once("INFO  TSC ")
                .map(|(_, rest)| rest.to_string())
        })
        .expect("no calibration line");
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

/// The `microvm` machine (qboot firmware, no PC speaker port, no PCI) that `bench-boot`
/// measures: every feature passes there too (timers included: the PIT calibration reads
/// channel 0 back, which both machines have), and the TSC and APIC timer frequencies agree
/// with the `pc` machine's (under TCG both are the host's clocks).
#[test]
fn unikernel_passes_every_feature_on_microvm_with_the_same_clocks() {
    let mut cfg = config("unikernel");
    cfg.machine = Machine::Microvm;
    let r = run(&cfg);
    let mut want = all_passed_lines();
    want.push("(HV) INFO  ACPI tables: FACP APIC".into());
    assert_saw_all(&r, &want);
    assert!(!r.saw(": FAIL ("), "a feature failed");
    assert_eq!(r.outcome, Outcome::Poweroff);
    let pc = boot("hello", BootMethod::Kernel, None);
    let ((tsc_m, apic_m), (tsc_p, apic_p)) = (calibrated_mhz(&r), calibrated_mhz(&pc));
    let close = |a: u64, b: u64| a.abs_diff(b) * 100 <= b * 5 && b > 0;
    assert!(
        close(tsc_m, tsc_p) && close(apic_m, apic_p),
        "microvm TSC {tsc_m} / APIC {apic_m} MHz vs pc {tsc_p} / {apic_p} MHz"
    );
}

#[test]
fn no_profile_unless_asked() {
    let r = boot("hello", BootMethod::Kernel, None);
    assert_eq!(r.outcome, Outcome::Poweroff);
    assert!(!r.saw("hypervisor profile"), "profiles are off by default");
}

/// The teardown profile of domain 1: the hypercalls the unikernel surely made show up with
/// plausible counts and cycles, and the table is short.
fn assert_profile_table(r: &RunResult) {
    let log = r.log();
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("domain 1 (") && l.contains("hypervisor profile"))
        .expect("no profile table for domain 1 at teardown");
    let table = &lines[start..(start + 17).min(lines.len())];
    let dump = table.join("\n");
    let exits: u64 = table[1]
        .split_whitespace()
        .skip_while(|w| !w.ends_with(']') && !w.chars().all(|c| c.is_ascii_digit()))
        .find_map(|w| w.parse().ok())
        .unwrap_or(0);
    assert!(exits > 100, "too few exits:\n{dump}");
    // A row: `  name count Mcycles pct avg [items]`.
    let row = |name: &str| -> Option<(u64, u64)> {
        let l = table.iter().find(|l| l.contains(&format!(" {name} ")))?;
        let w: Vec<&str> = l
            .split(&format!(" {name} "))
            .nth(1)?
            .split_whitespace()
            .collect();
        Some((w.first()?.parse().ok()?, w.get(3)?.parse().ok()?))
    };
    for name in [
        "console_io",
        "sched_op",
        "event_channel_op",
        "priv-op emulation",
    ] {
        let (count, avg) = row(name).unwrap_or_else(|| panic!("no {name} row:\n{dump}"));
        assert!(
            count > 0 && avg > 0,
            "{name}: count {count} avg {avg}:\n{dump}"
        );
    }
}

#[test]
fn demo_tours_the_abi_and_powers_off() {
    let r = boot("demo", BootMethod::Kernel, None);
    let mut want: Vec<String> = [
        "(d1) demo: booting",
        "a Rust PV unikernel, speaking nothing but the Xen ABI",
        "hypervisor : XenVMMXenVMM",
        // Every read answered with the toolstack's value (a `<timeout>` or
        // `<protocol error ...>` reply must not pass).
        "(d1)   xenstore   : I am \"rust-pv-guest\", domain 1, memory/target 64 MiB (16384 pages)",
        "[#####]",
        "ping-pong  : loopback event channel",
        "bye        : SCHEDOP_shutdown(poweroff)",
    ]
    .map(String::from)
    .to_vec();
    want.extend((1..=4).map(|round| format!("round {round}: ping")));
    assert_saw_all(&r, &want);
    assert!(!r.saw("lost"), "a ping-pong event was lost");
    assert!(!r.saw("<EN"), "a xenstore read failed");
    assert!(r.saw("domain 1 shut down: poweroff"));
    assert_eq!(r.outcome, Outcome::Poweroff);
}

#[test]
fn unikernel_shuts_down_when_the_toolstack_asks() {
    let mut cfg = config("unikernel");
    cfg.hv_args.push("shutdown_after=3s".into());
    cfg.guest_cmdline = Some("wait-shutdown".into());
    let r = run(&cfg);
    let waiting = r
        .time_of("(d1) unikernel: waiting for /local/domain/1/control/shutdown")
        .expect("the guest should wait for control/shutdown");
    let acted = r
        .time_of("(d1) unikernel: control/shutdown = \"poweroff\": shutting down (poweroff)")
        .expect("the guest should act on the request");
    assert!(acted > waiting);
    assert!(r.saw("domain 1 shut down: poweroff"));
    assert_eq!(r.outcome, Outcome::Poweroff);
}

#[test]
fn a_feature_that_ran_no_check_fails() {
    let mut cfg = config("unikernel");
    cfg.guest_cmdline = Some("verdict-selftest".into());
    let r = run(&cfg);
    assert!(
        r.saw("(d1) unikernel: no-checks: FAIL (no check ran)"),
        "an empty feature must fail"
    );
    assert_eq!(r.outcome, Outcome::Poweroff);
}
