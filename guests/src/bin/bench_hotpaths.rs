//! `bench_hotpaths`: what the PV hot paths cost, measured the same way under this hypervisor
//! and as dom0 of Xen (`hvtool bench-hotpaths` boots it under both). It needs nothing a Xen
//! dom0 lacks: output through `console_io`, no xenstore, no console ring.
//!
//! Medians over 101 repetitions of `rdtsc` cycles (after 10 warm-up rounds; the rounds of a
//! group interleaved), one sample per round:
//!
//! ```text
//!   null_syscall  xen_version(0) by a raw `syscall`
//!   null_page     xen_version(0) through the hypercall page
//!   mmu1          mmu_update: map 1 L1 entry, then unmap it (two calls)
//!   mmu16         the same with batches of 16 entries
//!   mmu512        the same with batches of 512 entries
//!   uvm           update_va_mapping map + unmap, flags 0
//!   uvm_invlpg    update_va_mapping map + unmap, UVMF_INVLPG
//!   pin_unpin     mmuext_op PIN_L1_TABLE of an empty L1, then UNPIN_TABLE (two calls)
//!   evtchn        EVTCHNOP_send on an IPI port of our own vCPU until its upcall counted it
//!   trap_iret     int3 bounced to our #BP handler, back through the `iret` hypercall
//!   pse           mmu_update: map + unmap one PSE L2 entry (`na` where refused: Xen)
//! ```
//!
//! The last line is exactly `RESULT name=N ...` in the order above (`pse=na` possible).
#![no_std]
#![no_main]

use core::arch::asm;

use guests::bench::{medians, REPS};
use guests::hypercall::{hypercall, shutdown, Via};
use guests::mm::frames::{first_free_pfn, p2m, superpage_mfn, SUPERPAGE_FRAMES};
use guests::mm::pte::{entry, superpage, DATA_RW};
use guests::mm::tables::{entry_maddr, new_table};
use guests::mm::{ops, Bootstrap, FramePool, Level, Window};
use guests::traps::{self, IretStyle};
use guests::{events, println, StartInfo};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};
use pv_abi::xen::{hypercall as nr, MmuUpdate, UVMF_INVLPG};

/// The L4 slot of our window.
const WINDOW_SLOT: usize = 300;

/// Everything the rounds use, built once.
struct Setup {
    /// Map requests for the 512 entries of the window's L1 (pfns `data..data + 512`).
    map: [MmuUpdate; 512],
    /// The matching unmap requests.
    unmap: [MmuUpdate; 512],
    /// The VA the L1's slot 0 maps (for `update_va_mapping`).
    va: u64,
    /// An empty, unhooked frame to pin as an L1.
    spare_table: u64,
    /// An IPI port of vCPU 0, unmasked.
    port: u32,
    /// PSE map and unmap requests, if a superpage is available.
    pse: Option<[MmuUpdate; 2]>,
}

/// Stops the benchmark with a reason.
fn fail(what: &str, rc: i64) -> ! {
    println!("bench_hotpaths: {what} failed: {rc}");
    shutdown(SHUTDOWN_CRASH)
}

/// Sends one batch; stops the benchmark if the hypervisor refuses it.
fn send(reqs: &[MmuUpdate]) {
    // SAFETY: every request writes an entry of the window's own tables, which map only
    // window addresses; nothing reads or writes through them.
    if let Err(e) = unsafe { ops::mmu_update(reqs) } {
        fail("mmu_update", e.errno);
    }
}

/// `xen_version(XENVER_version)` by `via`.
fn null_hypercall(via: Via) {
    // SAFETY: XENVER_version takes no buffer.
    unsafe { hypercall(via, nr::XEN_VERSION, [0; 5]) };
}

/// `update_va_mapping(va, val, flags)`; stops the benchmark on failure.
fn uvm(va: u64, val: u64, flags: u64) {
    // SAFETY: `va` lies in the window, which Rust code never uses.
    if let Err(rc) = unsafe { ops::update_va_mapping(va, val, flags) } {
        fail("update_va_mapping", rc);
    }
}

/// The window's tables (read through the bootstrap mapping, so before shared_info is
/// mapped over a `.bss` page), then traps and events.
fn setup(si: &'static StartInfo) -> Result<Setup, &'static str> {
    let boot = Bootstrap::new(si);
    let mut pool = FramePool::new(first_free_pfn(si), boot.mapped_pages.min(SUPERPAGE_FRAMES));
    // SAFETY: nothing in this program uses L4 slot 300; its mappings are never touched.
    let win = unsafe { Window::new(si, boot, WINDOW_SLOT) }.map_err(|_| "L4 slot busy")?;
    let (va, pse_va) = (win.base(), win.base() + (1 << 21));
    if let Err(e) = win.ensure(&mut pool, va, Level::L1) {
        println!("bench_hotpaths: building the window's tables: {e:?}");
        return Err("building the tables failed");
    }
    let l1 = win.table(va, Level::L1).ok_or("no L1")?;
    let spare_table = new_table(si, &boot, &mut pool).map_err(|_| "no spare table")?;
    // Data frames: the first 512 pfns above the bootstrap mapping, 2 MiB-aligned (a
    // superpage when the domain has one there).
    let data = boot.mapped_pages.next_multiple_of(SUPERPAGE_FRAMES);
    const NONE: MmuUpdate = MmuUpdate { ptr: 0, val: 0 };
    let (mut map, mut unmap) = ([NONE; 512], [NONE; 512]);
    for (i, (m, u)) in map.iter_mut().zip(unmap.iter_mut()).enumerate() {
        let mfn = p2m(si, data + i as u64).ok_or("too little memory for 512 data frames")?;
        let ptr = entry_maddr(l1, i);
        *m = MmuUpdate {
            ptr,
            val: entry(mfn, DATA_RW),
        };
        *u = MmuUpdate { ptr, val: 0 };
    }
    let pse = match (superpage_mfn(si, data), win.entry_ptr(pse_va, Level::L2)) {
        (Some(base), Some(ptr)) => Some([
            MmuUpdate {
                ptr,
                val: superpage(base, DATA_RW),
            },
            MmuUpdate { ptr, val: 0 },
        ]),
        _ => None,
    };
    if traps::install_trap_table() != 0 || traps::register_callbacks() != (0, 0) {
        return Err("trap table or callbacks refused");
    }
    if events::init(si) != 0 {
        return Err("mapping shared_info failed");
    }
    // Linux's way back from a bounce: the `iret` hypercall (through the hypercall page).
    traps::set_iret_style(IretStyle::HypercallPage);
    let port = events::bind_ipi().map_err(|_| "bind_ipi refused")?;
    events::unmask(port);

    Ok(Setup {
        map,
        unmap,
        va,
        spare_table,
        port,
        pse,
    })
}

/// Whether the hypervisor accepts a PSE map (it refuses without superpage support).
fn pse_allowed(pse: &[MmuUpdate; 2]) -> bool {
    // SAFETY: the entry is the window's L2 slot 1, which nothing uses.
    let ok = unsafe { ops::mmu_update(&pse[..1]) }.is_ok();
    if ok {
        send(&pse[1..]);
    }
    ok
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    let s = match setup(si) {
        Ok(s) => s,
        Err(why) => {
            println!("bench_hotpaths: setup failed: {why}");
            shutdown(SHUTDOWN_CRASH)
        }
    };
    let s = &s;
    println!("bench_hotpaths: median rdtsc cycles over {REPS} rounds");
    let [null_syscall, null_page] = medians([&mut || null_hypercall(Via::Syscall), &mut || {
        null_hypercall(Via::Page)
    }]);
    let batch = |n: usize| {
        move || {
            send(&s.map[..n]);
            send(&s.unmap[..n]);
        }
    };
    let (mut b1, mut b16, mut b512) = (batch(1), batch(16), batch(512));
    let [mmu1, mmu16, mmu512] = medians([&mut b1, &mut b16, &mut b512]);
    let uvm_round = |flags: u64| {
        move || {
            uvm(s.va, s.map[0].val, flags);
            uvm(s.va, 0, flags);
        }
    };
    let (mut u0, mut u1) = (uvm_round(0), uvm_round(UVMF_INVLPG));
    let [uvm_plain, uvm_invlpg] = medians([&mut u0, &mut u1]);
    let [pin_unpin] = medians([&mut || {
        if let Err(rc) = ops::pin(Level::L1, s.spare_table) {
            fail("pin", rc);
        }
        if let Err(rc) = ops::unpin(s.spare_table) {
            fail("unpin", rc);
        }
    }]);
    let mut lost = 0u32;
    let [evtchn, trap_iret] = medians([
        &mut || {
            let seen = events::count(s.port);
            events::send(s.port);
            // The upcall runs on the way back from the send; spin a little in case not.
            let mut spins = 0;
            while events::count(s.port) == seen && spins < 1000 {
                spins += 1;
                core::hint::spin_loop();
            }
            lost += u32::from(events::count(s.port) == seen);
        },
        &mut || {
            // SAFETY: int3 bounces to our #BP handler, which returns to the next instruction.
            unsafe { asm!("int3", options(nomem, nostack)) };
        },
    ]);
    if lost != 0 || traps::count(3) == 0 {
        println!(
            "bench_hotpaths: {lost} events not delivered, {} #BP delivered",
            traps::count(3)
        );
        shutdown(SHUTDOWN_CRASH);
    }
    let pse = s.pse.as_ref().filter(|p| pse_allowed(p)).map(|p| {
        let [c] = medians([&mut || {
            send(&p[..1]);
            send(&p[1..]);
        }]);
        c
    });
    let figures = [
        ("null_syscall", Some(null_syscall)),
        ("null_page", Some(null_page)),
        ("mmu1", Some(mmu1)),
        ("mmu16", Some(mmu16)),
        ("mmu512", Some(mmu512)),
        ("uvm", Some(uvm_plain)),
        ("uvm_invlpg", Some(uvm_invlpg)),
        ("pin_unpin", Some(pin_unpin)),
        ("evtchn", Some(evtchn)),
        ("trap_iret", Some(trap_iret)),
        ("pse", pse),
    ];
    for (name, c) in figures {
        match c {
            Some(c) => println!("bench_hotpaths: {name:<12} {c:>9} cycles"),
            None => println!("bench_hotpaths: {name:<12}        na"),
        }
    }
    guests::print!("RESULT");
    for (name, c) in figures {
        match c {
            Some(c) => guests::print!(" {name}={c}"),
            None => guests::print!(" {name}=na"),
        }
    }
    println!();
    shutdown(SHUTDOWN_POWEROFF)
}
