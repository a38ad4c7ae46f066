//! start_info values, the boot vCPU and the hypercall page.

use super::builder::*;
use crate::image::boot_vcpu::{BootVcpuState, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64};
use crate::image::hypercall_page::fill_hypercall_page;
use crate::image::start_info::{encode_cmdline, SIF_MOD_START_PFN};
use crate::image::{start_info, GuestImage, PlatformStartInfo, StartOfDayLayout};

const PLATFORM: PlatformStartInfo = PlatformStartInfo {
    shared_info_maddr: 0x1234_5000,
    store_mfn: 0x777,
    store_evtchn: 1,
    console_mfn: 0x778,
    console_evtchn: 2,
    flags: 0,
};

#[test]
fn minios_start_info() {
    let bytes = minios_image();
    let image = GuestImage::parse(&bytes).unwrap();
    let layout = StartOfDayLayout::new(image.placement(), 8192, 0).unwrap();
    let info = start_info(&layout, &PLATFORM, b"console=hvc0\0ignored");
    assert_eq!(&info.magic[..15], b"xen-3.0-x86_64\0");
    assert_eq!(info.nr_pages, 8192);
    assert_eq!((info.pt_base, info.nr_pt_frames), (0x91000, 5));
    assert_eq!(info.mfn_list, 0x7e000);
    assert_eq!((info.mod_start, info.mod_len, info.flags), (0, 0, 0));
    assert_eq!((info.first_p2m_pfn, info.nr_p2m_frames), (0, 0));
    assert_eq!(&info.cmd_line[..13], b"console=hvc0\0");
    assert!(info.cmd_line[13..].iter().all(|&b| b == 0));

    let page = pv_abi::zerocopy::IntoBytes::as_bytes(&info).to_vec();
    let u64_at = |at: usize| u64::from_le_bytes(page[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(page[at..at + 4].try_into().unwrap());
    assert_eq!(&page[..14], b"xen-3.0-x86_64");
    assert_eq!(u64_at(32), 8192);
    assert_eq!(u64_at(40), 0x1234_5000);
    assert_eq!(u64_at(56), 0x777);
    assert_eq!(u32_at(64), 1);
    assert_eq!(u64_at(72), 0x778);
    assert_eq!(u32_at(80), 2);
    assert_eq!(u64_at(88), 0x91000);
    assert_eq!(u64_at(96), 5);
    assert_eq!(u64_at(104), 0x7e000);
    assert_eq!(&page[128..141], b"console=hvc0\0");

    let vcpu = BootVcpuState::new(&layout, image.notes().entry, 0xabc);
    assert_eq!((vcpu.rip, vcpu.rsp, vcpu.rsi), (0, 0x97000, 0x8e000));
    assert_eq!(
        (vcpu.cs, vcpu.ss, vcpu.data_selector),
        (FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, 0)
    );
    assert_eq!((vcpu.kernel_ss, vcpu.kernel_sp), (0xe02b, 0x97000));
    assert_eq!((vcpu.rflags, vcpu.cr3, vcpu.flags), (0x200, 0xabc000, 0x24));
    assert_eq!((vcpu.dr6, vcpu.dr7), (0xffff_0ff0, 0x400));
}

#[test]
fn linux_start_info_with_unmapped_ramdisk() {
    let bytes = linux_image();
    let image = GuestImage::parse(&bytes).unwrap();
    let layout = StartOfDayLayout::new(image.placement(), 0x20000, (10 << 20) + 1).unwrap();
    let info = start_info(&layout, &PLATFORM, b"");
    assert_eq!(info.flags, SIF_MOD_START_PFN);
    assert_eq!((info.mod_start, info.mod_len), (0x4000, 0xa01 * 4096));
    assert_eq!(info.mfn_list, 0x80_0000_0000);
    assert_eq!((info.first_p2m_pfn, info.nr_p2m_frames), (0x4a01, 259));
    assert_eq!(info.pt_base, LINUX_VIRT_BASE + 0x3c03 * 4096);
    let page = pv_abi::zerocopy::IntoBytes::as_bytes(&info).to_vec();
    assert_eq!(
        u64::from_le_bytes(page[1152..1160].try_into().unwrap()),
        0x4a01
    );
    assert_eq!(
        u64::from_le_bytes(page[1160..1168].try_into().unwrap()),
        259
    );
    let vcpu = BootVcpuState::new(&layout, image.notes().entry, 1);
    assert_eq!(vcpu.rip, LINUX_ENTRY);
    assert_eq!(vcpu.rsi, LINUX_VIRT_BASE + 0x3c00 * 4096);
}

#[test]
fn cmdline_is_truncated_and_terminated() {
    let long = [b'x'; 5000];
    let encoded = encode_cmdline(&long);
    assert!(encoded[..1023].iter().all(|&b| b == b'x'));
    assert_eq!(encoded[1023], 0);
    assert_eq!(encode_cmdline(b"")[0], 0);
}

#[test]
fn hypercall_page_bytes() {
    let mut page = [0u8; 4096];
    fill_hypercall_page(&mut page);
    // Slot 0: push %rcx; push %r11; mov $0,%eax; syscall; pop %r11; pop %rcx; ret.
    assert_eq!(
        page[..14],
        [0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]
    );
    assert!(page[14..32].iter().all(|&b| b == 0xcc));
    // Slot 29 (sched_op).
    assert_eq!(page[29 * 32 + 3..29 * 32 + 8], [0xb8, 29, 0, 0, 0]);
    // Slot 23 (iret): push %rcx; push %r11; push %rax; mov $23,%eax; syscall.
    assert_eq!(
        page[23 * 32..23 * 32 + 11],
        [0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]
    );
    assert!(page[23 * 32 + 11..24 * 32].iter().all(|&b| b == 0xcc));
    // Last slot.
    assert_eq!(page[127 * 32 + 4], 127);
    assert!(page[127 * 32 + 14..].iter().all(|&b| b == 0xcc));
}
