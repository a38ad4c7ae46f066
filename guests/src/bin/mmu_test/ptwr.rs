//! Writable page tables (`vm_assist(VMASST_TYPE_writable_pagetables)`): direct writes to our
//! own L1, which the bootstrap tables map read-only, by plain `mov`, `xchg`, `lock cmpxchg`
//! and locked bit operations — as Linux's `xen_set_pte_init`, `ptep_get_and_clear`,
//! `ptep_set_wrprotect` and `ptep_test_and_clear_young` do. The hypervisor must emulate them
//! with `mmu_update`'s checks, and refuse (with the original #PF) what `mmu_update` refuses.
//!
//! ```text
//!  window L1 "T1", slot 40 ──maps──▶ scratch page 40 (a data frame of extent A)
//!  T1 itself: read-only at its bootstrap VA → the slot is written at t1_va + 40*8
//! ```

use guests::mm::frames::is_own;
use guests::mm::pte::{entry, DATA_RO, DATA_RW, PRESENT, RW};
use guests::privop;
use guests::traps::{self, TrapRecord};
use guests::{events, mm::ops};
use pv_abi::xen::{hypercall as nr, VMASST_CMD_ENABLE, VMASST_TYPE_WRITABLE_PAGETABLES};

use crate::env::{peek, poke, Env, EXT_A};
use crate::report::{Detail, Report};

/// The slot of T1 the cases write (maps scratch page 40).
const SLOT: u64 = 40;
const PATTERN: u64 = 0x7077_0000_BEEF_0040;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Everything the cases need: where the entry is written, what it maps.
struct Target {
    /// The entry's address through T1's read-only bootstrap mapping.
    pte_va: u64,
    /// The VA the entry maps.
    data_va: u64,
    /// The data frame it should map.
    data_mfn: u64,
}

fn target(env: &Env) -> Target {
    let t1_va = env.boot_va(env.pfn_of(env.t1));
    Target {
        pte_va: t1_va + 8 * SLOT,
        data_va: env.scratch(SLOT),
        data_mfn: env.mfn(env.extent_pfn(EXT_A) + SLOT),
    }
}

/// Whether `f` is the #PF of a refused kernel write at `va` (present, write; U clear).
fn is_write_fault(f: &TrapRecord, va: u64) -> bool {
    f.vector == 14 && f.cr2 == va && f.error_code & 7 == 3
}

fn maps(entry: u64, mfn: u64, flags: u64) -> bool {
    entry & ADDR_MASK == mfn << 12 && entry & (PRESENT | RW) == flags
}

// The probes below write only slot 40 of our own L1 (through its read-only bootstrap
// mapping, so every write faults into the hypervisor) or an empty slot of our L4; the entry
// maps only the scratch page, which holds no Rust object.

fn store(va: u64, value: u64) -> Result<(), TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::store(va, value) }
}

fn xchg(va: u64, value: u64) -> Result<u64, TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::xchg(va, value) }
}

fn cmpxchg(va: u64, expected: u64, new: u64) -> Result<(bool, u64), TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::cmpxchg(va, expected, new) }
}

fn lock_btr_rw(va: u64) -> Result<bool, TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::lock_btr_rw(va) }
}

fn lock_btr(va: u64, bit: i64) -> Result<bool, TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::lock_btr(va, bit) }
}

fn lock_orb_rw(va: u64) -> Result<(), TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::lock_orb_rw(va) }
}

fn lock_andb_present(va: u64) -> Result<(), TrapRecord> {
    // SAFETY: see above.
    unsafe { privop::lock_andb_present(va) }
}

/// Installs what the cases need: a trap table (refused writes come back as #PF) and
/// shared_info (for cr2).
pub fn setup(env: &Env) -> bool {
    traps::install_trap_table() == 0 && events::map_shared_info(env.si) == 0
}

fn enable_writable_pagetables() -> i64 {
    // SAFETY: vm_assist takes plain values.
    unsafe {
        traps::hypercall(
            nr::VM_ASSIST,
            [
                u64::from(VMASST_CMD_ENABLE),
                u64::from(VMASST_TYPE_WRITABLE_PAGETABLES),
                0,
                0,
                0,
            ],
        )
    }
}

/// `ptwr-off-by-default`: without the assist a write to a read-only page table is a #PF.
pub fn off_by_default(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let t = target(env);
    let r = store(t.pte_va, entry(t.data_mfn, DATA_RW));
    d.check(
        "mov faults with #PF(W|P) at the entry",
        r.is_err_and(|f| is_write_fault(&f, t.pte_va)),
    );
    d.check("entry still empty", env.entry(env.t1, SLOT as usize) == 0);
    report.verdict("ptwr-off-by-default", d);
}

/// `ptwr-l1-writes`: mov, xchg, cmpxchg (failing and succeeding), lock btr (immediate and
/// register bit numbers), lock or, lock and on an entry of our live L1, each checked through
/// the entry and through the mapping it makes.
pub fn l1_writes(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    d.expect(
        "vm_assist(writable_pagetables)",
        enable_writable_pagetables(),
        0,
    );
    let t = target(env);
    let slot = SLOT as usize;
    let want = entry(t.data_mfn, DATA_RW);
    let stored = store(t.pte_va, want);
    let e = env.entry(env.t1, slot);
    d.check("mov emulated", stored.is_ok());
    d.check(
        "mov: entry maps the data frame RW",
        maps(e, t.data_mfn, PRESENT | RW),
    );
    // SAFETY: `pte_va` is mapped (read-only).
    d.check(
        "entry reads the same through T1's mapping",
        unsafe { peek(t.pte_va) } == e,
    );
    if maps(e, t.data_mfn, PRESENT | RW) {
        // SAFETY: the scratch page now maps our data frame writable.
        unsafe { poke(t.data_va + 16, PATTERN) };
        // SAFETY: as above.
        d.check(
            "write+read through the new mapping",
            unsafe { peek(t.data_va + 16) } == PATTERN,
        );
    }
    let old = xchg(t.pte_va, 0);
    let _ = ops::invlpg_local(t.data_va);
    d.check("xchg emulated, returns the old entry", old == Ok(e));
    d.check("xchg: entry cleared", env.entry(env.t1, slot) == 0);
    let miss = cmpxchg(t.pte_va, e, want);
    d.check(
        "cmpxchg with a stale value: ZF=0, rax=current (0)",
        miss == Ok((false, 0)),
    );
    d.check("cmpxchg miss stored nothing", env.entry(env.t1, slot) == 0);
    let hit = cmpxchg(t.pte_va, 0, want);
    let e = env.entry(env.t1, slot);
    d.check("cmpxchg hit: ZF=1, rax=0", hit == Ok((true, 0)));
    d.check(
        "cmpxchg: entry maps the frame RW",
        maps(e, t.data_mfn, PRESENT | RW),
    );
    // SAFETY: the scratch page maps our data frame again.
    d.check(
        "same frame again",
        unsafe { peek(t.data_va + 16) } == PATTERN,
    );
    let cf = lock_btr_rw(t.pte_va);
    let _ = ops::invlpg_local(t.data_va);
    d.check("lock btrq $1: CF=1 (was RW)", cf == Ok(true));
    d.check(
        "lock btrq: entry read-only",
        maps(env.entry(env.t1, slot), t.data_mfn, PRESENT),
    );
    let set = lock_orb_rw(t.pte_va);
    d.check(
        "lock orb $2: RW again",
        set.is_ok() && maps(env.entry(env.t1, slot), t.data_mfn, PRESENT | RW),
    );
    // A register bit number of 65 from the previous qword selects bit 1 of our entry.
    let cf = lock_btr(t.pte_va - 8, 65);
    let _ = ops::invlpg_local(t.data_va);
    d.check(
        "lock btr %reg (bit 65 of the slot before): CF=1",
        cf == Ok(true),
    );
    d.check(
        "lock btr %reg: entry read-only",
        maps(env.entry(env.t1, slot), t.data_mfn, PRESENT),
    );
    let and = lock_andb_present(t.pte_va);
    let _ = ops::invlpg_local(t.data_va);
    d.check(
        "lock andb $0xfe: not present",
        and.is_ok() && env.entry(env.t1, slot) & PRESENT == 0,
    );
    d.check(
        "mov 0 clears",
        store(t.pte_va, 0).is_ok() && env.entry(env.t1, slot) == 0,
    );
    report.verdict("ptwr-l1-writes", d);
}

/// `ptwr-attacks`: through the emulation, mapping a page table writable, mapping frames we
/// do not own, writing an L4, and misaligned stores are refused with the original #PF; the
/// entries stay as they were.
pub fn attacks(env: &mut Env, report: &mut Report) {
    let mut d = Detail::new();
    let t = target(env);
    let slot = SLOT as usize;
    let beyond_ram = env.max_ram_page + 4 * 512;
    let mut bad = [
        ("mov: L1 itself RW", entry(env.t1, DATA_RW)),
        ("mov: the L4 RW", entry(env.boot.l4_mfn, DATA_RW)),
        ("mov: frame beyond RAM", entry(beyond_ram, DATA_RO)),
        ("mov: mfn 0 (not ours)", entry(0, DATA_RO)),
    ];
    if is_own(env.si, 0) {
        bad[3] = ("mov: L2 RW", entry(env.t2, DATA_RW));
    }
    for (what, val) in bad {
        let r = store(t.pte_va, val);
        d.check(what, r.is_err_and(|f| is_write_fault(&f, t.pte_va)));
    }
    let r = xchg(t.pte_va, entry(env.t1, DATA_RW));
    d.check(
        "xchg: L1 itself RW",
        r.is_err_and(|f| is_write_fault(&f, t.pte_va)),
    );
    let r = cmpxchg(t.pte_va, 0, entry(env.t3, DATA_RW));
    d.check(
        "cmpxchg: L3 RW",
        r.is_err_and(|f| is_write_fault(&f, t.pte_va)),
    );
    let r = store(t.pte_va + 4, 0);
    d.check(
        "misaligned mov",
        r.is_err_and(|f| is_write_fault(&f, t.pte_va + 4)),
    );
    d.check("entry still empty", env.entry(env.t1, slot) == 0);
    // An empty L4 slot (301, next to our window) through the read-only pt_base mapping: L4
    // pages are not emulated (Xen emulates only L1).
    let l4_va = env.si.pt_base + 8 * 301;
    let r = store(l4_va, 0);
    d.check("L4 write", r.is_err_and(|f| is_write_fault(&f, l4_va)));
    report.verdict("ptwr-attacks", d);
}
