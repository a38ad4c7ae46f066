//! The load plan and its checks.

use pv_abi::elfnote::*;

use super::builder::*;
use crate::image::{GuestImage, ImageError, LoadSegment};

#[test]
fn minios_load_plan() {
    let bytes = minios_image();
    let image = GuestImage::parse(&bytes).unwrap();
    let plan = image.load_plan();
    assert_eq!((plan.virt_kstart(), plan.virt_kend()), (0, 0x7e000));
    assert_eq!(plan.pages(), 126);
    let data = plan.segments()[1];
    assert_eq!(
        (data.dest_va, data.file_size, data.mem_size),
        (0x20060, 0x580, 0x5daa8)
    );
    assert_eq!(data.file_bytes(&bytes), Some(&[0x11; 0x580][..]));
    assert_eq!(image.hypercall_page_pfn(), Some(2));
}

#[test]
fn linux_loads_by_paddr() {
    let bytes = linux_image();
    let image = GuestImage::parse(&bytes).unwrap();
    let plan = image.load_plan();
    // p_paddr 0x1000000 - PADDR_OFFSET 0 + VIRT_BASE.
    assert_eq!(plan.segments()[0].dest_va, LINUX_KSTART);
    assert_eq!(plan.virt_kstart(), LINUX_KSTART);
    assert_eq!(plan.virt_kend(), LINUX_KSTART + 0x2c0_0000);
    assert_eq!(image.hypercall_page_pfn(), Some(0x1002));
    let placement = image.placement();
    assert!(placement.mod_start_pfn);
    assert_eq!(placement.init_p2m, Some(0x80_0000_0000));
}

#[test]
fn legacy_loads_by_paddr_minus_virt_base() {
    let bytes = legacy_image("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000");
    let image = GuestImage::parse(&bytes).unwrap();
    assert_eq!(image.load_plan().segments()[0].dest_va, LINUX_KSTART);
}

fn minios_notes_with(extra: Vec<u8>) -> Vec<u8> {
    [minios_notes(), extra].concat()
}

fn image_with(entry: u64, loads: &[(u64, u64, usize, u64)], notes: Vec<u8>) -> Vec<u8> {
    let mut builder = ElfBuilder::new(entry).note_segment(notes);
    for &(vaddr, paddr, filesz, memsz) in loads {
        builder = builder.load(vaddr, paddr, vec![0x90; filesz], memsz);
    }
    builder.build()
}

fn check(entry: u64, loads: &[(u64, u64, usize, u64)], extra: Vec<u8>) -> Result<(), ImageError> {
    let bytes = image_with(entry, loads, minios_notes_with(extra));
    GuestImage::parse(&bytes).map(drop)
}

#[test]
fn segment_checks() {
    let page = 0x3000u64;
    assert_eq!(check(0, &[(0, 0, 0x10, 0x3000)], vec![]), Ok(()));
    assert_eq!(check(0, &[], vec![]), Err(ImageError::NoLoadableSegments));
    assert_eq!(
        check(0, &[(0, 0, 0x20, 0x10)], vec![]),
        Err(ImageError::FileSizeExceedsMemSize)
    );
    assert_eq!(
        check(0, &[(0, u64::MAX - 4, 0, 0x10)], vec![]),
        Err(ImageError::AddressOverflow)
    );
    // Entry: inside [start, end] of the unrounded image.
    assert_eq!(check(0x2800, &[(0, 0, 0, 0x2800)], vec![]), Ok(()));
    assert_eq!(
        check(0x2801, &[(0, 0, 0, 0x2800)], vec![]),
        Err(ImageError::EntryOutsideImage)
    );
    // Hypercall page 0x2000 outside a 2-page image.
    assert_eq!(
        check(0, &[(0, 0, 0, 0x2000)], vec![]),
        Err(ImageError::HypercallPageOutsideImage)
    );
    assert_eq!(
        check(0, &[(0, 0, 0, page)], xen_u64(XEN_ELFNOTE_INIT_P2M, 0x1000)),
        Err(ImageError::InitP2mInsideImage)
    );
    // VIRT_BASE above the (page-rounded) image start.
    let high_base = xen_u64(XEN_ELFNOTE_VIRT_BASE, 0x1800);
    assert_eq!(
        check(0, &[(0, 0, 0, page)], high_base),
        Err(ImageError::VirtBaseAboveImage)
    );
    // p_paddr below PADDR_OFFSET.
    let offset = [
        xen_u64(XEN_ELFNOTE_VIRT_BASE, 0),
        xen_u64(XEN_ELFNOTE_PADDR_OFFSET, 0x1000),
    ]
    .concat();
    assert_eq!(
        check(0, &[(0, 0, 0, page)], offset),
        Err(ImageError::VirtBaseAboveImage)
    );
}

#[test]
fn address_space_checks() {
    let hole = 0xffff_8000_0000_0000u64;
    let at = |va: u64, memsz: u64| {
        let notes = minios_notes_with(
            [
                xen_u64(XEN_ELFNOTE_VIRT_BASE, va & !0xfff),
                xen_u64(XEN_ELFNOTE_HYPERCALL_PAGE, va & !0xfff),
            ]
            .concat(),
        );
        GuestImage::parse(&image_with(va, &[(va, 0, 0, memsz)], notes)).map(drop)
    };
    assert_eq!(at(hole, 0x1000), Err(ImageError::InHypervisorHole));
    assert_eq!(
        at(0xffff_87ff_ffff_f000, 0x2000),
        Err(ImageError::InHypervisorHole)
    );
    assert_eq!(at(0xffff_8800_0000_0000, 0x1000), Ok(()));
    assert_eq!(at(0x0000_7fff_ffff_f000, 0x1000), Ok(()));
    assert_eq!(
        at(0x0000_7fff_ffff_f000, 0x2000),
        Err(ImageError::NonCanonicalAddress)
    );
    assert_eq!(
        at(0x1234_0000_0000_0000, 0x1000),
        Err(ImageError::NonCanonicalAddress)
    );
    assert_eq!(
        at(0xffff_ffff_ffff_f000, 0x1000),
        Err(ImageError::AddressOverflow)
    );
}

#[test]
fn overlapping_segments_are_bounded() {
    // Three copies of the same 1-page range: 3 pages of copying for a 1-page image.
    let loads = [(0, 0, 0, 0x1000); 3];
    let bytes = image_with(0, &loads, minios_notes());
    assert_eq!(
        GuestImage::parse(&bytes).map(drop),
        Err(ImageError::SegmentsTooLarge)
    );
    let loads = [
        (0, 0, 0, 0x1000),
        (0, 0, 0, 0x1000),
        (0x1000, 0x1000, 0, 0x2000),
    ];
    let bytes = image_with(0, &loads, minios_notes());
    let image = GuestImage::parse(&bytes).unwrap();
    assert_eq!(image.load_plan().segments().len(), 3);
    assert_eq!(
        image.load_plan().segments()[2],
        LoadSegment {
            dest_va: 0x1000,
            file_offset: image.load_plan().segments()[2].file_offset,
            file_size: 0,
            mem_size: 0x2000
        }
    );
}
