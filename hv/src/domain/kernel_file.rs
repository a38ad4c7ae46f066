//! The kernel file as the boot loader handed it over, turned into the PV ELF the builder
//! loads: an ELF is used as it is; a Linux bzImage (what GRUB gets from a distribution's
//! `/boot`) has its compressed `vmlinux` decompressed here, as Xen's loader does, into
//! machine frames taken from the frame allocator for the time of the build (the payload is
//! tens of MiB, far more than the heap).
//!
//! ```text
//!  file ──is_bzimage?──no──► KernelElf::File(file)
//!    └─yes─► bzimage_payload ─► stated_size, dictionary_size
//!            take_scratch(out) ─► decompress (no dictionary: Linux's XZ layout, gzip, zstd)
//!              └─DictionaryTooSmall─► take_scratch(dict) ─► decompress ─► release dict
//!            ──► KernelElf::Unpacked(out)   (released by `KernelElf::release` after the copy,
//!                                              or its frames become the kernel's: `load_in_place`)
//! ```

use alloc::vec::Vec;

use hv_core::image::in_place::InPlacePlan;
use hv_core::image::{
    bzimage_payload, decompress, dictionary_size, is_bzimage, stated_size, BzImageError,
    DecompressError,
};

use crate::arch::cpu;
use crate::arch::phys::{self, ScratchBytes};
use crate::memory::{AdoptedFrames, Memory};

/// Largest decompressed kernel accepted (Linux's own limit for a bzImage's vmlinux is 1 GiB).
const MAX_KERNEL_BYTES: u64 = 1 << 30;

/// Why the kernel file could not be turned into an ELF.
#[derive(Clone, Copy, Debug)]
pub enum KernelFileError {
    /// A bzImage whose header or payload location is unusable (truncated file, …).
    BzImage(BzImageError),
    /// The payload did not decompress.
    Decompress(DecompressError),
    /// The payload states an impossible size (0, or above 1 GiB).
    BadSize {
        /// Bytes stated.
        bytes: u64,
    },
    /// No machine-contiguous block of this many bytes is free for the decompressed kernel or
    /// its dictionary.
    NoMemory {
        /// Bytes wanted.
        bytes: u64,
    },
}

impl core::fmt::Display for KernelFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BzImage(BzImageError::PayloadOutOfFile) => {
                write!(
                    f,
                    "bzImage payload lies beyond the end of the file (truncated image?)"
                )
            }
            Self::BzImage(e) => write!(f, "unusable bzImage: {e:?}"),
            Self::Decompress(e) => write!(f, "bzImage payload: {e}"),
            Self::BadSize { bytes } => write!(
                f,
                "bzImage payload states an impossible kernel size of {bytes} bytes"
            ),
            Self::NoMemory { bytes } => write!(
                f,
                "no {} MiB of contiguous machine memory free to decompress the kernel into",
                bytes.div_ceil(1 << 20)
            ),
        }
    }
}

/// The kernel ELF: the boot module itself, or a decompressed copy in scratch frames.
pub enum KernelElf<'a> {
    /// The file was an ELF.
    File(&'a [u8]),
    /// Decompressed from a bzImage: the first `len` bytes of whole scratch pages.
    Unpacked {
        /// The frames (the tail of the last page is undefined).
        scratch: ScratchBytes,
        /// The ELF's length.
        len: usize,
    },
    /// The decompressed frames became the kernel's (`load_in_place`); no bytes left.
    Adopted,
}

impl KernelElf<'_> {
    /// The ELF bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            KernelElf::File(b) => b,
            KernelElf::Unpacked { scratch, len } => &scratch.bytes()[..*len],
            KernelElf::Adopted => &[],
        }
    }

    /// Turns a decompressed ELF's frames into the kernel's as `plan` says (zeroing, then the
    /// pages no run takes go back to the allocator); `None` (and nothing changed) for a kernel
    /// that was not decompressed. The bytes are gone afterwards.
    pub fn load_in_place(
        &mut self,
        plan: &InPlacePlan,
        memory: &mut Memory,
    ) -> Option<Vec<AdoptedFrames>> {
        let mut scratch = match core::mem::replace(self, KernelElf::Adopted) {
            KernelElf::Unpacked { scratch, .. } => scratch,
            other => {
                *self = other;
                return None;
            }
        };
        let bytes = scratch.bytes_mut();
        for &(start, end) in &plan.zero {
            bytes[start as usize..end as usize].fill(0);
        }
        let keep = plan.runs.iter().map(|r| (r.file_page, r.pages));
        let mfn = phys::adopt_scratch(&mut memory.frames, scratch, keep);
        Some(
            plan.runs
                .iter()
                .map(|r| AdoptedFrames {
                    pfn: r.pfn,
                    mfn: mfn + r.file_page,
                    pages: r.pages,
                })
                .collect(),
        )
    }

    /// Gives scratch frames back to the allocator.
    pub fn release(self, memory: &mut Memory) {
        if let KernelElf::Unpacked { scratch, .. } = self {
            phys::release_scratch(&mut memory.frames, scratch);
        }
    }
}

/// Turns the kernel `file` into an ELF, decompressing a bzImage's payload.
pub fn unpack<'a>(
    memory: &mut Memory,
    file: &'a [u8],
    tsc_hz: u64,
) -> Result<KernelElf<'a>, KernelFileError> {
    if !is_bzimage(file) {
        return Ok(KernelElf::File(file));
    }
    let t0 = cpu::rdtsc();
    let payload = bzimage_payload(file).map_err(KernelFileError::BzImage)?;
    let size = stated_size(payload.data).map_err(KernelFileError::Decompress)?;
    if size == 0 || size > MAX_KERNEL_BYTES {
        return Err(KernelFileError::BadSize { bytes: size });
    }
    let dict_size = dictionary_size(&payload).map_err(KernelFileError::Decompress)?;
    let no_memory = |bytes| KernelFileError::NoMemory { bytes };
    // Whole pages: the frames may become the kernel's (`load_in_place`), tail included.
    let pages_len = (size as usize).next_multiple_of(4096);
    let mut out = phys::take_scratch(&mut memory.frames, pages_len).ok_or(no_memory(size))?;
    // First without a dictionary: Linux's own XZ layout (and gzip, zstd) needs none. Only a
    // stream left to the streaming XZ decoder asks for one, and gets it on a second try.
    let mut dict_used = 0;
    let mut result = decompress(&payload, &mut out.bytes_mut()[..size as usize], &mut []);
    if let Err(DecompressError::DictionaryTooSmall { .. }) = result {
        let Some(mut dict) = phys::take_scratch(&mut memory.frames, dict_size as usize) else {
            phys::release_scratch(&mut memory.frames, out);
            return Err(no_memory(dict_size));
        };
        dict_used = dict_size;
        result = decompress(
            &payload,
            &mut out.bytes_mut()[..size as usize],
            dict.bytes_mut(),
        );
        phys::release_scratch(&mut memory.frames, dict);
    }
    if let Err(e) = result {
        phys::release_scratch(&mut memory.frames, out);
        return Err(KernelFileError::Decompress(e));
    }
    let ms = (cpu::rdtsc() - t0) / (tsc_hz / 1000).max(1);
    log::info!(
        "kernel: bzImage, {:?} payload {} KiB -> ELF {} KiB (dictionary {} KiB) in {} ms",
        payload.compression,
        payload.data.len() >> 10,
        size >> 10,
        dict_used >> 10,
        ms
    );
    Ok(KernelElf::Unpacked {
        scratch: out,
        len: size as usize,
    })
}
