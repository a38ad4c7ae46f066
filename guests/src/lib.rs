//! The runtime our small PV guest kernels share: the entry point and Xen ELF notes, hypercalls
//! (raw `syscall` like Linux, or through the hypercall page like Mini-OS), console output,
//! shutdown, and a panic handler that reports and crashes the domain.
//!
//! The Mini-OS-class pieces (`traps`, `events`, `time`, `ring`, `gnttab`, `xenstore`, `sse`)
//! use nothing but the PV ABI: the `unikernel` and `demo` guests are built from them.
//!
//! A guest binary provides `#[no_mangle] fn guest_main(si: &'static StartInfo) -> !`.
//!
//! ```text
//!  VA 0xFFFFFFFF80000000 (VIRT_BASE, pfn 0)
//!  [.text: _start …][hypercall_page][.rodata][.note.Xen][.data][.bss: boot stack]  _end
//! ```
#![no_std]

pub mod bench;
pub mod console;
pub mod entry;
pub mod events;
pub mod gnttab;
pub mod hypercall;
pub mod mm;
pub mod privop;
pub mod ring;
pub mod sse;
pub mod time;
pub mod traps;
pub mod xenstore;

pub use pv_abi;
pub use pv_abi::xen::StartInfo;
