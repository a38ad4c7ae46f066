//! Bootstrap page tables, checked by a software page walk.

use super::builder::*;
use super::walk::{check_bootstrap_tables, mfn_of, Tables};
use crate::image::pagetables::{bootstrap_page_table_writes, L1_FLAGS, UPPER_FLAGS};
use crate::image::{GuestImage, KernelPlacement, LayoutError, StartOfDayLayout};

fn layout_of(bytes: &[u8], nr_pages: u64, ramdisk_len: u64) -> StartOfDayLayout {
    let image = GuestImage::parse(bytes).unwrap();
    StartOfDayLayout::new(image.placement(), nr_pages, ramdisk_len).unwrap()
}

#[test]
fn minios_tables_walk() {
    let layout = layout_of(&minios_image(), 8192, 0);
    check_bootstrap_tables(&layout);
    let tables = Tables::build(&layout);
    // The L4 itself is mapped read-only, start_info read-write.
    let pt_base = tables.walk(&layout, layout.pt_base_va()).unwrap();
    assert_eq!(pt_base, (layout.pt_base_pfn(), L1_FLAGS & !2));
    let start_info = tables.walk(&layout, layout.start_info_va()).unwrap();
    assert_eq!(start_info, (layout.start_info_pfn, L1_FLAGS));
    // The L4's first entry points at the L3 (pfn 0x92).
    let l4 = tables.0[&layout.pt_base_pfn()];
    assert_eq!(l4[0], (mfn_of(0x92).unwrap() << 12) | UPPER_FLAGS);
    assert_eq!(l4[1..].iter().filter(|&&e| e != 0).count(), 0);
}

#[test]
fn linux_tables_walk_including_init_p2m() {
    let layout = layout_of(&linux_image(), 0x20000, 10 << 20);
    check_bootstrap_tables(&layout);
    let tables = Tables::build(&layout);
    let l4 = tables.0[&layout.pt_base_pfn()];
    // Slot 1 (INIT_P2M, 512 GiB) and slot 511 (kernel) only.
    let used: Vec<_> = (0..512).filter(|&i| l4[i] != 0).collect();
    assert_eq!(used, vec![1, 511]);
}

#[test]
fn mapped_ramdisk_and_large_domain() {
    let kernel = KernelPlacement {
        virt_base: LINUX_VIRT_BASE,
        virt_kstart: LINUX_KSTART,
        virt_kend: LINUX_KSTART + 0x100_0000,
        init_p2m: None,
        mod_start_pfn: false,
    };
    // 4 GiB domain: the mapped p2m alone is 8 MiB; 30 MiB mapped ramdisk.
    let layout = StartOfDayLayout::new(kernel, 1 << 20, 30 << 20).unwrap();
    check_bootstrap_tables(&layout);
    assert!(layout.nr_pt_frames() > 30);
}

#[test]
fn missing_or_oversized_mfns_are_errors() {
    let layout = layout_of(&minios_image(), 8192, 0);
    assert_eq!(
        bootstrap_page_table_writes(&layout, |pfn| (pfn != 0x93).then_some(pfn)),
        Err(LayoutError::MissingMfn { pfn: 0x93 })
    );
    assert_eq!(
        bootstrap_page_table_writes(&layout, |pfn| Some(pfn << 40)),
        Err(LayoutError::MfnTooLarge { pfn: 0x92 })
    );
}

/// A pfn → mfn bijection on `0..n` for `n` a multiple of 512, not monotonic.
fn scrambled(pfn: u64) -> Option<u64> {
    Some(pfn ^ 0x1a5)
}

/// Pins the bootstrap tables of `layout` (pfn → [`scrambled`]) in a fresh memory manager, their
/// entries written as generated (`adjusted` false) or as validation leaves them; returns
/// every frame's state and every table's contents after the pin.
fn pin_bootstrap_tables(
    layout: &StartOfDayLayout,
    nr_pages: u64,
    adjusted: bool,
) -> (Vec<crate::mm::FrameInfo>, Vec<[u64; 512]>) {
    use crate::mm::testkit::{Storage, VecMemory};
    use crate::mm::{DomId, DomainConfig, FrameMemory, Mfn, MmConfig, PageLevel};
    let max_mfn = (0..nr_pages).map(|p| scrambled(p).unwrap()).max().unwrap() + 1;
    let config = MmConfig {
        max_mfn,
        hypervisor_l4_slots: core::array::from_fn(|i| 0xABC0_0000_0000_0063 | (i as u64) << 12),
    };
    let mut storage = Storage::new(&config);
    let mut mm = storage.mm(config).unwrap();
    let mut mem = VecMemory::new();
    let dom = DomId(1);
    mm.create_domain(
        dom,
        DomainConfig {
            allow_superpages: false,
            max_pages: nr_pages,
            privileged: false,
        },
    )
    .unwrap();
    for pfn in 0..nr_pages {
        mm.assign(dom, Mfn(scrambled(pfn).unwrap()), 0).unwrap();
    }
    let writes = bootstrap_page_table_writes(layout, scrambled).unwrap();
    for w in &writes {
        let value = if adjusted {
            w.adjusted_value()
        } else {
            w.value
        };
        let table = Mfn(scrambled(w.table_pfn).unwrap());
        mem.write_entry(table, usize::from(w.index), value);
    }
    let l4 = Mfn(scrambled(layout.pt_base_pfn()).unwrap());
    mm.pin(dom, l4, PageLevel::L4, &mut mem).unwrap();
    mm.check_invariants(&mem).unwrap();
    let frames = (0..max_mfn)
        .map(|m| mm.frame_info(Mfn(m)).unwrap())
        .collect();
    let mut tables: Vec<u64> = writes.iter().map(|w| w.table_pfn).collect();
    tables.sort_unstable();
    tables.dedup();
    let contents = tables
        .iter()
        .map(|&pfn| {
            let mut t = [0u64; 512];
            mem.read_table(Mfn(scrambled(pfn).unwrap()), &mut t);
            t
        })
        .collect();
    (frames, contents)
}

#[test]
fn tables_written_adjusted_pin_to_the_same_state_as_tables_written_plain() {
    for (image, nr_pages, ramdisk) in [
        (minios_image(), 8192, 0),
        (linux_image(), 0x20000, 10 << 20),
    ] {
        let layout = layout_of(&image, nr_pages, ramdisk);
        let plain = pin_bootstrap_tables(&layout, nr_pages, false);
        let adjusted = pin_bootstrap_tables(&layout, nr_pages, true);
        assert!(plain.0 == adjusted.0, "frame states differ");
        assert!(plain.1 == adjusted.1, "table contents differ");
        // The plain entries were rewritten by validation: the adjusted ones are what it wrote.
        let writes = bootstrap_page_table_writes(&layout, scrambled).unwrap();
        assert!(writes.iter().any(|w| w.adjusted_value() != w.value));
    }
}
