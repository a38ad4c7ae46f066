//! `bench_superpage`: what a 2 MiB superpage mapping costs through the PV MMU, against 4 KiB
//! mappings. Run in a domain built with superpages (`hvtool bench-superpage`).
//!
//! Medians over 101 repetitions of `rdtsc` cycles (after 10 warm-up rounds; the measured
//! operations interleaved), each round one map and one unmap of:
//!
//! ```text
//!   pse_cycles     one PSE L2 entry (2 MiB)         2 mmu_update calls of 1 entry
//!   pte1_cycles    one 4 KiB L1 entry               2 mmu_update calls of 1 entry
//!   pte512_cycles  the same 2 MiB as 512 L1 entries 2 mmu_update calls of 512 entries
//!   per PTE        batches of 1, 16 and 512 L1 entries, cycles / entries
//! ```
//!
//! The last two lines are the ratios (goal: pse/pte1 <= 2, pte512/pse >= 50) and exactly
//! `RESULT pse_cycles=N pte1_cycles=N pte512_cycles=N`.
#![no_std]
#![no_main]

use guests::bench::{medians, REPS};
use guests::hypercall::shutdown;
use guests::mm::frames::{first_free_pfn, superpage_mfn, SUPERPAGE_FRAMES};
use guests::mm::pte::{entry, superpage, DATA_RW};
use guests::mm::{ops, Bootstrap, FramePool, Level, Window};
use guests::{println, StartInfo};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};
use pv_abi::xen::MmuUpdate;

/// The L4 slot of our window.
const WINDOW_SLOT: usize = 300;

/// The requests the benchmark sends: all target entries of the window's own tables.
struct Requests {
    pse_map: [MmuUpdate; 1],
    pse_unmap: [MmuUpdate; 1],
    pte_map: [MmuUpdate; 512],
    pte_unmap: [MmuUpdate; 512],
}

/// Sends one batch; stops the benchmark if the hypervisor refuses it.
fn send(reqs: &[MmuUpdate]) {
    // SAFETY: every request writes an entry of the window's L2 or L1 tables, which map only
    // window addresses; nothing reads or writes through them.
    if let Err(e) = unsafe { ops::mmu_update(reqs) } {
        println!(
            "bench_superpage: mmu_update of {} entries failed: {e:?}",
            reqs.len()
        );
        shutdown(SHUTDOWN_CRASH);
    }
}

/// `a / b` with two decimals, as text parts.
fn ratio(a: u64, b: u64) -> (u64, u64) {
    let x100 = (a * 100).checked_div(b).unwrap_or(0);
    (x100 / 100, x100 % 100)
}

/// Builds the window (an L2 with an L1 at 2 MiB slot 0; slot 1 takes the PSE entry) and the
/// request arrays for the first superpage above the bootstrap mapping. The single-PTE rounds
/// use the first of the 512 L1 requests.
fn setup(si: &'static StartInfo, r: &mut Requests) -> Result<(), &'static str> {
    let boot = Bootstrap::new(si);
    let mut pool = FramePool::new(first_free_pfn(si), boot.mapped_pages.min(SUPERPAGE_FRAMES));
    // SAFETY: nothing in this program uses L4 slot 300; its mappings are never touched.
    let win = unsafe { Window::new(si, boot, WINDOW_SLOT) }.map_err(|_| "L4 slot busy")?;
    let (batch_va, pse_va) = (win.base(), win.base() + (1 << 21));
    let first = boot.mapped_pages.next_multiple_of(SUPERPAGE_FRAMES);
    let base = superpage_mfn(si, first).ok_or("no superpage above the bootstrap mapping")?;
    println!("bench_superpage: superpage at pfn {first:#x} = mfn {base:#x}");
    win.ensure(&mut pool, batch_va, Level::L1)
        .map_err(|_| "building the tables failed")?;
    let pse_ptr = win.entry_ptr(pse_va, Level::L2).ok_or("no L2")?;
    let l1 = win.table(batch_va, Level::L1).ok_or("no L1")?;
    r.pse_map[0] = MmuUpdate {
        ptr: pse_ptr,
        val: superpage(base, DATA_RW),
    };
    r.pse_unmap[0] = MmuUpdate {
        ptr: pse_ptr,
        val: 0,
    };
    for i in 0..512 {
        let ptr = guests::mm::tables::entry_maddr(l1, i);
        r.pte_map[i] = MmuUpdate {
            ptr,
            val: entry(base + i as u64, DATA_RW),
        };
        r.pte_unmap[i] = MmuUpdate { ptr, val: 0 };
    }
    Ok(())
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    const NONE: MmuUpdate = MmuUpdate { ptr: 0, val: 0 };
    let mut r = Requests {
        pse_map: [NONE],
        pse_unmap: [NONE],
        pte_map: [NONE; 512],
        pte_unmap: [NONE; 512],
    };
    match setup(si, &mut r) {
        Ok(()) => {}
        Err(why) => {
            println!("bench_superpage: setup failed: {why} (is the domain built with superpages?)");
            shutdown(SHUTDOWN_CRASH)
        }
    }
    let r = &r;
    println!("bench_superpage: median rdtsc cycles over {REPS} rounds of map + unmap");
    let [pse, pte1, pte512] = medians([
        &mut || {
            send(&r.pse_map);
            send(&r.pse_unmap);
        },
        &mut || {
            send(&r.pte_map[..1]);
            send(&r.pte_unmap[..1]);
        },
        &mut || {
            send(&r.pte_map);
            send(&r.pte_unmap);
        },
    ]);
    println!("bench_superpage: 2 MiB, one PSE L2 entry         : {pse:>9} cycles");
    println!("bench_superpage: 4 KiB, one L1 entry             : {pte1:>9} cycles");
    println!("bench_superpage: 2 MiB as 512 L1 entries, batched: {pte512:>9} cycles");
    let batch = |n: usize| {
        move || {
            send(&r.pte_map[..n]);
            send(&r.pte_unmap[..n]);
        }
    };
    let (mut b1, mut b16, mut b512) = (batch(1), batch(16), batch(512));
    let per_batch = medians([&mut b1, &mut b16, &mut b512]);
    for (n, c) in [1u64, 16, 512].into_iter().zip(per_batch) {
        println!(
            "bench_superpage: batches of {n:>3} L1 entries: {:>7} cycles per entry (map + unmap)",
            c / n
        );
    }
    let (a, b) = ratio(pse, pte1);
    let (c, d) = ratio(pte512, pse);
    println!("ratios: pse/pte1={a}.{b:02} (goal <= 2) pte512/pse={c}.{d:02} (goal >= 50)");
    println!("RESULT pse_cycles={pse} pte1_cycles={pte1} pte512_cycles={pte512}");
    shutdown(SHUTDOWN_POWEROFF)
}
