//! A hostile guest: issues thousands of hypercalls with random numbers and garbage arguments
//! — pointers into a scratch area of random bytes (so every structure the hypervisor reads is
//! garbage), random frame numbers, random counts — and reports how many it made of each. The
//! hypervisor must answer each with an error (or a success that harms nobody), never fail.
//!
//! The fuzzer's own state is out of reach of its garbage: pointers aim only at the scratch
//! area, at unmapped addresses or at the hypervisor's range. The scratch area sits between
//! unmapped guard pages, so a structure or array the hypervisor walks past its end (a huge
//! count) faults there instead of overwriting our stack or data. So a seed is reproducible:
//! the run ends with the same `trace` checksum (over every number, argument and result).
//!
//! Left out, because they would legitimately end or stall the run rather than test the
//! hypervisor: `sched_op` block/shutdown/poll/remote-shutdown, long `console_io` writes,
//! `set_debugreg` of DR7 (armed breakpoints trap us), and `iret` (which resumes at a garbage
//! frame). Remapping our own image (`update_va_mapping`
//! at our addresses) is aimed elsewhere.
//!
//! Command line: `seed=N` (default 1), `calls=N` (default 20000).
//! Output: one `hcfuzz: hypercall N name: C calls, E errors` line per number, then
//! `hcfuzz: done, N calls made, E returned an error, trace T`.
#![no_std]
#![no_main]

use guests::hypercall::{self, Via};
use guests::{println, StartInfo};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};
use pv_abi::xen::{hypercall as nr, DOMID_SELF, UVMF_INVLPG};

/// Hypercall numbers tried: 0..NUMBERS (Xen's table has 64 slots).
const NUMBERS: usize = 64;
const PAGE: u64 = 4096;
/// Unmapped pages on each side of the scratch area.
const GUARD_PAGES: u64 = 16;
/// Pages of garbage the hypervisor may read and write.
const SCRATCH_PAGES: u64 = 2;
const SCRATCH_WORDS: u64 = SCRATCH_PAGES * PAGE / 8;
const AREA_PAGES: usize = (2 * GUARD_PAGES + SCRATCH_PAGES) as usize;
/// Where our image is mapped (guests/linker.ld); `update_va_mapping` is kept away from it.
const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

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

/// Guard pages, scratch pages, guard pages; never touched through a Rust reference.
#[repr(C, align(4096))]
struct Area([u8; AREA_PAGES * PAGE as usize]);

static mut AREA: Area = Area([0; AREA_PAGES * PAGE as usize]);

/// The scratch area between its guards.
struct Scratch {
    /// First scratch byte.
    base: u64,
    /// First byte of the guard below it.
    low_guard: u64,
    /// First byte of the guard above it.
    high_guard: u64,
}

impl Scratch {
    /// Unmaps the guard pages around the scratch area.
    fn new() -> Result<Scratch, (u64, i64)> {
        let area = &raw mut AREA as u64;
        let s = Scratch {
            base: area + GUARD_PAGES * PAGE,
            low_guard: area,
            high_guard: area + (GUARD_PAGES + SCRATCH_PAGES) * PAGE,
        };
        for guard in [s.low_guard, s.high_guard] {
            for page in 0..GUARD_PAGES {
                let va = guard + page * PAGE;
                // SAFETY: the guard pages are ours and never accessed; unmapping them changes
                // nothing else.
                let rc = unsafe {
                    hypercall::hypercall(
                        Via::Syscall,
                        nr::UPDATE_VA_MAPPING,
                        [va, 0, UVMF_INVLPG, 0, 0],
                    )
                };
                if rc != 0 {
                    return Err((va, rc));
                }
            }
        }
        Ok(s)
    }

    /// Fresh garbage in every scratch word.
    fn refill(&self, rng: &mut Rng) {
        let words = self.base as *mut u64;
        for k in 0..SCRATCH_WORDS as usize {
            // SAFETY: the scratch pages are ours and mapped; only the hypervisor (during a
            // hypercall) and this loop touch them.
            unsafe { words.add(k).write_volatile(rng.next()) };
        }
    }

    /// One garbage argument: a small or random number, or a pointer into the scratch area,
    /// into a guard, into the hypervisor's range, or at low unmapped memory.
    fn arg(&self, rng: &mut Rng) -> u64 {
        match rng.below(9) {
            0 => 0,
            1 => rng.below(16),
            2 => rng.below(1 << 20),
            3 => rng.next(),
            4 => self.base + 8 * rng.below(SCRATCH_WORDS),
            5 => 0xFFFF_8000_0000_0000 + rng.below(1 << 30),
            6 => u64::from(DOMID_SELF),
            7 => {
                [self.low_guard, self.high_guard][rng.below(2) as usize]
                    + rng.below(GUARD_PAGES * PAGE)
            }
            _ => self.base,
        }
    }
}

fn cmdline_value(si: &StartInfo, key: &str, default: u64) -> u64 {
    si.cmdline()
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .find_map(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the call would end or stall the run instead of testing the hypervisor.
fn left_out(number: u64, a: &[u64; 5]) -> bool {
    match number {
        nr::IRET => true,
        nr::SCHED_OP | nr::SCHED_OP_COMPAT => matches!(a[0], 1..=4),
        nr::CONSOLE_IO => a[1] > 64,
        _ => false,
    }
}

/// One step of the trace checksum (FNV-1a over 64-bit words).
fn mix(trace: u64, word: u64) -> u64 {
    (trace ^ word).wrapping_mul(0x0000_0100_0000_01B3)
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    let seed = cmdline_value(si, "seed", 1).max(1);
    let calls = cmdline_value(si, "calls", 20_000);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let scratch = match Scratch::new() {
        Ok(s) => s,
        Err((va, rc)) => {
            println!("hcfuzz: FAIL: cannot unmap the guard page at {va:#x}: {rc}");
            hypercall::shutdown(SHUTDOWN_CRASH)
        }
    };
    println!("hcfuzz: {calls} random hypercalls, seed {seed}");
    let mut made = [0u64; NUMBERS];
    let mut failed = [0u64; NUMBERS];
    let mut total = 0u64;
    let mut trace = 0xCBF2_9CE4_8422_2325u64;
    while total < calls {
        scratch.refill(&mut rng);
        let number = rng.below(NUMBERS as u64);
        let mut a = [0u64; 5];
        for x in a.iter_mut() {
            *x = scratch.arg(&mut rng);
        }
        if left_out(number, &a) {
            continue;
        }
        // Unmapping our own image would only end the run early: aim elsewhere.
        if matches!(
            number,
            nr::UPDATE_VA_MAPPING | nr::UPDATE_VA_MAPPING_OTHERDOMAIN
        ) && a[0] >= VIRT_BASE
        {
            a[0] = 0x4000_0000_0000 + PAGE * rng.below(1 << 20);
        }
        // SAFETY: deliberately hostile arguments, aimed only at the scratch area, unmapped
        // addresses and the hypervisor's range; the hypervisor must cope.
        let r = unsafe { hypercall::hypercall(Via::Syscall, number, a) };
        // Debug registers are live in the CPU: a random DR7 would arm a breakpoint on the
        // scratch area (a #DB with no handler crashes the domain, as under Xen). Disarm it
        // at once; the call itself, its validation and its loading were exercised.
        if number == nr::SET_DEBUGREG && r == 0 {
            // SAFETY: DR7 = 0 disables every breakpoint; no memory is named.
            unsafe { hypercall::hypercall(Via::Syscall, nr::SET_DEBUGREG, [7, 0, 0, 0, 0]) };
        }
        made[number as usize] += 1;
        if r < 0 {
            failed[number as usize] += 1;
        }
        trace = a.iter().fold(mix(trace, number), |t, &x| mix(t, x));
        trace = mix(trace, r as u64);
        total += 1;
        if total.is_multiple_of(5000) {
            println!("hcfuzz: {total} calls");
        }
    }
    for (n, (c, e)) in made.iter().zip(&failed).enumerate() {
        println!(
            "hcfuzz: hypercall {n} {}: {c} calls, {e} errors",
            nr::name(n as u64)
        );
    }
    let errors: u64 = failed.iter().sum();
    println!("hcfuzz: done, {total} calls made, {errors} returned an error, trace {trace:016x}");
    // The hypervisor still answers a plain question correctly.
    let version = hypercall::xen_version(0, core::ptr::null_mut());
    println!(
        "hcfuzz: after: xen_version = {}.{}",
        version >> 16,
        version & 0xffff
    );
    hypercall::shutdown(SHUTDOWN_POWEROFF)
}
