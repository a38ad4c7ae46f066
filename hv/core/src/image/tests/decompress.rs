//! Payload decompression with real streams: the test compresses a Linux-shaped PV ELF with the
//! system's `xz` (`--x86` BCJ + LZMA2, CRC32, as Linux's `scripts/xz_wrap.sh`), `gzip` and
//! `zstd`, wraps it as a bzImage payload (stream + le32 size, as Linux's `size_append`) and
//! checks the bytes come back, and that damaged payloads are refused with the right error.

use std::io::Write;
use std::process::{Command, Stdio};

use super::builder::{linux_image, ElfBuilder, LINUX_KSTART};
use super::bzimage::bzimage;
use crate::image::bzimage::{bzimage_payload, Compression};
use crate::image::decompress::{
    decompress, dictionary_size, stated_size, DecompressError, MAX_ZSTD_WINDOW,
};
use crate::image::GuestImage;

/// A Linux-shaped PV ELF with x86 call/jump instructions in its text (so BCJ has work).
fn kernel_elf() -> Vec<u8> {
    let mut elf = linux_image();
    let mut text = Vec::new();
    for i in 0u32..40_000 {
        text.push(0xe8); // call rel32
        text.extend_from_slice(&(i.wrapping_mul(2654435761) >> 8).to_le_bytes());
        text.extend_from_slice(&[0x48, 0x89, 0xc7, 0xe9]); // mov rdi, rax; jmp rel32
        text.extend_from_slice(&(i ^ 0x5555).to_le_bytes());
    }
    elf.extend_from_slice(&text);
    elf
}

/// Runs `tool args` on `input` and returns its stdout.
fn run(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed for this test (xz-utils, gzip, zstd): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// A xorshift32 sequence from `seed` (not 0): reproducible noise for test data.
fn noise(mut seed: u32) -> impl FnMut() -> u32 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    }
}

/// Linux's payload: the compressed stream followed by the uncompressed size (le32).
fn with_size(mut stream: Vec<u8>, size: usize) -> Vec<u8> {
    stream.extend_from_slice(&(size as u32).to_le_bytes());
    stream
}

fn xz_payload(elf: &[u8], dict: &str) -> Vec<u8> {
    let lzma2 = format!("--lzma2=dict={dict}");
    let args = ["--format=xz", "--check=crc32", "--x86", &lzma2, "-c"];
    with_size(run("xz", &args, elf), elf.len())
}

/// Decompresses a bzImage built around `payload` the way the hypervisor does.
fn unpack(payload: &[u8]) -> Result<Vec<u8>, DecompressError> {
    let file = bzimage(0x020f, 27, payload, 0x3a0);
    let found = bzimage_payload(&file).unwrap();
    let size = stated_size(found.data)? as usize;
    let mut dict = vec![0u8; dictionary_size(&found)? as usize];
    let mut out = vec![0u8; size];
    let n = decompress(&found, &mut out, &mut dict)?;
    out.truncate(n);
    Ok(out)
}

#[test]
fn xz_with_x86_bcj_round_trips_and_the_elf_parses() {
    let elf = kernel_elf();
    let payload = xz_payload(&elf, "1MiB");
    let file = bzimage(0x020f, 27, &payload, 0x3a0);
    let found = bzimage_payload(&file).unwrap();
    assert_eq!(found.compression, Compression::Xz);
    assert_eq!(dictionary_size(&found), Ok(1 << 20));
    let out = unpack(&payload).unwrap();
    assert!(out == elf, "decompressed bytes differ");
    let image = GuestImage::parse(&out).unwrap();
    assert_eq!(image.notes().entry, super::builder::LINUX_ENTRY);
}

#[test]
fn xz_declares_its_dictionary_and_a_smaller_buffer_is_refused() {
    let elf = kernel_elf();
    let payload = xz_payload(&elf, "32MiB");
    let file = bzimage(0x020f, 27, &payload, 0x3a0);
    let found = bzimage_payload(&file).unwrap();
    // The declared dictionary, as Debian's kernel declares 32 MiB.
    let needed = dictionary_size(&found).unwrap();
    assert!(
        needed > elf.len() as u64,
        "xz kept the 32 MiB declaration: {needed}"
    );
    // Linux's layout decodes in a single call (the output is the dictionary): no buffer.
    let mut out = vec![0u8; elf.len()];
    assert_eq!(decompress(&found, &mut out, &mut []), Ok(elf.len()));
    assert!(out == elf);
    // Streams the single-call decoder leaves to the streaming one (another BCJ filter, or
    // several blocks) need it.
    for args in [
        &["--arm", "--lzma2=dict=32MiB"][..],
        &["--x86", "--lzma2=dict=32MiB", "--block-size=64KiB"][..],
    ] {
        let mut all = vec!["--format=xz", "--check=crc32", "-c"];
        all.extend_from_slice(args);
        let other = with_size(run("xz", &all, &elf), elf.len());
        let file = bzimage(0x020f, 27, &other, 0x3a0);
        let found = bzimage_payload(&file).unwrap();
        let stream = &found.data[..found.data.len() - 4];
        assert_eq!(
            crate::image::xz_single::decode(stream, &mut out),
            Err(crate::image::xz_single::Single::Unsupported),
            "{args:?}"
        );
        let mut small = vec![0u8; 1 << 20];
        assert_eq!(
            decompress(&found, &mut out, &mut small),
            Err(DecompressError::DictionaryTooSmall { needed }),
            "{args:?}"
        );
        assert!(unpack(&other).unwrap() == elf, "{args:?}");
    }
}

/// The single-call decoder and the streaming one agree, on every shape `xz` makes of a
/// Linux-like image: several LZMA2 properties, dictionary sizes, with and without BCJ, an
/// incompressible stretch (uncompressed chunks) and a multi-chunk stream.
#[test]
fn single_call_and_streaming_decoders_agree() {
    use crate::image::xz_single;
    let mut elf = kernel_elf();
    // Incompressible bytes force LZMA2 uncompressed chunks.
    let mut next = noise(0x1234_5678);
    elf.extend((0..200_000).map(|_| next() as u8));
    elf.extend(core::iter::repeat_n(0u8, 300_000));
    // Runs with short periods (matches at distances 2..7, copied as a repeated pattern).
    for period in 2..8u8 {
        for i in 0..5_000u32 {
            elf.push((i % u32::from(period)) as u8 ^ period);
        }
    }
    // Several MiB of code-like bytes: many LZMA2 chunks, so chunk ends fall on every state
    // of the range decoder (one that needs a last normalization included).
    let text = kernel_elf();
    for round in 0u8..8 {
        elf.extend(text.iter().map(|&b| b.wrapping_add(round & 1)));
    }
    for args in [
        &["--x86", "--lzma2=dict=1MiB"][..],
        &["--lzma2=dict=64KiB,lc=0,lp=2,pb=0"][..],
        &["--x86", "--lzma2=preset=0,lc=4,lp=0,pb=4"][..],
        &["--check=none", "--x86", "--lzma2=dict=4KiB,nice=273"][..],
    ] {
        let mut all = vec!["--format=xz", "-c"];
        if !args.iter().any(|a| a.starts_with("--check")) {
            all.push("--check=crc32");
        }
        all.extend_from_slice(args);
        let stream = run("xz", &all, &elf);
        let mut out = vec![0u8; elf.len()];
        assert_eq!(
            xz_single::decode(&stream, &mut out),
            Ok(elf.len()),
            "{args:?}"
        );
        assert!(out == elf, "{args:?}: bytes differ");
    }
}

/// `copy_match` (whole words, with an overrun past the match) gives exactly the bytes of a
/// byte-by-byte copy, for every short period and length, with and without room for the
/// overrun at the end of the buffer, and never touches a byte below the match.
#[test]
fn match_copy_equals_a_byte_by_byte_copy() {
    use crate::image::xz_single::copy_match;
    let mut next = noise(0x9e37_79b9);
    for back in 1..=20usize {
        for len in 2..=273usize {
            for slack in [0usize, 1, 7, 8, 9, 300] {
                let pos = 40;
                let size = pos + len + slack;
                let start: Vec<u8> = (0..size).map(|_| next() as u8).collect();
                let mut want = start.clone();
                for i in 0..len {
                    want[pos + i] = want[pos - back + i];
                }
                let mut got = start.clone();
                copy_match(&mut got, pos, back, len);
                assert_eq!(
                    got[..pos + len],
                    want[..pos + len],
                    "back {back} len {len} slack {slack}"
                );
            }
        }
    }
}

/// The branch-free probability update is LZMA's, for every probability a coder can hold.
#[test]
fn probability_update_is_lzmas() {
    use crate::image::xz_single::adapt;
    for p in 31..=2017u32 {
        assert_eq!(u32::from(adapt(p, true)), p + ((2048 - p) >> 5), "0 at {p}");
        assert_eq!(u32::from(adapt(p, false)), p - (p >> 5), "1 at {p}");
    }
}

/// The single-call decoder on damaged Linux-style streams: an error or a value, never a
/// panic, and never a write past the buffer it was given.
#[test]
fn single_call_decoder_never_panics_on_damaged_streams() {
    use crate::image::xz_single;
    use proptest::prelude::*;
    let elf = kernel_elf()[..96 << 10].to_vec();
    let args = [
        "--format=xz",
        "--check=crc32",
        "--x86",
        "--lzma2=dict=64KiB",
        "-c",
    ];
    let stream = run("xz", &args, &elf);
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 256,
        ..Default::default()
    });
    let strategy = (
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        any::<prop::sample::Index>(),
        0usize..3,
    );
    runner
        .run(&strategy, |(flips, cut, room)| {
            let mut s = stream.clone();
            for (at, value) in flips {
                let i = at.index(s.len());
                s[i] ^= value | 1;
            }
            if cut.index(3) == 0 {
                s.truncate(cut.index(s.len()));
            }
            // The output buffer too small, exact, or larger than the data.
            let len = [elf.len() / 2, elf.len(), elf.len() + 100][room];
            let mut out = vec![0u8; len];
            let _ = xz_single::decode(&s, &mut out);
            Ok(())
        })
        .unwrap();
}

/// x86 BCJ: converted call targets come back, and bytes that are no call are untouched.
#[test]
fn x86_bcj_undoes_what_xz_did() {
    let mut elf = kernel_elf();
    // Dense E8/E9 opcodes next to 00/FF bytes, at every spacing: the filter's look-back
    // over recent opcodes and its skipping to the next opcode both get exercised.
    let mut next = noise(0x2545_f491);
    for _ in 0..100_000 {
        let x = next();
        elf.push(match x % 6 {
            0 => 0xe8,
            1 => 0xe9,
            2 => 0x00,
            3 => 0xff,
            _ => (x >> 8) as u8,
        });
    }
    // Raw streams: encode with BCJ + LZMA2, decode the LZMA2 only: the BCJ-encoded bytes.
    let encoded = run(
        "xz",
        &["--format=raw", "--x86", "--lzma2=preset=0", "-c"],
        &elf,
    );
    let encoded_bcj = run("xz", &["--format=raw", "--lzma2=preset=0", "-dc"], &encoded);
    assert!(
        encoded_bcj != elf,
        "the filter changed nothing: a vacuous test"
    );
    let mut back = encoded_bcj.clone();
    crate::image::xz_single::x86_decode(&mut back);
    assert!(back == elf);
}

#[test]
fn gzip_and_zstd_round_trip() {
    let elf = kernel_elf();
    let gz = with_size(run("gzip", &["-9", "-n", "-c"], &elf), elf.len());
    assert!(unpack(&gz).unwrap() == elf, "gzip");
    let named = with_size(run("gzip", &["-c", "--name"], &elf), elf.len());
    assert!(unpack(&named).unwrap() == elf, "gzip with FNAME is skipped");
    let zst = with_size(run("zstd", &["-19", "-c", "--check"], &elf), elf.len());
    assert!(unpack(&zst).unwrap() == elf, "zstd");
}

#[test]
fn zstd_window_larger_than_the_heap_budget_is_refused() {
    let big = vec![0x90u8; (MAX_ZSTD_WINDOW as usize) + 4096];
    // A 16 MiB window (`--long=24`).
    let zst = with_size(run("zstd", &["-1", "--long=24", "-c"], &big), big.len());
    assert!(matches!(
        unpack(&zst),
        Err(DecompressError::WindowTooLarge { size }) if size > MAX_ZSTD_WINDOW
    ));
}

#[test]
fn damaged_payloads_are_refused() {
    let elf = kernel_elf();
    let xz = xz_payload(&elf, "1MiB");
    // A flipped bit in the compressed data: the LZMA2 data or the CRC32 check fails.
    let mut flipped = xz.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    assert!(matches!(unpack(&flipped), Err(DecompressError::Corrupt(_))));
    // Cut short (size trailer kept): the stream ends early.
    let cut = with_size(xz[..xz.len() / 2].to_vec(), elf.len());
    assert!(matches!(
        unpack(&cut),
        Err(DecompressError::UnexpectedEnd | DecompressError::Corrupt(_))
    ));
    // The trailer states less than the stream holds, or more.
    let short = with_size(xz[..xz.len() - 4].to_vec(), elf.len() - 1);
    assert_eq!(unpack(&short), Err(DecompressError::LargerThanStated));
    let long = with_size(xz[..xz.len() - 4].to_vec(), elf.len() + 10);
    assert_eq!(
        unpack(&long),
        Err(DecompressError::SmallerThanStated {
            produced: elf.len() as u64
        })
    );
    // gzip with a bad CRC32.
    let mut gz = with_size(run("gzip", &["-c"], &elf), elf.len());
    let crc_at = gz.len() - 12;
    gz[crc_at] ^= 1;
    assert!(matches!(unpack(&gz), Err(DecompressError::Corrupt(_))));
    // Too short for even the trailer.
    assert_eq!(stated_size(b"\xfd7z"), Err(DecompressError::Truncated));
    assert!(matches!(
        unpack(b"\xfd7zXZ\x00\x00\x01"),
        Err(DecompressError::UnexpectedEnd | DecompressError::Corrupt(_))
    ));
    // Formats Xen knows but this loader does not decode.
    assert_eq!(
        unpack(b"BZh91AY&SY\0\0\0\0"),
        Err(DecompressError::Unsupported(Compression::Bzip2))
    );
}

#[test]
fn a_kernel_without_pv_notes_decompresses_but_is_not_a_pv_image() {
    let plain = ElfBuilder::new(LINUX_KSTART)
        .load(LINUX_KSTART, 0x100_0000, vec![0x90; 0x3000], 0x10_0000)
        .build();
    let out = unpack(&xz_payload(&plain, "1MiB")).unwrap();
    assert!(out == plain);
    assert_eq!(
        GuestImage::parse(&out).unwrap_err(),
        crate::image::ImageError::NotXenImage
    );
}

/// Damaged payloads of every format never panic the decoder (the hypervisor runs it on
/// whatever GRUB loaded): random bytes flipped anywhere give a value or an error.
#[test]
fn mutated_payloads_never_panic() {
    use proptest::prelude::*;
    let elf = kernel_elf()[..64 << 10].to_vec();
    let payloads = [
        xz_payload(&elf, "1MiB"),
        with_size(run("gzip", &["-c"], &elf), elf.len()),
        with_size(run("zstd", &["-c", "--check"], &elf), elf.len()),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 96,
        ..Default::default()
    });
    let strategy = (
        0usize..3,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        any::<prop::sample::Index>(),
    );
    runner
        .run(&strategy, |(format, flips, cut)| {
            let mut p = payloads[format].clone();
            for (at, value) in flips {
                let i = at.index(p.len());
                p[i] ^= value | 1;
            }
            // Sometimes cut it short too (keeping at least the trailer's length).
            if cut.index(4) == 0 {
                let keep = 4 + cut.index(p.len() - 4);
                p.truncate(keep);
            }
            // A flipped size trailer may state gigabytes: the hypervisor then finds no memory
            // for it; the test skips such huge buffers. A flip may also hit the payload's
            // magic: the loader then refuses it as of unknown compression before any
            // decompression (no payload to decompress), which `unpack` does not expect.
            let known = bzimage_payload(&bzimage(0x020f, 27, &p, 0x3a0)).is_ok();
            if known && stated_size(&p).is_ok_and(|n| n <= 16 << 20) {
                let _ = unpack(&p);
            }
            Ok(())
        })
        .unwrap();
}
