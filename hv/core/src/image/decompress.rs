//! Decompressing a bzImage payload (the compressed `vmlinux` ELF) into caller-provided memory,
//! as Xen's loader does for a kernel handed over by GRUB: XZ (with the BCJ filters Linux uses),
//! gzip and zstd.
//!
//! ```text
//!  payload = compressed stream | uncompressed size (le32, appended by Linux's `size_append`)
//!  stated_size(payload)  -> bytes the caller must provide as `out`
//!  dictionary_size(payload) -> bytes the caller must provide as `dict` (XZ only, else 0)
//!  decompress(payload, out, dict) -> bytes written (== stated size) or why not
//! ```
//!
//! The caller owns all large buffers (the hypervisor takes them from machine frames, not from
//! its small heap): XZ in Linux's own layout (one block, x86 BCJ + LZMA2, CRC32) decodes in a
//! single call with `out` as the dictionary (`xz_single`, as Linux's and Xen's decompressors
//! do: no second copy, ~25% less time under QEMU TCG than streaming); any other XZ stream
//! goes through `xz4rust` (a port of the kernel's own xz-embedded, no allocation) with a
//! dictionary buffer of the size the stream declares; gzip inflates with
//! `miniz_oxide` straight into `out` (no window copy); zstd decodes with `ruzstd`, whose window
//! lives on the heap, so windows above [`MAX_ZSTD_WINDOW`] are refused rather than exhausting it.

use alloc::boxed::Box;

use super::bzimage::{BzImagePayload, Compression};

/// Largest zstd window accepted (the window is a heap buffer inside `ruzstd`).
pub const MAX_ZSTD_WINDOW: u64 = 8 << 20;
/// Largest XZ dictionary accepted (the caller allocates it from machine frames).
pub const MAX_XZ_DICTIONARY: u64 = 256 << 20;

/// Why a payload could not be decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// The payload is too short to hold a stream and its size trailer.
    Truncated,
    /// The compression format is recognised but not supported (bzip2, lzma, lzo, lz4).
    Unsupported(Compression),
    /// The stream is corrupt (bad header, bad data, bad check); the text says where.
    Corrupt(&'static str),
    /// The stream ended early (the payload was cut short).
    UnexpectedEnd,
    /// The stream produced more bytes than the size trailer states.
    LargerThanStated,
    /// The stream produced fewer bytes than the size trailer states.
    SmallerThanStated {
        /// What the stream gave.
        produced: u64,
    },
    /// The XZ dictionary buffer is smaller than the stream declares.
    DictionaryTooSmall {
        /// Bytes the stream declares.
        needed: u64,
    },
    /// The XZ dictionary or zstd window is larger than this loader accepts.
    WindowTooLarge {
        /// Bytes declared.
        size: u64,
    },
}

impl core::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => write!(f, "the payload is truncated"),
            Self::Unsupported(c) => {
                write!(f, "{c:?} payloads are not supported (XZ, gzip, zstd are)")
            }
            Self::Corrupt(what) => write!(f, "the payload is corrupt ({what})"),
            Self::UnexpectedEnd => write!(f, "the compressed stream ends early (truncated image?)"),
            Self::LargerThanStated => {
                write!(f, "the payload decompresses to more than its stated size")
            }
            Self::SmallerThanStated { produced } => {
                write!(
                    f,
                    "the payload decompresses to {produced} bytes, less than its stated size"
                )
            }
            Self::DictionaryTooSmall { needed } => {
                write!(f, "the XZ dictionary needs {needed} bytes")
            }
            Self::WindowTooLarge { size } => {
                write!(
                    f,
                    "the compression window of {size} bytes is larger than this loader accepts"
                )
            }
        }
    }
}

/// Bytes of the size trailer Linux appends to every payload.
const TRAILER: usize = 4;

/// The decompressed size the payload states in its last four bytes.
pub fn stated_size(payload: &[u8]) -> Result<u64, DecompressError> {
    let tail = payload
        .len()
        .checked_sub(TRAILER)
        .and_then(|at| payload.get(at..))
        .ok_or(DecompressError::Truncated)?;
    let mut raw = [0u8; TRAILER];
    raw.copy_from_slice(tail);
    Ok(u64::from(u32::from_le_bytes(raw)))
}

/// The dictionary buffer [`decompress`] may need: the XZ stream's declared dictionary (read
/// by a trial decode of its headers; only a stream the single-call decoder leaves to the
/// streaming one uses it), 0 for the other formats.
pub fn dictionary_size(payload: &BzImagePayload) -> Result<u64, DecompressError> {
    if payload.compression != Compression::Xz {
        return Ok(0);
    }
    let mut out = [0u8; 64];
    match xz_streaming(payload.data, &mut out, &mut []) {
        Err(DecompressError::DictionaryTooSmall { needed }) if needed > MAX_XZ_DICTIONARY => {
            Err(DecompressError::WindowTooLarge { size: needed })
        }
        Err(DecompressError::DictionaryTooSmall { needed }) => Ok(needed),
        // Reached data with an empty dictionary: an LZMA2 stream always declares one, so
        // this is a stream the full decode will judge (and reject) itself.
        Err(DecompressError::LargerThanStated) | Ok(_) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Decompresses `payload` into `out` (exactly [`stated_size`] bytes long); `dict` is the
/// XZ dictionary buffer ([`dictionary_size`] bytes). Returns the bytes written.
pub fn decompress(
    payload: &BzImagePayload,
    out: &mut [u8],
    dict: &mut [u8],
) -> Result<usize, DecompressError> {
    let stated = stated_size(payload.data)?;
    let stream = &payload.data[..payload.data.len() - TRAILER];
    let produced = match payload.compression {
        Compression::Xz => xz(stream, out, dict)?,
        Compression::Gzip => gzip(stream, out)?,
        Compression::Zstd => zstd(stream, out)?,
        other => return Err(DecompressError::Unsupported(other)),
    };
    if (produced as u64) < stated {
        return Err(DecompressError::SmallerThanStated {
            produced: produced as u64,
        });
    }
    Ok(produced)
}

fn xz(stream: &[u8], out: &mut [u8], dict: &mut [u8]) -> Result<usize, DecompressError> {
    // Linux's own layout (one block, x86 BCJ + LZMA2, CRC32) decodes in a single call with
    // `out` as the dictionary; anything else streams through `xz4rust` and `dict`.
    match super::xz_single::decode(stream, out) {
        Ok(n) => return Ok(n),
        Err(super::xz_single::Single::Failed(e)) => return Err(e),
        Err(super::xz_single::Single::Unsupported) => {}
    }
    xz_streaming(stream, out, dict)
}

fn xz_streaming(stream: &[u8], out: &mut [u8], dict: &mut [u8]) -> Result<usize, DecompressError> {
    use xz4rust::{XzDecoder, XzError, XzNextBlockResult};
    // The decoder state is about 32 KiB: keep it off the (small) hypervisor stack.
    let mut decoder = Box::new(XzDecoder::with_fixed_size_dict(dict));
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        let step = decoder.decode(&stream[read..], &mut out[written..]);
        match step {
            Ok(XzNextBlockResult::EndOfStream(_, w)) => return Ok(written + w),
            Ok(XzNextBlockResult::NeedMoreData(r, w)) => {
                read += r;
                written += w;
                if r == 0 && w == 0 {
                    return Err(if written == out.len() {
                        DecompressError::LargerThanStated
                    } else {
                        DecompressError::UnexpectedEnd
                    });
                }
            }
            Err(XzError::DictionaryTooLarge(needed)) => {
                return Err(DecompressError::DictionaryTooSmall { needed })
            }
            Err(XzError::NeedsLargerInputBuffer) => return Err(DecompressError::UnexpectedEnd),
            Err(e) => return Err(DecompressError::Corrupt(xz_error_text(&e))),
        }
    }
}

fn xz_error_text(e: &xz4rust::XzError) -> &'static str {
    use xz4rust::XzError as E;
    match e {
        E::ContentCrc32Mismatch(..) => "XZ content CRC32 mismatch",
        E::StreamHeaderMagicNumberMismatch | E::StreamHeaderCrc32Mismatch(..) => {
            "bad XZ stream header"
        }
        E::BlockHeaderCrc32Mismatch(..) | E::BlockHeaderTooSmall => "bad XZ block header",
        E::UnsupportedCheckType(_) => "unsupported XZ check type",
        E::UnsupportedBcjFilter(_) | E::UnsupportedBlockHeaderOption => "unsupported XZ filter",
        E::FooterMagicNumberMismatch
        | E::FooterCrc32Mismatch(..)
        | E::FooterCheckTypeMismatch(..)
        | E::FooterDecoderIndexMismatch(..)
        | E::IndexCrc32Mismatch(..)
        | E::CorruptedDataInBlockIndex => "bad XZ index or footer",
        _ => "bad XZ/LZMA2 data",
    }
}

/// gzip member: header (RFC 1952), raw deflate, CRC32 and ISIZE trailer.
fn gzip(stream: &[u8], out: &mut [u8]) -> Result<usize, DecompressError> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let body = gzip_body(stream)?;
    let mut inflater = Box::<DecompressorOxide>::default();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, read, written) = decompress(&mut inflater, body, out, 0, flags);
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(DecompressError::LargerThanStated),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            return Err(DecompressError::UnexpectedEnd)
        }
        _ => return Err(DecompressError::Corrupt("bad deflate data")),
    }
    let trailer = body
        .get(read..read + 8)
        .ok_or(DecompressError::UnexpectedEnd)?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32fast::hash(&out[..written]) != crc || isize != written as u32 {
        return Err(DecompressError::Corrupt("gzip CRC32 or size mismatch"));
    }
    Ok(written)
}

/// The deflate data of a gzip member (after its header).
fn gzip_body(stream: &[u8]) -> Result<&[u8], DecompressError> {
    const FHCRC: u8 = 1 << 1;
    const FEXTRA: u8 = 1 << 2;
    const FNAME: u8 = 1 << 3;
    const FCOMMENT: u8 = 1 << 4;
    let header = stream.get(..10).ok_or(DecompressError::UnexpectedEnd)?;
    if header[0..3] != [0x1f, 0x8b, 8] || header[3] & 0xe0 != 0 {
        return Err(DecompressError::Corrupt("bad gzip header"));
    }
    let flags = header[3];
    let mut at = 10usize;
    let end = DecompressError::UnexpectedEnd;
    if flags & FEXTRA != 0 {
        let len = stream.get(at..at + 2).ok_or(end)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = stream.get(at..).ok_or(end)?;
            at += rest.iter().position(|&b| b == 0).ok_or(end)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    stream.get(at..).ok_or(end)
}

/// The window a zstd frame declares (RFC 8878 §3.1.1.1).
fn zstd_window(stream: &[u8]) -> Result<u64, DecompressError> {
    let descriptor = *stream.get(4).ok_or(DecompressError::UnexpectedEnd)?;
    let single_segment = descriptor & (1 << 5) != 0;
    if !single_segment {
        let w = *stream.get(5).ok_or(DecompressError::UnexpectedEnd)?;
        let base = 1u64 << (10 + (w >> 3));
        return Ok(base + (base / 8) * u64::from(w & 7));
    }
    // Single segment: the window is the content size, which follows the descriptor.
    let size_bytes = match descriptor >> 6 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let dict_id_bytes = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let at = 5 + dict_id_bytes;
    let raw = stream
        .get(at..at + size_bytes)
        .ok_or(DecompressError::UnexpectedEnd)?;
    let mut le = [0u8; 8];
    le[..size_bytes].copy_from_slice(raw);
    let size = u64::from_le_bytes(le);
    Ok(if size_bytes == 2 { size + 256 } else { size })
}

fn zstd(stream: &[u8], out: &mut [u8]) -> Result<usize, DecompressError> {
    use ruzstd::decoding::errors::FrameDecoderError as E;
    let window = zstd_window(stream)?;
    if window > MAX_ZSTD_WINDOW {
        return Err(DecompressError::WindowTooLarge { size: window });
    }
    let mut decoder = Box::new(ruzstd::decoding::FrameDecoder::new());
    let written = decoder.decode_all(stream, out).map_err(|e| match e {
        E::TargetTooSmall => DecompressError::LargerThanStated,
        E::WindowSizeTooBig { requested, .. } => {
            DecompressError::WindowTooLarge { size: requested }
        }
        E::ReadFrameHeaderError(_) | E::FailedToReadBlockHeader(_) => {
            DecompressError::Corrupt("bad zstd frame or block header")
        }
        E::FailedToReadChecksum(_) => DecompressError::UnexpectedEnd,
        _ => DecompressError::Corrupt("bad zstd data"),
    })?;
    // `ruzstd` reads the (last) frame's checksum but leaves comparing it to the caller.
    if let (Some(stored), Some(computed)) = (
        decoder.get_checksum_from_data(),
        decoder.get_calculated_checksum(),
    ) {
        if stored != computed {
            return Err(DecompressError::Corrupt("zstd checksum mismatch"));
        }
    }
    Ok(written)
}
