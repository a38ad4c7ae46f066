//! A guest for many-domain runs: one job from its command line, so that several of it side
//! by side show sharing, isolation and restarts.
//!
//! | command line | what it does |
//! |---|---|
//! | `ticks=N` (default) | N times: sleep 20 ms on `VIRQ_TIMER`, print `worker: tick i/N`; then power off |
//! | `spin` | mask events and loop forever; every 200 ms of system time it prints `worker: spinning N` (console_io) |
//! | `flood` | `xen_version(0)` in a loop forever |
//! | `crash` | write `worker: last words` with no newline, then touch an unmapped address with no trap table (the hypervisor crashes it) |
//! | `pieces=N` | N lines, each written in three pieces with a yield in between (`console_io`, the console ring, `console_io`), so that the pieces of two such domains interleave; then power off |
//! | `reboot-below=N` | reboot while its domain id is below N, else power off; first it checks that its free start-of-day pages read as zero (`worker: fresh memory: N pages, M not zero`) and fills them with a pattern, which the next domain must never see |
//! | `batch` | for 3 s: one `mmu_update` of 131072 requests, one `multicall` of 128 `mmu_update`s of 4096, and 1024 frames given back and repopulated with `memory_op`; checks every `done` count and result, that the page table is unchanged and the frames came back; prints the rounds and powers off |
//!
//! `ticks` also prints how late its latest wake-up was.
//!
//! It reads its own domain id from xenstore (`domid`) and prints it first.
#![no_std]
#![no_main]

use core::fmt::Write;
use guests::mm::frames::{p2m, FramePool, VIRT_BASE};
use guests::mm::pte::DATA_RW;
use guests::mm::tables::Window;
use guests::mm::{frames, ops, Bootstrap};
use guests::ring::PageSlot;
use guests::time::{self, MS};
use guests::xenstore::{as_text, Xenstore};
use guests::{events, hypercall, println, traps, StartInfo};
use pv_abi::event_channel::VIRQ_TIMER;
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT};
use pv_abi::xen::{hypercall as nr, MmuUpdate, MulticallEntry, DOMID_SELF};

/// Requests in the big `mmu_update`.
const BATCH: usize = 131_072;
/// `mmu_update`s in the multicall, and requests in each.
const CALLS: usize = 128;
const PER_CALL: usize = 4096;

static mut REQS: [MmuUpdate; BATCH] = [MmuUpdate { ptr: 0, val: 0 }; BATCH];
static mut CALL_LIST: [MulticallEntry; CALLS] = [MulticallEntry {
    op: 0,
    result: 0,
    args: [0; 6],
}; CALLS];
static mut DONE: [u32; CALLS] = [0; CALLS];
/// Frames given back and repopulated each round (the last ones, never mapped).
const EXTENTS: usize = 1024;
static mut EXTENT_LIST: [u64; EXTENTS] = [0; EXTENTS];
/// The page whose L1 entry every request rewrites (with its current value).
static mut TARGET: PageSlot = PageSlot([0; 4096]);

/// The machine address and value of the L1 entry mapping `va`.
fn pte_of(si: &StartInfo, va: u64) -> Option<(u64, u64)> {
    Bootstrap::new(si).l1_entry(si, va)
}

/// `mmu_update(list, n, &done)` → (result, done).
fn mmu_update(list: u64, n: usize) -> (i64, u32) {
    let mut done = 0xFFFF_FFFFu32;
    let args = [
        list,
        n as u64,
        &raw mut done as u64,
        u64::from(DOMID_SELF),
        0,
    ];
    // SAFETY: every request rewrites one L1 entry with the value it has (see `batch`).
    let rc = unsafe { traps::hypercall(nr::MMU_UPDATE, args) };
    (rc, done)
}

/// Gives the last `EXTENTS` frames back and repopulates their pfns (order 0 each).
fn cycle_extents(si: &StartInfo) -> Result<(), &'static str> {
    let first = si.nr_pages - EXTENTS as u64;
    if first < Bootstrap::new(si).mapped_pages {
        return Err("no unmapped frames to give back");
    }
    // SAFETY: our static list, not shared with anything but these hypercalls.
    let list =
        unsafe { core::slice::from_raw_parts_mut(&raw mut EXTENT_LIST as *mut u64, EXTENTS) };
    for (i, m) in list.iter_mut().enumerate() {
        *m = frames::p2m(si, first + i as u64).ok_or("no p2m entry")?;
    }
    let given = ops::decrease_reservation(list, 0);
    for (i, p) in list.iter_mut().enumerate() {
        *p = first + i as u64;
    }
    let back = ops::populate_physmap(list, 0);
    if given != Ok(EXTENTS as u64) || back != Ok(EXTENTS as u64) {
        println!("worker: batch: decrease {given:?}, populate {back:?}");
        return Err("memory_op did not do every extent");
    }
    for (i, &m) in list.iter().enumerate() {
        frames::set_p2m(si, first + i as u64, m);
        if frames::m2p(m) != first + i as u64 {
            return Err("the M2P does not name the repopulated pfn");
        }
    }
    Ok(())
}

/// The `batch` job (module doc).
fn batch(si: &StartInfo) -> Result<u64, &'static str> {
    let (ptr, val) = pte_of(si, &raw const TARGET as u64).ok_or("no PTE for the target")?;
    let reqs = &raw mut REQS as *mut MmuUpdate;
    for i in 0..BATCH {
        // SAFETY: in bounds of REQS, written before any hypercall reads it.
        unsafe { reqs.add(i).write(MmuUpdate { ptr, val }) };
    }
    let calls = &raw mut CALL_LIST as *mut MulticallEntry;
    let done = &raw mut DONE as *mut u32;
    let end = time::now() + 3_000 * MS;
    let mut rounds = 0;
    while time::now() < end {
        let (rc, n) = mmu_update(reqs as u64, BATCH);
        if rc != 0 || n as usize != BATCH {
            println!("worker: batch: mmu_update returned {rc}, done {n}");
            return Err("the big mmu_update did not complete");
        }
        for k in 0..CALLS {
            // SAFETY: in bounds of CALL_LIST and DONE; the hypervisor reads the entries and
            // writes their results and the done counts.
            unsafe {
                done.add(k).write_volatile(0xFFFF_FFFF);
                calls.add(k).write(MulticallEntry {
                    op: nr::MMU_UPDATE,
                    result: 0xDEAD,
                    args: [
                        reqs as u64,
                        PER_CALL as u64,
                        done.add(k) as u64,
                        u64::from(DOMID_SELF),
                        0,
                        0,
                    ],
                });
            }
        }
        // SAFETY: the list and the requests it names are ours (see above).
        let rc = unsafe { traps::hypercall(nr::MULTICALL, [calls as u64, CALLS as u64, 0, 0, 0]) };
        // SAFETY: as above; read after the hypervisor is done with them.
        let all_done = (0..CALLS).all(|k| unsafe {
            (*calls.add(k)).result == 0 && done.add(k).read_volatile() as usize == PER_CALL
        });
        if rc != 0 || !all_done {
            println!("worker: batch: multicall returned {rc}");
            return Err("a multicall entry did not complete");
        }
        cycle_extents(si)?;
        rounds += 1;
    }
    if pte_of(si, &raw const TARGET as u64) != Some((ptr, val)) {
        return Err("the page table changed");
    }
    Ok(rounds)
}

/// The `pieces` job (module doc): `worker: line i/N in three pieces, whole`, written as
/// `worker: line i/N ` (console_io), `in three pieces` (console ring), `, whole\n`
/// (console_io), yielding in between (a yield gives the CPU to the other runnable domain).
fn write_in_pieces(si: &StartInfo, n: u64) {
    let ring = guests::ring::ConsoleRing::new(si).ok();
    for i in 1..=n {
        let mut head = Line::default();
        let _ = write!(head, "worker: line {i}/{n} ");
        hypercall::console_write(hypercall::Via::Syscall, head.bytes());
        time::yield_now();
        match ring {
            Some(r) => r.write_all(b"in three pieces", 100),
            None => hypercall::console_write(hypercall::Via::Syscall, b"(no ring)") as usize,
        };
        time::yield_now();
        hypercall::console_write(hypercall::Via::Syscall, b", whole\n");
    }
}

/// A short line formatted on the stack.
#[derive(Default)]
struct Line {
    buf: [u8; 32],
    len: usize,
}

impl Line {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(core::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

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
        // No trap table: the fault is the hypervisor's to handle, and it crashes us.
        // SAFETY: a null list clears our trap table; nothing of ours relies on it any more.
        unsafe { traps::hypercall(nr::SET_TRAP_TABLE, [0; 5]) };
        // A partial line: the hypervisor shows it when the domain dies, before its end.
        hypercall::console_write(hypercall::Via::Syscall, b"worker: last words");
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
    if has(si, "batch") {
        match batch(si) {
            Ok(rounds) => println!(
                "worker: batch: {rounds} rounds of {BATCH} updates, {CALLS}x{PER_CALL} in multicalls and {EXTENTS} frames cycled, every one complete"
            ),
            Err(why) => println!("worker: batch: FAIL ({why})"),
        }
        hypercall::shutdown(SHUTDOWN_POWEROFF)
    }
    if let Some(n) = value(si, "pieces") {
        write_in_pieces(si, n);
        hypercall::shutdown(SHUTDOWN_POWEROFF)
    }
    let n = value(si, "ticks").unwrap_or(10);
    let timer = events::bind_virq(VIRQ_TIMER).unwrap_or(0);
    events::unmask(timer);
    let start = time::now();
    let mut latest = 0;
    for i in 1..=n {
        let asleep = time::now();
        time::sleep(20 * MS);
        latest = latest.max((time::now() - asleep).saturating_sub(20 * MS));
        println!("worker: tick {i}/{n}");
    }
    println!(
        "worker: done, {n} ticks in {} ms",
        (time::now() - start) / 1_000_000
    );
    println!("worker: latest wake-up {} ms late", latest / 1_000_000);
    hypercall::shutdown(SHUTDOWN_POWEROFF)
}
