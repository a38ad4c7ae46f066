//! Copies between hypervisor buffers and guest virtual addresses through the hardware MMU:
//! the running vCPU's page tables are loaded in CR3 while the hypervisor works for it, so a
//! guest address can be used directly, as Xen's `copy_{to,from}_guest` do.
//!
//! ```text
//!   guest_copy_bytes(dst, src, len):      any #PF or #GP with rip in
//!     [stac]                              [guest_copy_begin, guest_copy_end)
//!     rep movsq   (len / 8 words)         ─────────────► rip = guest_copy_fixup:
//!     rep movsb   (len % 8 bytes)                         [clac], return 1
//!     [clac], return 0
//!   guest_copy_words(dst, src, words):    the same with [guest_copy_words_begin,
//!     [stac] rep movsq [clac], return 0     guest_copy_words_end): lengths of whole words
//! ```
//! Under QEMU's TCG every branch ends a translation block, so the success path falls through
//! to the return (no jump) and whole-word copies skip the byte tail.
//!
//! Only the caller knows whether an address may be used this way (`Mm::copy_through_mmu_ok`:
//! the whole range in guest L4 slots, tables that reach only guest entries, no TLB flush
//! pending, the root loaded in CR3 — [`loaded_root`]). A fault inside the copy is not a
//! hypervisor crash: `crate::traps` sends it to [`fixup`], and the copy reports failure (the
//! caller then retries by software walk, which decides between success and `-EFAULT`). A
//! partial copy may have happened by then; the retry copies the whole range again.
//!
//! With SMAP on (CR4.SMAP), guest pages are user pages to the hypervisor, so the copy opens
//! the window with `stac` and closes it with `clac` on both ways out.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use super::cpu;
use super::entry::TrapFrame;

/// Whether CR4.SMAP is on: the copy must then set RFLAGS.AC around its accesses.
#[no_mangle]
static GUEST_COPY_STAC: AtomicBool = AtomicBool::new(false);

global_asm!(
    r#"
    .section .text.guest_copy,"ax"
    .balign 16
guest_copy_bytes:
    mov %rdx, %rcx
    shr $3, %rcx
    testb $1, GUEST_COPY_STAC(%rip)
    jz 1f
    stac
1:
    .global guest_copy_begin
guest_copy_begin:
    rep movsq
    mov %rdx, %rcx
    and $7, %rcx
    rep movsb
    .global guest_copy_end
guest_copy_end:
    xor %eax, %eax
2:
    testb $1, GUEST_COPY_STAC(%rip)
    jz 3f
    clac
3:
    ret
    .global guest_copy_fixup
guest_copy_fixup:
    mov $1, %eax
    jmp 2b

    .balign 16
guest_copy_words:
    testb $1, GUEST_COPY_STAC(%rip)
    jz 1f
    stac
1:
    .global guest_copy_words_begin
guest_copy_words_begin:
    rep movsq
    .global guest_copy_words_end
guest_copy_words_end:
    xor %eax, %eax
    testb $1, GUEST_COPY_STAC(%rip)
    jz 3f
    clac
3:
    ret
    "#,
    options(att_syntax)
);

extern "C" {
    static guest_copy_begin: u8;
    static guest_copy_end: u8;
    static guest_copy_words_begin: u8;
    static guest_copy_words_end: u8;
    static guest_copy_fixup: u8;
}

/// Calls `guest_copy_bytes` (dst in rdi, src in rsi, length in rdx) by a direct `call` from
/// inline asm: declared as an external function it would be called through the GOT (the code
/// is position independent), an indirect branch on every guest copy. Returns 0, or 1 after a
/// fault.
///
/// # Safety
/// As for the copy itself: `dst`/`src` are a hypervisor buffer of `len` bytes and a guest
/// range the caller has established may be reached through the loaded tables.
#[inline(always)]
unsafe fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> u64 {
    let r: u64;
    if len.is_multiple_of(8) {
        // Whole words (every bounce, `iret` and event frame; folded away for a constant
        // length): `guest_copy_words`, without the byte tail and its extra block under TCG.
        // SAFETY: as below; the callee reads rdi, rsi, rcx (the word count), clobbers them
        // and flags, returns in rax.
        unsafe {
            core::arch::asm!(
                "call guest_copy_words",
                inout("rdi") dst => _,
                inout("rsi") src => _,
                inout("rcx") len / 8 => _,
                out("rax") r,
            );
        }
        return r;
    }
    // SAFETY: the callee follows the asm above: it reads rdi, rsi, rdx, clobbers rcx, rdi,
    // rsi and flags, returns in rax, touches memory only at dst/src (the caller's contract)
    // and the stack only by its own return address (the target has no red zone).
    unsafe {
        core::arch::asm!(
            "call guest_copy_bytes",
            inout("rdi") dst => _,
            inout("rsi") src => _,
            in("rdx") len,
            out("rcx") _,
            out("rax") r,
        );
    }
    r
}

/// A fault inside the copy: the guest address was not accessible after all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyFault;

/// Records whether SMAP is on (call after CR4 is final).
pub fn init() {
    GUEST_COPY_STAC.store(cpu::read_cr4() & (1 << 21) != 0, Ordering::Relaxed);
}

/// The frame number of the L4 loaded in CR3 (as `cpu::write_cr3` last loaded it).
pub fn loaded_root() -> u64 {
    (cpu::loaded_cr3() & 0x000F_FFFF_FFFF_F000) >> 12
}

/// Copies `buf.len()` bytes from guest address `va` of the loaded tables.
///
/// The caller has established that `[va, va + buf.len())` may be reached through the loaded
/// tables (`Mm::copy_through_mmu_ok` with [`loaded_root`]).
pub fn read(va: u64, buf: &mut [u8]) -> Result<(), CopyFault> {
    // SAFETY: `buf` is a valid hypervisor buffer of this length. The guest range lies in
    // guest L4 slots of the loaded tables, which reach only guest memory (caller's check),
    // so the reads touch no hypervisor memory; a fault is caught by `fixup`. No Rust
    // reference to guest memory is formed.
    let r = unsafe { copy_bytes(buf.as_mut_ptr(), va as *const u8, buf.len()) };
    if r == 0 {
        Ok(())
    } else {
        Err(CopyFault)
    }
}

/// Reads a `T` from guest address `va` of the loaded tables, under the same contract as
/// [`read`]; the value is built in place (no zeroed buffer first: the `iret` frame is read on
/// every return from a bounce).
#[inline]
pub fn read_obj<T: zerocopy::FromBytes>(va: u64) -> Result<T, CopyFault> {
    let mut t = core::mem::MaybeUninit::<T>::uninit();
    let len = core::mem::size_of::<T>();
    // SAFETY: as in `read`, with `t`'s storage (`len` writable bytes) as the destination.
    let r = unsafe { copy_bytes(t.as_mut_ptr().cast::<u8>(), va as *const u8, len) };
    if r == 0 {
        // SAFETY: a successful copy wrote all `len` bytes, and every byte pattern is a valid
        // `T` (`FromBytes`).
        Ok(unsafe { t.assume_init() })
    } else {
        Err(CopyFault)
    }
}

/// Copies `data` to guest address `va` of the loaded tables.
///
/// The caller has established that `[va, va + data.len())` may be reached through the
/// loaded tables (`Mm::copy_through_mmu_ok` with [`loaded_root`]): writes then go only
/// through the guest's own writable mappings (CR0.WP makes the CPU check RW at every level
/// for ring 0 too), i.e. to frames the guest holds writable.
pub fn write(va: u64, data: &[u8]) -> Result<(), CopyFault> {
    // SAFETY: as in `read`, with the guest range as destination: only guest frames mapped
    // writable at every level of the loaded tables can be written (CR0.WP is set at boot and
    // kept), a fault is caught by `fixup`.
    let r = unsafe { copy_bytes(va as *mut u8, data.as_ptr(), data.len()) };
    if r == 0 {
        Ok(())
    } else {
        Err(CopyFault)
    }
}

/// For a #PF or #GP taken in ring 0: if it hit the guest copy, resumes at the copy's fault
/// exit (which reports the failure) and returns true.
pub fn fixup(frame: &mut TrapFrame) -> bool {
    let bytes = &raw const guest_copy_begin as u64..&raw const guest_copy_end as u64;
    let words = &raw const guest_copy_words_begin as u64..&raw const guest_copy_words_end as u64;
    let in_copy = bytes.contains(&frame.rip) || words.contains(&frame.rip);
    if !(matches!(frame.vector, 13 | 14) && in_copy) {
        return false;
    }
    frame.rip = &raw const guest_copy_fixup as u64;
    true
}
