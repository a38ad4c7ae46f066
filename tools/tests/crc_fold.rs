//! The hypervisor's folded CRC-32 (`hv/src/arch/crc_fold.rs`, compiled here as it is) against
//! `crc32fast` at every length around the 64-byte blocks and on random-looking data.

#[path = "../../hv/src/arch/crc_fold.rs"]
#[allow(dead_code)]
mod crc_fold;

fn pclmul() -> bool {
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        return true;
    }
    eprintln!("SKIP: this host CPU has no PCLMULQDQ");
    false
}

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn folded_crc_equals_the_table_crc_at_every_length() {
    if !pclmul() {
        return;
    }
    let data = bytes(2048, 7);
    for len in 0..=data.len() {
        // SAFETY: the CPU has PCLMULQDQ (checked) and SSE2 (every x86-64); user mode allows SSE.
        let folded = unsafe { crc_fold::crc32_folded(&data[..len]) };
        assert_eq!(folded, crc32fast::hash(&data[..len]), "length {len}");
    }
}

#[test]
fn folded_crc_equals_the_table_crc_on_large_and_special_inputs() {
    if !pclmul() {
        return;
    }
    for (n, seed) in [(1 << 20, 3), (1_000_003, 11), (64 * 1000 + 17, 5)] {
        let data = bytes(n, seed);
        // SAFETY: as above.
        let folded = unsafe { crc_fold::crc32_folded(&data) };
        assert_eq!(folded, crc32fast::hash(&data));
    }
    for fill in [0u8, 0xff] {
        let data = vec![fill; 4096 + 63];
        // SAFETY: as above.
        let folded = unsafe { crc_fold::crc32_folded(&data) };
        assert_eq!(folded, crc32fast::hash(&data));
    }
}
