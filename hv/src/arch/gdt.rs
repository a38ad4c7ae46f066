//! The GDT and TSS, laid out like Xen's so PV guests find the selectors they expect.
//!
//! ```text
//!  GDT page  entries       owner
//!  0 .. 13   0 .. 7167     the guest (set_gdt frames; null descriptors until then)
//!  14        7168 ..       the hypervisor (FIRST_RESERVED_GDT_PAGE):
//!            0xe008 hypervisor CS64 (DPL0)     0xe010 hypervisor DS (DPL0)
//!            0xe018 hypervisor CS32 (DPL0)     0xe023 FLAT_RING3_CS32 (DPL3)
//!            0xe02b FLAT_RING3_DS/SS (DPL3)    0xe033 FLAT_RING3_CS64 (DPL3)
//!            0xe040 TSS (16 bytes)
//!  15        unused
//! ```
//!
//! STAR is set so that SYSCALL enters at 0xe008/0xe010 and SYSRET would return to
//! 0xe033/0xe02b, as on Xen.

use core::cell::UnsafeCell;
use core::mem::size_of;

use super::cpu;

/// Hypervisor code selector.
pub const HYPERVISOR_CS: u16 = 0xe008;
/// Hypervisor data selector.
pub const HYPERVISOR_DS: u16 = 0xe010;
/// Guest 32-bit code selector.
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// Guest data/stack selector.
pub const FLAT_RING3_DS: u16 = 0xe02b;
/// Guest 64-bit code selector (kernel and user).
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// TSS selector.
pub const TSS_SELECTOR: u16 = 0xe040;

const GDT_ENTRIES: usize = 8192;
const FIRST_RESERVED: usize = 7168;

/// Interrupt stack table slots.
pub mod ist {
    /// Non-maskable interrupts.
    pub const NMI: u8 = 1;
    /// Double faults.
    pub const DOUBLE_FAULT: u8 = 2;
    /// Machine checks.
    pub const MACHINE_CHECK: u8 = 3;
}

const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, packed(4))]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(4096))]
struct Gdt([u64; GDT_ENTRIES]);

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK_SIZE]; 3]);

/// CPU tables shared between this module and the CPU; only touched during `init` and by the
/// single boot CPU afterwards (`set_kernel_stack`).
struct Tables {
    gdt: UnsafeCell<Gdt>,
    tss: UnsafeCell<Tss>,
    ist: UnsafeCell<IstStacks>,
}

// SAFETY: one CPU; the hypervisor runs with interrupts masked, so accesses never overlap.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables {
    gdt: UnsafeCell::new(Gdt([0; GDT_ENTRIES])),
    tss: UnsafeCell::new(Tss {
        reserved0: 0,
        rsp: [0; 3],
        reserved1: 0,
        ist: [0; 7],
        reserved2: 0,
        reserved3: 0,
        iomap_base: size_of::<Tss>() as u16,
    }),
    ist: UnsafeCell::new(IstStacks([[0; IST_STACK_SIZE]; 3])),
};

const fn seg(access: u64, flags: u64) -> u64 {
    0xFFFF | (access << 40) | (0xF << 48) | (flags << 52)
}

/// Loads the GDT, TSS and segment registers. `rsp0` is the stack used on entry from ring 3.
pub fn init(rsp0: u64) {
    let tss_addr = TABLES.tss.get() as u64;
    let ist_base = TABLES.ist.get() as u64;
    // SAFETY: boot CPU, interrupts masked; nothing else references the tables yet.
    unsafe {
        let gdt = &mut (*TABLES.gdt.get()).0;
        gdt[FIRST_RESERVED + 1] = seg(0x9B, 0xA); // 0xe008: code, DPL0, L
        gdt[FIRST_RESERVED + 2] = seg(0x93, 0xC); // 0xe010: data, DPL0
        gdt[FIRST_RESERVED + 3] = seg(0x9B, 0xC); // 0xe018: code32, DPL0
        gdt[FIRST_RESERVED + 4] = seg(0xFB, 0xC); // 0xe023: code32, DPL3
        gdt[FIRST_RESERVED + 5] = seg(0xF3, 0xC); // 0xe02b: data, DPL3
        gdt[FIRST_RESERVED + 6] = seg(0xFB, 0xA); // 0xe033: code64, DPL3
        let limit = (size_of::<Tss>() - 1) as u64;
        gdt[FIRST_RESERVED + 8] = (limit & 0xFFFF)
            | ((tss_addr & 0xFF_FFFF) << 16)
            | (0x89 << 40)
            | (((tss_addr >> 24) & 0xFF) << 56);
        gdt[FIRST_RESERVED + 9] = tss_addr >> 32;

        let tss = &mut *TABLES.tss.get();
        tss.rsp[0] = rsp0;
        for (i, slot) in [ist::NMI, ist::DOUBLE_FAULT, ist::MACHINE_CHECK]
            .iter()
            .enumerate()
        {
            tss.ist[*slot as usize - 1] = ist_base + ((i + 1) * IST_STACK_SIZE) as u64;
        }

        let ptr = x86::dtables::DescriptorTablePointer::new(&(*TABLES.gdt.get()).0);
        x86::dtables::lgdt(&ptr);
        core::arch::asm!(
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            cs = in(reg) u64::from(HYPERVISOR_CS),
            ds = in(reg) HYPERVISOR_DS,
            tmp = out(reg) _,
        );
        x86::task::load_tr(x86::segmentation::SegmentSelector::from_raw(TSS_SELECTOR));
    }
    // SYSCALL/SYSRET selectors.
    cpu::wrmsr(
        0xC000_0081,
        (u64::from(FLAT_RING3_CS32) << 48) | (u64::from(HYPERVISOR_CS) << 32),
    );
}

/// Sets the stack the CPU switches to on entry from ring 3.
pub fn set_kernel_stack(rsp0: u64) {
    // SAFETY: single CPU, interrupts masked; the TSS is only read by the CPU on ring changes.
    unsafe { (*TABLES.tss.get()).rsp[0] = rsp0 };
}
