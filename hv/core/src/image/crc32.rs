//! CRC-32 (IEEE, as `crc32fast::hash`) of a decompressed kernel, with a faster platform
//! routine where the hypervisor provides one.
//!
//! Under emulation the table-driven CRC of Debian's 64 MiB kernel costs about a sixth of the
//! XZ decode (two memory loads per byte). The platform layer (`hv::arch::crc_fold`) folds the
//! bulk with carry-less multiplication when the CPU has it and registers that routine here
//! with [`set_accelerated`]; the XZ content check calls [`hash`].

/// The platform's CRC-32 routine, if any.
static ACCELERATED: spin::Once<fn(&[u8]) -> u32> = spin::Once::new();

/// Makes [`hash`] use `f`, which must compute exactly `crc32fast::hash`. Only the first call
/// counts.
pub fn set_accelerated(f: fn(&[u8]) -> u32) {
    ACCELERATED.call_once(|| f);
}

/// The CRC-32 of `data`, as `crc32fast::hash`.
pub fn hash(data: &[u8]) -> u32 {
    match ACCELERATED.get() {
        Some(f) => f(data),
        None => crc32fast::hash(data),
    }
}
