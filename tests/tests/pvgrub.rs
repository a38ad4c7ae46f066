//! PV GRUB from Debian's `grub-xen-host` — a real 64-bit PV guest nobody here wrote — boots
//! under the hypervisor to its prompt on the console ring, takes a typed command and runs it,
//! then exits (GRUB's `exit` is a SCHEDOP_shutdown poweroff).

mod common;

use std::path::PathBuf;

use common::{config_for_kernel, run};
use tools::qemu::Outcome;

const PV_GRUB: &str = "/usr/lib/grub-xen/grub-x86_64-xen.bin";

#[test]
fn pv_grub_reaches_its_prompt_and_runs_a_typed_command() {
    let kernel = PathBuf::from(PV_GRUB);
    assert!(
        kernel.exists(),
        "{PV_GRUB} is missing: install Debian's grub-xen-host (tools/setup.sh does)"
    );
    let mut cfg = config_for_kernel(kernel);
    cfg.input = vec![
        ("grub>".into(), "echo typed-into-pv-grub\r".into()),
        ("typed-into-pv-grub".into(), "exit\r".into()),
    ];
    let r = run(&cfg);
    assert!(r.saw("GNU GRUB"), "no GRUB banner");
    assert!(r.saw("grub>"), "no prompt");
    assert!(
        r.lines
            .iter()
            .any(|l| l.text.trim_end() == "(d1) typed-into-pv-grub"),
        "the typed command's output is missing"
    );
    assert!(!r.saw("FATAL"));
    assert_eq!(r.outcome, Outcome::Poweroff);
}
