//! Guest input can never take the hypervisor down: a guest making thousands of hypercalls with
//! random numbers and garbage arguments gets errors, and the hypervisor reports normally to
//! the end. The run must show coverage — every hypercall number tried (but `iret`, which the
//! fuzzer leaves out), exactly the asked number of calls made — a hypervisor still answering
//! afterwards, and a reproducible seed (the same trace checksum twice).

mod common;

use common::{config, run};
use tools::qemu::Outcome;

const CALLS: u64 = 20_000;
/// `iret` resumes at a garbage frame: the fuzzer never makes it.
const IRET: usize = 23;

/// What a fuzz run reported.
#[derive(Debug, PartialEq, Eq)]
struct Fuzzed {
    /// Calls made per hypercall number (0..64).
    calls: Vec<u64>,
    /// The `trace` checksum of the run.
    trace: String,
}

fn fuzz(seed: u32, superpages: bool) -> Fuzzed {
    let mut cfg = config("hcfuzz");
    cfg.hv_args = vec!["log=warn".into(), "mem=32M".into()];
    if superpages {
        cfg.hv_args.push("superpages".into());
    }
    cfg.guest_cmdline = Some(format!("seed={seed} calls={CALLS}"));
    let r = run(&cfg);
    assert!(!r.saw("FATAL") && !r.saw("PANIC"), "the hypervisor failed");
    assert!(!r.saw("crashed"), "the fuzzer harmed itself");
    // No hypercall number is a result fed back (the old fuzzer corrupted its own state and
    // issued its -ENOSYS as "hypercall 18446744073709551578"). Multicall entries carry random
    // numbers, which are never that close to 2^64.
    for l in &r.lines {
        if let Some(n) = l.text.split("unknown hypercall ").nth(1) {
            let n: u64 = n.split(' ').next().unwrap().parse().unwrap();
            assert!(
                n < u64::MAX - 4095,
                "an errno issued as a hypercall: {}",
                l.text
            );
        }
    }
    let mut calls = vec![u64::MAX; 64];
    for l in &r.lines {
        let Some(rest) = l.text.strip_prefix("(d1) hcfuzz: hypercall ") else {
            continue;
        };
        let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
        let count = rest.split(": ").nth(1).unwrap().split(' ').next().unwrap();
        calls[n] = count.parse().unwrap();
    }
    for (n, &c) in calls.iter().enumerate() {
        assert_ne!(c, u64::MAX, "no count reported for hypercall {n}");
        if n == IRET {
            assert_eq!(c, 0, "iret must be left out");
        } else {
            assert!(c > 0, "hypercall {n} was never tried");
        }
    }
    assert_eq!(calls.iter().sum::<u64>(), CALLS, "per-number counts");
    let done = r
        .lines
        .iter()
        .find_map(|l| l.text.strip_prefix("(d1) hcfuzz: done, "))
        .expect("the fuzzer did not finish");
    assert!(done.starts_with(&format!("{CALLS} calls made, ")), "{done}");
    let trace = done.split("trace ").nth(1).expect("no trace").to_string();
    assert!(
        r.saw("(d1) hcfuzz: after: xen_version = 4.17"),
        "the hypervisor no longer answers after the fuzz"
    );
    assert_eq!(r.outcome, Outcome::Poweroff);
    Fuzzed { calls, trace }
}

#[test]
fn random_hypercalls_cannot_hurt_the_hypervisor() {
    fuzz(1, false);
    fuzz(2, false);
}

#[test]
fn random_hypercalls_cannot_hurt_the_hypervisor_with_superpages() {
    fuzz(3, true);
    fuzz(4, true);
}

#[test]
fn a_fuzz_seed_is_reproducible() {
    let first = fuzz(5, false);
    let second = fuzz(5, false);
    assert_eq!(first, second, "seed 5 ran differently twice");
    assert_ne!(first, fuzz(6, false), "different seeds ran the same calls");
}
