//! `mmu_test`: builds its own page tables through the PV MMU hypercalls, maps and unmaps
//! 2 MiB superpages, and tries the known attacks on a PV MMU (writable page-table mappings,
//! XSA-148 PSE/RW flips, XSA-167 absurd frame numbers, superpage/page-table confusion,
//! releasing frames under a live superpage, linear page-table count overflow, and forging
//! page-table entries or a use-after-free through the rings the hypervisor writes), and
//! writes to its read-only page tables emulated by the hypervisor (writable page tables), and
//! the staging of PSE in CPUID (shown to a superpage domain only after register_vcpu_info).
//!
//! One line per case: `mmu_test: <case>: PASS|FAIL (<what was sent: got X, want Y; ...>)`,
//! expectations following Xen; then `mmu_test: N/M passed` and poweroff (all passed) or
//! crash. Run it twice: built with superpages (`hvtool run --superpages`), and without, with
//! the command line word `nosuper` (the superpage-only cases are then skipped and PSE must be
//! refused).
#![no_std]
#![no_main]

#[path = "mmu_test/bad_frames.rs"]
mod bad_frames;
#[path = "mmu_test/env.rs"]
mod env;
#[path = "mmu_test/held_frames.rs"]
mod held_frames;
#[path = "mmu_test/memory.rs"]
mod memory;
#[path = "mmu_test/pagetables.rs"]
mod pagetables;
#[path = "mmu_test/pse_stage.rs"]
mod pse_stage;
#[path = "mmu_test/ptwr.rs"]
mod ptwr;
#[path = "mmu_test/report.rs"]
mod report;
#[path = "mmu_test/superpages.rs"]
mod superpages;

use guests::hypercall::shutdown;
use guests::{println, StartInfo};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};

use env::Env;
use report::Report;

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    if si
        .cmdline()
        .split_ascii_whitespace()
        .any(|w| w == "verdict-selftest")
    {
        // A case that ran no probe must not pass (tests/tests/mmu.rs).
        Report::new().verdict("no-probes", report::Detail::new());
        shutdown(SHUTDOWN_POWEROFF)
    }
    let superpages = !si
        .cmdline()
        .split_ascii_whitespace()
        .any(|w| w == "nosuper");
    println!(
        "mmu_test: {} pages, expecting a domain built {} superpages",
        si.nr_pages,
        if superpages { "with" } else { "without" }
    );
    let mut env = match Env::new(si, superpages) {
        Ok(env) => env,
        Err(why) => {
            println!("mmu_test: setup failed: {why}");
            shutdown(SHUTDOWN_CRASH)
        }
    };
    let mut report = Report::new();
    pagetables::build_own_tables(&mut env, &mut report);
    pagetables::map_4k(&mut env, &mut report);
    if ptwr::setup(&env) {
        ptwr::off_by_default(&mut env, &mut report);
        ptwr::l1_writes(&mut env, &mut report);
        ptwr::attacks(&mut env, &mut report);
    } else {
        println!("mmu_test: ptwr: FAIL (trap table or shared_info setup failed)");
    }
    // Read once the trap table is set and before anything registers a vcpu_info.
    let pse_before = pse_stage::shown();
    pagetables::writable_tables(&mut env, &mut report);
    pagetables::l4_hypervisor_slots(&mut env, &mut report);
    pagetables::self_map_pins(&mut env, &mut report);
    superpages::xsa148(&mut env, &mut report);
    superpages::pse_other_levels(&mut env, &mut report);
    if superpages {
        superpages::pse_roundtrip(&mut env, &mut report);
        superpages::pse_over_page_tables(&mut env, &mut report);
        superpages::pt_under_superpage(&mut env, &mut report);
        memory::release_in_superpage(&mut env, &mut report);
        memory::repopulated_extent(&mut env, &mut report);
    } else {
        superpages::pse_refused_nosuper(&mut env, &mut report);
    }
    memory::pse_unowned(&mut env, &mut report);
    bad_frames::all(&mut env, &mut report);
    pagetables::linear_count(&mut env, &mut report);
    memory::roundtrip(&mut env, &mut report);
    held_frames::all(&mut env, &mut report);
    if superpages {
        held_frames::no_rw_superpage(&mut env, &mut report);
    }
    pse_stage::staged(&mut env, &mut report, pse_before);
    let all = report.summary();
    shutdown(if all {
        SHUTDOWN_POWEROFF
    } else {
        SHUTDOWN_CRASH
    })
}
