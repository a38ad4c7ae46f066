//! The x86-64 part of Xen's public interface (`arch-x86/xen.h`, `arch-x86/xen-x86_64.h`,
//! `arch-x86/cpuid.h`), plus the few Xen-internal x86 facts a 64-bit PV guest can observe:
//! the virtual-address hole, the flat selectors and Xen's own GDT page, the PTE software bits
//! Xen reserves, the register frames (`cpu_user_regs`, `iret_context`) and the vCPU context
//! passed to `VCPUOP_initialise`.
//!
//! Names are Xen's, upper-cased, with leading underscores dropped (`__HYPERVISOR_CS` →
//! [`HYPERVISOR_CS`], `_PAGE_GUEST_KERNEL` → [`PAGE_GUEST_KERNEL`]).
//!
//! 64-bit PV virtual address layout (L4 slots of 512 GiB):
//!
//! ```text
//! 0x0000_0000_0000_0000 .. 0x0000_7FFF_FFFF_FFFF   slots   0..=255  guest (user half)
//! 0xFFFF_8000_0000_0000 .. 0xFFFF_87FF_FFFF_FFFF   slots 256..=271  hypervisor hole
//!   0xFFFF_8000_0000_0000 .. 0xFFFF_803F_FFFF_FFFF    read-only M2P, visible to the guest
//! 0xFFFF_8800_0000_0000 .. 0xFFFF_FFFF_FFFF_FFFF   slots 272..=511  guest (kernel half)
//! ```
//!
//! Xen's reserved GDT page (page 14 of every GDT, entries 7168..=7679; selector = entry × 8
//! | RPL):
//!
//! ```text
//! 0xe008 ring-0 code, 64-bit   (HYPERVISOR_CS)       0xe02b ring-3 data         (FLAT_RING3_DS32/SS)
//! 0xe010 ring-0 data           (HYPERVISOR_DS32)     0xe033 ring-3 code, 64-bit (FLAT_RING3_CS64)
//! 0xe018 reserved                                    0xe038 reserved
//! 0xe023 ring-3 code, 32-bit   (FLAT_RING3_CS32)     0xe040 TSS (2 entries)   0xe050 LDT (2 entries)
//!                                                    0xe060 per-CPU entry (limit = CPU number)
//! ```

use crate::xen::TrapInfo;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// ---------------------------------------------------------------------------------------
// Virtual address layout
// ---------------------------------------------------------------------------------------

/// Start of the virtual range Xen reserves in every 64-bit PV address space (L4 slot 256).
/// Guest updates to L4 slots 256..=271 are refused; Xen fills them itself.
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the hypervisor hole (L4 slot 272).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// Start of the read-only machine→phys table mapped into every guest (one `u64` pfn per
/// MFN); also reported by `XENMEM_machphys_mapping`.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the read-only M2P mapping (256 GiB).
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// Number of M2P entries the mapping can hold: 2^35.
pub const MACH2PHYS_NR_ENTRIES: u64 = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3;

// ---------------------------------------------------------------------------------------
// Selectors and the reserved GDT page
// ---------------------------------------------------------------------------------------

/// Flat 32-bit ring-3 code selector (GDT entry 7172).
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// Flat 64-bit ring-3 code selector (GDT entry 7174).
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// Flat 32-bit ring-3 data selector (GDT entry 7173).
pub const FLAT_RING3_DS32: u16 = 0xe02b;
/// 64-bit ring-3 data selector: the NULL selector.
pub const FLAT_RING3_DS64: u16 = 0x0000;
/// Flat 32-bit ring-3 stack selector.
pub const FLAT_RING3_SS32: u16 = 0xe02b;
/// Flat 64-bit ring-3 stack selector.
pub const FLAT_RING3_SS64: u16 = 0xe02b;

/// Guest-kernel 64-bit data selector (a 64-bit PV kernel runs in ring 3).
pub const FLAT_KERNEL_DS64: u16 = FLAT_RING3_DS64;
/// Guest-kernel 32-bit data selector.
pub const FLAT_KERNEL_DS32: u16 = FLAT_RING3_DS32;
/// Guest-kernel data selector.
pub const FLAT_KERNEL_DS: u16 = FLAT_KERNEL_DS64;
/// Guest-kernel 64-bit code selector: where bounces land, and the initial `cs`.
pub const FLAT_KERNEL_CS64: u16 = FLAT_RING3_CS64;
/// Guest-kernel 32-bit code selector.
pub const FLAT_KERNEL_CS32: u16 = FLAT_RING3_CS32;
/// Guest-kernel code selector.
pub const FLAT_KERNEL_CS: u16 = FLAT_KERNEL_CS64;
/// Guest-kernel 64-bit stack selector: the initial `ss`.
pub const FLAT_KERNEL_SS64: u16 = FLAT_RING3_SS64;
/// Guest-kernel 32-bit stack selector.
pub const FLAT_KERNEL_SS32: u16 = FLAT_RING3_SS32;
/// Guest-kernel stack selector.
pub const FLAT_KERNEL_SS: u16 = FLAT_KERNEL_SS64;

/// Guest-user 64-bit data selector.
pub const FLAT_USER_DS64: u16 = FLAT_RING3_DS64;
/// Guest-user 32-bit data selector.
pub const FLAT_USER_DS32: u16 = FLAT_RING3_DS32;
/// Guest-user data selector.
pub const FLAT_USER_DS: u16 = FLAT_USER_DS64;
/// Guest-user 64-bit code selector.
pub const FLAT_USER_CS64: u16 = FLAT_RING3_CS64;
/// Guest-user 32-bit code selector.
pub const FLAT_USER_CS32: u16 = FLAT_RING3_CS32;
/// Guest-user code selector.
pub const FLAT_USER_CS: u16 = FLAT_USER_CS64;
/// Guest-user 64-bit stack selector.
pub const FLAT_USER_SS64: u16 = FLAT_RING3_SS64;
/// Guest-user 32-bit stack selector.
pub const FLAT_USER_SS32: u16 = FLAT_RING3_SS32;
/// Guest-user stack selector.
pub const FLAT_USER_SS: u16 = FLAT_USER_SS64;

/// First GDT page reserved for Xen: guests own pages 0..14 of their GDT.
pub const FIRST_RESERVED_GDT_PAGE: u32 = 14;
/// Byte offset of the reserved page in the GDT.
pub const FIRST_RESERVED_GDT_BYTE: u32 = FIRST_RESERVED_GDT_PAGE * 4096;
/// First reserved GDT entry (7168); `set_gdt` accepts at most this many entries.
pub const FIRST_RESERVED_GDT_ENTRY: u32 = FIRST_RESERVED_GDT_BYTE / 8;
/// Number of GDT entries Xen reserves (one page).
pub const NR_RESERVED_GDT_ENTRIES: u32 = 4096 / 8;

/// Xen's ring-0 64-bit code selector (Xen-internal, `asm/config.h`).
pub const HYPERVISOR_CS: u16 = 0xe008;
/// Xen's ring-0 flat data selector (Xen-internal).
pub const HYPERVISOR_DS32: u16 = 0xe010;
/// Xen's 64-bit data selector: NULL (Xen-internal).
pub const HYPERVISOR_DS64: u16 = 0x0000;
/// Xen's data selector (Xen-internal).
pub const HYPERVISOR_DS: u16 = HYPERVISOR_DS64;
/// GDT entry of the per-CPU TSS descriptor (16 bytes, two entries; Xen-internal `asm/desc.h`).
pub const TSS_ENTRY: u32 = FIRST_RESERVED_GDT_ENTRY + 8;
/// GDT entry of the per-CPU LDT descriptor (two entries).
pub const LDT_ENTRY: u32 = TSS_ENTRY + 2;
/// GDT entry whose limit holds the CPU number.
pub const PER_CPU_GDT_ENTRY: u32 = LDT_ENTRY + 2;
/// TSS selector (`0xe040`).
pub const TSS_SELECTOR: u16 = (TSS_ENTRY << 3) as u16;
/// LDT selector (`0xe050`).
pub const LDT_SELECTOR: u16 = (LDT_ENTRY << 3) as u16;
/// Per-CPU selector (`0xe060`).
pub const PER_CPU_SELECTOR: u16 = (PER_CPU_GDT_ENTRY << 3) as u16;

/// `set_segment_base` `which`: set the FS base.
pub const SEGBASE_FS: u32 = 0;
/// `set_segment_base` `which`: set the user GS base (the one active in guest user mode).
pub const SEGBASE_GS_USER: u32 = 1;
/// `set_segment_base` `which`: set the kernel GS base.
pub const SEGBASE_GS_KERNEL: u32 = 2;
/// `set_segment_base` `which`: load the user `%gs` *selector* from `base[15:0]`.
pub const SEGBASE_GS_USER_SEL: u32 = 3;

// ---------------------------------------------------------------------------------------
// PTE software bits, cr3 encoding, CPUID
// ---------------------------------------------------------------------------------------

/// PTE bit 52 (Xen's 24-bit flag bit 12): marks a guest-kernel-only mapping. Xen sets
/// `_PAGE_USER` on every guest entry (the PV kernel runs in ring 3), so this bit is what
/// tells kernel and user mappings apart.
pub const PAGE_GUEST_KERNEL: u64 = 1 << 52;
/// PTE bit 62 (flag bit 22): reserved for Xen to mark grant mappings; guests must not use it.
pub const PAGE_GNTTAB: u64 = 1 << 62;

/// `xen_pfn_to_cr3`: the cr3 value for a top-level table in frame `pfn`.
pub const fn pfn_to_cr3(pfn: u64) -> u64 {
    pfn << 12
}

/// `xen_cr3_to_pfn`: the frame of the top-level table named by `cr3`.
pub const fn cr3_to_pfn(cr3: u64) -> u64 {
    cr3 >> 12
}

/// Forced-emulation prefix (`ud2; .ascii "xen"`): a PV guest places it before `cpuid` to
/// have the hypervisor emulate the instruction from its `#UD` handler.
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];
/// First Xen CPUID leaf; Xen leaves sit at the first free 0x100-aligned base from here.
pub const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// Leaf 0x400000x0 `ebx`: "XenV".
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// Leaf 0x400000x0 `ecx`: "MMXe".
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// Leaf 0x400000x0 `edx`: "nVMM".
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;
/// Leaf 0x400000x2 `ecx`: the host supports `MMU_PT_UPDATE_PRESERVE_AD` for this guest.
pub const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD: u32 = 1 << 0;

// ---------------------------------------------------------------------------------------
// Register frames
// ---------------------------------------------------------------------------------------

/// `iret` flag (in [`IretContext::flags`]): the guest is leaving a `syscall` handler; return
/// SYSRET-style, restoring only rax, rip, rflags and rsp.
pub const VGCF_IN_SYSCALL: u64 = 1 << 8;

/// The frame the guest pushes for `HYPERVISOR_iret` (`struct iret_context`,
/// `xen-x86_64.h`; 72 bytes), lowest address (the `rsp` at the `syscall`) first.
///
/// `rax`, `r11`, `rcx` are pushed by the hypercall stub, `flags` by the guest. With
/// [`VGCF_IN_SYSCALL`] in `flags` only rax, rip, rflags and rsp are restored; otherwise rax,
/// r11, rcx, cs:rip, rflags and ss:rsp. A saved `cs` RPL of 3 returns to guest user mode,
/// 0–2 to guest kernel mode. Other registers keep their values from hypercall entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IretContext {
    /// Guest rax to restore.
    pub rax: u64,
    /// Guest r11 to restore.
    pub r11: u64,
    /// Guest rcx to restore.
    pub rcx: u64,
    /// `VGCF_IN_SYSCALL` or 0.
    pub flags: u64,
    /// Return address.
    pub rip: u64,
    /// Return code selector.
    pub cs: u64,
    /// Return rflags.
    pub rflags: u64,
    /// Return stack pointer.
    pub rsp: u64,
    /// Return stack selector.
    pub ss: u64,
}
crate::abi_layout!(IretContext, 72,
    rax @ 0, r11 @ 8, rcx @ 16, flags @ 24, rip @ 32, cs @ 40, rflags @ 48, rsp @ 56, ss @ 64);

/// The guest register file (`struct cpu_user_regs`, `xen-x86_64.h`; 200 bytes), as in
/// [`VcpuGuestContext::user_regs`].
///
/// `error_code` and `entry_vector` are Xen-private. The 8-byte `cs` slot holds the selector
/// in bytes 0–1 and, in byte 4 (`saved_upcall_mask`, i.e. bits 39:32 of the slot), the
/// `evtchn_upcall_mask` saved when Xen builds a frame; in such frames `rflags.IF` is
/// `!saved_upcall_mask`. Each segment selector occupies an 8-byte slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CpuUserRegs {
    /// r15.
    pub r15: u64,
    /// r14.
    pub r14: u64,
    /// r13.
    pub r13: u64,
    /// r12.
    pub r12: u64,
    /// rbp.
    pub rbp: u64,
    /// rbx.
    pub rbx: u64,
    /// r11.
    pub r11: u64,
    /// r10.
    pub r10: u64,
    /// r9.
    pub r9: u64,
    /// r8.
    pub r8: u64,
    /// rax.
    pub rax: u64,
    /// rcx.
    pub rcx: u64,
    /// rdx.
    pub rdx: u64,
    /// rsi (at boot: virtual address of start_info).
    pub rsi: u64,
    /// rdi.
    pub rdi: u64,
    /// Xen-private: error code of the exception being handled.
    pub error_code: u32,
    /// Xen-private: vector of the exception being handled.
    pub entry_vector: u32,
    /// rip.
    pub rip: u64,
    /// Code selector.
    pub cs: u16,
    /// Padding.
    pub pad0: u16,
    /// Saved `evtchn_upcall_mask` (bits 39:32 of the cs slot).
    pub saved_upcall_mask: u8,
    /// Padding.
    pub pad1: [u8; 3],
    /// rflags.
    pub rflags: u64,
    /// rsp.
    pub rsp: u64,
    /// Stack selector.
    pub ss: u16,
    /// Padding.
    pub pad2: [u16; 3],
    /// es selector.
    pub es: u16,
    /// Padding.
    pub pad3: [u16; 3],
    /// ds selector.
    pub ds: u16,
    /// Padding.
    pub pad4: [u16; 3],
    /// fs selector.
    pub fs: u16,
    /// Padding.
    pub pad5: [u16; 3],
    /// gs selector.
    pub gs: u16,
    /// Padding.
    pub pad6: [u16; 3],
}
crate::abi_layout!(CpuUserRegs, 200,
    r15 @ 0, r14 @ 8, r13 @ 16, r12 @ 24, rbp @ 32, rbx @ 40, r11 @ 48, r10 @ 56, r9 @ 64,
    r8 @ 72, rax @ 80, rcx @ 88, rdx @ 96, rsi @ 104, rdi @ 112, error_code @ 120,
    entry_vector @ 124, rip @ 128, cs @ 136, pad0 @ 138, saved_upcall_mask @ 140, pad1 @ 141,
    rflags @ 144, rsp @ 152, ss @ 160, pad2 @ 162, es @ 168, pad3 @ 170, ds @ 176,
    pad4 @ 178, fs @ 184, pad5 @ 186, gs @ 192, pad6 @ 194);

// ---------------------------------------------------------------------------------------
// vcpu_guest_context
// ---------------------------------------------------------------------------------------

/// [`VcpuGuestContext::flags`]: `fpu_ctxt` holds valid FXSAVE state.
pub const VGCF_I387_VALID: u64 = 1 << 0;
/// [`VcpuGuestContext::flags`]: the vCPU starts in guest kernel mode.
pub const VGCF_IN_KERNEL: u64 = 1 << 2;
/// [`VcpuGuestContext::flags`]: mask events when entering the failsafe callback.
pub const VGCF_FAILSAFE_DISABLES_EVENTS: u64 = 1 << 3;
/// [`VcpuGuestContext::flags`]: mask events when entering the syscall callback.
pub const VGCF_SYSCALL_DISABLES_EVENTS: u64 = 1 << 4;
/// [`VcpuGuestContext::flags`]: the vCPU is online.
pub const VGCF_ONLINE: u64 = 1 << 5;

/// A callback entry point (`xen_callback_t`): on x86-64, a guest virtual address.
pub type XenCallback = u64;

/// A complete vCPU state (`struct vcpu_guest_context`, `arch-x86/xen.h`; 5168 bytes), the
/// argument of `VCPUOP_initialise` and the shape of the domain builder's initial state.
///
/// Frames (`gdt_frames`, `ctrlreg[3]`, `ctrlreg[1]`) are MFNs for PV guests, cr3 values in
/// the [`pfn_to_cr3`] encoding; the user-mode L4 goes in `ctrlreg[1]`. `kernel_ss:kernel_sp`
/// is the stack used for bounces from guest user mode (the `stack_switch` value).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct VcpuGuestContext {
    /// FXSAVE image (valid iff [`VGCF_I387_VALID`]).
    pub fpu_ctxt: [u8; 512],
    /// `VGCF_*` flags.
    pub flags: u64,
    /// General registers, selectors, rip/rflags.
    pub user_regs: CpuUserRegs,
    /// Virtual IDT, indexed by vector.
    pub trap_ctxt: [TrapInfo; 256],
    /// LDT linear base address.
    pub ldt_base: u64,
    /// LDT entry count.
    pub ldt_ents: u64,
    /// GDT frames (MFNs).
    pub gdt_frames: [u64; 16],
    /// GDT entry count.
    pub gdt_ents: u64,
    /// Kernel stack selector for bounces from user mode.
    pub kernel_ss: u64,
    /// Kernel stack pointer for bounces from user mode.
    pub kernel_sp: u64,
    /// Control registers cr0..cr7; `ctrlreg[1]` is the user-mode L4 on x86-64.
    pub ctrlreg: [u64; 8],
    /// Debug registers dr0..dr7.
    pub debugreg: [u64; 8],
    /// Event upcall entry point.
    pub event_callback_eip: XenCallback,
    /// Failsafe callback entry point.
    pub failsafe_callback_eip: XenCallback,
    /// 64-bit `syscall` entry point for guest user mode.
    pub syscall_callback_eip: XenCallback,
    /// Bitmap of enabled `VMASST_TYPE_*` assists.
    pub vm_assist: u64,
    /// FS base.
    pub fs_base: u64,
    /// Kernel GS base.
    pub gs_base_kernel: u64,
    /// User GS base.
    pub gs_base_user: u64,
}
crate::abi_layout!(VcpuGuestContext, 5168,
    fpu_ctxt @ 0, flags @ 512, user_regs @ 520, trap_ctxt @ 720, ldt_base @ 4816,
    ldt_ents @ 4824, gdt_frames @ 4832, gdt_ents @ 4960, kernel_ss @ 4968, kernel_sp @ 4976,
    ctrlreg @ 4984, debugreg @ 5048, event_callback_eip @ 5112, failsafe_callback_eip @ 5120,
    syscall_callback_eip @ 5128, vm_assist @ 5136, fs_base @ 5144, gs_base_kernel @ 5152,
    gs_base_user @ 5160);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants() {
        assert_eq!(MACH2PHYS_NR_ENTRIES, 1 << 35);
        assert_eq!(FIRST_RESERVED_GDT_ENTRY, 7168);
        assert_eq!(HYPERVISOR_VIRT_START >> 39 & 511, 256);
        assert_eq!(HYPERVISOR_VIRT_END >> 39 & 511, 272);
        assert_eq!(TSS_SELECTOR, 0xe040);
        assert_eq!(LDT_SELECTOR, 0xe050);
        assert_eq!(PER_CPU_SELECTOR, 0xe060);
    }

    #[test]
    fn flat_selectors_live_in_the_reserved_page() {
        for sel in [
            FLAT_RING3_CS32,
            FLAT_RING3_CS64,
            FLAT_RING3_DS32,
            HYPERVISOR_CS,
        ] {
            let entry = u32::from(sel >> 3);
            assert!(entry >= FIRST_RESERVED_GDT_ENTRY);
            assert!(entry < FIRST_RESERVED_GDT_ENTRY + NR_RESERVED_GDT_ENTRIES);
        }
        assert_eq!(FLAT_KERNEL_CS & 3, 3);
        assert_eq!(FLAT_KERNEL_SS & 3, 3);
    }

    #[test]
    fn cr3_encoding() {
        assert_eq!(pfn_to_cr3(0x1234), 0x123_4000);
        assert_eq!(cr3_to_pfn(0x123_4000), 0x1234);
    }

    #[test]
    fn cpuid_signature_spells_xenvmmxenvmm() {
        let mut sig = [0u8; 12];
        sig[..4].copy_from_slice(&XEN_CPUID_SIGNATURE_EBX.to_le_bytes());
        sig[4..8].copy_from_slice(&XEN_CPUID_SIGNATURE_ECX.to_le_bytes());
        sig[8..].copy_from_slice(&XEN_CPUID_SIGNATURE_EDX.to_le_bytes());
        assert_eq!(&sig, b"XenVMMXenVMM");
    }

    #[test]
    fn saved_upcall_mask_is_bits_39_32_of_the_cs_slot() {
        use zerocopy::FromZeros;
        let mut regs = CpuUserRegs::new_zeroed();
        regs.cs = 0xe033;
        regs.saved_upcall_mask = 1;
        let slot = u64::from_le_bytes(regs.as_bytes()[136..144].try_into().unwrap());
        assert_eq!(slot, 0xe033 | 1 << 32);
    }
}
