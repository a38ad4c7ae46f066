//! Descriptor pages: typing checks every descriptor (Xen's `alloc_segdesc_page`), and
//! `update_descriptor` checks and stores one.

use super::harness::*;
use crate::mm::*;

/// Linux's `__KERNEL_CS` (DPL 0, 64-bit) and `__USER_CS` (DPL 3, 64-bit).
const KERNEL_CS: u64 = 0x00af_9b00_0000_ffff;
const USER_CS: u64 = 0x00af_fb00_0000_ffff;
/// A present 64-bit TSS descriptor: never allowed to a guest.
const TSS: u64 = 0x0000_8900_0000_0067;
const DPL3: u64 = 3 << 45;

#[test]
fn typing_a_descriptor_page_applies_fixups() {
    let mut w = World::new();
    w.poke(20, 2, KERNEL_CS);
    w.poke(20, 6, USER_CS);
    w.mm.get_seg_desc_page(D1, Mfn(20), &mut w.mem).unwrap();
    assert_eq!(w.peek(20, 2), KERNEL_CS | DPL3, "DPL raised to 3");
    assert_eq!(w.peek(20, 6), USER_CS);
    w.check();
}

#[test]
fn a_bad_descriptor_anywhere_in_the_page_refuses_the_type() {
    let mut w = World::new();
    w.poke(20, 511, TSS);
    let before = w.frame(20);
    assert_eq!(
        w.mm.get_seg_desc_page(D1, Mfn(20), &mut w.mem),
        Err(MmError::BadDescriptor)
    );
    assert_eq!(w.frame(20), before, "no reference or type left behind");
    w.check();
    // Still an ordinary frame: it can be mapped writable.
    w.pin(D1, 16, PageLevel::L1).unwrap();
    w.update(D1, 16, 0, pte(20, PW)).unwrap();
    w.check();
}

#[test]
fn update_descriptor_checks_and_stores() {
    let mut w = World::new();
    w.mm.get_seg_desc_page(D1, Mfn(20), &mut w.mem).unwrap();
    let ma = 20 * 4096 + 15 * 8;
    let stored = w.mm.update_descriptor(D1, ma, KERNEL_CS, &mut w.mem);
    assert_eq!(stored, Ok(KERNEL_CS | DPL3));
    assert_eq!(w.peek(20, 15), KERNEL_CS | DPL3);
    assert_eq!(
        w.mm.update_descriptor(D1, ma, TSS, &mut w.mem),
        Err(MmError::BadDescriptor)
    );
    assert_eq!(
        w.mm.update_descriptor(D1, ma + 4, USER_CS, &mut w.mem),
        Err(MmError::BadDescriptor),
        "misaligned"
    );
    assert_eq!(
        w.peek(20, 15),
        KERNEL_CS | DPL3,
        "refused updates write nothing"
    );
    // The type reference taken for the write is gone again: still exactly one (ours).
    assert_eq!(w.frame(20).type_count(), 1);
    w.check();
}

#[test]
fn update_descriptor_on_ordinary_and_page_table_frames() {
    let mut w = World::new();
    // Untyped data frame: written as a Writable frame, left untyped.
    w.mm.update_descriptor(D1, 21 * 4096, USER_CS, &mut w.mem)
        .unwrap();
    assert_eq!(w.peek(21, 0), USER_CS);
    assert_eq!(w.frame(21).type_count(), 0);
    // A page table cannot be written this way.
    w.pin(D1, 16, PageLevel::L1).unwrap();
    assert_eq!(
        w.mm.update_descriptor(D1, 16 * 4096, USER_CS, &mut w.mem),
        Err(MmError::TypeConflict)
    );
    assert_eq!(w.peek(16, 0), 0);
    // Another domain's frame.
    assert_eq!(
        w.mm.update_descriptor(D1, 64 * 4096, USER_CS, &mut w.mem),
        Err(MmError::NotOwner)
    );
    assert_eq!(
        w.mm.update_descriptor(D1, MAX_MFN * 4096, USER_CS, &mut w.mem),
        Err(MmError::BadFrame)
    );
    w.check();
}
