//! Property tests: no input bytes panic the parsers, and random domains give consistent,
//! non-overlapping layouts whose page tables walk correctly.

use proptest::prelude::*;

use super::builder::*;
use super::walk::check_bootstrap_tables;
use crate::image::bzimage::bzimage_payload;
use crate::image::elf_note::notes;
use crate::image::legacy::parse_c_number;
use crate::image::{
    start_info, ElfFile, FrameRange, GuestImage, KernelPlacement, LayoutError, P2mPlacement,
    RamdiskPlacement, StartOfDayLayout,
};

/// Everything a loader would do with an image; must never panic.
fn exercise(bytes: &[u8]) {
    if let Ok(elf) = ElfFile::parse(bytes) {
        for phdr in elf.program_headers() {
            if let Ok(data) = elf.segment_data(&phdr) {
                notes(data).for_each(drop);
            }
        }
        for shdr in elf.section_headers() {
            let _ = elf.section_name(&shdr);
            if let Ok(data) = elf.section_data(&shdr) {
                notes(data).for_each(drop);
            }
        }
    }
    if let Ok(image) = GuestImage::parse(bytes) {
        let _ = image.hypercall_page_pfn();
        for segment in image.load_plan().segments() {
            assert!(segment.file_bytes(bytes).is_some());
            assert!(segment.file_size <= segment.mem_size);
        }
        if let Ok(layout) = StartOfDayLayout::new(image.placement(), 2048, 4096) {
            let _ = start_info(&layout, &Default::default(), bytes);
        }
    }
    let _ = bzimage_payload(bytes);
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let len = bytes.len();
    for &(at, value) in edits {
        bytes[at % len] = value;
    }
    bytes.truncate(len - cut % len);
    bytes
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
        notes(&bytes).for_each(drop);
        let _ = parse_c_number(&bytes);
    }

    #[test]
    fn elf_header_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut bytes = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&62u16.to_le_bytes());
        bytes.extend_from_slice(&tail);
        exercise(&bytes);
    }

    #[test]
    fn mutated_images_never_panic(
        which in 0..3usize,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16),
        cut in any::<usize>(),
    ) {
        let image = match which {
            0 => minios_image(),
            1 => linux_image(),
            _ => legacy_image("GUEST_OS=linux,XEN_VER=xen-3.0,HYPERCALL_PAGE=0x1000"),
        };
        // Mutate mostly the headers, where the offsets and sizes live.
        let head = image.len().min(512);
        let edits: Vec<_> = edits.iter().map(|&(at, v)| (at % head, v)).collect();
        exercise(&mutate(image.clone(), &edits, 0));
        exercise(&mutate(image, &edits, cut));
    }
}

fn placement() -> impl Strategy<Value = (KernelPlacement, u64, u64)> {
    let base = prop_oneof![
        Just(0u64),
        Just(LINUX_VIRT_BASE),
        (0u64..0x8000).prop_map(|m| m << 22),
        (0u64..0x1000).prop_map(|m| 0xffff_8800_0000_0000 + (m << 30)),
    ];
    (
        base,
        0u64..0x2000,                              // pages of padding before the kernel
        1u64..0x4000,                              // kernel pages
        prop::option::of(1u64..0x100),             // INIT_P2M slot (512 GiB units)
        any::<bool>(),                             // MOD_START_PFN
        0u64..0x40000,                             // nr_pages
        prop_oneof![Just(0u64), 1u64..(64 << 20)], // ramdisk bytes
    )
        .prop_map(
            |(virt_base, pad, pages, p2m_slot, mod_start_pfn, nr_pages, ramdisk)| {
                let virt_kstart = virt_base + pad * 4096;
                let kernel = KernelPlacement {
                    virt_base,
                    virt_kstart,
                    virt_kend: virt_kstart + pages * 4096,
                    init_p2m: p2m_slot.map(|slot| slot << 39),
                    mod_start_pfn,
                };
                (kernel, nr_pages, ramdisk)
            },
        )
}

/// The layout's frame ranges, in allocation order.
fn frame_ranges(layout: &StartOfDayLayout) -> Vec<FrameRange> {
    let one = |pfn| FrameRange { pfn, pages: 1 };
    let mut ranges = vec![layout.kernel];
    if let Some(RamdiskPlacement::Mapped { frames, .. }) = layout.ramdisk {
        ranges.push(frames);
    }
    if let P2mPlacement::Mapped { frames } = layout.p2m {
        ranges.push(frames);
    }
    ranges.extend([
        one(layout.start_info_pfn),
        one(layout.xenstore_pfn),
        one(layout.console_pfn),
    ]);
    ranges.push(FrameRange {
        pfn: layout.pt_base_pfn(),
        pages: layout.nr_pt_frames(),
    });
    ranges.push(one(layout.boot_stack_pfn));
    if let Some(RamdiskPlacement::Unmapped { frames }) = layout.ramdisk {
        ranges.push(frames);
    }
    if let P2mPlacement::InitP2m { list, mapping, .. } = layout.p2m {
        ranges.push(list);
        ranges.push(FrameRange {
            pfn: mapping.first_table_pfn,
            pages: mapping.table_frames,
        });
    }
    ranges
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_layouts_are_consistent((kernel, nr_pages, ramdisk) in placement()) {
        let layout = match StartOfDayLayout::new(kernel, nr_pages, ramdisk) {
            Ok(layout) => layout,
            Err(error) => {
                prop_assert!(matches!(
                    error,
                    LayoutError::OutOfMemory | LayoutError::BadVirtualRange
                ), "{error:?}");
                return Ok(());
            }
        };
        let ranges = frame_ranges(&layout);
        for pair in ranges.windows(2) {
            prop_assert!(pair[0].end() <= pair[1].pfn, "overlap or disorder: {pair:?}");
        }
        prop_assert!(ranges.last().unwrap().end() <= layout.first_free_pfn);
        prop_assert!(layout.first_free_pfn <= nr_pages);
        // Mapped elements end inside the mapping, with 512 KiB of slack after the stack.
        prop_assert!(layout.boot_stack_pfn + 1 + 128 <= layout.mapped_pages());
        prop_assert_eq!(layout.v_end % (4 << 20), 0);
        prop_assert_eq!(layout.kernel.pfn, (kernel.virt_kstart - kernel.virt_base) / 4096);
        prop_assert!(layout.xenstore_pfn < layout.pt_base_pfn());
        prop_assert!(layout.console_pfn < layout.pt_base_pfn());
        if let Some(RamdiskPlacement::Unmapped { frames }) = layout.ramdisk {
            prop_assert!(frames.pfn >= layout.mapped_pages());
        }
        let info = start_info(&layout, &Default::default(), b"");
        prop_assert_eq!(info.pt_base, layout.mapped_va(layout.pt_base_pfn()).unwrap());
        check_bootstrap_tables(&layout);
    }
}
