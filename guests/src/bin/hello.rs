//! The first guest: prints through `console_io`, reads its start_info, shuts down.
//!
//! Its command line selects extra behaviour for the failure-path tests:
//! `enosys` calls a hypercall number nobody implements and reports the result;
//! `fault` touches an unmapped address with no trap table registered (the hypervisor must
//! crash this domain alone and report it).
#![no_std]
#![no_main]

use guests::hypercall::{self, Via};
use guests::{console, println, StartInfo};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    console::use_hypercall_page(true);
    println!("Hello from a Rust PV guest (via the hypercall page)");
    console::use_hypercall_page(false);
    println!("hello: and via raw syscall too");
    let magic_len = si
        .magic
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(si.magic.len());
    let magic = core::str::from_utf8(&si.magic[..magic_len]).unwrap_or("?");
    println!(
        "hello: start_info magic={magic} nr_pages={} cmdline={:?}",
        si.nr_pages,
        si.cmdline()
    );
    if si.mod_len > 0 {
        // The ramdisk is mapped in the start-of-day region (our notes don't ask for
        // MOD_START_PFN), so mod_start is its virtual address.
        let len = si.mod_len.min(32) as usize;
        // SAFETY: the start-of-day contract maps [mod_start, mod_start + mod_len).
        let head = unsafe { core::slice::from_raw_parts(si.mod_start as *const u8, len) };
        let text = core::str::from_utf8(head).unwrap_or("<binary>");
        println!(
            "hello: ramdisk of {} bytes at {:#x}, starts {text:?}",
            si.mod_len, si.mod_start
        );
    }
    let v = hypercall::xen_version(0, core::ptr::null_mut());
    println!("hello: xen_version {}.{}", v >> 16, v & 0xffff);
    let mut reason = SHUTDOWN_POWEROFF;
    for word in si.cmdline().split_ascii_whitespace() {
        match word {
            "enosys" => {
                // SAFETY: hypercall 63 takes no arguments and changes nothing.
                let r = unsafe { hypercall::hypercall(Via::Syscall, 63, [0; 5]) };
                println!("hello: unknown hypercall 63 returned {r}");
            }
            "fault" => {
                println!("hello: touching an unmapped address");
                // SAFETY: deliberately faults; the hypervisor crashes the domain.
                let v = unsafe { core::ptr::read_volatile(0x1000_0000_0000 as *const u64) };
                println!("hello: read {v} (should not get here)");
                reason = SHUTDOWN_CRASH;
            }
            _ => {}
        }
    }
    println!("hello: shutting down");
    hypercall::shutdown(reason)
}
