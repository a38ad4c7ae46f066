#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks to build and test the hypervisor:
#   - QEMU 10 from bookworm-backports (bookworm's 7.2 has TCG bugs that break PV guests), the
#     backports entry using the Debian mirror the machine already uses,
#   - a C toolchain and binutils (build-essential: the linker for build scripts; objcopy strips
#     the images that are booted), GRUB BIOS tools + xorriso + mtools (multiboot2 ISOs),
#     PV GRUB (grub-xen-host),
#   - the Rust bare-metal target pinned in rust-toolchain.toml, and `just`.
# Rust itself (rustup) is not a Debian package: when it is missing the script says how to get it
# and stops. Idempotent and quick when everything is present.
#
# `tools/setup.sh --print-mirror` prints the Debian mirror it would use and changes nothing
# (APT_DIR, default /etc/apt, says where the sources are).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_DIR="${APT_DIR:-/etc/apt}"
FALLBACK_MIRROR="http://deb.debian.org/debian"

die() {
    echo "setup: $*" >&2
    exit 1
}

# The URI of the machine's main Debian archive: the entry serving the plain `bookworm` suite,
# from one-line (sources.list, *.list) and deb822 (*.sources) files.
debian_mirror() {
    local f
    for f in "$APT_DIR/sources.list" "$APT_DIR"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }'
    done
    for f in "$APT_DIR"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
                 uri = ""; plain = 0; enabled = 1
                 for (i = 1; i <= NF; i++) {
                     if ($i ~ /^URIs:/) { split($i, w, " "); uri = w[2] }
                     if ($i ~ /^Suites:/) { n = split($i, w, " "); for (j = 2; j <= n; j++) if (w[j] == "bookworm") plain = 1 }
                     if ($i ~ /^Enabled: *no/) enabled = 0
                 }
                 if (plain && enabled && uri != "") { print uri; exit }
             }' "$f"
    done
}

mirror() {
    local m
    m="$(debian_mirror | head -n 1)"
    echo "${m:-$FALLBACK_MIRROR}"
}

if [ "${1:-}" = "--print-mirror" ]; then
    mirror
    exit 0
fi

# Rust first: nothing else is of use without it, and apt cannot provide the pinned toolchain.
if ! command -v rustup >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/rustup" ]; then
        die "Rust is installed in ~/.cargo/bin but that is not on PATH: run '. \"\$HOME/.cargo/env\"' (or open a new shell) and run this script again"
    fi
    die "Rust is not installed (no rustup). Install it with
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
then run '. \"\$HOME/.cargo/env\"' and this script again (the toolchain pinned in
rust-toolchain.toml is then fetched automatically)."
fi

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
    if ! grep -rqs "bookworm-backports" "$APT_DIR/sources.list" "$APT_DIR/sources.list.d/"; then
        uri="$(mirror)"
        echo "setup: adding the bookworm-backports suite (from $uri)"
        $SUDO tee "$APT_DIR/sources.list.d/bookworm-backports.sources" >/dev/null <<SRC
Types: deb
URIs: $uri
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
for pkg in build-essential binutils grub-pc-bin grub-common xorriso mtools grub-xen-host xz-utils zstd cpio gcc libc6-dev; do
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

# Show rustup's own message when it fails (offline, no disk space), then stop.
rustup_quiet() {
    local out
    if ! out="$(rustup "$@" 2>&1)"; then
        echo "$out" >&2
        die "'rustup $*' failed (see above)"
    fi
}
rustup_quiet target add x86_64-unknown-none
rustup_quiet component add rustfmt clippy

if ! command -v just >/dev/null 2>&1; then
    echo "setup: installing just (cargo install, about two minutes)"
    cargo install --locked --quiet just
fi
echo "setup: ready ($(qemu-system-x86_64 --version | head -1), $(just --version))"
