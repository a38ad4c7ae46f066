//! Decodes a bzImage's XZ payload with the single-call decoder, times it, and prints a hash
//! of the output: `cargo run --release -p hv-core --example xz_bench -- BZIMAGE [RUNS]`.
//! Under `valgrind --tool=cachegrind` it gives the decoder's instruction and memory-access
//! counts, the figures that track its cost under QEMU TCG.

use hv_core::image::bzimage::bzimage_payload;
use hv_core::image::decompress::{decompress, stated_size};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: xz_bench BZIMAGE [RUNS]");
    let runs: usize = args.get(2).map_or(1, |r| r.parse().expect("RUNS"));
    let file = std::fs::read(path).expect("read the bzImage");
    let payload = bzimage_payload(&file).expect("a bzImage");
    let size = stated_size(payload.data).expect("stated size") as usize;
    let mut out = vec![0u8; size];
    for _ in 0..runs {
        let t0 = std::time::Instant::now();
        let n = decompress(&payload, &mut out, &mut []).expect("decode");
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        // FNV-1a of the output: a quick identity of the decoded bytes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &out[..n] {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        println!("{n} bytes in {ms:.1} ms, fnv1a {h:016x}");
    }
}
