//! A Mini-OS-class unikernel that uses every part of the PV ABI a real one needs and prints a
//! verdict per feature:
//!
//! ```text
//! unikernel: <feature>: PASS|FAIL (<detail>)
//! unikernel: N/M passed
//! ```
//!
//! then powers off (all passed) or crashes (something failed). Setup follows Mini-OS and
//! Linux: trap table, `callback_op` registration, shared_info mapped with
//! `update_va_mapping`, every port masked, `VIRQ_TIMER` bound, events enabled.
//!
//! Command line: `console-input` waits (up to 30 s) for a line typed on the console ring;
//! `wait-shutdown` stays up after the verdicts until `control/shutdown` is written in
//! xenstore, then shuts down as asked.
#![no_std]
#![no_main]
// Details are fixed-size text buffers (no heap in a unikernel); returning them by value is
// the point.
#![allow(clippy::result_large_err)]

use guests::xenstore::{Text, Xenstore};
use guests::{events, println, time, traps, StartInfo};
use pv_abi::event_channel::VIRQ_TIMER;
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};

/// A verdict's detail text.
pub type Detail = Text<240>;

/// Builds a [`Detail`] with `format!` syntax.
macro_rules! detail {
    ($($t:tt)*) => {{
        let mut d = $crate::Detail::new();
        let _ = core::fmt::Write::write_fmt(&mut d, format_args!($($t)*));
        d
    }};
}

/// Fails the current check with a formatted detail unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($t:tt)*) => {
        if !$cond {
            return Err(detail!($($t)*));
        }
    };
}

#[path = "unikernel/channels.rs"]
mod channels;
#[path = "unikernel/clock.rs"]
mod clock;
#[path = "unikernel/cpu.rs"]
mod cpu;
#[path = "unikernel/segments.rs"]
mod segments;
#[path = "unikernel/store.rs"]
mod store;
#[path = "unikernel/vcpu_info.rs"]
mod vcpu_info;

/// The outcome of one feature check.
pub type Check = Result<Detail, Detail>;

/// Collects every failed sub-check of a feature, so one run shows them all. A feature passes
/// only if at least one check ran and none failed.
#[derive(Default)]
pub struct Problems {
    text: Detail,
    count: u32,
    checks: u32,
}

impl Problems {
    /// Records a failure.
    pub fn add(&mut self, what: core::fmt::Arguments) {
        let sep = if self.count == 0 { "" } else { "; " };
        let _ = core::fmt::Write::write_fmt(&mut self.text, format_args!("{sep}{what}"));
        self.count += 1;
    }

    /// Records a failure unless `ok`.
    pub fn check(&mut self, ok: bool, what: core::fmt::Arguments) {
        self.checks += 1;
        if !ok {
            self.add(what);
        }
    }

    /// `Ok(pass_detail)` if checks ran and nothing failed, else the failures.
    pub fn into_check(self, pass_detail: Detail) -> Check {
        if self.checks == 0 && self.count == 0 {
            Err(detail!("no check ran"))
        } else if self.count == 0 {
            Ok(pass_detail)
        } else {
            Err(self.text)
        }
    }
}

/// What the checks share.
pub struct Ctx {
    /// Our start_info.
    pub si: &'static StartInfo,
    /// Port bound to `VIRQ_TIMER` at setup.
    pub timer_port: u32,
    /// Results of `callback_op(register)` for the event and failsafe callbacks.
    pub callbacks_rc: (i64, i64),
    /// Our domain id, once an event-channel status told us.
    pub domid: Option<u16>,
    /// Whether the command line asked to wait for console input.
    pub console_input: bool,
    /// The xenstore client, once set up.
    pub xs: Option<Xenstore>,
    /// Our domain's xenstore path.
    pub domain_path: Text<64>,
}

/// Waits up to `timeout` ns for an upcall to count `port` beyond `seen`, yielding meanwhile
/// (independent of `set_timer_op`, `block` and `poll`, which some checks test).
pub fn spin_wait(port: u32, seen: u32, timeout: u64) -> bool {
    let deadline = time::now() + timeout;
    while events::count(port) <= seen {
        if time::now() >= deadline {
            return false;
        }
        time::yield_now();
    }
    true
}

/// A loopback pair: `alloc_unbound(DOMID_SELF)` and `bind_interdomain` to it, both unmasked.
pub fn loopback_pair() -> Result<(u32, u32), Detail> {
    let self_id = pv_abi::xen::DOMID_SELF;
    let a = events::alloc_unbound(self_id).map_err(|rc| detail!("alloc_unbound: {rc}"))?;
    let b = events::bind_interdomain(self_id, a).map_err(|rc| detail!("bind_interdomain: {rc}"))?;
    events::unmask(a);
    events::unmask(b);
    Ok((a, b))
}

struct Report {
    passed: u32,
    total: u32,
}

impl Report {
    fn verdict(&mut self, feature: &str, result: Check) {
        self.total += 1;
        match result {
            Ok(d) => {
                self.passed += 1;
                println!("unikernel: {feature}: PASS ({})", d.as_str());
            }
            Err(d) => println!("unikernel: {feature}: FAIL ({})", d.as_str()),
        }
    }
}

fn setup(si: &'static StartInfo) -> Ctx {
    let trap_rc = traps::install_trap_table();
    let callbacks_rc = traps::register_callbacks();
    let map_rc = events::init(si);
    let timer_port = events::bind_virq(VIRQ_TIMER).unwrap_or(0);
    if timer_port != 0 {
        events::unmask(timer_port);
    }
    println!(
        "unikernel: setup: set_trap_table={trap_rc} callback_op={callbacks_rc:?} \
         shared_info map={map_rc} virq_timer port={timer_port}"
    );
    let line = si.cmdline();
    Ctx {
        si,
        timer_port,
        callbacks_rc,
        domid: None,
        console_input: line.split_ascii_whitespace().any(|w| w == "console-input"),
        xs: None,
        domain_path: Text::new(),
    }
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    println!("unikernel: starting, cmdline {:?}", si.cmdline());
    if si
        .cmdline()
        .split_ascii_whitespace()
        .any(|w| w == "verdict-selftest")
    {
        // A feature that ran no check must not pass (tests/tests/unikernel.rs).
        let mut report = Report {
            passed: 0,
            total: 0,
        };
        report.verdict(
            "no-checks",
            Problems::default().into_check(detail!("nothing")),
        );
        guests::hypercall::shutdown(SHUTDOWN_POWEROFF)
    }
    let mut ctx = setup(si);
    let mut report = Report {
        passed: 0,
        total: 0,
    };
    report.verdict("traps", cpu::traps());
    report.verdict("iret", cpu::iret());
    report.verdict("callbacks", channels::callbacks(&ctx));
    report.verdict("sse", cpu::sse());
    report.verdict("fpu_taskswitch", cpu::fpu_taskswitch());
    report.verdict("cpuid-emulation", cpu::cpuid());
    report.verdict("msr-emulation", cpu::msr());
    report.verdict("set_gdt", segments::set_gdt_check(ctx.si));
    report.verdict(
        "update_descriptor",
        segments::update_descriptor_check(ctx.si),
    );
    report.verdict("ldt", segments::ldt_check(ctx.si));
    report.verdict("user-selectors", segments::user_selectors_check());
    report.verdict("vcpu-misc", segments::vcpu_misc_check());
    report.verdict("privileged-instructions", cpu::privileged());
    report.verdict("debug-registers", cpu::debug_registers());
    report.verdict("time", clock::time(&ctx));
    report.verdict("timers", clock::timers(&ctx));
    report.verdict("time-memory-area", clock::time_area());
    report.verdict("block-yield-poll", clock::block_yield_poll(&ctx));
    report.verdict("events", channels::events(&mut ctx));
    report.verdict("console-ring", channels::console_ring(&ctx));
    report.verdict("grant-table", channels::grant_table(&ctx));
    report.verdict("xenstore", store::xenstore(&mut ctx));
    report.verdict("shutdown-watch", store::shutdown_watch(&mut ctx));
    report.verdict("register-vcpu-info", vcpu_info::register(&ctx));
    println!("unikernel: {}/{} passed", report.passed, report.total);
    if si
        .cmdline()
        .split_ascii_whitespace()
        .any(|w| w == "wait-shutdown")
    {
        store::wait_for_shutdown(&mut ctx);
    }
    let all = report.passed == report.total;
    guests::hypercall::shutdown(if all {
        SHUTDOWN_POWEROFF
    } else {
        SHUTDOWN_CRASH
    })
}
