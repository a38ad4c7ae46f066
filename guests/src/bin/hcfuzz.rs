//! A hostile guest: issues thousands of hypercalls with random numbers and garbage arguments
//! — pointers into buffers of random bytes (so every structure the hypervisor reads is
//! garbage), random frame numbers, random counts — and reports how many it made. The
//! hypervisor must answer each with an error (or a crash of this domain alone), never fail.
//!
//! Left out, because they would legitimately end or stall the run rather than test the
//! hypervisor: `sched_op` shutdown/block/poll and `iret` (which resumes at a garbage frame).
//!
//! Command line: `seed=N` (default 1), `calls=N` (default 20000).
#![no_std]
#![no_main]

use guests::hypercall::{self, Via};
use guests::{println, StartInfo};
use pv_abi::sched::SHUTDOWN_POWEROFF;
use pv_abi::xen::hypercall as nr;

/// xorshift64*: small, seedable, good enough to pick garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Garbage the hypervisor reads as hypercall structures.
static mut SCRATCH: [u64; 1024] = [0; 1024];

fn arg(rng: &mut Rng, scratch: u64) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => rng.below(16),
        2 => rng.below(1 << 20),
        3 => rng.next(),
        4 => scratch + 8 * rng.below(1000),
        5 => 0xFFFF_8000_0000_0000 + rng.below(1 << 30),
        6 => 0x7FF0,
        _ => scratch,
    }
}

fn cmdline_value(si: &StartInfo, key: &str, default: u64) -> u64 {
    si.cmdline()
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .find_map(|v| v.parse().ok())
        .unwrap_or(default)
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    let seed = cmdline_value(si, "seed", 1).max(1);
    let calls = cmdline_value(si, "calls", 20_000);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let scratch = &raw mut SCRATCH as u64;
    println!("hcfuzz: {calls} random hypercalls, seed {seed}");
    let mut errors = 0u64;
    for i in 0..calls {
        // Fresh garbage for every call.
        let base = &raw mut SCRATCH as *mut u64;
        for k in 0..1024 {
            // SAFETY: the scratch buffer is ours and only this loop touches it.
            unsafe { base.add(k).write_volatile(rng.next()) };
        }
        let number = match rng.below(64) {
            n if n == nr::IRET => continue,
            n => n,
        };
        let mut a = [0u64; 5];
        for x in a.iter_mut() {
            *x = arg(&mut rng, scratch);
        }
        // Unmapping our own image would only end the run early: aim elsewhere.
        if number == nr::UPDATE_VA_MAPPING && a[0] >= 0xFFFF_FFFF_8000_0000 {
            a[0] = 0x4000_0000_0000 + 4096 * rng.below(1 << 20);
        }
        let stalls = match number {
            nr::SCHED_OP | nr::SCHED_OP_COMPAT => matches!(a[0], 1..=4),
            nr::CONSOLE_IO => a[1] > 64,
            _ => false,
        };
        if stalls {
            continue;
        }
        // SAFETY: deliberately hostile arguments; the hypervisor must cope. Our own memory
        // may be remapped by a lucky call, in which case this domain crashes — also fine.
        let r = unsafe { hypercall::hypercall(Via::Syscall, number, a) };
        if r < 0 {
            errors += 1;
        }
        if (i + 1) % 5000 == 0 {
            println!("hcfuzz: {} calls, {errors} errors", i + 1);
        }
    }
    println!("hcfuzz: done, {errors} calls returned an error");
    hypercall::shutdown(SHUTDOWN_POWEROFF)
}
