//! Shared helpers for the QEMU integration tests: build the bare-metal artifacts once per test
//! binary and boot a guest with a timeout.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use tools::artifacts::{self, Artifacts};
use tools::qemu::{self, BootMethod, RunConfig, RunResult};

/// The hypervisor and guests, built once.
pub fn artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(|| artifacts::build().expect("building hv and guests"))
}

/// A run of one of our guests with the usual defaults (`-kernel`, 64 MiB guest, 60 s timeout).
pub fn config(guest: &str) -> RunConfig {
    let a = artifacts();
    let mut cfg = RunConfig::new(a.hv(), a.guest(guest));
    cfg.hv_args = vec!["log=info".into(), "mem=64M".into()];
    cfg.machine_mib = 512;
    cfg.timeout = Duration::from_secs(60);
    cfg
}

/// Same with an arbitrary kernel file.
pub fn config_for_kernel(kernel: PathBuf) -> RunConfig {
    let mut cfg = config("hello");
    cfg.guest = kernel;
    cfg
}

/// Boots and returns the result, printing the serial log so a failing test shows it. Every
/// test fails if the hypervisor's teardown check of any domain said `verdict=FAIL` (a spage
/// count not back to 0 or a leaked frame).
pub fn run(cfg: &RunConfig) -> RunResult {
    let r = qemu::run(cfg).expect("running QEMU");
    let log = r.log();
    println!(
        "---- serial log ({:?}, {:?}) ----\n{log}\n----",
        cfg.method, r.outcome,
    );
    assert_mmcheck_ok(&log);
    r
}

/// Panics on an `MMCHECK dom=N … verdict=FAIL` line.
pub fn assert_mmcheck_ok(log: &str) {
    if let Some(bad) = log
        .lines()
        .find(|l| l.contains("MMCHECK dom=") && l.contains("verdict=FAIL"))
    {
        panic!("the hypervisor's teardown check failed: {bad}");
    }
}

/// Boots `guest` with `guest_cmdline` through `method`.
pub fn boot(guest: &str, method: BootMethod, guest_cmdline: Option<&str>) -> RunResult {
    let mut cfg = config(guest);
    cfg.method = method;
    cfg.guest_cmdline = guest_cmdline.map(String::from);
    run(&cfg)
}
