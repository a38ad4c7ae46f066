//! How a run ends is told truthfully: a file that is not a PV kernel and a memory size that
//! cannot hold the kernel are refused by the hypervisor with a sentence saying what is wrong
//! (and the machine-readable cause), and QEMU failing to start is a QEMU failure — never a
//! guest poweroff. (`hvtool` maps each outcome to its own exit status: `tools::status`.)

mod common;

use common::{config, config_for_kernel, run};
use tools::qemu::Outcome;
use tools::status::Status;

#[test]
fn a_file_that_is_not_elf_is_refused_with_a_sentence() {
    let path = tools::artifacts::scratch_dir().join("not-a-kernel.txt");
    std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\n").expect("writing the file");
    let r = run(&config_for_kernel(path.clone()));
    let line = format!(
        "cannot boot {}: it is not an ELF file (a guest must be a 64-bit Xen PV kernel)",
        path.display()
    );
    assert!(r.saw(&line), "no line {line:?}");
    assert!(r.saw("domain 1 not built: cause=Image(Elf(BadMagic))"));
    assert_eq!(r.outcome, Outcome::Refused);
    assert_eq!(Status::from(r.outcome), Status::Refused);
}

#[test]
fn too_little_memory_for_the_kernel_is_refused_with_what_to_do() {
    let mut cfg = config("hello");
    cfg.hv_args = vec!["log=info".into(), "mem=1M".into()];
    let r = run(&cfg);
    assert!(
        r.saw("1 MiB is too small for this kernel: it needs at least 4 MiB (give the domain more memory"),
        "no sentence about the memory size"
    );
    assert!(r.saw("cause=TooSmall { have: 1048576, need: Some(4194304), with_ramdisk: false }"));
    assert_eq!(r.outcome, Outcome::Refused);
}

#[test]
fn qemu_refusing_to_start_is_a_qemu_failure_not_a_poweroff() {
    let mut cfg = config("hello");
    cfg.machine_mib = 999_999 + 256;
    let r = run(&cfg);
    assert!(r.lines.is_empty(), "the machine should not have run");
    assert_eq!(r.outcome, Outcome::QemuFailure);
    assert_eq!(Status::from(r.outcome), Status::QemuFailure);
}
