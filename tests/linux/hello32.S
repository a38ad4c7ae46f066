/* A 32-bit static program for the compat-mode check (no C library). Two ways into the
 * kernel must agree on getpid: int $0x80, and the vDSO's __kernel_vsyscall (AT_SYSINFO),
 * which is what a 32-bit glibc uses: on an AMD-like CPU (QEMU's TCG "max") it is SYSCALL
 * from compat mode — the hypervisor's CSTAR entry and the guest's syscall32 callback. (A
 * raw SYSCALL outside the vDSO is not supported by Linux: it returns to the vDSO's landing
 * pad.) Prints one line and exits 0 when both agree. */
    .text
    .globl _start
_start:
    /* auxv: skip argc, argv[], NULL, envp[], NULL */
    mov (%esp), %eax
    lea 8(%esp,%eax,4), %esi
1:  cmpl $0, (%esi)
    lea 4(%esi), %esi
    jne 1b
2:  mov (%esi), %eax
    test %eax, %eax
    jz fail
    cmp $32, %eax          /* AT_SYSINFO */
    je 3f
    add $8, %esi
    jmp 2b
3:  mov 4(%esi), %eax
    mov %eax, vsyscall

    movl $20, %eax         /* __NR_getpid (i386) */
    int $0x80
    mov %eax, %edi

    movl $20, %eax
    call *vsyscall
    cmp %eax, %edi
    jne fail

    movl $4, %eax          /* __NR_write */
    movl $1, %ebx
    movl $msg, %ecx
    movl $len, %edx
    int $0x80
    cmpl $len, %eax
    jne fail
    movl $1, %eax          /* __NR_exit */
    movl $0, %ebx
    int $0x80
fail:
    movl $1, %eax
    movl $1, %ebx
    int $0x80
    .data
vsyscall: .long 0
msg: .ascii "HELLO32 int80+vsyscall agree\n"
    .set len, . - msg
