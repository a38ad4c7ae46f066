//! The hypervisor kernel: boots from multiboot1/multiboot2, owns the machine and runs Xen
//! 64-bit PV guests deprivileged in ring 3.
//!
//! `arch` is the only module allowed to use `unsafe`; everything else is safe Rust on top of it
//! and of the pure core in `hv-core`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod arch;
mod logger;
mod mem;
mod sched;
mod traps;

use arch::exit::{exit, ExitCode};
use arch::{bootinfo, cpu, entry, gdt, idt};
use hv_core::cmdline::{self, LogLevel};

fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}

/// CPU features the hypervisor and its guests rely on: SSE for guests (OSFXSR/OSXMMEXCPT),
/// SMEP (the hypervisor never executes guest pages) when available, x87 error reporting.
fn init_cpu_features() {
    let mut cr4 = cpu::read_cr4();
    cr4 |= (1 << 9) | (1 << 10);
    if cpu::cpuid(7, 0)[1] & (1 << 7) != 0 {
        cr4 |= 1 << 20;
    }
    cpu::write_cr4(cr4);
    let cr0 = (cpu::read_cr0() | (1 << 1) | (1 << 5)) & !((1 << 2) | (1 << 3));
    cpu::write_cr0(cr0);
}

/// The hypervisor's main path, entered from `arch::boot` on the boot stack.
pub fn hv_main(magic: u32, info_phys: u32) -> ! {
    arch::serial::init();
    logger::init(log::LevelFilter::Info);
    let boot = match bootinfo::parse(magic, info_phys) {
        Ok(b) => b,
        Err(e) => {
            log::error!("cannot read boot information: {e:?}");
            exit(ExitCode::HypervisorFailure)
        }
    };
    init_cpu_features();
    gdt::init(entry::cpu_stack_top());
    idt::init();
    entry::init();
    let _memory = mem::init(&boot);
    let opts = cmdline::parse(boot.cmdline.as_str());
    logger::set_level(level_filter(opts.log_level));
    log::info!("hv: Xen 64-bit PV hypervisor, booted by {}", boot.loader);
    log::info!("command line: {:?}", boot.cmdline.as_str());
    for word in &opts.unknown {
        log::warn!("ignoring unknown command-line word {word:?}");
    }
    if opts.selftest == Some(cmdline::SelfTest::HypervisorFault) {
        log::info!("self-test: faulting inside the hypervisor on purpose");
        let _ = cpu::selftest_page_fault();
    }
    exit(ExitCode::Poweroff)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::serial::force_unlock();
    log::error!("PANIC: {info}");
    exit(ExitCode::HypervisorFailure)
}
