//! The hypervisor's pure core: every state machine and decoder that does not touch hardware.
//!
//! Everything here is plain Rust over caller-provided storage and small access traits, so it
//! builds for `x86_64-unknown-none` inside `hv` and is tested on the host with `cargo test`
//! (unit tests and `proptest` models). The bare-metal layer in `hv` implements the access
//! traits on real memory.
//!
//! | module      | what it owns                                                             |
//! |-------------|--------------------------------------------------------------------------|
//! | `buddy`     | the machine-frame allocator (power-of-two orders)                         |
//! | `cmdline`   | the hypervisor command line                                               |
//! | `domain_config` | which boot modules make which domains, with their settings           |
//! | `memmap`    | physical memory map arithmetic (free = RAM − reserved)                    |
//! | `mm`        | frame table, page types, spage table, PV page-table validation            |
//! | `image`     | guest ELF + Xen notes, start-of-day layout, bootstrap page tables         |
//! | `evtchn`    | 2-level event channels                                                    |
//! | `gnttab`    | grant tables v1 bookkeeping                                               |
//! | `console`   | console ring backend                                                      |
//! | `console_input` | serial input focus (3 x Ctrl-A) and the debug keys                     |
//! | `console_line` | guest console output buffered per line; lines of many writers on one port |
//! | `continuation` | how preempted hypercall batches are re-issued (Xen's encoding)         |
//! | `cpuid`     | the CPUID policy PV guests see through the forced-emulation prefix         |
//! | `debugreg`  | `set_debugreg`/`get_debugreg` checks                                       |
//! | `descriptor`| GDT/LDT descriptor validation (Xen's `check_descriptor`), selector checks  |
//! | `profile`   | per-domain counts and cycles per kind of hypervisor work                  |
//! | `runqueue`  | the fair run queue (virtual run time, time slices)                         |
//! | `emulate`   | decoding of the instructions PV guests fault on (privileged ops, page-table writes) |
//! | `time`      | TSC ↔ system time scaling, `vcpu_time_info`, guest timers                 |
//! | `types`     | `Mfn`, `DomId`: names shared by all of the above                          |
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot_timeline;
pub mod buddy;
pub mod cmdline;
pub mod console;
pub mod console_input;
pub mod console_line;
pub mod continuation;
pub mod cpuid;
pub mod debugreg;
pub mod descriptor;
pub mod domain_config;
pub mod domid;
pub mod emulate;
pub mod evtchn;
pub mod gnttab;
pub mod idtable;
pub mod image;
pub mod memmap;
pub mod mm;
pub mod profile;
pub mod pse_stage;
pub mod runqueue;
pub mod time;
pub mod tlb_color;
pub mod types;

pub use types::{DomId, Mfn};
