//! A guest for many-domain runs: one job from its command line, so that several of it side
//! by side show sharing, isolation and restarts.
//!
//! | command line | what it does |
//! |---|---|
//! | `ticks=N` (default) | N times: sleep 20 ms on `VIRQ_TIMER`, print `worker: tick i/N`; then power off |
//! | `spin` | mask events and loop forever; every 200 ms of system time it prints `worker: spinning N` (console_io) |
//! | `flood` | `xen_version(0)` in a loop forever |
//! | `crash` | touch an unmapped address with no trap table (the hypervisor crashes it) |
//! | `reboot-below=N` | reboot while its domain id is below N, else power off |
//!
//! It reads its own domain id from xenstore (`domid`) and prints it first.
#![no_std]
#![no_main]

use guests::time::{self, MS};
use guests::xenstore::{as_text, Xenstore};
use guests::{events, hypercall, println, traps, StartInfo};
use pv_abi::event_channel::VIRQ_TIMER;
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT};

fn value(si: &StartInfo, key: &str) -> Option<u64> {
    si.cmdline()
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .find_map(|v| v.parse().ok())
}

fn has(si: &StartInfo, word: &str) -> bool {
    si.cmdline().split_ascii_whitespace().any(|w| w == word)
}

fn domid(si: &StartInfo) -> Option<u64> {
    let mut xs = Xenstore::new(si).ok()?;
    let v = xs.read(0, "domid").ok()?;
    as_text(v).parse().ok()
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    traps::install_trap_table();
    traps::set_callbacks();
    events::init(si);
    let id = domid(si);
    println!("worker: domain {id:?}, cmdline {:?}", si.cmdline());
    if has(si, "spin") {
        events::irq_disable();
        println!("worker: spinning with events masked");
        let mut next = time::now() + 200 * MS;
        let mut n = 0u64;
        loop {
            core::hint::spin_loop();
            if time::now() >= next {
                n += 1;
                next += 200 * MS;
                println!("worker: spinning {n}");
            }
        }
    }
    if has(si, "flood") {
        println!("worker: flooding xen_version");
        loop {
            hypercall::xen_version(0, core::ptr::null_mut());
        }
    }
    if has(si, "crash") {
        println!("worker: crashing on purpose");
        // SAFETY: deliberately faults; with no handler the hypervisor crashes this domain.
        let v = unsafe { core::ptr::read_volatile(0x1000_0000_0000 as *const u64) };
        println!("worker: read {v} (should not get here)");
        hypercall::shutdown(SHUTDOWN_CRASH)
    }
    if let Some(limit) = value(si, "reboot-below") {
        let reason = match id {
            Some(d) if d < limit => SHUTDOWN_REBOOT,
            Some(_) => SHUTDOWN_POWEROFF,
            None => SHUTDOWN_CRASH,
        };
        println!("worker: shutting down with reason {reason}");
        hypercall::shutdown(reason)
    }
    let n = value(si, "ticks").unwrap_or(10);
    let timer = events::bind_virq(VIRQ_TIMER).unwrap_or(0);
    events::unmask(timer);
    let start = time::now();
    for i in 1..=n {
        time::sleep(20 * MS);
        println!("worker: tick {i}/{n}");
    }
    println!(
        "worker: done, {n} ticks in {} ms",
        (time::now() - start) / 1_000_000
    );
    hypercall::shutdown(SHUTDOWN_POWEROFF)
}
