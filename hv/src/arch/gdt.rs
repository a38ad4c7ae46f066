//! The GDT and TSS, laid out like Xen's so PV guests find the selectors they expect.
//!
//! ```text
//!  GDT page  entries       owner
//!  0 .. 13   0 .. 7167     the guest (set_gdt frames; null descriptors until then)
//!  14        7168 ..       the hypervisor (FIRST_RESERVED_GDT_PAGE):
//!            0xe008 hypervisor CS64 (DPL0)     0xe010 hypervisor DS (DPL0)
//!            0xe018 hypervisor CS32 (DPL0)     0xe023 FLAT_RING3_CS32 (DPL3)
//!            0xe02b FLAT_RING3_DS/SS (DPL3)    0xe033 FLAT_RING3_CS64 (DPL3)
//!            0xe040 TSS (16 bytes)         0xe050 LDT (16 bytes)
//!  15        unused
//! ```
//!
//! STAR is set so that SYSCALL enters at 0xe008/0xe010 and SYSRET would return to
//! 0xe033/0xe02b, as on Xen.
//!
//! The running vCPU's GDT (`set_gdt`) and LDT (`MMUEXT_SET_LDT`) are *copied* here from its
//! descriptor frames, which the page-type system holds as SegDesc (so the guest can change
//! them only through `update_descriptor`, which updates the copy too). Xen maps the frames
//! into a per-vCPU area instead; with one CPU a copy of the few entries a guest uses is
//! simpler and as fast. The copy is refreshed on every vCPU switch-in.

use core::cell::UnsafeCell;
use core::mem::size_of;

use hv_core::descriptor::{loadable_at_rpl3, SelectorUse};

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
/// LDT selector (the guest's LDT, when it has one).
pub const LDT_SELECTOR: u16 = 0xe050;

const GDT_ENTRIES: usize = 8192;
/// First hypervisor entry: guests own entries below it.
pub const FIRST_RESERVED: usize = 7168;
/// Most LDT entries.
pub const LDT_ENTRIES: usize = 8192;

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

#[repr(C, align(4096))]
struct Ldt([u64; LDT_ENTRIES]);

/// How many guest entries are loaded in the GDT and the LDT.
struct Loaded {
    gdt: usize,
    ldt: usize,
}

/// CPU tables shared between this module and the CPU; only touched during `init` and by the
/// single boot CPU afterwards (`set_kernel_stack`).
struct Tables {
    gdt: UnsafeCell<Gdt>,
    tss: UnsafeCell<Tss>,
    ist: UnsafeCell<IstStacks>,
    ldt: UnsafeCell<Ldt>,
    loaded: UnsafeCell<Loaded>,
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
    ldt: UnsafeCell::new(Ldt([0; LDT_ENTRIES])),
    loaded: UnsafeCell::new(Loaded { gdt: 0, ldt: 0 }),
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

/// Where the hypervisor's GDT entries live (read by the CPU on every IRETQ to a guest).
pub fn reserved_entries_address() -> u64 {
    TABLES.gdt.get() as u64 + (FIRST_RESERVED * 8) as u64
}

/// Where the TSS lives (read by the CPU on every entry from ring 3).
pub fn tss_address() -> u64 {
    TABLES.tss.get() as u64
}

/// Sets the stack the CPU switches to on entry from ring 3.
pub fn set_kernel_stack(rsp0: u64) {
    // SAFETY: single CPU, interrupts masked; the TSS is only read by the CPU on ring changes.
    unsafe { (*TABLES.tss.get()).rsp[0] = rsp0 };
}

/// Replaces the guest part of the GDT with `entries` (at most `FIRST_RESERVED`, each one
/// accepted by `check_descriptor`), clearing what the previous guest GDT had beyond them.
pub fn load_guest_gdt(entries: impl Iterator<Item = u64>) {
    // SAFETY: single CPU, interrupts masked; the CPU reads guest entries only when the guest
    // loads a selector, which cannot happen while the hypervisor runs.
    unsafe {
        let gdt = &mut (*TABLES.gdt.get()).0;
        let loaded = &mut *TABLES.loaded.get();
        let mut n = 0;
        for (slot, d) in gdt[..FIRST_RESERVED].iter_mut().zip(entries) {
            *slot = d;
            n += 1;
        }
        let old = loaded.gdt;
        if old > n {
            gdt[n..old].fill(0);
        }
        loaded.gdt = n;
    }
}

/// Sets guest GDT entry `index` if it is loaded (an `update_descriptor` on a live GDT frame).
pub fn set_guest_gdt_entry(index: usize, desc: u64) {
    // SAFETY: as in `load_guest_gdt`.
    unsafe {
        if index < (*TABLES.loaded.get()).gdt {
            (*TABLES.gdt.get()).0[index] = desc;
        }
    }
}

/// Replaces the LDT with `entries` (each accepted by `check_descriptor`) and loads it; with
/// none, LDTR is made null.
pub fn load_ldt(entries: impl Iterator<Item = u64>) {
    // SAFETY: as in `load_guest_gdt`; the LDT descriptor points at our own static table and
    // its limit covers exactly the entries written, so `lldt` cannot fault.
    unsafe {
        let ldt = &mut (*TABLES.ldt.get()).0;
        let loaded = &mut *TABLES.loaded.get();
        let mut n = 0;
        for (slot, d) in ldt.iter_mut().zip(entries) {
            *slot = d;
            n += 1;
        }
        if loaded.ldt > n {
            ldt[n..loaded.ldt].fill(0);
        }
        loaded.ldt = n;
        if n == 0 {
            core::arch::asm!("lldt {0:x}", in(reg) 0u16, options(nostack, preserves_flags));
            return;
        }
        let base = ldt.as_ptr() as u64;
        let limit = (n * 8 - 1) as u64;
        let gdt = &mut (*TABLES.gdt.get()).0;
        let index = usize::from(LDT_SELECTOR >> 3);
        gdt[index] = (limit & 0xFFFF)
            | ((base & 0xFF_FFFF) << 16)
            | (0x82 << 40)
            | (((limit >> 16) & 0xF) << 48)
            | (((base >> 24) & 0xFF) << 56);
        gdt[index + 1] = base >> 32;
        core::arch::asm!("lldt {0:x}", in(reg) LDT_SELECTOR, options(nostack, preserves_flags));
    }
}

/// Sets LDT entry `index` if it is loaded.
pub fn set_ldt_entry(index: usize, desc: u64) {
    // SAFETY: as in `load_guest_gdt`.
    unsafe {
        if index < (*TABLES.loaded.get()).ldt {
            (*TABLES.ldt.get()).0[index] = desc;
        }
    }
}

/// The descriptor the CPU would use for `selector` now: a loaded guest GDT or LDT entry, or
/// one of the hypervisor's reserved entries. `None` for the null selector and for entries
/// beyond the loaded tables.
pub fn descriptor(selector: u16) -> Option<u64> {
    let index = usize::from(selector >> 3);
    // SAFETY: as in `load_guest_gdt`; reads only.
    unsafe {
        let loaded = &*TABLES.loaded.get();
        if selector & 4 != 0 {
            if index < loaded.ldt {
                return Some((*TABLES.ldt.get()).0[index]);
            }
            return None;
        }
        if index == 0 {
            return None;
        }
        if index < loaded.gdt || (FIRST_RESERVED..GDT_ENTRIES).contains(&index) {
            return Some((*TABLES.gdt.get()).0[index]);
        }
    }
    None
}

/// Whether `selector` (RPL 3) names a loaded guest descriptor, or a hypervisor flat one, that
/// the CPU can load for `usage` without faulting.
pub fn user_selector_ok(selector: u16, usage: SelectorUse) -> bool {
    selector & 3 == 3 && descriptor(selector).is_some_and(|d| loadable_at_rpl3(d, usage))
}
