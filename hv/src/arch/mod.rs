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

extern "C" {
    static _hot_text_start: u8;
    static _hot_text_end: u8;
}

/// The most hot image pages [`hot_image_pages`] reports.
const MAX_HOT_PAGES: usize = 64;

/// The image's pages that every exit touches, by virtual page number: the exit paths' code
/// (packed at the start of the text by the linker script), the top of the trap stack, the
/// SYSCALL statics, the descriptor tables the CPU reads on each entry and return, and the
/// hypervisor's state. The heap starts where its first pages miss these
/// (`hv_core::tlb_color`).
pub fn hot_image_pages() -> [u64; MAX_HOT_PAGES] {
    let text = &raw const _hot_text_start as u64;
    let hot_text_end = &raw const _hot_text_end as u64;
    let top = entry::cpu_stack_top();
    let fixed = [
        top - 4096,
        top - 2 * 4096,
        entry::syscall_statics_address(),
        gdt::reserved_entries_address(),
        gdt::tss_address(),
        idt::address(),
        crate::hypervisor::state_address(),
        phys::coarse_map_address(),
        phys::coarse_map_address() + 4096,
        phys::coarse_map_address() + 2 * 4096,
        phys::coarse_map_address() + 3 * 4096,
    ];
    // Unused slots repeat the first hot page, which counts it more than once but changes
    // no colour's standing against a free one.
    let mut pages = [text >> 12; MAX_HOT_PAGES];
    let all = fixed
        .iter()
        .copied()
        .chain((text..hot_text_end).step_by(4096));
    for (slot, va) in pages.iter_mut().zip(all) {
        *slot = va >> 12;
    }
    pages
}
