//! Entry point, boot stack and Xen ELF notes.
//!
//! The hypervisor enters `_start` in ring 3 with `rsi` = the start_info VA and `rsp` on its
//! boot stack; we switch to our own stack and call `guest_main`.

use core::arch::global_asm;

use crate::StartInfo;

/// Size of the guest's own stack.
pub const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    movabs $guest_stack_top, %rsp
    mov %rsi, %rdi
    xor %ebp, %ebp
    movabs $guest_entry, %rax
    call *%rax
1:  ud2
    jmp 1b

    .section .hypercall_page, "ax"
    .balign 4096
    .global hypercall_page
hypercall_page:
    .fill 4096, 1, 0xc3

    .section .bss
    .balign 16
guest_stack:
    .skip {stack}
    .global guest_stack_top
guest_stack_top:

    /* Xen ELF notes: namesz 4 ("Xen\0"), descsz, type, name, desc (4-byte aligned). */
    .section .note.Xen, "a", @note
    .balign 4
    .macro xen_note type, desc_start, desc_end
    .long 4
    .long \desc_end - \desc_start
    .long \type
    .asciz "Xen"
    .endm
    xen_note 6, 1f, 2f          /* GUEST_OS */
1:  .asciz "rust-pv-guest"
2:  .balign 4
    xen_note 5, 1f, 2f          /* XEN_VERSION */
1:  .asciz "xen-3.0"
2:  .balign 4
    xen_note 8, 1f, 2f          /* LOADER */
1:  .asciz "generic"
2:  .balign 4
    xen_note 3, 1f, 2f          /* VIRT_BASE */
1:  .quad 0xFFFFFFFF80000000
2:  .balign 4
    xen_note 4, 1f, 2f          /* PADDR_OFFSET */
1:  .quad 0
2:  .balign 4
    xen_note 1, 1f, 2f          /* ENTRY */
1:  .quad _start
2:  .balign 4
    xen_note 2, 1f, 2f          /* HYPERCALL_PAGE */
1:  .quad hypercall_page
2:  .balign 4
    "#,
    stack = const STACK_SIZE,
    options(att_syntax)
);

extern "Rust" {
    fn guest_main(si: &'static StartInfo) -> !;
}

#[no_mangle]
extern "C" fn guest_entry(si: *const StartInfo) -> ! {
    // SAFETY: the hypervisor passes the start_info VA, mapped and valid for the guest's life
    // (the Xen start-of-day contract); `guest_main` is defined by the binary.
    unsafe { guest_main(&*si) }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::println!("guest panic: {info}");
    crate::hypercall::shutdown(pv_abi::sched::SHUTDOWN_CRASH)
}
