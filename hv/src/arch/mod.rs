//! The hardware layer: the only place in the hypervisor with `unsafe` code.
//!
//! Everything else (domains, hypercalls, events, console, xenstore) asks this layer for safe
//! operations: port I/O, MSRs, page-table writes, TLB flushes, guest-memory copies by machine
//! address, entering a guest. Every `unsafe` block carries a `// SAFETY:` comment.

// The arch layer is the metal: its own tables and the direct map itself (clippy.toml bans
// these writers everywhere else).
#![allow(clippy::disallowed_methods)]
#![allow(unsafe_code)]

pub mod acpi;
pub mod boot;
pub mod bootinfo;
pub mod context;
pub mod cpu;
pub mod crc_fold;
pub mod entry;
pub mod exit;
pub mod gdt;
pub mod guest_copy;
pub mod heap;
pub mod idt;
pub mod ioapic;
pub mod lapic;
pub mod paging;
pub mod phys;
pub mod pic;
pub mod pit;
pub mod rtc;
pub mod serial;
