//! `set_gdt` and `update_descriptor` (the LDT is set through `mmuext_op`); the work is in
//! `crate::descriptors`.

use hv_core::descriptor::FIRST_RESERVED_GDT_ENTRY;
use pv_abi::errno;

use super::{Call, Ret};
use crate::descriptors;

/// `set_gdt(frame_list, entries)`: `frame_list` is a guest array of ceil(entries / 512)
/// machine frame numbers. Errors: `-EINVAL` (too many entries, or a frame that cannot be a
/// descriptor page), `-EFAULT` (unreadable list).
pub fn set_gdt(call: &mut Call) -> Ret {
    let [list, entries, ..] = call.args;
    if entries > u64::from(FIRST_RESERVED_GDT_ENTRY) {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let mut frames = [0u64; FIRST_RESERVED_GDT_ENTRY as usize / 512];
    let n = (entries as usize).div_ceil(512);
    for (i, f) in frames[..n].iter_mut().enumerate() {
        match call.guest().read_elem::<u64>(list, i as u64) {
            Ok(v) => *f = v,
            Err(e) => return e.into(),
        }
    }
    match descriptors::set_gdt(call.hv, call.who, &frames[..n], entries as u32) {
        Ok(()) => Ret::Value(0),
        Err(e) => {
            log::debug!(
                "d{}: set_gdt {:x?} ({entries} entries): {e}",
                call.dom(),
                &frames[..n]
            );
            // Xen answers -EINVAL for every frame it cannot take.
            Ret::Value(errno::neg(errno::EINVAL))
        }
    }
}

/// `update_descriptor(maddr, desc)`.
pub fn update_descriptor(call: &mut Call) -> Ret {
    let [maddr, desc, ..] = call.args;
    match descriptors::update_descriptor(call.hv, call.who, maddr, desc) {
        Ok(()) => Ret::Value(0),
        Err(e) => {
            log::debug!(
                "d{}: update_descriptor {maddr:#x} {desc:#x}: {e}",
                call.dom()
            );
            Ret::Value(errno::neg(errno::EINVAL))
        }
    }
}
