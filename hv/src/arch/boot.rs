//! Machine entry: the multiboot1 and multiboot2 headers and the 32-bit entry code.
//!
//! Both loaders enter `_start32` in 32-bit protected mode with paging off, `eax` = the loader's
//! magic and `ebx` = the physical address of its information structure:
//!
//! * GRUB `multiboot2` (ISO boot) reads the multiboot2 header and loads the ELF by `p_paddr`.
//! * QEMU `-kernel` reads the multiboot1 header; as QEMU refuses ELF64 multiboot images, the
//!   header carries the a.out-kludge addresses and QEMU loads the file as a flat image
//!   (the linker script keeps file offsets linear in physical addresses for this).
//!
//! The entry code builds boot page tables (2 MiB pages) that map physical 0–4 GiB three times:
//! identity (to survive enabling paging), at the image's link address in L4 slot 261, and at
//! the direct-map base in slot 262. It enables long mode (PAE, EFER.LME/NXE/SCE, CR0.PG/WP),
//! jumps to the upper half and calls `hv_main(magic, info_phys)` on the boot stack. Rust code
//! then replaces these tables with the final ones (`arch::paging`).

use core::arch::global_asm;

/// Size of the boot stack, which remains the hypervisor's stack for the whole run. The
/// kernel decompressor (`hv_core::image::decompress`, XZ state built on the stack before it
/// is boxed) needs well over 64 KiB at opt-level 3: a smaller stack overflowed silently.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

global_asm!(
    r#"
    .set KERNEL_VMA_OFFSET, 0xFFFF82D040000000
    .set MB1_MAGIC, 0x1BADB002
    .set MB1_FLAGS, 0x00010003        /* page-align modules, memory info, a.out kludge */
    .set MB2_MAGIC, 0xE85250D6

    .section .multiboot_headers, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0                                /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long -(MB2_MAGIC + (mb2_header_end - mb2_header))
    .balign 8                              /* entry address tag */
    .short 3, 0
    .long 12
    .long _start32 - KERNEL_VMA_OFFSET
    .balign 8                              /* module alignment tag: page-align modules */
    .short 6, 0
    .long 8
    .balign 8                              /* end tag */
    .short 0, 0
    .long 8
mb2_header_end:

    .balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long -(MB1_MAGIC + MB1_FLAGS)
    .long mb1_header - KERNEL_VMA_OFFSET   /* header_addr */
    .long _image_start - KERNEL_VMA_OFFSET /* load_addr */
    .long _load_end - KERNEL_VMA_OFFSET    /* load_end_addr */
    .long _image_end - KERNEL_VMA_OFFSET   /* bss_end_addr */
    .long _start32 - KERNEL_VMA_OFFSET     /* entry_addr */

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov %eax, %edi                         /* loader magic */
    mov %ebx, %esi                         /* loader info, physical */
    mov $(boot_stack_top - KERNEL_VMA_OFFSET), %esp

    /* boot_pd: 4 page directories mapping physical 0-4 GiB with 2 MiB pages. */
    mov $(boot_pd - KERNEL_VMA_OFFSET), %ebx
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax                         /* present, writable, 2 MiB */
    mov %eax, (%ebx,%ecx,8)
    movl $0, 4(%ebx,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 1b

    /* boot_pdpt_low[0..4] -> the 4 directories (identity and direct map). */
    mov $(boot_pdpt_low - KERNEL_VMA_OFFSET), %edx
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $12, %eax
    add %ebx, %eax
    or $0x3, %eax
    mov %eax, (%edx,%ecx,8)
    movl $0, 4(%edx,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jb 2b

    /* boot_pdpt_high[321] -> first directory: 0xFFFF82D040000000 maps physical 0. */
    mov $(boot_pdpt_high - KERNEL_VMA_OFFSET), %edx
    mov %ebx, %eax
    or $0x3, %eax
    mov %eax, (321*8)(%edx)

    /* boot_pml4: slot 0 identity, slot 261 image, slot 262 direct map. */
    mov $(boot_pml4 - KERNEL_VMA_OFFSET), %edx
    mov $(boot_pdpt_low - KERNEL_VMA_OFFSET), %eax
    or $0x3, %eax
    mov %eax, (%edx)
    mov %eax, (262*8)(%edx)
    mov $(boot_pdpt_high - KERNEL_VMA_OFFSET), %eax
    or $0x3, %eax
    mov %eax, (261*8)(%edx)
    mov %edx, %cr3

    mov %cr4, %eax
    or $0x20, %eax                         /* PAE */
    mov %eax, %cr4
    mov $0xC0000080, %ecx                  /* EFER */
    rdmsr
    or $0x901, %eax                        /* SCE | LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax                   /* PG | WP | PE */
    mov %eax, %cr0

    lgdt (boot_gdtr - KERNEL_VMA_OFFSET)
    push $0x08
    push $(start64_low - KERNEL_VMA_OFFSET)
    lret

    .code64
start64_low:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $start64_high, %rax
    jmp *%rax
start64_high:
    movabs $boot_stack_top, %rsp
    mov %edi, %edi                         /* zero-extend magic and info */
    mov %esi, %esi
    xor %ebp, %ebp
    movabs $hv_entry, %rax
    call *%rax
3:  hlt
    jmp 3b

    .section .rodata
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF                /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF                /* 0x10: data */
boot_gdt_end:
    .balign 8
boot_gdtr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KERNEL_VMA_OFFSET

    .section .bss
    .balign 4096
    .global boot_pml4
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4 * 4096
    .balign 4096
    .global boot_stack_guard
boot_stack_guard:               /* left unmapped: an overflow faults instead of corrupting */
    .skip 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
    .global boot_stack_top
boot_stack_top:
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

extern "C" {
    static boot_stack_guard: u8;
}

/// The guard page below the boot stack (image virtual address).
pub fn boot_stack_guard_page() -> u64 {
    &raw const boot_stack_guard as u64
}

/// Rust entry point, called by the assembly above on the boot stack in 64-bit mode.
#[no_mangle]
extern "C" fn hv_entry(magic: u32, info_phys: u32) -> ! {
    crate::hv_main(magic, info_phys)
}
