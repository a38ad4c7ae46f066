//! Mini-OS — the Xen project's own PV unikernel, unmodified — under the hypervisor.
//!
//! Mini-OS is not packaged and its code is not in this repository: build it yourself from its
//! public source and point `MINIOS_KERNEL` at the ELF (the default configuration, or one built
//! with `CONFIG_TEST=y`). The test is `#[ignore]`d, so a plain `cargo test` reports it as
//! ignored, never as passed; `just test-qemu` runs it (`--ignored`) when `MINIOS_KERNEL` is set,
//! and CI sets it to `../shared/guests/mini-os` when that file is beside the clone.
//!
//! The test waits for the boot banner and the application's first line, then has the hypervisor
//! ask for a shutdown through xenstore `control/shutdown` (Mini-OS's shutdown thread watches it)
//! and checks that Mini-OS powers off cleanly.

mod common;

use std::path::PathBuf;

use common::{config_for_kernel, run};
use tools::qemu::Outcome;

#[test]
#[ignore = "needs a Mini-OS ELF: MINIOS_KERNEL=FILE cargo test --test minios -- --ignored"]
fn minios_boots_runs_its_application_and_shuts_down_cleanly() {
    let kernel = std::env::var_os("MINIOS_KERNEL")
        .map(PathBuf::from)
        .expect("MINIOS_KERNEL must name a Mini-OS ELF (built outside this repository)");
    assert!(
        kernel.exists(),
        "MINIOS_KERNEL={} does not exist",
        kernel.display()
    );
    let mut cfg = config_for_kernel(kernel);
    cfg.hv_args = vec![
        "log=info".into(),
        "mem=32M".into(),
        "shutdown_after=3s".into(),
    ];
    let r = run(&cfg);
    assert!(r.saw("(d1) Bootstrapping..."), "no console_io banner");
    assert!(r.saw("(d1) Xen Minimal OS"), "no boot banner");
    assert!(
        r.saw("Initialising console ... done."),
        "console ring not up"
    );
    assert!(r.saw("gnttab_table mapped at"), "grant table not mapped");
    let app = r
        .time_of("kernel.c: dummy main: par=0")
        .or_else(|| r.time_of("Test main: par=0"))
        .expect("the application never ran");
    if r.saw("Test main") {
        assert!(
            r.saw("(d1) T(s="),
            "CONFIG_TEST: the periodic thread never ticked"
        );
    }
    let asked = r
        .time_of("asking domain 1 to shut down")
        .expect("no shutdown request");
    assert!(asked > app);
    if r.saw("dummy main") {
        // The default configuration's shutdown thread reports the request it saw.
        assert!(
            r.saw("(d1) Shutdown requested: 0"),
            "Mini-OS did not see control/shutdown"
        );
    }
    assert!(r.saw("domain 1 shut down: poweroff"));
    assert!(!r.saw("FATAL") && !r.saw("crashed"));
    assert_eq!(r.outcome, Outcome::Poweroff);
}
