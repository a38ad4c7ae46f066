//! The 64-bit PV hypercall page: 128 stubs of 32 bytes that a guest `call`s to make hypercall
//! `nr` at `hypercall_page + nr * 32`.
//!
//! Byte-for-byte what Xen writes for a 64-bit PV guest (`init_hypercall_page` +
//! `pv_ring3_init_hypercall_page`): the page is filled with `int3` (0xCC), then each slot gets
//!
//! ```text
//!  51             push %rcx
//!  41 53          push %r11
//!  b8 <nr:le32>   mov  $nr, %eax
//!  0f 05          syscall
//!  41 5b          pop  %r11
//!  59             pop  %rcx
//!  c3             ret
//! ```
//!
//! except slot 23 (`iret`), which the guest jumps to and which never returns:
//! `51 41 53 50 b8 17 00 00 00 0f 05` (push %rcx; push %r11; push %rax; mov $23,%eax; syscall).

use pv_abi::xen::hypercall::IRET as HYPERVISOR_IRET;

/// Bytes of the page.
pub const HYPERCALL_PAGE_SIZE: usize = 4096;
/// Bytes per stub.
pub const HYPERCALL_SLOT_SIZE: usize = 32;

const INT3: u8 = 0xcc;

/// Fills `page` with the 64-bit PV hypercall stubs.
pub fn fill_hypercall_page(page: &mut [u8; HYPERCALL_PAGE_SIZE]) {
    page.fill(INT3);
    for (nr, slot) in (0u32..).zip(page.chunks_exact_mut(HYPERCALL_SLOT_SIZE)) {
        let nr_bytes = nr.to_le_bytes();
        if u64::from(nr) == HYPERVISOR_IRET {
            slot[..4].copy_from_slice(&[0x51, 0x41, 0x53, 0x50]);
            slot[4] = 0xb8;
            slot[5..9].copy_from_slice(&nr_bytes);
            slot[9..11].copy_from_slice(&[0x0f, 0x05]);
        } else {
            slot[..3].copy_from_slice(&[0x51, 0x41, 0x53]);
            slot[3] = 0xb8;
            slot[4..8].copy_from_slice(&nr_bytes);
            slot[8..14].copy_from_slice(&[0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]);
        }
    }
}
