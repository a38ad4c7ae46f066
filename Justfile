# Recipes for building, running and testing the hypervisor. `./tools/setup.sh` installs the
# prerequisites (QEMU 10, GRUB tools, Rust target, just) on a fresh machine.

# Recipe arguments reach hvtool as separate words, quoting intact (`--marker "dummy main"`).
set positional-arguments

target := "x86_64-unknown-none"
hvtool := "cargo run -q --release -p tools --bin hvtool --"

# List the recipes.
default:
    @just --list

# Build the hypervisor and all guest kernels (release).
build:
    cargo build --release --target {{target}} -p hv -p guests

# Boot the default demo guest under QEMU and show what it prints.
run *ARGS:
    {{hvtool}} run "$@"

# Boot any PV kernel: just boot KERNEL [--ramdisk FILE] [--memory MIB] [--superpages] [-- CMDLINE]
boot KERNEL *ARGS:
    {{hvtool}} boot "$@"

# Host tests of the pure crates (pv-abi, hv-core, xenstore, tools).
test-host:
    cargo test -p pv-abi -p hv-core -p xenstore -p tools

# QEMU integration tests (boots the hypervisor with guests). MINIOS_KERNEL=/path/to/mini-os
# adds the Mini-OS test (Mini-OS is built outside this repository).
test-qemu:
    @if [ -z "${MINIOS_KERNEL:-}" ]; then echo "Mini-OS test: SKIP (MINIOS_KERNEL is not set)"; fi
    cargo test -p integration-tests -- --test-threads=2

# Everything: host tests, then the QEMU tests.
test: test-host test-qemu

# Formatting, clippy (host and bare-metal, -D warnings) and the host tests.
check:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy --target {{target}} -p hv -p guests -- -D warnings
    just test-host

# Boot time of a unikernel: QEMU start to its first application line (median), last line RESULT boot_ms=N.
bench-boot *ARGS:
    {{hvtool}} bench-boot "$@"

# Superpage mapping cost: one PSE entry vs one and 512 4 KiB PTEs (RESULT line last).
bench-superpage *ARGS:
    {{hvtool}} bench-superpage "$@"

# Hot paths against Xen 4.17 (fetched and cached on first use), best of several interleaved
# runs per side; last line RESULT ours_X=N xen_X=N ... worst_ratio=R.
bench-hotpaths *ARGS:
    {{hvtool}} bench-hotpaths "$@"

# Debian's Linux to /init and its fork/exec rate: ours vs native QEMU vs Xen 4.17 dom0 (RESULT line last).
bench-linux *ARGS:
    {{hvtool}} bench-linux "$@"
