//! The kernel file as the boot loader handed it over, turned into the PV ELF the builder
//! loads: an ELF is used as it is; a Linux bzImage (what GRUB gets from a distribution's
//! `/boot`) has its compressed `vmlinux` decompressed here, as Xen's loader does, into
//! machine frames taken from the frame allocator for the time of the build (the payload is
//! tens of MiB, far more than the heap).
//!
//! ```text
//!  file ──is_bzimage?──no──► KernelElf::File(file)
//!    └─yes─► bzimage_payload ─► stated_size, dictionary_size
//!            take_scratch(out), take_scratch(dict) ─► decompress ─► release dict
//!            ──► KernelElf::Unpacked(out)   (released by `KernelElf::release` after the copy)
//! ```

use hv_core::image::{
    bzimage_payload, decompress, dictionary_size, is_bzimage, stated_size, BzImageError,
    DecompressError,
};

use crate::arch::cpu;
use crate::arch::phys::{self, ScratchBytes};
use crate::memory::Memory;

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
    /// Decompressed from a bzImage.
    Unpacked(ScratchBytes),
}

impl KernelElf<'_> {
    /// The ELF bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            KernelElf::File(b) => b,
            KernelElf::Unpacked(s) => s.bytes(),
        }
    }

    /// Gives scratch frames back to the allocator.
    pub fn release(self, memory: &mut Memory) {
        if let KernelElf::Unpacked(s) = self {
            phys::release_scratch(&mut memory.frames, s);
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
    let mut out = phys::take_scratch(&mut memory.frames, size as usize).ok_or(no_memory(size))?;
    let dict = if dict_size > 0 {
        match phys::take_scratch(&mut memory.frames, dict_size as usize) {
            Some(d) => Some(d),
            None => {
                phys::release_scratch(&mut memory.frames, out);
                return Err(no_memory(dict_size));
            }
        }
    } else {
        None
    };
    let mut dict = dict;
    let mut empty: [u8; 0] = [];
    let dict_bytes = match dict.as_mut() {
        Some(d) => d.bytes_mut(),
        None => &mut empty[..],
    };
    let result = decompress(&payload, out.bytes_mut(), dict_bytes);
    if let Some(d) = dict {
        phys::release_scratch(&mut memory.frames, d);
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
        dict_size >> 10,
        ms
    );
    Ok(KernelElf::Unpacked(out))
}
