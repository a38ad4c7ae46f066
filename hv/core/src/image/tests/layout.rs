//! Start-of-day layouts of Mini-OS- and Linux-shaped kernels, checked against the numbers
//! the Xen toolstack produces.

use super::builder::*;
use crate::image::mapping::LevelTables;
use crate::image::{
    FrameRange, GuestImage, KernelPlacement, LayoutError, P2mPlacement, RamdiskPlacement,
    StartOfDayLayout,
};

const MIB: u64 = 1 << 20;

fn minios_layout(nr_pages: u64) -> Result<StartOfDayLayout, LayoutError> {
    let bytes = minios_image();
    let image = GuestImage::parse(&bytes).unwrap();
    StartOfDayLayout::new(image.placement(), nr_pages, 0)
}

#[test]
fn minios_32mib() {
    let layout = minios_layout(32 * MIB / 4096).unwrap();
    assert_eq!(
        layout.kernel,
        FrameRange {
            pfn: 0,
            pages: 0x7e
        }
    );
    assert_eq!(layout.ramdisk, None);
    // 8192 entries * 8 bytes = 16 pages.
    assert_eq!(
        layout.p2m,
        P2mPlacement::Mapped {
            frames: FrameRange {
                pfn: 0x7e,
                pages: 16
            }
        }
    );
    assert_eq!(layout.mfn_list_va(), 0x7e000);
    assert_eq!(
        (
            layout.start_info_pfn,
            layout.xenstore_pfn,
            layout.console_pfn
        ),
        (0x8e, 0x8f, 0x90)
    );
    // L4, L3, L2 and two L1s map the first 4 MiB.
    assert_eq!(layout.pt_base_pfn(), 0x91);
    assert_eq!(layout.pt_base_va(), 0x91000);
    assert_eq!(layout.nr_pt_frames(), 5);
    let l1 = layout.initial.levels[0];
    assert_eq!(
        l1,
        LevelTables {
            from: 0,
            to: 0x3f_ffff,
            first_pfn: 0x94,
            count: 2
        }
    );
    assert_eq!(layout.initial.levels[3].first_pfn, 0x91);
    assert_eq!(layout.boot_stack_pfn, 0x96);
    assert_eq!(layout.boot_stack_top(), 0x97000);
    assert_eq!(layout.v_end, 4 * MIB);
    assert_eq!(layout.first_free_pfn, 0x400);
    // Mini-OS's assumptions.
    assert!(layout.xenstore_pfn < layout.pt_base_pfn());
    assert!(layout.console_pfn < layout.pt_base_pfn());
}

#[test]
fn minios_too_small_domain() {
    // The initial mapping alone needs 4 MiB.
    assert_eq!(minios_layout(1023).unwrap_err(), LayoutError::OutOfMemory);
    assert!(minios_layout(1024).is_ok());
    assert_eq!(minios_layout(0).unwrap_err(), LayoutError::OutOfMemory);
    assert_eq!(minios_layout(100).unwrap_err(), LayoutError::OutOfMemory);
}

#[test]
fn min_pages_is_the_smallest_domain_that_fits() {
    let elf = linux_image();
    let linux = crate::image::GuestImage::parse(&elf).unwrap().placement();
    let elf = minios_image();
    let minios = crate::image::GuestImage::parse(&elf).unwrap().placement();
    for (placement, ramdisk_len) in [(linux, 0), (linux, 1), (linux, 5 << 20), (minios, 80 << 20)] {
        let n = StartOfDayLayout::min_pages(placement, ramdisk_len).unwrap();
        assert!(StartOfDayLayout::new(placement, n, ramdisk_len).is_ok());
        assert_eq!(
            StartOfDayLayout::new(placement, n - 1, ramdisk_len).unwrap_err(),
            LayoutError::OutOfMemory
        );
    }
}

#[test]
fn linux_with_unmapped_ramdisk_and_init_p2m() {
    let bytes = linux_image();
    let image = GuestImage::parse(&bytes).unwrap();
    let nr_pages = 512 * MIB / 4096;
    let ramdisk_len = 10 * MIB + 1;
    let layout = StartOfDayLayout::new(image.placement(), nr_pages, ramdisk_len).unwrap();
    // 16 MiB of padding pfns before the kernel at 0xffffffff81000000.
    assert_eq!(
        layout.kernel,
        FrameRange {
            pfn: 0x1000,
            pages: 0x2c00
        }
    );
    assert_eq!(
        (
            layout.start_info_pfn,
            layout.xenstore_pfn,
            layout.console_pfn
        ),
        (0x3c00, 0x3c01, 0x3c02)
    );
    assert_eq!(layout.start_info_va(), LINUX_VIRT_BASE + 0x3c0_0000);
    // L4 + L3 + L2 + 32 L1s for 64 MiB.
    assert_eq!(layout.pt_base_pfn(), 0x3c03);
    assert_eq!(layout.nr_pt_frames(), 35);
    assert_eq!(layout.initial.levels[0].count, 32);
    assert_eq!(layout.boot_stack_pfn, 0x3c26);
    assert_eq!(layout.v_end, LINUX_VIRT_BASE + 64 * MIB);
    assert_eq!(layout.mapped_pages(), 0x4000);
    assert_eq!(
        layout.ramdisk,
        Some(RamdiskPlacement::Unmapped {
            frames: FrameRange {
                pfn: 0x4000,
                pages: 0xa01
            }
        })
    );
    let P2mPlacement::InitP2m { va, list, mapping } = layout.p2m else {
        panic!("p2m not at INIT_P2M");
    };
    assert_eq!(va, 0x80_0000_0000);
    assert_eq!(layout.mfn_list_va(), 0x80_0000_0000);
    assert_eq!(
        list,
        FrameRange {
            pfn: 0x4a01,
            pages: 256
        }
    );
    // Its own L3, L2, L1 (no L4) after the list.
    assert_eq!(mapping.first_table_pfn, 0x4b01);
    assert_eq!(mapping.table_frames, 3);
    assert_eq!(mapping.levels[3].count, 0);
    assert_eq!(layout.first_free_pfn, 0x4b04);
}

#[test]
fn linux_with_mapped_ramdisk_without_mod_start_pfn() {
    let kernel = KernelPlacement {
        virt_base: LINUX_VIRT_BASE,
        virt_kstart: LINUX_KSTART,
        virt_kend: LINUX_KSTART + 0x2c0_0000,
        init_p2m: None,
        mod_start_pfn: false,
    };
    let layout = StartOfDayLayout::new(kernel, 0x20000, 0x1800).unwrap();
    assert_eq!(
        layout.ramdisk,
        Some(RamdiskPlacement::Mapped {
            frames: FrameRange {
                pfn: 0x3c00,
                pages: 2
            },
            len: 0x1800
        })
    );
    // p2m: 0x20000 * 8 bytes = 256 pages, mapped after the ramdisk.
    assert_eq!(
        layout.p2m,
        P2mPlacement::Mapped {
            frames: FrameRange {
                pfn: 0x3c02,
                pages: 256
            }
        }
    );
    assert_eq!(layout.start_info_pfn, 0x3d02);
}

#[test]
fn unusable_init_p2m_is_ignored() {
    let kernel = |init_p2m| KernelPlacement {
        virt_base: LINUX_VIRT_BASE,
        virt_kstart: LINUX_KSTART,
        virt_kend: LINUX_KSTART + 0x10_0000,
        init_p2m: Some(init_p2m),
        mod_start_pfn: true,
    };
    for ignored in [0x80_0000_0800, LINUX_VIRT_BASE + 0x4000_0000] {
        let layout = StartOfDayLayout::new(kernel(ignored), 0x10000, 0).unwrap();
        assert!(matches!(layout.p2m, P2mPlacement::Mapped { .. }));
    }
    // In the hypervisor hole.
    assert_eq!(
        StartOfDayLayout::new(kernel(0xffff_8000_0000_0000), 0x10000, 0).unwrap_err(),
        LayoutError::BadVirtualRange
    );
}

#[test]
fn bad_placements() {
    let kernel = KernelPlacement {
        virt_base: 0x800,
        virt_kstart: 0x1000,
        virt_kend: 0x2000,
        init_p2m: None,
        mod_start_pfn: false,
    };
    assert_eq!(
        StartOfDayLayout::new(kernel, 0x10000, 0).unwrap_err(),
        LayoutError::Unaligned
    );
    let below = KernelPlacement {
        virt_base: 0x2000,
        virt_kstart: 0x1000,
        ..kernel
    };
    assert_eq!(
        StartOfDayLayout::new(below, 0x10000, 0).unwrap_err(),
        LayoutError::BadVirtualRange
    );
    // Mapping runs off the lower canonical half.
    let edge = KernelPlacement {
        virt_base: 0x7fff_ffc0_0000,
        virt_kstart: 0x7fff_ffc0_0000,
        virt_kend: 0x7fff_fff0_0000,
        ..kernel
    };
    assert_eq!(
        StartOfDayLayout::new(edge, 0x10000, 0).unwrap_err(),
        LayoutError::BadVirtualRange
    );
    // A huge ramdisk.
    let fine = KernelPlacement {
        virt_base: 0,
        virt_kstart: 0,
        ..kernel
    };
    assert_eq!(
        StartOfDayLayout::new(fine, 0x10000, u64::MAX).unwrap_err(),
        LayoutError::AddressOverflow
    );
    assert_eq!(
        StartOfDayLayout::new(fine, u64::MAX, 0).unwrap_err(),
        LayoutError::AddressOverflow
    );
}
