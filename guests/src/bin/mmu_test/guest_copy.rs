//! Hypercall buffers the hypervisor must refuse, now that it copies through the hardware
//! MMU when it can (`hv::arch::guest_copy`): each gets `-EFAULT` from an output
//! (`xen_version(XENVER_extraversion)`, 16 bytes written) and an input (`console_io` write,
//! 8 bytes read), and the hypervisor goes on.
//!
//! `copy-bad-buffers`: hypervisor addresses (M2P, image, direct map), non-canonical ones, a
//! range running off the end of the lower half, an unmapped address, a read-only page (left
//! unchanged) and a range that starts on a writable page and runs into an unmapped one; a
//! good buffer still works. `copy-through-l4-self-map`: with a read-only L4 self-map, an
//! address that reaches the hypervisor's own L4 entries through it is refused too (the
//! hardware walk would follow them from ring 0; the software walk finds no USER bit).

use guests::hypercall::{hypercall, xen_version, Via};
use guests::mm::pte::{entry, DATA_RW, PRESENT};
use guests::mm::tables::entry_maddr;
use guests::mm::Level;
use pv_abi::errno::{neg, EFAULT};
use pv_abi::version::{XENVER_EXTRAVERSION, XEN_EXTRAVERSION_LEN};
use pv_abi::xen::{hypercall as nr, CONSOLEIO_WRITE};

use crate::env::{code, peek, Env, EXT_A};
use crate::report::{Detail, Report};

/// An L4 slot nothing maps (0xFFFF_C800_0000_0000).
const UNMAPPED_SLOT: u64 = 400;
/// The L4 slot of the self-map case.
const SELF_MAP_SLOT: u64 = 401;
/// The hypervisor's direct-map L4 slot.
const DIRECT_MAP_SLOT: u64 = 262;

/// The canonical address of L4 slot `l4`, L3 slot `l3`.
fn va_of(l4: u64, l3: u64) -> u64 {
    let va = (l4 << 39) | (l3 << 30);
    if l4 >= 256 {
        va | 0xFFFF_0000_0000_0000
    } else {
        va
    }
}

/// `console_io(CONSOLEIO_write, 8, va)`: the hypervisor reads 8 bytes at `va`.
fn console_read(va: u64) -> i64 {
    // SAFETY: the hypervisor only reads at `va`; nothing of ours is written.
    unsafe {
        hypercall(
            Via::Syscall,
            nr::CONSOLE_IO,
            [u64::from(CONSOLEIO_WRITE), 8, va, 0, 0],
        )
    }
}

/// `xen_version(XENVER_extraversion, va)`: the hypervisor writes 16 bytes at `va`.
fn version_write(va: u64) -> i64 {
    xen_version(u64::from(XENVER_EXTRAVERSION), va as *mut u8)
}

/// Both directions at `va` must fail with `-EFAULT`.
fn expect_refused(d: &mut Detail, what: &str, va: u64, read_too: bool) {
    d.note(format_args!("{what} at {va:#x}"));
    d.expect("output", version_write(va), neg(EFAULT));
    if read_too {
        d.expect("input", console_read(va), neg(EFAULT));
    }
}

pub fn bad_buffers(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let mut good = [0u8; XEN_EXTRAVERSION_LEN];
    d.expect("good buffer", version_write(good.as_mut_ptr() as u64), 0);
    d.check("good buffer written", good[0] != 0);
    for (what, va) in [
        ("M2P", 0xFFFF_8000_0000_0000),
        ("hypervisor image", 0xFFFF_82D0_4000_0000),
        ("direct map", va_of(DIRECT_MAP_SLOT, 0) + 0x1000),
        ("last hypervisor byte", 0xFFFF_87FF_FFFF_FFF8),
        ("non-canonical", 0x0000_8000_0000_0000),
        ("non-canonical high", 0x8000_0000_0000_0000),
        ("off the lower half", 0x0000_7FFF_FFFF_FFFC),
        ("unmapped", va_of(UNMAPPED_SLOT, 0)),
    ] {
        expect_refused(&mut d, what, va, true);
    }
    // Read-only: our L4, mapped read-only by the bootstrap tables.
    let ro = env.boot_va(env.pfn_of(env.boot.l4_mfn));
    // SAFETY: the bootstrap mapping of our L4 is readable.
    let before = unsafe { peek(ro) };
    expect_refused(&mut d, "read-only page", ro, false);
    // SAFETY: as above.
    d.check("read-only page unchanged", unsafe { peek(ro) } == before);
    // From a writable page into an unmapped one.
    let (page, next) = (env.scratch(20), env.scratch(21));
    let mfn = env.mfn(env.extent_pfn(EXT_A) + 20);
    if d.expect(
        "map RW",
        code(env.win.map_4k(&mut env.pool, page, mfn, DATA_RW)),
        0,
    ) {
        d.check("next page unmapped", env.get(next, Level::L1) == 0);
        expect_refused(&mut d, "into an unmapped page", next - 4, true);
        d.expect("unmap", code(env.win.unmap_4k(page)), 0);
    }
    report.verdict("copy-bad-buffers", d);
}

pub fn through_l4_self_map(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let l4 = env.boot.l4_mfn;
    let slot = SELF_MAP_SLOT as usize;
    d.check("slot free", env.entry(l4, slot) == 0);
    if d.expect(
        "RO self-map",
        env.mmu(entry_maddr(l4, slot), entry(l4, PRESENT)),
        0,
    ) {
        env.flush();
        // L4[401] -> the L4 read as an L3; its slot 262 is the hypervisor's direct map.
        let va = va_of(SELF_MAP_SLOT, DIRECT_MAP_SLOT) + 0x1000;
        expect_refused(&mut d, "direct map through the self-map", va, true);
        d.expect("remove self-map", env.mmu(entry_maddr(l4, slot), 0), 0);
        env.flush();
    }
    report.verdict("copy-through-l4-self-map", d);
}
