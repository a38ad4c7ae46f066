//! CRC-32 (IEEE, exactly `crc32fast::hash`) with the bulk folded by carry-less multiplication
//! (`PCLMULQDQ`): the XZ content check of a decompressed kernel (`hv_core::image::crc32`).
//!
//! The table code costs two memory loads per byte; under emulation that was about a sixth of
//! decoding Debian's 64 MiB kernel. Folding 64 bytes per step in four 128-bit lanes (the method
//! of Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ", constants for the
//! reflected IEEE polynomial) needs eight multiplications and four loads per 64 bytes. The four
//! folded lanes are themselves a 64-byte message whose CRC (from a zero raw state) is that of
//! all bytes folded into them (from the initial state, XORed into the first four bytes), so
//! the lanes and the tail are finished by the table code: no Barrett reduction.
//!
//! ```text
//!  data: [ 64 ][ 64 ] … [ 64 ][ tail < 64 ]
//!          │ raw initial state XORed into the first 4 bytes
//!          ▼
//!  lanes ──(lane.lo ⊗ K1) ⊕ (lane.hi ⊗ K2) ⊕ next 16 bytes, ×4 per 64 bytes──► 64 bytes V
//!  crc = table CRC over V ‖ tail from raw state 0
//! ```
//!
//! The file stands alone (core and `crc32fast` only) so that a host test (`tools/tests/
//! crc_fold.rs`) compiles the same code and compares it with `crc32fast` at every length.

/// Folding constants for 512 bits (x^(512+32) and x^(512-32) mod P, bit-reflected and shifted
/// left by one): the low lane half is multiplied by `K1`, the high one by `K2`.
const K1: u64 = 0x1_5444_2bd4;
const K2: u64 = 0x1_c6e4_1596;

/// `crc32fast::hash(data)`, the bulk folded by `PCLMULQDQ`.
///
/// # Safety
/// The CPU has `PCLMULQDQ` and SSE2, and SSE instructions do not fault here.
pub unsafe fn crc32_folded(data: &[u8]) -> u32 {
    // At least two blocks, so that one is folded into the other.
    if data.len() < 128 {
        return crc32fast::hash(data);
    }
    let bulk = data.len() & !63;
    let mut lanes = [0u8; 64];
    let mut save = [0u8; 128];
    let k = [K1, K2];
    // The raw state of a CRC with no bytes yet (crc32fast's `!prev` with prev 0).
    let init: u32 = !0;
    // SAFETY: reads `bulk` bytes of `data` (in bounds), writes the 64-byte `lanes` and the
    // 128-byte `save`, reads the 16-byte `k`; xmm0-xmm7 are saved first and restored last, so
    // no register the compiler or a guest relies on changes. The caller promised SSE works.
    unsafe {
        core::arch::asm!(
            "movdqu [{save}], xmm0",
            "movdqu [{save} + 16], xmm1",
            "movdqu [{save} + 32], xmm2",
            "movdqu [{save} + 48], xmm3",
            "movdqu [{save} + 64], xmm4",
            "movdqu [{save} + 80], xmm5",
            "movdqu [{save} + 96], xmm6",
            "movdqu [{save} + 112], xmm7",
            "movdqu xmm0, [{p}]",
            "movdqu xmm1, [{p} + 16]",
            "movdqu xmm2, [{p} + 32]",
            "movdqu xmm3, [{p} + 48]",
            "movd xmm4, {init:e}",
            "pxor xmm0, xmm4",
            "movdqu xmm4, [{k}]",
            "add {p}, 64",
            "sub {n}, 64",
            "2:",
            "movdqa xmm5, xmm0",
            "movdqa xmm6, xmm1",
            "movdqa xmm7, xmm2",
            "pclmulqdq xmm0, xmm4, 0x00",
            "pclmulqdq xmm5, xmm4, 0x11",
            "pclmulqdq xmm1, xmm4, 0x00",
            "pclmulqdq xmm6, xmm4, 0x11",
            "pclmulqdq xmm2, xmm4, 0x00",
            "pclmulqdq xmm7, xmm4, 0x11",
            "pxor xmm0, xmm5",
            "pxor xmm1, xmm6",
            "pxor xmm2, xmm7",
            "movdqa xmm5, xmm3",
            "pclmulqdq xmm3, xmm4, 0x00",
            "pclmulqdq xmm5, xmm4, 0x11",
            "pxor xmm3, xmm5",
            "movdqu xmm5, [{p}]",
            "movdqu xmm6, [{p} + 16]",
            "movdqu xmm7, [{p} + 32]",
            "pxor xmm0, xmm5",
            "pxor xmm1, xmm6",
            "pxor xmm2, xmm7",
            "movdqu xmm5, [{p} + 48]",
            "pxor xmm3, xmm5",
            "add {p}, 64",
            "sub {n}, 64",
            "jnz 2b",
            "movdqu [{lanes}], xmm0",
            "movdqu [{lanes} + 16], xmm1",
            "movdqu [{lanes} + 32], xmm2",
            "movdqu [{lanes} + 48], xmm3",
            "movdqu xmm0, [{save}]",
            "movdqu xmm1, [{save} + 16]",
            "movdqu xmm2, [{save} + 32]",
            "movdqu xmm3, [{save} + 48]",
            "movdqu xmm4, [{save} + 64]",
            "movdqu xmm5, [{save} + 80]",
            "movdqu xmm6, [{save} + 96]",
            "movdqu xmm7, [{save} + 112]",
            p = inout(reg) data.as_ptr() => _,
            n = inout(reg) bulk => _,
            init = in(reg) init,
            k = in(reg) k.as_ptr(),
            lanes = in(reg) lanes.as_mut_ptr(),
            save = in(reg) save.as_mut_ptr(),
            options(nostack),
        );
    }
    // The lanes are a 64-byte message whose raw CRC from state 0 is the raw CRC of the folded
    // bytes from `init`; crc32fast's state `s` is the raw state `!s`, so it starts at `!0`.
    let mut h = crc32fast::Hasher::new_with_initial(!0);
    h.update(&lanes);
    h.update(&data[bulk..]);
    h.finalize()
}

/// `hv_core::image::crc32`'s platform routine: [`crc32_folded`] with SSE usable for its
/// duration (CR0.TS, which a guest's virtual TS may have set, cleared and put back).
#[cfg(target_os = "none")]
fn crc32_platform(data: &[u8]) -> u32 {
    const CR0_TS: u64 = 1 << 3;
    let cr0 = super::cpu::read_cr0();
    if cr0 & CR0_TS != 0 {
        super::cpu::write_cr0(cr0 & !CR0_TS);
    }
    // SAFETY: `init` registered this routine only on a CPU with PCLMULQDQ and SSE2 and with
    // CR4.OSFXSR set; CR0.TS is clear here, so no SSE instruction faults.
    let crc = unsafe { crc32_folded(data) };
    if cr0 & CR0_TS != 0 {
        super::cpu::write_cr0(cr0);
    }
    crc
}

/// Registers the folded CRC with the core when the CPU can run it (CPUID.1:ECX.PCLMULQDQ and
/// EDX.SSE2, with CR4.OSFXSR already set by the boot path). Returns whether it did.
#[cfg(target_os = "none")]
pub fn init() -> bool {
    let leaf1 = super::cpu::cpuid(1, 0);
    let pclmul = leaf1[2] & (1 << 1) != 0;
    let sse2 = leaf1[3] & (1 << 26) != 0;
    let osfxsr = super::cpu::read_cr4() & (1 << 9) != 0;
    if pclmul && sse2 && osfxsr {
        hv_core::image::crc32::set_accelerated(crc32_platform);
        true
    } else {
        false
    }
}
