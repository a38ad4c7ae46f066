//! The PV domain builder: turns a kernel image (and optional ramdisk) into a runnable domain
//! with Xen's start-of-day state, the way Xen's toolstack builds a 64-bit PV guest.
//!
//! 1. decompress a bzImage's payload (`kernel_file`), parse the ELF and its Xen notes
//!    (`hv_core::image`);
//! 2. give the domain its memory — order-9 extents when superpages are allowed (so every
//!    512-aligned pfn block is a 2 MiB-aligned machine block), order 0 otherwise;
//! 3. lay out the start-of-day region (kernel, ramdisk, p2m, start_info, xenstore and console
//!    pages, bootstrap page tables, boot stack, slack) and fill it — a decompressed kernel's
//!    own frames become its pfns in page runs where the segments allow
//!    (`hv_core::image::in_place`), so nothing of it is copied;
//! 4. share a fresh shared_info page, fill the hypercall page if the kernel asked;
//! 5. pin the bootstrap L4 (which validates and types every bootstrap table) and make it the
//!    vCPU's kernel root; set the boot registers (rip = entry, rsp, rsi = start_info).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use hv_core::image::in_place::plan_in_place;
use hv_core::image::{
    fill_hypercall_page, for_each_bootstrap_pte, start_info, BootVcpuState, GuestImage, ImageError,
    LayoutError, LoadSegment, P2mPlacement, PlatformStartInfo, RamdiskPlacement, StartOfDayLayout,
};
use hv_core::mm::{BaseKind, DomId, DomainConfig, Mfn, MmError, PageLevel};
use zerocopy::IntoBytes;

use super::kernel_file::{self, KernelElf, KernelFileError};
use super::{ConsoleState, Domain, DomainId, DomainState, Vcpu};
use crate::arch::entry::TrapFrame;
use crate::arch::phys;
use crate::mem::PAGE_SIZE;
use crate::memory::{DirectMapMemory, Memory, MemoryError};

/// What to build.
pub struct DomainSpec<'a> {
    /// The kernel file: a PV ELF, or a Linux bzImage holding one.
    pub kernel: &'a [u8],
    /// The ramdisk, if any.
    pub ramdisk: Option<&'a [u8]>,
    /// The guest command line.
    pub cmdline: &'a str,
    /// Initial memory, bytes.
    pub memory_bytes: u64,
    /// Reservation ceiling, bytes.
    pub max_memory_bytes: u64,
    /// Allow 2 MiB superpages (populate with order-9 extents).
    pub superpages: bool,
    /// The domain's name; empty: the kernel's GUEST_OS note names it.
    pub name: &'a str,
    /// TSC frequency, for the build's timing log lines.
    pub tsc_hz: u64,
}

/// The guest ends of the hypervisor's backends, written into start_info.
#[derive(Clone, Copy, Debug)]
pub struct BackendPorts {
    /// Event channel of the console ring (start_info.console.domU.evtchn).
    pub console: u32,
    /// Event channel of the xenstore ring (start_info.store_evtchn).
    pub store: u32,
}

/// Why a domain could not be built. `Display` completes "cannot boot KERNEL: ..." for the
/// person who chose the kernel and its memory; `Debug` is the machine-readable cause.
#[derive(Clone, Copy, Debug, thiserror::Error)]
pub enum BuildError {
    /// The kernel file is a bzImage that could not be decompressed.
    #[error("{0}")]
    KernelFile(KernelFileError),
    /// The kernel image is not a usable Xen PV kernel.
    #[error("{0}")]
    Image(ImageError),
    /// The domain's memory cannot hold the kernel, ramdisk and start-of-day layout.
    #[error("{}", too_small(*have, *need, *with_ramdisk))]
    TooSmall {
        /// The domain's memory, bytes.
        have: u64,
        /// The least that fits, bytes (`None`: nothing does).
        need: Option<u64>,
        /// Whether a ramdisk is part of the need.
        with_ramdisk: bool,
    },
    /// The start-of-day layout does not fit.
    #[error("{0}")]
    Layout(LayoutError),
    /// Not enough machine memory.
    #[error("the machine has too little free memory for the domain; give the domain less (mem=) or the machine more")]
    Memory(MemoryError),
    /// The page-type system refused the bootstrap tables (a builder bug).
    #[error("the bootstrap page tables were refused (a builder bug): {0}")]
    PageTables(MmError),
    /// No event-channel table could be made for the domain.
    #[error("no event-channel table could be made for the domain")]
    Events,
    /// No grant table could be made for the domain.
    #[error("no grant table could be made for the domain")]
    Grants,
}

impl BuildError {
    /// The sentence for the log: what is wrong and what to do, for a domain of `memory_bytes`.
    pub fn explain(&self, memory_bytes: u64) -> String {
        let mib = memory_bytes >> 20;
        match self {
            BuildError::Layout(LayoutError::OutOfMemory) => format!(
                "{mib} MiB is too small for this kernel (with its ramdisk, if any): give the \
                 domain more memory (mem= on the hypervisor command line, --memory with hvtool)"
            ),
            BuildError::Memory(MemoryError::OutOfMemory) => format!(
                "the machine has too little free memory for a {mib} MiB domain: give the domain \
                 less (mem=, hvtool --memory) or the machine more"
            ),
            BuildError::Image(e) => format!("{e} (a guest must be a 64-bit Xen PV kernel)"),
            e => format!("{e}"),
        }
    }

    /// Whether the fault lies with what the hypervisor was given (the image, the memory size)
    /// rather than with the hypervisor itself.
    pub fn is_refusal(&self) -> bool {
        match self {
            BuildError::KernelFile(_)
            | BuildError::Image(_)
            | BuildError::TooSmall { .. }
            | BuildError::Memory(MemoryError::OutOfMemory) => true,
            BuildError::Layout(e) => !matches!(
                e,
                LayoutError::NoConvergence
                    | LayoutError::MissingMfn { .. }
                    | LayoutError::MfnTooLarge { .. }
            ),
            BuildError::Memory(MemoryError::Mm(_) | MemoryError::AdoptedOutOfRange)
            | BuildError::PageTables(_)
            | BuildError::Events
            | BuildError::Grants => false,
        }
    }
}

/// "N MiB is too small for this kernel: it needs at least M MiB" (or kernel and ramdisk).
fn too_small(have: u64, need: Option<u64>, with_ramdisk: bool) -> String {
    let what = if with_ramdisk {
        "this kernel and ramdisk: they need"
    } else {
        "this kernel: it needs"
    };
    match need {
        Some(n) => format!(
            "{} MiB is too small for {what} at least {} MiB (give the domain more memory: mem=, hvtool --memory)",
            have >> 20,
            n.div_ceil(1 << 20)
        ),
        None => format!("{} MiB is too small for {what} more than 1 TiB", have >> 20),
    }
}

impl From<MemoryError> for BuildError {
    fn from(e: MemoryError) -> Self {
        BuildError::Memory(e)
    }
}

/// Time spent in each phase of creating a domain (TSC), for the log.
pub struct PhaseTimer {
    tsc_per_us: u64,
    start: u64,
    last: u64,
    phases: Vec<(&'static str, u64)>,
}

impl PhaseTimer {
    /// Starts timing now.
    pub fn new(tsc_hz: u64) -> Self {
        let now = crate::arch::cpu::rdtsc();
        Self {
            tsc_per_us: (tsc_hz / 1_000_000).max(1),
            start: now,
            last: now,
            phases: Vec::new(),
        }
    }

    /// Ends the phase called `name`.
    pub fn mark(&mut self, name: &'static str) {
        let now = crate::arch::cpu::rdtsc();
        self.phases.push((name, now.saturating_sub(self.last)));
        self.last = now;
    }

    /// Microseconds since the timer started.
    pub fn total_us(&self) -> u64 {
        self.last.saturating_sub(self.start) / self.tsc_per_us
    }
}

impl core::fmt::Display for PhaseTimer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (name, tsc)) in self.phases.iter().enumerate() {
            let us = tsc / self.tsc_per_us;
            write!(f, "{}{name} {us} us", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// Writes `data` at byte `offset` of the domain's pseudo-physical memory.
///
/// Only while building: the frames were just assigned, the guest has never run and no table
/// is typed yet (the bootstrap L4 is pinned, and so validated, after everything is written).
#[allow(clippy::disallowed_methods)]
fn write_pseudo_phys(p2m: &[u64], offset: u64, data: &[u8]) {
    let mut done = 0usize;
    while done < data.len() {
        let at = offset + done as u64;
        let pfn = (at / PAGE_SIZE) as usize;
        let in_page = (PAGE_SIZE - at % PAGE_SIZE) as usize;
        let n = in_page.min(data.len() - done);
        phys::write_bytes(p2m[pfn] * PAGE_SIZE + at % PAGE_SIZE, &data[done..done + n]);
        done += n;
    }
}

/// Builds domain `id` from `spec`.
///
/// Each step is timed into `phases` (unpack, layout, kernel in place, populate — or populate,
/// kernel —, ramdisk, p2m, tables, pin), for the caller's log line.
pub fn build(
    memory: &mut Memory,
    id: DomainId,
    spec: &DomainSpec,
    ports: BackendPorts,
    phases: &mut PhaseTimer,
) -> Result<Domain, BuildError> {
    let mut elf =
        kernel_file::unpack(memory, spec.kernel, spec.tsc_hz).map_err(BuildError::KernelFile)?;
    phases.mark("unpack");
    let built = build_from_elf(memory, id, spec, ports, &mut elf, phases);
    elf.release(memory);
    built
}

/// What the build needs from the kernel image once its bytes may be gone (loaded in place).
struct KernelInfo {
    segments: Vec<LoadSegment>,
    entry: u64,
    hypercall_page_pfn: Option<u64>,
}

fn build_from_elf(
    memory: &mut Memory,
    id: DomainId,
    spec: &DomainSpec,
    ports: BackendPorts,
    elf: &mut KernelElf,
    phases: &mut PhaseTimer,
) -> Result<Domain, BuildError> {
    let image = GuestImage::parse(elf.bytes()).map_err(BuildError::Image)?;
    let notes = *image.notes();
    let placement = image.placement();
    let info = KernelInfo {
        segments: image.load_plan().segments().to_vec(),
        entry: notes.entry,
        hypercall_page_pfn: image.hypercall_page_pfn(),
    };
    let nr_pages = spec.memory_bytes / PAGE_SIZE;
    let ramdisk_len = spec.ramdisk.map_or(0, |r| r.len() as u64);
    let layout = match StartOfDayLayout::new(placement, nr_pages, ramdisk_len) {
        Ok(layout) => layout,
        Err(LayoutError::OutOfMemory) => {
            let need = StartOfDayLayout::min_pages(placement, ramdisk_len);
            return Err(BuildError::TooSmall {
                have: spec.memory_bytes,
                need: need.map(|n| n * PAGE_SIZE),
                with_ramdisk: ramdisk_len > 0,
            });
        }
        Err(e) => return Err(BuildError::Layout(e)),
    };

    let dom = DomId(id);
    let max_pages = (spec.max_memory_bytes / PAGE_SIZE).max(nr_pages);
    memory.create_domain(
        dom,
        DomainConfig {
            allow_superpages: spec.superpages,
            max_pages,
            privileged: false,
        },
    )?;
    phases.mark("layout");
    match fill(
        memory, dom, spec, elf, ports, &info, &layout, nr_pages, phases,
    ) {
        Ok(mut d) => {
            d.max_pages = max_pages;
            d.name = if spec.name.is_empty() {
                String::from(notes.guest_os.as_str().unwrap_or("guest"))
            } else {
                d.console.prefix = alloc::format!("({}) ", spec.name);
                String::from(spec.name)
            };
            Ok(d)
        }
        Err(e) => {
            let _ = memory.destroy_domain(dom);
            Err(e)
        }
    }
}

#[allow(clippy::disallowed_methods)] // bootstrap tables: written before the pin validates them
#[allow(clippy::too_many_arguments)]
fn fill(
    memory: &mut Memory,
    dom: DomId,
    spec: &DomainSpec,
    elf: &mut KernelElf,
    ports: BackendPorts,
    info: &KernelInfo,
    layout: &StartOfDayLayout,
    nr_pages: u64,
    phases: &mut PhaseTimer,
) -> Result<Domain, BuildError> {
    let virt_base = layout.virt_base;
    // A decompressed kernel becomes the kernel's frames where its layout allows; otherwise
    // (and for an ELF boot module) the segments are copied into fresh frames.
    let in_place = match &*elf {
        KernelElf::Unpacked { .. } => plan_in_place(
            &info.segments,
            virt_base,
            elf.bytes().len() as u64,
            layout.kernel.end(),
        ),
        _ => None,
    };
    let adopted = in_place.and_then(|plan| elf.load_in_place(&plan, memory));
    if adopted.is_some() {
        phases.mark("kernel in place");
        log::info!("kernel in place: the decompressed image's frames became the domain's");
    }
    let p2m = memory.populate(
        dom,
        nr_pages,
        spec.superpages,
        adopted.as_deref().unwrap_or(&[]),
    )?;
    phases.mark("populate");
    if adopted.is_none() {
        // Frames are zeroed by allocation, so only file bytes are copied.
        let kernel = elf.bytes();
        for seg in &info.segments {
            let bytes = seg.file_bytes(kernel).unwrap_or(&[]);
            write_pseudo_phys(&p2m, seg.dest_va - virt_base, bytes);
        }
        phases.mark("kernel");
    }
    if let (Some(r), Some(place)) = (spec.ramdisk, &layout.ramdisk) {
        let frames = match place {
            RamdiskPlacement::Mapped { frames, .. } | RamdiskPlacement::Unmapped { frames } => {
                frames
            }
        };
        write_pseudo_phys(&p2m, frames.pfn * PAGE_SIZE, r);
    }
    phases.mark("ramdisk");
    // The p2m list the guest reads (mfn_list).
    let list_pfn = match layout.p2m {
        P2mPlacement::Mapped { frames } => frames.pfn,
        P2mPlacement::InitP2m { list, .. } => list.pfn,
    };
    // The list's bytes as they are in memory (x86 is little-endian, as the guest reads it).
    write_pseudo_phys(&p2m, list_pfn * PAGE_SIZE, p2m.as_bytes());

    phases.mark("p2m");
    // Bootstrap page tables, written as validation leaves them (so the pin below checks
    // every entry but rewrites none).
    let mut pt_error = None;
    for_each_bootstrap_pte(
        layout,
        |pfn| p2m.get(pfn as usize).copied(),
        |w| match p2m.get(w.table_pfn as usize) {
            Some(mfn) => {
                phys::write_u64(mfn * PAGE_SIZE + 8 * u64::from(w.index), w.adjusted_value())
            }
            None => pt_error = Some(LayoutError::MissingMfn { pfn: w.table_pfn }),
        },
    )
    .map_err(BuildError::Layout)?;
    if let Some(e) = pt_error {
        return Err(BuildError::Layout(e));
    }

    // shared_info: a hypervisor frame the guest maps; all events masked at start.
    let shared_info_mfn = memory.share_new_frame(dom)?;
    let shared_info = memory.hold_page(dom, shared_info_mfn)?;
    for vcpu in 0..pv_abi::xen::XEN_LEGACY_MAX_VCPUS {
        shared_info.write(vcpu * 64 + 1, &[1]);
    }

    // The rings the hypervisor serves: held from now until the domain is destroyed.
    let console_ring_mfn = p2m[layout.console_pfn as usize];
    let store_ring_mfn = p2m[layout.xenstore_pfn as usize];
    let console_ring = memory.hold_page(dom, console_ring_mfn)?;
    let store_ring = memory.hold_page(dom, store_ring_mfn)?;
    let platform = PlatformStartInfo {
        shared_info_maddr: shared_info.mfn() * PAGE_SIZE,
        store_mfn: store_ring.mfn(),
        store_evtchn: ports.store,
        console_mfn: console_ring.mfn(),
        console_evtchn: ports.console,
        flags: 0,
    };
    let si = start_info(layout, &platform, spec.cmdline.as_bytes());
    write_pseudo_phys(
        &p2m,
        layout.start_info_pfn * PAGE_SIZE,
        zerocopy::IntoBytes::as_bytes(&si),
    );

    if let Some(pfn) = info.hypercall_page_pfn {
        let mut page = [0u8; 4096];
        fill_hypercall_page(&mut page);
        write_pseudo_phys(&p2m, pfn * PAGE_SIZE, &page);
    }

    phases.mark("tables");
    // Type the bootstrap tables: pin the L4 (validates everything below) and make it the
    // kernel root of vCPU 0, as the toolstack does before starting the guest.
    let l4 = p2m[layout.pt_base_pfn() as usize];
    let mut mem = DirectMapMemory;
    memory
        .mm
        .pin(dom, Mfn(l4), PageLevel::L4, &mut mem)
        .map_err(BuildError::PageTables)?;
    memory
        .mm
        .set_baseptr(dom, 0, BaseKind::Kernel, Some(Mfn(l4)), &mut mem)
        .map_err(BuildError::PageTables)?;
    if memory.mm.take_flush_needed() {
        crate::arch::cpu::flush_tlb();
    }

    phases.mark("pin");
    let boot = BootVcpuState::new(layout, info.entry, l4);
    let regs = TrapFrame {
        rip: boot.rip,
        rsp: boot.rsp,
        rsi: boot.rsi,
        rflags: boot.rflags,
        cs: u64::from(boot.cs),
        ss: u64::from(boot.ss),
        ..TrapFrame::default()
    };
    log::debug!(
        "d{}: {} pages{}, virt_base {:#x}, entry {:#x}, start_info {:#x}, pt_base {:#x} ({} frames){}",
        dom.0,
        nr_pages,
        if spec.superpages { " as order-9 extents" } else { "" },
        layout.virt_base,
        boot.rip,
        layout.start_info_va(),
        layout.pt_base_va(),
        layout.nr_pt_frames(),
        if info.hypercall_page_pfn.is_some() { ", hypercall page" } else { "" },
    );
    Ok(Domain {
        id: dom.0,
        name: String::new(),
        state: DomainState::Running,
        vcpus: vec![Vcpu::new(regs, l4)],
        nr_pages,
        max_pages: nr_pages,
        shared_info,
        console_ring,
        console_port: ports.console,
        store_ring,
        store_port: ports.store,
        vm_assist: 0,
        continuations: Default::default(),
        console: ConsoleState::new(dom.0),
        superpages: spec.superpages,
        pse: hv_core::pse_stage::PseStage::new(spec.superpages),
        cpu_ns: 0,
        profile: Default::default(),
        pit: Default::default(),
    })
}
