//! XSA-167-style probes: absurd frame numbers and addresses in every MMU hypercall. Each
//! must fail with Xen's errno and leave the hypervisor running (the later cases prove it).

use guests::mm::frames::is_own;
use guests::mm::ops::{decrease_reservation, exchange, populate_physmap};
use guests::mm::pte::{entry, superpage, DATA_RO, DATA_RW, TABLE};
use guests::mm::tables::entry_maddr;
use guests::mm::Level;
use pv_abi::arch_x86::MACH2PHYS_VIRT_START;
use pv_abi::errno::{neg, EINVAL, ENOSYS, EOPNOTSUPP, EPERM};
use pv_abi::xen::*;

use crate::env::{Env, WINDOW_SLOT};
use crate::report::{Detail, Report};

/// The largest frame number a PTE can hold (40 bits): beyond any RAM.
const TOP_MFN: u64 = (1 << 40) - 1;
/// `u64::MAX >> 12`: a frame number no PTE can hold.
const HUGE_MFN: u64 = u64::MAX >> 12;

/// All the probes, one verdict line per hypercall.
pub fn all(env: &mut Env, report: &mut Report) {
    mmu_update_ptr(env, report);
    mmu_update_cmd(env, report);
    mmu_update_val(env, report);
    mmuext(env, report);
    update_va_mapping(env, report);
    machphys(env, report);
    memory_op(env, report);
}

/// `xsa167-mmu-update-ptr`: `ptr` naming no frame of ours → `-EINVAL`.
fn mmu_update_ptr(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    for (what, ptr) in [
        ("ptr u64::MAX&!7", !7),
        ("ptr 2^52", 1 << 52),
        ("ptr 2^63", 1 << 63),
        ("ptr mfn 2^40-1", TOP_MFN << 12),
    ] {
        d.expect(what, env.mmu(ptr, 0), neg(EINVAL));
    }
    report.verdict("xsa167-mmu-update-ptr", d);
}

/// `mmu-update-cmd-bits`: Xen takes the command from `ptr & 7` (`sizeof(l1_pgentry_t) - 1`),
/// so commands 4..7 are unknown → `-ENOSYS`.
fn mmu_update_cmd(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    let ptr = entry_maddr(env.t1, 9);
    d.expect("cmd 4", env.mmu(ptr | 4, 0), neg(ENOSYS));
    d.expect("cmd 7", env.mmu(ptr | 7, 0), neg(ENOSYS));
    d.check("entry untouched", env.entry(env.t1, 9) == 0);
    report.verdict("mmu-update-cmd-bits", d);
}

/// `xsa167-mmu-update-val`: entries naming absurd frames, at every level. L1: a frame beyond
/// RAM is MMIO, refused to a domU (`-EPERM`); all-ones sets reserved flags (`-EINVAL`). L2..L4
/// and PSE: `-EINVAL`.
fn mmu_update_val(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    let l1 = entry_maddr(env.t1, 9);
    d.expect(
        "L1 mfn 2^40-1",
        env.mmu(l1, entry(TOP_MFN, DATA_RW)),
        neg(EPERM),
    );
    d.expect(
        "L1 mfn 2^30",
        env.mmu(l1, entry(1 << 30, DATA_RO)),
        neg(EPERM),
    );
    d.expect("L1 all ones", env.mmu(l1, !0x80), neg(EINVAL));
    let l2 = entry_maddr(env.t2, 9);
    d.expect(
        "L2 mfn 2^40-1",
        env.mmu(l2, entry(TOP_MFN, TABLE)),
        neg(EINVAL),
    );
    d.expect(
        "L2 PSE mfn 2^40-512",
        env.mmu(l2, superpage(TOP_MFN & !511, DATA_RW)),
        neg(EINVAL),
    );
    d.expect(
        "L3 mfn 2^40-1",
        env.mmu(entry_maddr(env.t3, 1), entry(TOP_MFN, TABLE)),
        neg(EINVAL),
    );
    let l4_slot = WINDOW_SLOT + 1;
    if env.entry(env.boot.l4_mfn, l4_slot) == 0 {
        let l4 = entry_maddr(env.boot.l4_mfn, l4_slot);
        d.expect(
            "L4 mfn 2^40-1",
            env.mmu(l4, entry(TOP_MFN, TABLE)),
            neg(EINVAL),
        );
    }
    d.check(
        "entries untouched",
        env.entry(env.t1, 9) == 0 && env.entry(env.t2, 9) == 0,
    );
    report.verdict("xsa167-mmu-update-val", d);
}

/// `xsa167-mmuext`: every frame-taking `mmuext_op` with absurd frames → `-EINVAL`;
/// MARK/UNMARK_SUPER → `-EOPNOTSUPP` (as Xen since 4.10); unknown commands → `-ENOSYS`;
/// INVLPG of a non-canonical address is a no-op (0).
fn mmuext(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let dst = env.table_frame().unwrap_or(0);
    let probes: [(&str, u32, u64, u64, i64); 14] = [
        (
            "PIN_L1 u64::MAX>>12",
            MMUEXT_PIN_L1_TABLE,
            HUGE_MFN,
            0,
            neg(EINVAL),
        ),
        ("PIN_L2 2^40", MMUEXT_PIN_L2_TABLE, 1 << 40, 0, neg(EINVAL)),
        (
            "PIN_L3 u64::MAX",
            MMUEXT_PIN_L3_TABLE,
            u64::MAX,
            0,
            neg(EINVAL),
        ),
        (
            "PIN_L4 2^40-1",
            MMUEXT_PIN_L4_TABLE,
            TOP_MFN,
            0,
            neg(EINVAL),
        ),
        ("UNPIN 2^40", MMUEXT_UNPIN_TABLE, 1 << 40, 0, neg(EINVAL)),
        (
            "NEW_BASEPTR 2^40",
            MMUEXT_NEW_BASEPTR,
            1 << 40,
            0,
            neg(EINVAL),
        ),
        (
            "NEW_USER_BASEPTR 2^40",
            MMUEXT_NEW_USER_BASEPTR,
            1 << 40,
            0,
            neg(EINVAL),
        ),
        (
            "CLEAR_PAGE u64::MAX>>12",
            MMUEXT_CLEAR_PAGE,
            HUGE_MFN,
            0,
            neg(EINVAL),
        ),
        (
            "COPY_PAGE src 2^40",
            MMUEXT_COPY_PAGE,
            dst,
            1 << 40,
            neg(EINVAL),
        ),
        (
            "MARK_SUPER 2^40",
            MMUEXT_MARK_SUPER,
            1 << 40,
            0,
            neg(EOPNOTSUPP),
        ),
        (
            "UNMARK_SUPER u64::MAX",
            MMUEXT_UNMARK_SUPER,
            u64::MAX,
            0,
            neg(EOPNOTSUPP),
        ),
        ("cmd 14", 14, 0, 0, neg(ENOSYS)),
        ("cmd u32::MAX", u32::MAX, HUGE_MFN, HUGE_MFN, neg(ENOSYS)),
        ("INVLPG_LOCAL 2^60", MMUEXT_INVLPG_LOCAL, 1 << 60, 0, 0),
    ];
    for (what, cmd, arg1, arg2, want) in probes {
        d.expect(what, env.ext(cmd, arg1, arg2), want);
    }
    report.verdict("xsa167-mmuext", d);
}

/// `xsa167-update-va-mapping`: non-canonical or hypervisor addresses and addresses without
/// an L1 → `-EINVAL`; an absurd frame in `val` → `-EPERM` (MMIO) or `-EINVAL` (flags).
fn update_va_mapping(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    let scratch = env.scratch(10);
    let probes = [
        ("va 2^60", 1u64 << 60, 0u64, neg(EINVAL)),
        (
            "va M2P",
            MACH2PHYS_VIRT_START,
            entry(0, DATA_RO),
            neg(EINVAL),
        ),
        ("va without L1", env.va_2m(10), 0, neg(EINVAL)),
        (
            "val mfn 2^40-1",
            scratch,
            entry(TOP_MFN, DATA_RW),
            neg(EPERM),
        ),
        ("val all ones", scratch, !0x80, neg(EINVAL)),
    ];
    for (what, va, val, want) in probes {
        d.expect(what, env.uvm(va, val), want);
    }
    d.check("scratch still unmapped", env.get(scratch, Level::L1) == 0);
    report.verdict("xsa167-update-va-mapping", d);
}

/// `xsa167-machphys-update`: `MMU_MACHPHYS_UPDATE` of frames we do not own → `-EINVAL`.
fn machphys(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    d.expect(
        "mfn 2^40-1",
        env.mmu((TOP_MFN << 12) | MMU_MACHPHYS_UPDATE, 0),
        neg(EINVAL),
    );
    d.expect(
        // All address bits set; the command in the low three bits (Xen's `ptr & 7`).
        "ptr u64::MAX&!7",
        env.mmu(!7 | MMU_MACHPHYS_UPDATE, 0),
        neg(EINVAL),
    );
    if !is_own(env.si, 0) {
        d.expect("mfn 0", env.mmu(MMU_MACHPHYS_UPDATE, 0), neg(EINVAL));
    }
    report.verdict("xsa167-machphys-update", d);
}

/// `xsa167-memory-op`: releasing frames we do not own does nothing (0 extents done);
/// populate with order 10 (> the domU limit 9) does nothing; exchanging an absurd frame fails
/// (`-EINVAL`, nothing exchanged).
fn memory_op(env: &Env, report: &mut Report) {
    let mut d = Detail::new();
    let n = |r: Result<u64, i64>| r.map_or_else(|e| e, |n| n as i64);
    d.expect("decrease 2^40", n(decrease_reservation(&[1 << 40], 0)), 0);
    d.expect(
        "decrease u64::MAX",
        n(decrease_reservation(&[u64::MAX], 0)),
        0,
    );
    d.expect(
        "decrease order 9 at 2^40-512",
        n(decrease_reservation(&[TOP_MFN & !511], 9)),
        0,
    );
    if !is_own(env.si, 0) {
        d.expect("decrease mfn 0", n(decrease_reservation(&[0], 0)), 0);
    }
    let mut list = [env.extent_pfn(crate::env::EXT_M) + 100];
    let before = env.mfn(list[0]);
    d.expect("populate order 10", n(populate_physmap(&mut list, 10)), 0);
    let mut out = [env.extent_pfn(crate::env::EXT_M) + 101];
    let x = exchange(&[1 << 40], 0, &mut out, 0);
    d.expect("exchange in 2^40", x.rc, neg(EINVAL));
    d.check("nr_exchanged 0", x.nr_exchanged == 0);
    d.check(
        "our frame untouched",
        env.mfn(env.extent_pfn(crate::env::EXT_M) + 100) == before,
    );
    report.verdict("xsa167-memory-op", d);
}
