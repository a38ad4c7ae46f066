//! The hypervisor kernel: boots from multiboot1/multiboot2, owns the machine and runs Xen
//! 64-bit PV guests deprivileged in ring 3.
//!
//! `arch` is the only module allowed to use `unsafe`; everything else is safe Rust on top of it
//! and of the pure core in `hv-core`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod arch;
mod logger;

use arch::exit::{exit, ExitCode};

/// The hypervisor's main path, entered from `arch::boot` on the boot stack.
pub fn hv_main(magic: u32, info_phys: u32) -> ! {
    arch::serial::init();
    logger::init(log::LevelFilter::Info);
    log::info!("hypervisor starting (loader magic {magic:#x}, info at {info_phys:#x})");
    exit(ExitCode::Poweroff)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::serial::force_unlock();
    log::error!("PANIC: {info}");
    exit(ExitCode::HypervisorFailure)
}
