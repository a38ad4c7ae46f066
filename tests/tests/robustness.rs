//! Guest input can never take the hypervisor down: a guest making thousands of hypercalls with
//! random numbers and garbage arguments gets errors (or, at worst, its own domain crashed),
//! and the hypervisor reports normally to the end.

mod common;

use common::{config, run};
use tools::qemu::Outcome;

fn fuzz(seed: u32, superpages: bool) {
    let mut cfg = config("hcfuzz");
    cfg.hv_args = vec!["log=warn".into(), "mem=32M".into()];
    if superpages {
        cfg.hv_args.push("superpages".into());
    }
    cfg.guest_cmdline = Some(format!("seed={seed} calls=20000"));
    let r = run(&cfg);
    assert!(!r.saw("FATAL") && !r.saw("PANIC"), "the hypervisor failed");
    assert_ne!(r.outcome, Outcome::HypervisorFailure);
    assert_ne!(r.outcome, Outcome::Timeout);
    // Either the guest finished its calls, or it harmed itself and was crashed alone.
    assert!(
        (r.saw("hcfuzz: done") && r.outcome == Outcome::Poweroff)
            || (r.saw("domain 1 crashed") && r.outcome == Outcome::Crash),
        "unexpected end: {:?}",
        r.outcome
    );
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
