//! Host-side tooling for the hypervisor: build the bare-metal artifacts, make boot images,
//! run QEMU (TCG) with a timeout and read the serial log. Used by the `hvtool` binary (behind
//! the Justfile recipes), the integration tests and the benchmarks.

pub mod artifacts;
pub mod bench;
pub mod bench_boot;
pub mod bench_density;
pub mod bench_hotpaths;
pub mod bench_hugepages;
pub mod bench_linux;
pub mod cpio;
pub mod debian;
pub mod demo_linux;
pub mod iso;
pub mod linux;
pub mod mmstat;
pub mod qemu;
pub mod stats;
pub mod status;
pub mod tb_pages;
pub mod up;
pub mod xen;
pub mod xlcfg;
