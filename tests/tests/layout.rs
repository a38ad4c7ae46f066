//! The hypervisor image's layout for QEMU's software TLB (`hv/linker.ld`, `hv_core::tlb_color`):
//! the exit paths' code sits in the hot-text window, which is small and starts at its colour,
//! and the trap stack's top page has its colour. A rename that moved a hot function out of
//! the linker script's list, or a hot path that outgrew the window, fails here.

mod common;

use object::{Object, ObjectSymbol};

const PAGE: u64 = 4096;
const COLOURS: u64 = 64;

fn symbols() -> Vec<(String, u64)> {
    sized_symbols()
        .into_iter()
        .map(|(n, a, _)| (n, a))
        .collect()
}

/// Every symbol: name, address, size.
fn sized_symbols() -> Vec<(String, u64, u64)> {
    let data = std::fs::read(common::artifacts().hv()).expect("reading the hypervisor ELF");
    let elf = object::File::parse(&*data).expect("parsing the hypervisor ELF");
    elf.symbols()
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.address(), s.size())))
        .collect()
}

fn address(syms: &[(String, u64)], name: &str) -> u64 {
    syms.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .1
}

/// The address of the one symbol whose (mangled) name contains every part.
fn address_of(syms: &[(String, u64)], parts: &[&str]) -> u64 {
    let found: Vec<_> = syms
        .iter()
        .filter(|(n, _)| parts.iter().all(|p| n.contains(p)))
        .collect();
    assert_eq!(found.len(), 1, "symbols matching {parts:?}: {found:?}");
    found[0].1
}

#[test]
fn exit_paths_sit_in_the_hot_text_window() {
    let syms = symbols();
    let start = address(&syms, "_hot_text_start");
    let end = address(&syms, "_hot_text_end");
    assert_eq!(
        (start / PAGE) % COLOURS,
        0x20,
        "hot text starts at colour 0x20"
    );
    let pages = (end - start) / PAGE;
    assert!(
        (1..=28).contains(&pages),
        "hot text spans {pages} pages: it must stay within colours 0x20..0x3c"
    );
    let hot = [
        address(&syms, "syscall_entry"),
        address(&syms, "restore_all"),
        address(&syms, "trap_entry"),
        address(&syms, "idt_stubs"),
        address(&syms, "guest_copy_begin"),
        address_of(&syms, &["2hv9hypercall8dispatch"]),
        address_of(&syms, &["2hv9hypercall3mmu10mmu_update17h"]),
        address_of(&syms, &["2hv6bounce6bounce17h"]),
        address_of(&syms, &["2hv11guest_traps", "deliver"]),
        address_of(&syms, &["7hv_core2mm4refs", "13get_page_type"]),
        address_of(&syms, &["7hv_core2mm4refs", "13put_page_type"]),
        address_of(&syms, &["7hv_core2mm2l1", "17get_page_from_l1e"]),
        address_of(&syms, &["raise_to"]),
        address_of(&syms, &["DirectMapMemory", "FrameMemory", "11write_entry"]),
        address_of(&syms, &["7hv_core2mm3ops", "11set_baseptr"]),
    ];
    for (i, a) in hot.iter().enumerate() {
        assert!(
            (start..end).contains(a),
            "hot function #{i} at {a:#x} is outside the hot text {start:#x}..{end:#x}"
        );
    }
}

#[test]
fn trap_stack_top_page_has_the_last_colour() {
    let syms = symbols();
    let stack = address_of(&syms, &["5entry9CPU_STACK"]);
    let top = stack + 0x41000;
    assert_eq!(((top - PAGE) / PAGE) % COLOURS, COLOURS - 1);
}

/// The MMU hypercalls' per-request functions (`hv/linker.ld`): four groups, each on one page
/// of its own, the pages consecutive from `_hot_mmu_start`, no function crossing a page
/// boundary. Under TCG a call into another page is a lookup on every request; code that
/// grew past its page, or a rename the linker script's patterns no longer match, fails here.
#[test]
fn mmu_request_functions_keep_to_their_pages() {
    let syms = sized_symbols();
    let plain: Vec<(String, u64)> = syms.iter().map(|(n, a, _)| (n.clone(), *a)).collect();
    let start = address(&plain, "_hot_mmu_start");
    assert_eq!(start % PAGE, 0, "the MMU pages start on a page boundary");
    let groups: [&[&[&str]]; 4] = [
        &[
            &["2hv9hypercall3mmu10mmu_update17h"],
            &["2hv9hypercall3mmu10mmu_update28_"],
            &["7hv_core2mm4refs", "8put_page17h"],
            &["7hv_core2mm4refs", "8get_page17h"],
            &["DirectMapMemory", "10read_entry17h"],
        ],
        &[
            &["7hv_core2mm6modify", "12mod_entry_as17h"],
            &["7hv_core2mm2l1", "17get_page_from_l1e17h"],
            &["DirectMapMemory", "11write_entry17h"],
            &["7hv_core2mm4refs", "13put_page_type17h"],
        ],
        &[
            &["2hv9hypercall3mmu17update_va_mapping17h"],
            &["7hv_core2mm4walk", "7l1_slot17h"],
            &["7hv_core2mm2Mm6domain17h"],
            &["7hv_core2mm4walk14check_guest_va17h"],
            &["7hv_core2mm4walk", "10check_root17h"],
            &["7hv_core2mm2Mm11owned_frame17h"],
            &["7hv_core2mm2Mm7dom_ref17h"],
            &["2hv9hypercall8mmu_call17h"],
            &["2hv9hypercall3mmu11done_before17h"],
            &["2hv9hypercall3mmu9end_batch17h"],
            &["2hv9hypercall3mmu6finish17h"],
        ],
        &[
            &["7hv_core2mm2l2", "13get_superpage17h"],
            &["7hv_core2mm2l2", "13put_superpage17h"],
            &["7hv_core2mm5stats", "14spage_get_type17h"],
            &["7hv_core2mm2Mm10domain_mut17h"],
            &["7hv_core2mm8validate", "19put_page_from_entry17h"],
            &["2hv9hypercall6evtchn4send17h"],
        ],
    ];
    for (page, group) in groups.iter().enumerate() {
        let page_start = start + page as u64 * PAGE;
        for parts in group.iter() {
            let found: Vec<_> = syms
                .iter()
                .filter(|(n, _, size)| *size > 0 && parts.iter().all(|p| n.contains(p)))
                .collect();
            assert_eq!(found.len(), 1, "functions matching {parts:?}: {found:?}");
            let (name, addr, size) = found[0];
            assert!(
                *addr >= page_start && addr + size <= page_start + PAGE,
                "{name} at {addr:#x}..{:#x} is not on MMU page {page} ({page_start:#x}): \
                 rebalance the groups in hv/linker.ld",
                addr + size
            );
        }
    }
}

/// The guest-copy routines sit on the page where the exit handler (`trap_entry`) ends, which
/// is where its bounce and `iret` paths call them from (`hv/linker.ld`).
#[test]
fn guest_copy_shares_the_exit_handlers_last_page() {
    let syms = sized_symbols();
    let (_, entry, size) = syms
        .iter()
        .find(|(n, _, _)| n == "trap_entry")
        .expect("trap_entry")
        .clone();
    let copy = syms
        .iter()
        .find(|(n, _, _)| n == "guest_copy_words_end")
        .expect("guest_copy_words_end")
        .1;
    assert_eq!(
        copy / PAGE,
        (entry + size - 1) / PAGE,
        "guest_copy_words at {copy:#x}, trap_entry ends at {:#x}",
        entry + size
    );
}
