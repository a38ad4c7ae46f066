//! Hypercalls from a 64-bit PV guest kernel.
//!
//! Two ways, both Xen ABI: a raw `syscall` from guest-kernel mode (what Linux ≥ 6.1.y does
//! after XSA-466) and `call hypercall_page + nr*32` (Mini-OS, older Linux). Number in `rax`,
//! arguments in `rdi, rsi, rdx, r10, r8`, result in `rax`; `rcx`/`r11` and the argument
//! registers are clobbered.

use core::arch::asm;

use pv_abi::sched::{SchedShutdown, SCHEDOP_SHUTDOWN};
use pv_abi::xen::hypercall as nr;

/// Which entry instruction to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `syscall` directly.
    Syscall,
    /// `call` into the hypercall page the hypervisor filled in.
    Page,
}

extern "C" {
    static hypercall_page: u8;
}

/// Issues hypercall `number` with five arguments.
///
/// # Safety
/// The arguments must satisfy the hypercall's contract: pointers must point at memory of the
/// described shape, and page-table changes must keep the guest's own code and data mapped.
pub unsafe fn hypercall(via: Via, number: u64, a: [u64; 5]) -> i64 {
    let ret: i64;
    match via {
        Via::Syscall => {
            // SAFETY: the caller upholds the hypercall contract; SYSCALL clobbers rcx/r11.
            unsafe {
                asm!(
                    "syscall",
                    inlateout("rax") number as i64 => ret,
                    inlateout("rdi") a[0] => _,
                    inlateout("rsi") a[1] => _,
                    inlateout("rdx") a[2] => _,
                    inlateout("r10") a[3] => _,
                    inlateout("r8") a[4] => _,
                    lateout("rcx") _,
                    lateout("r11") _,
                );
            }
        }
        Via::Page => {
            let target = &raw const hypercall_page as u64 + number * 32;
            // SAFETY: as above; the page stub saves rcx/r11 on our stack and returns.
            unsafe {
                asm!(
                    "call {target}",
                    target = in(reg) target,
                    inlateout("rax") number as i64 => ret,
                    inlateout("rdi") a[0] => _,
                    inlateout("rsi") a[1] => _,
                    inlateout("rdx") a[2] => _,
                    inlateout("r10") a[3] => _,
                    inlateout("r8") a[4] => _,
                    lateout("rcx") _,
                    lateout("r11") _,
                );
            }
        }
    }
    ret
}

/// Writes `bytes` to the hypervisor console (`console_io(CONSOLEIO_write)`).
pub fn console_write(via: Via, bytes: &[u8]) -> i64 {
    // SAFETY: CONSOLEIO_write only reads `len` bytes at `ptr`, which we own.
    unsafe {
        hypercall(
            via,
            nr::CONSOLE_IO,
            [
                u64::from(pv_abi::xen::CONSOLEIO_WRITE),
                bytes.len() as u64,
                bytes.as_ptr() as u64,
                0,
                0,
            ],
        )
    }
}

/// `xen_version(cmd, arg)`.
pub fn xen_version(cmd: u64, arg: *mut u8) -> i64 {
    // SAFETY: callers pass a buffer of the size the command writes (or null for VERSION).
    unsafe { hypercall(Via::Syscall, nr::XEN_VERSION, [cmd, arg as u64, 0, 0, 0]) }
}

/// Shuts the domain down with `reason` (SHUTDOWN_*); never returns.
pub fn shutdown(reason: u32) -> ! {
    let arg = SchedShutdown { reason };
    loop {
        // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown` from our stack.
        unsafe {
            hypercall(
                Via::Syscall,
                nr::SCHED_OP,
                [u64::from(SCHEDOP_SHUTDOWN), &raw const arg as u64, 0, 0, 0],
            );
        }
    }
}
