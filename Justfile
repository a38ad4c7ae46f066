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

# Boot one of our guests (default demo; --guest NAME) under QEMU and show what it prints.
run *ARGS:
    {{hvtool}} run "$@"

# Boot several domains from xl.cfg files: just up A.cfg B.cfg [--machine-memory MIB] [--timeout S]
up *ARGS:
    {{hvtool}} up "$@"

# Debian's Linux 6.1 (fetched once) with the test initramfs: runs its checks, powers off; ARGS go to its command line.
linux *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    kernel="$({{hvtool}} fetch-linux | sed -n 1p)"
    {{hvtool}} initramfs >/dev/null
    {{hvtool}} boot "$kernel" --ramdisk target/linux/initramfs.cpio.gz --memory 512 -- console=hvc0 quiet "$@"

# Debian's Linux with superpages: hugetlbfs in the guest and the hypervisor's 2 MiB mapping counters, then poweroff.
demo-linux:
    {{hvtool}} demo-linux

# Boot any PV kernel: just boot KERNEL [--ramdisk FILE] [--memory MIB] [--superpages] [-- CMDLINE]
boot KERNEL *ARGS:
    {{hvtool}} boot "$@"

# Host tests of the pure crates (pv-abi, hv-core, xenstore, tools).
test-host:
    cargo test -p pv-abi -p hv-core -p xenstore -p tools

# Mini-OS is built outside this repository: its test is `#[ignore]`d (reported as ignored)
# unless MINIOS_KERNEL names its ELF, then it runs after the others.

# QEMU integration tests (boot the hypervisor with guests); MINIOS_KERNEL=FILE adds Mini-OS.
test-qemu:
    cargo test -p integration-tests -- --test-threads=2
    @if [ -n "${MINIOS_KERNEL:-}" ]; then cargo test -p integration-tests --test minios -- --ignored; else echo "Mini-OS test: ignored (MINIOS_KERNEL is not set)"; fi

# Everything: host tests, then the QEMU tests.
test: test-host test-qemu

# Formatting, clippy (host and bare-metal, -D warnings) and the host tests.
check:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy --target {{target}} -p hv -p guests -- -D warnings
    just test-host

# Boot time of a unikernel: QEMU start to its first application line (median) on microvm and pc; last line RESULT boot_ms=N pc_boot_ms=N.
bench-boot *ARGS:
    {{hvtool}} bench-boot "$@"

# Many unikernels at once: N worker domains (1, 10, 100, as many as fit in 2 GiB); RESULT line last.
bench-density *ARGS:
    {{hvtool}} bench-density "$@"

# Superpage mapping cost: one PSE entry vs one and 512 4 KiB PTEs (RESULT line last).
bench-superpage *ARGS:
    {{hvtool}} bench-superpage "$@"

# Hot paths vs Xen 4.17 (fetched once), best of interleaved runs per side; RESULT line last.
bench-hotpaths *ARGS:
    {{hvtool}} bench-hotpaths "$@"

# Where a guest's exits cross code pages (a TB lookup each under TCG): blocks per function, crossings by caller -> callee.
tb-pages *ARGS:
    {{hvtool}} tb-pages "$@"

# Debian's Linux to /init and its fork/exec rate: ours vs native QEMU vs Xen 4.17 dom0 (RESULT line last).
bench-linux *ARGS:
    {{hvtool}} bench-linux "$@"

# 1 GiB with 2 MiB hugetlb pages vs 4 KiB pages in one Linux guest: guest and hypervisor MMU time (RESULT line last).
bench-hugepages:
    {{hvtool}} bench-hugepages
