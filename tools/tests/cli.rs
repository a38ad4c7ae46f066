//! `hvtool`'s command line: usage errors are told apart from guest outcomes (status 2), are
//! caught before anything is built or booted, and say what to do; `--help` lists the exit
//! statuses. (Outcomes that need QEMU are checked in `tests/tests/tool_outcomes.rs`.)

use std::process::{Command, Output};

use tools::status::Status;

fn hvtool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvtool"))
        .args(args)
        .output()
        .expect("running hvtool")
}

/// Runs hvtool, which must stop with a usage error; returns what it said.
fn usage_error(args: &[&str]) -> String {
    let o = hvtool(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(Status::Usage.code()),
        "{args:?}: {err}"
    );
    err
}

#[test]
fn memory_that_would_wrap_is_a_usage_error() {
    let err = usage_error(&["boot", "/etc/hostname", "--memory", "4294967295"]);
    assert!(err.contains("--memory"), "{err}");
    usage_error(&["run", "--memory", "0"]);
}

#[test]
fn a_missing_ramdisk_or_kernel_is_a_usage_error() {
    let err = usage_error(&["boot", "/etc/hostname", "--ramdisk", "/nonexistent"]);
    assert!(err.contains("ramdisk /nonexistent does not exist"), "{err}");
    usage_error(&["run", "--ramdisk", "/nonexistent"]);
    let err = usage_error(&["boot", "/nonexistent-kernel"]);
    assert!(
        err.contains("kernel /nonexistent-kernel does not exist"),
        "{err}"
    );
}

#[test]
fn an_unknown_guest_lists_the_guests_that_exist() {
    let err = usage_error(&["run", "--guest", "nosuch"]);
    assert!(err.contains("no guest named \"nosuch\""), "{err}");
    for guest in tools::artifacts::guest_names() {
        assert!(err.contains(&guest), "{guest} not listed: {err}");
    }
}

#[test]
fn help_lists_every_exit_status() {
    for args in [&["--help"][..], &["boot", "--help"][..]] {
        let o = hvtool(args);
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(&Status::table()), "{args:?}: {out}");
    }
}
