//! A guest for many-domain runs: one job from its command line, so that several of it side
//! by side show sharing, isolation and restarts.
//!
//! | command line | what it does |
//! |---|---|
//! | `ticks=N` (default) | N times: sleep 20 ms on `VIRQ_TIMER`, print `worker: tick i/N`; then power off |
//! | `spin` | mask events and loop forever; every 200 ms of system time it prints `worker: spinning N` (console_io) |
//! | `flood` | `xen_version(0)` in a loop forever |
//! | `crash` | touch an unmapped address with no trap table (the hypervisor crashes it) |
//! | `reboot-below=N` | reboot while its domain id is below N, else power off; first it checks that its free start-of-day pages read as zero (`worker: fresh memory: N pages, M not zero`) and fills them with a pattern, which the next domain must never see |
//!
//! It reads its own domain id from xenstore (`domid`) and prints it first.
#![no_std]
#![no_main]

use guests::mm::frames::{p2m, Bootstrap, FramePool, VIRT_BASE};
use guests::mm::pte::DATA_RW;
use guests::mm::tables::Window;
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

/// L4 slot of the window through which the fresh-memory check reaches its pages.
const WINDOW_SLOT: usize = 300;

/// Three page-aligned pages of our image for the window's L3, L2 and L1 (they must lie in
/// the start-of-day mapping, where the table walker reads them).
#[repr(C, align(4096))]
struct TablePages([[u8; 4096]; 3]);
static mut TABLE_PAGES: TablePages = TablePages([[0; 4096]; 3]);

/// Counts the pages above the start-of-day mapping that do not read as zero (memory a domain
/// gets must hold no one's old data), then fills them all with a pattern that a later domain
/// would see if the hypervisor handed these frames out unscrubbed.
fn check_and_dirty_fresh_memory(si: &'static StartInfo) {
    let boot = Bootstrap::new(si);
    // The window's tables come from `TABLE_PAGES` (never touched by Rust code: they become
    // read-only page tables); every pfn above the start-of-day mapping is checked.
    let tables = (&raw const TABLE_PAGES as u64 - VIRT_BASE) / 4096;
    let mut pool = FramePool::new(tables, tables + 3);
    let first = boot.mapped_pages;
    // SAFETY: nothing in this program uses L4 slot 300 other than through these mappings,
    // touched only with raw pointers.
    let Ok(win) = (unsafe { Window::new(si, boot, WINDOW_SLOT) }) else {
        println!("worker: fresh memory: L4 slot busy");
        return;
    };
    let (mut checked, mut not_zero) = (0u64, 0u64);
    for pfn in first..si.nr_pages {
        let va = win.base();
        let Some(mfn) = p2m(si, pfn) else { break };
        if win.map_4k(&mut pool, va, mfn, DATA_RW).is_err() {
            println!("worker: fresh memory: cannot map pfn {pfn}");
            return;
        }
        let page = va as *mut u64;
        // SAFETY: `va` maps our frame `mfn`, which nothing else in this guest uses.
        unsafe {
            if (0..512).any(|i| page.add(i).read_volatile() != 0) {
                not_zero += 1;
            }
            for i in 0..512 {
                page.add(i).write_volatile(0xA5A5_A5A5_A5A5_A5A5);
            }
        }
        let _ = win.unmap_4k(va);
        checked += 1;
    }
    println!("worker: fresh memory: {checked} pages, {not_zero} not zero");
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
        check_and_dirty_fresh_memory(si);
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
