//! The walking skeleton: the hypervisor boots through both loaders, runs a PV guest in ring 3,
//! shows its console output and stops QEMU with an exit code that says how the guest ended.
//! Failure paths: an unknown hypercall gets -ENOSYS, a guest fault crashes that domain alone
//! with a clear log line, and a fault inside the hypervisor is reported before stopping.

mod common;

use common::{boot, config, run};
use tools::qemu::{BootMethod, Outcome};

fn assert_hello_ran(r: &tools::qemu::RunResult) {
    assert!(
        r.saw("(d1) Hello from a Rust PV guest (via the hypercall page)"),
        "no console line"
    );
    assert!(r.saw("(d1) hello: and via raw syscall too"));
    assert!(r.saw("magic=xen-3.0-x86_64"), "start_info magic not seen");
    assert!(r.saw("domain 1 shut down: poweroff"));
    assert_eq!(r.outcome, Outcome::Poweroff);
}

#[test]
fn hello_boots_from_qemu_kernel_multiboot1() {
    let r = boot("hello", BootMethod::Kernel, Some("from-kernel"));
    assert!(r.saw("booted by multiboot1"));
    assert!(r.saw("cmdline=\"from-kernel\""));
    assert_hello_ran(&r);
}

#[test]
fn hello_boots_from_grub_multiboot2_iso() {
    let r = boot("hello", BootMethod::Iso, Some("from-grub"));
    assert!(r.saw("booted by multiboot2"));
    assert!(r.saw("cmdline=\"from-grub\""));
    assert_hello_ran(&r);
}

#[test]
fn unknown_hypercall_returns_enosys() {
    let r = boot("hello", BootMethod::Kernel, Some("enosys"));
    assert!(r.saw("(d1) hello: unknown hypercall 63 returned -38"));
    // The hypervisor's own line (the guest's line above also names hypercall 63).
    assert!(
        r.lines
            .iter()
            .any(|l| l.text.starts_with("(HV) WARN") && l.text.contains("d1: unknown hypercall 63")),
        "hypervisor should log the unknown hypercall"
    );
    assert_eq!(r.outcome, Outcome::Poweroff);
}

#[test]
fn guest_fault_without_trap_table_crashes_only_that_domain() {
    let r = boot("hello", BootMethod::Kernel, Some("fault"));
    assert!(r.saw("(d1) hello: touching an unmapped address"));
    assert!(!r.saw("should not get here"));
    assert!(
        r.saw("domain 1 crashed: page fault"),
        "clear crash line expected"
    );
    assert!(r.saw("cr2 0x100000000000"));
    assert!(!r.saw("FATAL"), "the hypervisor itself must not fail");
    assert_eq!(r.outcome, Outcome::Crash);
}

#[test]
fn hypervisor_exception_is_reported_and_fails_the_machine() {
    let mut cfg = config("hello");
    cfg.hv_args.push("selftest=hvfault".into());
    let r = run(&cfg);
    assert!(r.saw("FATAL: hypervisor exception 14 (page fault) error code 0x0 at rip 0x"));
    assert!(r.saw("cr2 0xffff810000000000"));
    assert_eq!(r.outcome, Outcome::HypervisorFailure);
}

#[test]
fn hypervisor_stack_overflow_hits_the_guard_page() {
    let mut cfg = config("hello");
    cfg.hv_args.push("selftest=stackoverflow".into());
    let r = run(&cfg);
    assert!(
        r.saw("FATAL: hypervisor exception 8 (double fault)"),
        "an overflow must double-fault onto the IST stack"
    );
    assert!(r.saw("hypervisor stack overflow: cr2 is in the guard page below a stack"));
    assert_eq!(r.outcome, Outcome::HypervisorFailure);
}

#[test]
fn ramdisk_module_reaches_the_guest_through_both_loaders() {
    let path = tools::artifacts::scratch_dir().join("test-ramdisk.bin");
    let mut data = b"RAMDISK-0123456789-abcdefghijklm".to_vec();
    data.resize(3 * 4096 + 17, 0x5a);
    std::fs::write(&path, &data).expect("writing the test ramdisk");
    for method in [BootMethod::Kernel, BootMethod::Iso] {
        let mut cfg = config("hello");
        cfg.method = method;
        cfg.ramdisk = Some(path.clone());
        let r = run(&cfg);
        assert!(
            r.saw(&format!("hello: ramdisk of {} bytes", data.len())),
            "{method:?}: ramdisk length"
        );
        assert!(
            r.saw("starts \"RAMDISK-0123456789-abcdefghijklm\""),
            "{method:?}: ramdisk bytes"
        );
        assert_eq!(r.outcome, Outcome::Poweroff);
    }
}
