//! bzImage payload location and compression detection.

use crate::image::bzimage::{bzimage_payload, is_bzimage, BzImageError, Compression};

pub(super) fn bzimage(
    version: u16,
    setup_sects: u8,
    payload: &[u8],
    payload_offset: u32,
) -> Vec<u8> {
    let setup = (usize::from(setup_sects) + 1) * 512;
    let mut file = vec![0u8; setup + payload_offset as usize];
    file[0x1f1] = setup_sects;
    file[0x202..0x206].copy_from_slice(b"HdrS");
    file[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    file[0x248..0x24c].copy_from_slice(&payload_offset.to_le_bytes());
    file[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    file.extend_from_slice(payload);
    file.extend_from_slice(&[0xee; 16]); // trailing bytes after the payload
    file
}

#[test]
fn finds_payload_and_compression() {
    let cases: [(&[u8], Compression); 7] = [
        (b"\x1f\x8b\x08\x00rest", Compression::Gzip),
        (b"BZh91AY", Compression::Bzip2),
        (b"\xfd7zXZ\x00\x00", Compression::Xz),
        (b"\x28\xb5\x2f\xfd\x00", Compression::Zstd),
        (b"\x5d\x00\x00\x80", Compression::Lzma),
        (b"\x89LZO\x00\x0d", Compression::Lzo),
        (b"\x02\x21\x4c\x18", Compression::Lz4),
    ];
    for (payload, compression) in cases {
        let file = bzimage(0x020f, 27, payload, 0x3a0);
        assert!(is_bzimage(&file));
        let found = bzimage_payload(&file).unwrap();
        assert_eq!(found.data, payload);
        assert_eq!(found.compression, compression);
    }
}

#[test]
fn rejects_bad_bzimages() {
    assert_eq!(bzimage_payload(&[0; 0x24f]), Err(BzImageError::NotBzImage));
    assert_eq!(bzimage_payload(&[0; 0x1000]), Err(BzImageError::NotBzImage));
    let old = bzimage(0x0207, 4, b"\x1f\x8b", 0);
    assert_eq!(bzimage_payload(&old), Err(BzImageError::ProtocolTooOld));
    let unknown = bzimage(0x0208, 4, b"\x7fELF", 0);
    assert_eq!(
        bzimage_payload(&unknown),
        Err(BzImageError::UnknownCompression)
    );
    let mut long = bzimage(0x0208, 4, b"\x1f\x8b", 0);
    long[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(bzimage_payload(&long), Err(BzImageError::PayloadOutOfFile));
    let mut far = bzimage(0x0208, 255, b"\x1f\x8b", 0);
    far[0x248..0x24c].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(bzimage_payload(&far), Err(BzImageError::PayloadOutOfFile));
}
