//! Recognising a Linux bzImage and finding its compressed ELF payload (`decompress` unpacks it).
//!
//! A bzImage starts with the real-mode setup code; its setup header (boot protocol ≥ 2.08)
//! says where the protected-mode payload — the compressed `vmlinux` ELF — lies:
//!
//! ```text
//!  0x1f1 setup_sects (u8)      0x202 "HdrS"        0x206 version (u16, >= 0x0208)
//!  0x248 payload_offset (u32)  0x24c payload_length (u32)          header ends at 0x250
//!  payload = file[(setup_sects + 1) * 512 + payload_offset ..][.. payload_length]
//! ```
//!
//! As in the Xen toolstack's bzImage loader, `setup_sects` is used as written (no "0 means
//! 4" rule) and the compression is recognised by the payload's first bytes.

/// Offsets in the setup header.
const SETUP_SECTS: usize = 0x1f1;
const HEADER_MAGIC: usize = 0x202;
const VERSION: usize = 0x206;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24c;
/// Bytes up to the end of `payload_length`.
const SETUP_HEADER_END: usize = 0x250;
/// Boot protocol 2.08, the first with `payload_offset`.
const MIN_VERSION: u16 = 0x0208;

/// Compression of a bzImage payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `1f 8b`.
    Gzip,
    /// `"BZh"`.
    Bzip2,
    /// `fd "7zXZ" 00`.
    Xz,
    /// `28 b5 2f fd`.
    Zstd,
    /// `5d 00` (legacy .lzma).
    Lzma,
    /// `89 "LZO" 00`.
    Lzo,
    /// `02 21` (LZ4 legacy frame).
    Lz4,
}

/// Magic bytes, in the toolstack's probing order.
const MAGICS: [(&[u8], Compression); 7] = [
    (b"\x1f\x8b", Compression::Gzip),
    (b"BZh", Compression::Bzip2),
    (b"\xfd7zXZ\x00", Compression::Xz),
    (b"\x28\xb5\x2f\xfd", Compression::Zstd),
    (b"\x5d\x00", Compression::Lzma),
    (b"\x89LZO\x00", Compression::Lzo),
    (b"\x02\x21", Compression::Lz4),
];

/// Why a file is not a usable bzImage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BzImageError {
    /// Too short for a setup header, or no `"HdrS"`: not a bzImage.
    NotBzImage,
    /// Boot protocol older than 2.08 (no payload fields).
    ProtocolTooOld,
    /// The payload lies (partly) outside the file.
    PayloadOutOfFile,
    /// The payload's first bytes match no known compression.
    UnknownCompression,
}

/// The compressed kernel inside a bzImage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BzImagePayload<'a> {
    /// The compressed bytes.
    pub data: &'a [u8],
    /// Their format.
    pub compression: Compression,
}

fn le32(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(raw))
}

/// Whether `file` looks like a bzImage (has a setup header with `"HdrS"`).
pub fn is_bzimage(file: &[u8]) -> bool {
    file.len() >= SETUP_HEADER_END && &file[HEADER_MAGIC..HEADER_MAGIC + 4] == b"HdrS"
}

/// The payload of a bzImage and its compression.
pub fn bzimage_payload(file: &[u8]) -> Result<BzImagePayload<'_>, BzImageError> {
    if !is_bzimage(file) {
        return Err(BzImageError::NotBzImage);
    }
    // Length checked by `is_bzimage`: every header field read below is in bounds.
    if u16::from_le_bytes([file[VERSION], file[VERSION + 1]]) < MIN_VERSION {
        return Err(BzImageError::ProtocolTooOld);
    }
    let setup_bytes = (u64::from(file[SETUP_SECTS]) + 1) * 512;
    let offset = setup_bytes + le32(file, PAYLOAD_OFFSET);
    let end = offset + le32(file, PAYLOAD_LENGTH);
    let data = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(offset, end)| file.get(offset..end))
        .ok_or(BzImageError::PayloadOutOfFile)?;
    let compression = MAGICS
        .iter()
        .find(|(magic, _)| data.starts_with(magic))
        .map(|&(_, compression)| compression)
        .ok_or(BzImageError::UnknownCompression)?;
    Ok(BzImagePayload { data, compression })
}
