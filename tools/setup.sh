#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks to build and test the hypervisor:
#   - QEMU 10 from bookworm-backports (bookworm's 7.2 has TCG bugs that break PV guests),
#   - GRUB BIOS tools + xorriso + mtools (multiboot2 ISOs), PV GRUB (grub-xen-host),
#   - the Rust bare-metal target pinned in rust-toolchain.toml,
#   - `just`.
# Idempotent and quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

qemu_ok() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 &&
        qemu-system-x86_64 --version | grep -Eq 'version (1[0-9]|[2-9][0-9])\.'
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        $SUDO apt-get update -q >/dev/null
        apt_updated=1
    fi
}

if ! qemu_ok; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "setup: adding the bookworm-backports suite"
        $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt_update
    echo "setup: installing QEMU 10 (bookworm-backports)"
    $SUDO apt-get install -y -q -t bookworm-backports qemu-system-x86 >/dev/null
fi

missing=()
# xz-utils, zstd, cpio: host tests of the kernel decompressor and the initramfs writer;
# gcc + libc6-dev: the static test programs of the Linux initramfs.
for pkg in grub-pc-bin grub-common xorriso mtools grub-xen-host xz-utils zstd cpio gcc libc6-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_update
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The Linux tests fetch Debian's kernel and busybox with apt-get download (tools/src/linux.rs,
# cached under target/linux/): apt's lists must name a candidate.
if ! apt-cache policy linux-image-amd64 busybox-static 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt_update || echo "setup: apt-get update failed; the Linux tests will be reported as ignored"
fi

rustup target add x86_64-unknown-none >/dev/null 2>&1 || true
rustup component add rustfmt clippy >/dev/null 2>&1 || true

if ! command -v just >/dev/null 2>&1; then
    echo "setup: installing just (cargo install, about two minutes)"
    cargo install --locked --quiet just
fi
echo "setup: ready ($(qemu-system-x86_64 --version | head -1), $(just --version))"
