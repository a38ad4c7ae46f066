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
mod bounce;
mod console;
mod console_lines;
mod debugregs;
mod descriptors;
mod domain;
mod emulate;
mod events;
mod grants;
mod guest_memory;
mod guest_page;
mod guest_traps;
mod hypercall;
mod hypervisor;
mod logger;
mod mem;
mod memory;
mod mmstat;
mod percpu;
mod profile;
mod ptwr;
mod rings;
mod runstate;
mod sched;
mod store;
mod time;
mod time_area;
mod toolstack;
mod traps;
mod vcpu_info;

use arch::exit::{exit, ExitCode};
use arch::{bootinfo, cpu, entry, gdt, idt};
use hv_core::boot_timeline::BootTimeline;
use hv_core::cmdline::{self, LogLevel};
use hv_core::domain_config::{self, DomainOptions, DomainPlan};

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
    let folded_crc = arch::crc_fold::init();
    log::debug!("kernel CRC-32 folded with PCLMULQDQ: {folded_crc}");
}

/// Reads the ACPI tables and routes the serial port's interrupt through the I/O APIC, so
/// console input needs no polling. Returns whether that worked.
fn route_serial_interrupt(root: Option<(u8, u64)>) -> bool {
    let Some(acpi) = arch::acpi::read(root) else {
        log::warn!("no ACPI tables found; console input will be polled");
        return false;
    };
    let names: alloc::vec::Vec<&str> = acpi
        .tables
        .iter()
        .map(|t| core::str::from_utf8(t).unwrap_or("????"))
        .collect();
    log::info!("ACPI tables: {}", names.join(" "));
    let (gsi, flags) = acpi.isa_gsi(4);
    let Some(io) = acpi
        .io_apics
        .iter()
        .find(|io| io.gsi_base <= gsi && gsi < io.gsi_base + 24)
    else {
        log::warn!("no I/O APIC serves the serial port's interrupt; console input will be polled");
        return false;
    };
    arch::ioapic::route(io.address, gsi - io.gsi_base, idt::vector::SERIAL, flags);
    arch::serial::enable_receive_interrupt();
    log::debug!(
        "serial interrupt: ISA 4 -> GSI {gsi} on the I/O APIC at {:#x}",
        io.address
    );
    true
}

/// The hypervisor's main path, entered from `arch::boot` on the boot stack.
pub fn hv_main(magic: u32, info_phys: u32) -> ! {
    let t_entry = cpu::rdtsc();
    let mut timeline = BootTimeline::new(t_entry);
    arch::serial::init();
    logger::init(log::LevelFilter::Info);
    let boot = match bootinfo::parse(magic, info_phys) {
        Ok(b) => b,
        Err(e) => {
            log::error!("cannot read boot information: {e}");
            exit(ExitCode::HypervisorFailure)
        }
    };
    timeline.mark("serial+bootinfo", cpu::rdtsc());
    init_cpu_features();
    arch::guest_copy::init();
    gdt::init(entry::cpu_stack_top());
    idt::init();
    arch::pic::disable();
    entry::init();
    timeline.mark("cpu tables", cpu::rdtsc());
    // The TSC is calibrated against a PIT window that runs while the boot sets up its heap
    // and page tables, reads ACPI and sets up the frame tables (10 ms at least, which that
    // work takes, so the boot rarely waits for it: started after the page tables, the
    // window left ~2 ms to wait at low load); the APIC timer is measured against the TSC
    // once the APIC is mapped.
    let pit = arch::lapic::start_pit_window();
    let machine = mem::init(&boot);
    timeline.mark("heap+allocator", machine.allocator_ready_tsc);
    timeline.mark("page tables", cpu::rdtsc());
    let calibrating = arch::lapic::begin_calibration(pit);
    let opts = cmdline::parse(boot.cmdline.as_str());
    logger::set_level(level_filter(opts.log_level));
    log::info!("hv: Xen 64-bit PV hypervisor, booted by {}", boot.loader);
    // Shown as the loader gave it, as Xen does: `{:?}` would run the string escaper, code
    // translated once per boot under TCG (this step: 1.4 -> 1.25 ms).
    log::info!("command line: \"{}\"", boot.cmdline.as_str());
    for word in &opts.unknown {
        log::warn!("ignoring unknown command-line word {word:?}");
    }
    if opts.selftest == Some(cmdline::SelfTest::HypervisorFault) {
        log::info!("self-test: faulting inside the hypervisor on purpose");
        let _ = cpu::selftest_page_fault();
    }
    if opts.selftest == Some(cmdline::SelfTest::StackOverflow) {
        log::info!("self-test: overflowing the hypervisor stack on purpose");
        let _ = selftest_recurse(0);
    }
    timeline.mark("cmdline", cpu::rdtsc());
    let serial_irq = route_serial_interrupt(boot.acpi_root);
    timeline.mark("ACPI", cpu::rdtsc());
    let mut memory = memory::Memory::new(machine);
    timeline.mark("frame tables", cpu::rdtsc());
    let Some(cal) = arch::lapic::finish_calibration(calibrating)
        .filter(|c| c.tsc_hz >= hv_core::time::tsc_freq::MIN_TSC_HZ && c.apic_timer_hz > 0)
    else {
        log::error!("no clock to calibrate the TSC against: no PIT counts and CPUID states no TSC frequency");
        exit(ExitCode::HypervisorFailure)
    };
    timeline.mark("calibration wait", cpu::rdtsc());
    log::info!(
        "TSC {} MHz, APIC timer {} MHz",
        cal.tsc_hz / 1_000_000,
        cal.apic_timer_hz / 1_000_000
    );
    if opts.bootscrub {
        let t = cpu::rdtsc();
        let frames = memory.scrub_some(u64::MAX);
        log::info!(
            "bootscrub: {} MiB scrubbed in {} ms",
            frames >> 8,
            (cpu::rdtsc() - t) / (cal.tsc_hz / 1000).max(1)
        );
        timeline.mark("bootscrub", cpu::rdtsc());
    }
    let mut hv = hypervisor::Hypervisor::new(memory, cal.tsc_hz);
    hv.serial_irq = serial_irq;
    hv.prof_on = opts.profile;
    hv.flush_batch_on = opts.flush_batch;
    if boot.dropped_modules > 0 {
        log::error!(
            "{} boot modules beyond the {} this hypervisor keeps; many domains of one kernel need only the kernel and a `domains` table module",
            boot.dropped_modules,
            bootinfo::MAX_MODULES
        );
        exit(ExitCode::Refused)
    }
    let plans = domain_plans(&boot, &opts);
    timeline.mark("hypervisor state", cpu::rdtsc());
    let (heap_before, free_before) = (arch::heap::used(), hv.memory.frames.free_frames());
    for (i, plan) in plans.iter().enumerate() {
        let record = domain::DomainRecord::new(plan, boot.modules());
        let id = i as domain::DomainId + 1;
        if let Err(e) = hv.create_configured_domain(id, &record) {
            let line = boot.modules()[plan.kernel].cmdline.as_str();
            let kernel = line.split_once(' ').map_or(line, |(path, _)| path);
            log::error!("cannot boot {kernel}: {}", e.explain(plan.options.memory));
            log::error!("domain {id} not built: cause={e:?}");
            exit(if e.is_refusal() {
                ExitCode::Refused
            } else {
                ExitCode::HypervisorFailure
            })
        }
        hv.records.insert(id, record);
    }
    hv.next_domain_id = plans.len() as domain::DomainId + 1;
    timeline.mark("domains", cpu::rdtsc());
    let guest_frames: u64 = hv.domains.values().map(|d| d.nr_pages).sum();
    let frames_used = free_before.saturating_sub(hv.memory.frames.free_frames());
    log::info!(
        "boot: hypervisor memory for {} domain(s): heap {} KiB, frames {} KiB beyond their {} MiB",
        plans.len(),
        arch::heap::used().saturating_sub(heap_before) >> 10,
        frames_used.saturating_sub(guest_frames) * 4,
        guest_frames >> 8
    );
    // The first domains' state is allocated: the heap pages skipped for it may serve others.
    arch::heap::claim_skipped();
    // Modules of domains that restart stay for their rebuilds; the rest is free memory.
    for (i, m) in boot.modules().iter().enumerate() {
        let kept = plans
            .iter()
            .any(|p| p.options.restarts() && (p.kernel == i || p.ramdisk == Some(i)));
        if !kept {
            hv.memory.release_range(m.range);
        }
    }
    if let Some(after) = opts.shutdown_after_ns {
        let at = hv.time.now() + after;
        hv.request_shutdown_at(at);
    }
    // Per-step boot times at debug: at info their formatting and bytes cost a unikernel's boot
    // ~1 ms of serial output and first-time code under TCG.
    log::debug!("boot: {}", timeline.line(cal.tsc_hz));
    hypervisor::install(hv);
    sched::start()
}

/// The domains to build: from `domain`/`ramdisk`-marked boot modules (`hvtool up`), or the
/// classic single domain — first module the kernel, second the ramdisk, settings from the
/// hypervisor command line.
fn domain_plans(boot: &bootinfo::BootInfo, opts: &cmdline::Options) -> alloc::vec::Vec<DomainPlan> {
    let lines: alloc::vec::Vec<&str> = boot.modules().iter().map(|m| m.cmdline.as_str()).collect();
    let texts: alloc::vec::Vec<(usize, alloc::string::String)> = boot
        .modules()
        .iter()
        .enumerate()
        .filter(|(_, m)| domain_config::is_table(m.cmdline.as_str()))
        .map(|(i, m)| {
            let bytes = arch::phys::module_bytes(m.range);
            (
                i,
                alloc::string::String::from_utf8_lossy(bytes.bytes()).into_owned(),
            )
        })
        .collect();
    let tables: alloc::vec::Vec<(usize, &str)> =
        texts.iter().map(|(i, t)| (*i, t.as_str())).collect();
    match domain_config::plan_with_tables(&lines, &tables) {
        Some(Ok(plans)) if !plans.is_empty() => return plans,
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            log::error!("{e}");
            exit(ExitCode::Refused)
        }
        None => {
            if !boot.modules().is_empty() {
                let guest_cmdline = match &opts.guest_cmdline {
                    Some(c) => alloc::string::String::from(c.as_str()),
                    None => alloc::string::String::from(
                        lines[0].split_once(' ').map_or("", |(_, rest)| rest),
                    ),
                };
                let options = DomainOptions::single(
                    opts.domain_memory,
                    opts.domain_max_memory.unwrap_or(opts.domain_memory),
                    opts.superpages,
                    &guest_cmdline,
                );
                return alloc::vec![DomainPlan {
                    kernel: 0,
                    ramdisk: (boot.modules().len() > 1).then_some(1),
                    options,
                }];
            }
        }
    }
    log::error!("no guest kernel: give it as the first boot module");
    exit(ExitCode::Refused)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    arch::serial::force_unlock();
    log::error!("PANIC: {info}");
    exit(ExitCode::HypervisorFailure)
}

/// Recurses with 4 KiB of locals per call until the stack runs out (`selftest=stackoverflow`).
#[inline(never)]
fn selftest_recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 512]);
    if depth == u64::MAX {
        return frame[0];
    }
    selftest_recurse(depth + 1).wrapping_add(core::hint::black_box(frame)[511])
}
