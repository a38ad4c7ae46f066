//! The default guest of `just run`: a short tour of a PV unikernel, Mini-OS style.
//!
//! Hypercalls through the hypercall page, `set_callbacks` for the event and failsafe
//! callbacks, exceptions returned with a direct `iretq`, output through the console ring
//! once it is up. It shows who it is (CPUID and xenstore), lets a clock tick five times on
//! `VIRQ_TIMER` (`set_timer_op` + `SCHEDOP_block`), plays ping-pong over a loopback event
//! channel pair, and powers off. About 1.5 s.
#![no_std]
#![no_main]

use core::fmt::Write;

use guests::ring::{self, ConsoleRing};
use guests::time::{self, MS};
use guests::xenstore::{as_text, Text, Xenstore};
use guests::{events, println, rprintln, sse, traps, StartInfo};
use pv_abi::event_channel::VIRQ_TIMER;
use pv_abi::sched::SHUTDOWN_POWEROFF;
use pv_abi::xen::DOMID_SELF;

const TICKS: u32 = 5;
const TICK: u64 = 250 * MS;
const ROUNDS: u32 = 4;

fn setup(si: &StartInfo) -> u32 {
    traps::use_hypercall_page(true);
    guests::console::use_hypercall_page(true);
    traps::install_trap_table();
    traps::set_callbacks();
    events::init(si);
    let timer = events::bind_virq(VIRQ_TIMER).unwrap_or(0);
    events::unmask(timer);
    match ConsoleRing::new(si) {
        Ok(console) => {
            events::unmask(console.port);
            ring::set_console(&console);
            println!(
                "demo: console ring up (event channel {}); from here on output goes through it",
                console.port
            );
        }
        Err(e) => println!("demo: no console ring ({e}); staying on console_io"),
    }
    timer
}

fn banner() {
    rprintln!("+----------------------------------------------------------+");
    rprintln!("|   a Rust PV unikernel, speaking nothing but the Xen ABI   |");
    rprintln!("+----------------------------------------------------------+");
    let (version, name) = match sse::cpuid_forced(0x4000_0000, 0) {
        Some(r) => (
            sse::cpuid_forced(0x4000_0001, 0).map_or(0, |v| v[0]),
            sse::signature(&r),
        ),
        None => (0, *b"(no cpuid)  "),
    };
    rprintln!(
        "  hypervisor : {} {}.{} (cpuid leaf 0x40000000, forced emulation)",
        as_text(&name),
        version >> 16,
        version & 0xffff
    );
}

fn whoami(si: &StartInfo) {
    let mut xs = match Xenstore::new(si) {
        Ok(xs) => xs,
        Err(e) => return rprintln!("  xenstore   : unavailable ({e})"),
    };
    let mut read = |path: &str| -> Text<64> {
        let mut t = Text::new();
        match xs.read(0, path) {
            Ok(v) => {
                let _ = t.write_str(as_text(v));
            }
            Err(e) => {
                let _ = write!(t, "<{e}>");
            }
        }
        t
    };
    let (name, domid, target) = (read("name"), read("domid"), read("memory/target"));
    let target_mib = target.as_str().parse::<u64>().map_or(0, |k| k / 1024);
    rprintln!(
        "  xenstore   : I am {:?}, domain {}, memory/target {} MiB ({} pages)",
        name.as_str(),
        domid.as_str(),
        target_mib,
        si.nr_pages
    );
}

fn clock(timer: u32) {
    let (y, mo, d, ..) = time::civil_from_unix(time::wallclock_now().0);
    rprintln!(
        "  clock      : {y:04}-{mo:02}-{d:02}; {TICKS} ticks, each set_timer_op + SCHEDOP_block, \
         woken by VIRQ_TIMER"
    );
    let start = time::now();
    for tick in 1..=TICKS {
        let before = events::count(timer);
        time::sleep_until(start + u64::from(tick) * TICK);
        let (sec, nsec) = time::wallclock_now();
        let (_, _, _, h, m, s) = time::civil_from_unix(sec);
        let up = time::now();
        let mut bar = Text::<8>::new();
        for i in 0..TICKS {
            let _ = bar.write_char(if i < tick { '#' } else { '.' });
        }
        rprintln!(
            "    [{}] {h:02}:{m:02}:{s:02}.{:03} UTC   system time {}.{:03} s   VIRQ_TIMER x{}",
            bar.as_str(),
            nsec / 1_000_000,
            up / 1_000_000_000,
            up / MS % 1000,
            events::count(timer) - before
        );
    }
}

fn ping_pong() {
    let Ok(a) = events::alloc_unbound(DOMID_SELF) else {
        return rprintln!("  ping-pong  : alloc_unbound failed");
    };
    let Ok(b) = events::bind_interdomain(DOMID_SELF, a) else {
        return rprintln!("  ping-pong  : bind_interdomain failed");
    };
    events::unmask(a);
    events::unmask(b);
    rprintln!("  ping-pong  : loopback event channel, port {a} <-> port {b}");
    for round in 1..=ROUNDS {
        let start = time::now();
        let (seen_a, seen_b) = (events::count(a), events::count(b));
        events::send(a);
        let ping = time::wait_until(start + 500 * MS, || events::count(b) > seen_b);
        events::send(b);
        let pong = time::wait_until(start + 500 * MS, || events::count(a) > seen_a);
        let us = (time::now() - start) / 1000;
        let mark = |ok: bool| if ok { "ok" } else { "lost" };
        rprintln!(
            "    round {round}: ping {a} -> {b} {:<4}  pong {b} -> {a} {:<4}  {us:>5} us",
            mark(ping),
            mark(pong)
        );
    }
    events::close(b);
    events::close(a);
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    println!("demo: booting (console_io until the console ring is up)");
    let timer = setup(si);
    banner();
    whoami(si);
    clock(timer);
    ping_pong();
    let up = time::now();
    rprintln!(
        "  bye        : SCHEDOP_shutdown(poweroff) at system time {}.{:03} s",
        up / 1_000_000_000,
        up / MS % 1000
    );
    guests::hypercall::shutdown(SHUTDOWN_POWEROFF)
}
