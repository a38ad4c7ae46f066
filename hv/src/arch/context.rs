//! Per-vCPU hardware state that is not in the register frame: segment bases, the FPU/SSE
//! state, the virtual CR0.TS, and the address space (CR3). Saved and restored on vCPU
//! switches; the guest's values stay loaded while the hypervisor runs, since the hypervisor
//! uses neither FS/GS nor the FPU.
//!
//! GS follows Xen's 64-bit PV model: `MSR_GS_BASE` holds the base of the current guest mode
//! (kernel or user) and `MSR_SHADOW_GS_BASE` the other one; a guest mode switch is a `swapgs`.

use super::cpu;

const MSR_FS_BASE: u32 = 0xC000_0100;
const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_SHADOW_GS_BASE: u32 = 0xC000_0102;
const CR0_TS: u64 = 1 << 3;

/// The 512-byte FXSAVE area.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState([u8; 512]);

impl FpuState {
    /// The state FNINIT + default MXCSR would give: x87 control word 0x37f, MXCSR 0x1f80.
    pub fn initial() -> Self {
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
        s[28..32].copy_from_slice(&0xFFFFu32.to_le_bytes());
        Self(s)
    }
}

/// Hardware state of a vCPU outside the register frame.
#[derive(Clone)]
pub struct ArchState {
    /// FS base.
    pub fs_base: u64,
    /// GS base of the active guest mode.
    pub gs_base: u64,
    /// GS base of the inactive guest mode.
    pub shadow_gs_base: u64,
    /// Guest-visible CR0.TS (`fpu_taskswitch`).
    pub virtual_ts: bool,
    /// FPU/SSE registers.
    pub fpu: FpuState,
    /// CR3 to run with (machine address of the active L4).
    pub cr3: u64,
    /// The DS, ES, FS and GS selectors (the guest's own GDT/LDT selectors, or null).
    pub selectors: [u16; 4],
}

impl ArchState {
    /// Fresh state: zero bases, initial FPU, TS clear, no address space yet.
    pub fn new() -> Self {
        Self {
            fs_base: 0,
            gs_base: 0,
            shadow_gs_base: 0,
            virtual_ts: false,
            fpu: FpuState::initial(),
            cr3: 0,
            selectors: [0; 4],
        }
    }

    /// Captures the live state of the CPU (the vCPU is being switched out).
    pub fn save(&mut self) {
        self.selectors = data_selectors();
        self.fs_base = cpu::rdmsr(MSR_FS_BASE);
        self.gs_base = cpu::rdmsr(MSR_GS_BASE);
        self.shadow_gs_base = cpu::rdmsr(MSR_SHADOW_GS_BASE);
        cpu::write_cr0(cpu::read_cr0() & !CR0_TS);
        // SAFETY: the area is 512 bytes, 16-byte aligned; CR0.TS is clear so FXSAVE cannot #NM.
        unsafe { core::arch::x86_64::_fxsave64(self.fpu.0.as_mut_ptr()) };
    }

    /// Loads this state into the CPU (the vCPU is being switched in).
    ///
    /// # Safety contract (checked by the caller's construction)
    /// `cr3` is an L4 validated by the page-type system, whose hypervisor slots are the
    /// hypervisor's own, so loading it keeps the hypervisor mapped.
    /// The vCPU's descriptor tables must be loaded first: its data selectors are reloaded
    /// from them (one that no longer names a usable descriptor becomes null), then the bases.
    pub fn restore(&self) {
        load_data_selectors(self.selectors);
        cpu::wrmsr(MSR_FS_BASE, self.fs_base);
        cpu::wrmsr(MSR_GS_BASE, self.gs_base);
        cpu::wrmsr(MSR_SHADOW_GS_BASE, self.shadow_gs_base);
        cpu::write_cr0(cpu::read_cr0() & !CR0_TS);
        // SAFETY: as in `save`; the area holds a state FXSAVE produced (or the initial one).
        unsafe { core::arch::x86_64::_fxrstor64(self.fpu.0.as_ptr()) };
        self.apply_ts();
        if self.cr3 != 0 && cpu::read_cr3() != self.cr3 {
            // SAFETY: per the contract above.
            unsafe { cpu::write_cr3(self.cr3) };
        }
    }

    /// Sets the real CR0.TS to the virtual one.
    pub fn apply_ts(&self) {
        let cr0 = cpu::read_cr0();
        let want = if self.virtual_ts {
            cr0 | CR0_TS
        } else {
            cr0 & !CR0_TS
        };
        if want != cr0 {
            cpu::write_cr0(want);
        }
    }
}

impl Default for ArchState {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the live FS base.
pub fn set_fs_base(v: u64) {
    cpu::wrmsr(MSR_FS_BASE, v);
}

/// Writes the live GS base (of the active guest mode).
pub fn set_gs_base(v: u64) {
    cpu::wrmsr(MSR_GS_BASE, v);
}

/// Writes the shadow GS base (of the inactive guest mode).
pub fn set_shadow_gs_base(v: u64) {
    cpu::wrmsr(MSR_SHADOW_GS_BASE, v);
}

/// Reads the live FS, GS and shadow GS bases.
pub fn segment_bases() -> (u64, u64, u64) {
    (
        cpu::rdmsr(MSR_FS_BASE),
        cpu::rdmsr(MSR_GS_BASE),
        cpu::rdmsr(MSR_SHADOW_GS_BASE),
    )
}

/// Swaps the active and shadow GS bases (a guest kernel/user mode switch).
pub fn swapgs() {
    // SAFETY: the hypervisor never uses GS itself; swapping only changes which guest base is live.
    unsafe { core::arch::asm!("swapgs", options(nomem, nostack, preserves_flags)) };
}

/// Loads a guest address space.
///
/// The caller passes the machine address of an L4 that the page-type system has validated
/// for a domain (so its hypervisor slots are the hypervisor's). Returns whether CR3 was
/// written (it held another root), which drops the TLB's translations.
pub fn load_cr3(l4_ma: u64) -> bool {
    if cpu::read_cr3() != l4_ma {
        // SAFETY: validated guest L4s carry the hypervisor's slots 256–271 (installed on
        // validation and unwritable by guests), so the hypervisor stays mapped.
        unsafe { cpu::write_cr3(l4_ma) };
        return true;
    }
    false
}

/// Loads the guest-user GS selector (`SEGBASE_GS_USER_SEL`), as Xen does: a non-null
/// selector gets RPL 3; one the CPU could not load (absent, not data or readable code, DPL
/// below 3) becomes the null selector instead of faulting. The null selector is loaded after
/// the flat data selector, so the user GS base is 0 also on CPUs (AMD) whose null loads keep
/// the old base. The user GS base becomes the descriptor's. Returns the selector loaded.
pub fn load_user_gs_selector(selector: u16) -> u16 {
    let mut sel = if selector > 3 { selector | 3 } else { 0 };
    if sel != 0 && !super::gdt::user_selector_ok(sel, hv_core::descriptor::SelectorUse::Data) {
        sel = 0;
    }
    let flat = super::gdt::FLAT_RING3_DS;
    // SAFETY: `sel` is null or a present data (or readable code) descriptor with DPL 3 in the
    // loaded GDT/LDT, and `flat` is the hypervisor's DPL-3 data descriptor, so neither load
    // can fault; swapgs brackets them so only the user (shadow) GS base changes.
    unsafe {
        core::arch::asm!(
            "swapgs",
            "mov gs, {flat:x}",
            "mov gs, {sel:x}",
            "swapgs",
            flat = in(reg) flat,
            sel = in(reg) sel,
            options(nostack, preserves_flags),
        );
    }
    sel
}

/// Reads DS, ES, FS and GS.
pub fn data_selectors() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effects.
    unsafe {
        core::arch::asm!(
            "mov {0:x}, ds",
            "mov {1:x}, es",
            "mov {2:x}, fs",
            "mov {3:x}, gs",
            out(reg) ds,
            out(reg) es,
            out(reg) fs,
            out(reg) gs,
            options(nomem, nostack, preserves_flags),
        );
    }
    [ds, es, fs, gs]
}

/// Loads DS, ES, FS and GS (as Xen's `load_segments`), each checked against the loaded
/// GDT/LDT first: a selector the CPU could not load becomes null. Changes the FS and GS bases
/// (the caller writes them afterwards).
fn load_data_selectors(selectors: [u16; 4]) {
    let [ds, es, fs, gs] = selectors.map(|s| {
        if s > 3 && super::gdt::user_selector_ok(s, hv_core::descriptor::SelectorUse::Data) {
            s
        } else {
            0
        }
    });
    // SAFETY: each selector is null or names a present data (or readable code) descriptor
    // with DPL 3 and RPL 3 in the loaded tables, so no load can fault; the hypervisor itself
    // uses none of these registers.
    unsafe {
        core::arch::asm!(
            "mov ds, {0:x}",
            "mov es, {1:x}",
            "mov fs, {2:x}",
            "mov gs, {3:x}",
            in(reg) ds,
            in(reg) es,
            in(reg) fs,
            in(reg) gs,
            options(nostack, preserves_flags),
        );
    }
}
