//! Checks of the CPU side of the ABI: exception bounces, both ways back (`iretq` and the
//! `iret` hypercall), SSE and the virtual CR0.TS, forced-emulation CPUID, emulated MSRs.

use core::arch::asm;

use guests::hypercall::xen_version;
use guests::traps::{self, IretStyle, INT80_RESULT};
use guests::{events, sse, time};
use pv_abi::arch_x86::SEGBASE_FS;
use pv_abi::xen::hypercall as nr;

use crate::{Check, Problems};

/// An address no one maps (the same one the `hello` fault test uses).
const UNMAPPED: u64 = 0x1000_0000_0000 + 0x123;

/// #PF with cr2 and error code, #BP, `int $0x80` (DPL 3), #GP from `hlt` and from
/// `int $0x81` (DPL 0), #UD. Reports every mismatch, not just the first.
pub fn traps() -> Check {
    let mut problems = Problems::default();
    match traps::probe_read(UNMAPPED) {
        None => problems.add(format_args!("no #PF bounced")),
        Some(pf) => {
            problems.check(
                pf.vector == 14 && pf.cr2 == UNMAPPED,
                format_args!(
                    "#PF vector {} cr2 {:#x} (vcpu_info.arch.cr2)",
                    pf.vector, pf.cr2
                ),
            );
            problems.check(
                pf.cs & 3 == 0,
                format_args!("#PF frame cs {:#x} (Xen clears RPL for kernel mode)", pf.cs),
            );
            problems.check(
                pf.error_code == 0,
                format_args!(
                    "#PF error code {:#x}, want 0 (Xen clears U for kernel mode)",
                    pf.error_code
                ),
            );
        }
    }

    let bp_before = traps::count(3);
    let after_int3: u64;
    // SAFETY: int3 is bounced to our #BP handler, which returns to the next instruction.
    unsafe {
        asm!("int3", "1:", "lea 1b(%rip), {a}", a = out(reg) after_int3, options(att_syntax))
    };
    problems.check(
        traps::count(3) == bp_before + 1 && traps::last().rip == after_int3,
        format_args!(
            "int3: #BP count +{} rip {:#x}",
            traps::count(3) - bp_before,
            traps::last().rip
        ),
    );

    let r: u64;
    // SAFETY: `int $0x80` has a DPL-3 trap entry; the handler sets rax.
    unsafe { asm!("int $0x80", inout("rax") 0u64 => r, options(att_syntax)) };
    problems.check(
        r == INT80_RESULT,
        format_args!("int $0x80 returned rax {r:#x}"),
    );

    let mask_in: u64;
    // SAFETY: `int $0x82` has a DPL-3 interrupt-gate entry; the handler reports the upcall
    // mask it was entered with in rax and re-enables events.
    unsafe { asm!("int $0x82", inout("rax") 99u64 => mask_in, options(att_syntax)) };
    let mask_after = events::upcall_mask_value();
    problems.check(
        mask_in == 1 && mask_after == 0 && traps::last().cs >> 32 == 0,
        format_args!(
            "int $0x82 (TI_IF gate): upcall_mask {mask_in} in the handler (saved {}), \
             {mask_after} after return; want 1, 0, 0",
            traps::last().cs >> 32
        ),
    );

    // A hypervisor that (unlike Xen) emulates `hlt` as SCHEDOP_block would sleep here for
    // good: a timer wakes us to report it.
    time::set_timer_op(time::now() + 100 * time::MS);
    let gp = traps::probe_hlt();
    time::set_timer_op(0);
    problems.check(
        gp.is_some_and(|gp| gp.vector == 13 && gp.error_code == 0),
        format_args!(
            "hlt gave {:?}, want #GP(0) (Xen does not emulate hlt for PV kernels)",
            gp.map(|t| (t.vector, t.error_code))
        ),
    );
    let gp81 = traps::probe_int81();
    problems.check(
        gp81.is_some_and(|gp| gp.vector == 13 && gp.error_code == 0x81 << 3 | 2),
        format_args!(
            "int $0x81 (DPL 0) gave {:?}, want #GP(0x40a)",
            gp81.map(|t| (t.vector, t.error_code))
        ),
    );
    let ud = traps::probe_ud2();
    problems.check(
        ud.is_some_and(|ud| ud.vector == 6),
        format_args!("ud2 gave {:?}", ud.map(|t| t.vector)),
    );
    problems.into_check(detail!(
        "#PF cr2={UNMAPPED:#x} err=0 cs RPL 0, #BP, int $0x80 (DPL 3) rax={r:#x}, int $0x82 \
         (TI_IF gate) masks events, #GP(0) from hlt, #GP(0x40a) from int $0x81, #UD"
    ))
}

/// Runs `int3` with r12–r15 and CF set, returning whether they survived the round trip.
fn int3_round_trip() -> bool {
    let (a, b, c, d, carry): (u64, u64, u64, u64, u8);
    // SAFETY: int3 bounces to our handler and returns; we only check register values.
    unsafe {
        asm!(
            "mov $0x1212121212121212, %r12",
            "mov $0x1313131313131313, %r13",
            "mov $0x1414141414141414, %r14",
            "mov $0x1515151515151515, %r15",
            "stc",
            "int3",
            "setc {carry}",
            carry = out(reg_byte) carry,
            out("r12") a,
            out("r13") b,
            out("r14") c,
            out("r15") d,
            options(att_syntax)
        );
    }
    a == 0x1212121212121212
        && b == 0x1313131313131313
        && c == 0x1414141414141414
        && d == 0x1515151515151515
        && carry == 1
}

/// `int3` returning through each of direct `iretq`, the hypercall page's `iret` and an
/// inline `iret` `syscall`; registers and flags must survive. Leaves the hypercall-page
/// style in force if it works (Linux uses `iret` to re-enable events atomically).
pub fn iret() -> Check {
    let (a, b) = crate::loopback_pair()?;
    let mut problems = Problems::default();
    let styles = [
        (IretStyle::Direct, "iretq"),
        (IretStyle::HypercallPage, "hypercall-page iret"),
        (IretStyle::Syscall, "syscall iret"),
    ];
    let mut working = [false; 3];
    for (slot, (style, name)) in working.iter_mut().zip(styles) {
        traps::set_iret_style(style);
        let before = traps::count(3);
        let trap_ok = int3_round_trip() && traps::count(3) == before + 1;
        problems.check(trap_ok, format_args!("{name}: int3 round trip lost state"));
        let seen = events::count(a);
        events::send(b);
        let event_ok = crate::spin_wait(a, seen, 500 * time::MS);
        let mask = events::upcall_mask_value();
        problems.check(
            event_ok,
            format_args!("{name}: upcall not delivered or not returned"),
        );
        problems.check(
            mask == 0,
            format_args!("{name}: evtchn_upcall_mask = {mask} after the upcall, want 0"),
        );
        *slot = trap_ok && event_ok && mask == 0;
    }
    events::close(b);
    events::close(a);
    traps::set_iret_style(if working[1] {
        IretStyle::HypercallPage
    } else {
        IretStyle::Direct
    });
    problems.into_check(detail!(
        "int3 (r12-r15, CF intact) and event upcalls (mask restored to 0) return via iretq, \
         hypercall_page+23*32 and inline syscall 23"
    ))
}

/// `fninit`/`ldmxcsr` then SSE arithmetic.
pub fn sse() -> Check {
    let (fcw, mxcsr) = sse::fpu_init();
    ensure!(
        fcw == 0x37f,
        "fninit left x87 control word {fcw:#x}, want 0x37f"
    );
    ensure!(mxcsr == 0x1f80, "ldmxcsr(0x1f80) read back {mxcsr:#x}");
    let got = sse::sse_arith();
    ensure!(
        got == sse::sse_arith_expected(),
        "addps/mulpd results wrong: {got:x?}"
    );
    Ok(detail!(
        "fninit fcw=0x37f, mxcsr=0x1f80, addps and mulpd correct"
    ))
}

/// `fpu_taskswitch(1)` then `addps` → #NM → handler `fpu_taskswitch(0)` → re-run.
pub fn fpu_taskswitch() -> Check {
    let before = traps::count(7);
    let (sum, at) = sse::nm_probe();
    let nm = traps::count(7) - before;
    ensure!(
        nm == 1,
        "{nm} #NM delivered after fpu_taskswitch(1), want 1"
    );
    ensure!(
        traps::last().vector == 7 && traps::last().rip == at,
        "#NM at rip {:#x}, want the addps at {at:#x}",
        traps::last().rip
    );
    ensure!(
        sum == sse::nm_probe_expected(),
        "addps after #NM gave {sum:x?} (xmm state lost?)"
    );
    let _ = sse::sse_arith();
    ensure!(
        traps::count(7) == before + 1,
        "TS still set after fpu_taskswitch(0)"
    );
    Ok(detail!(
        "#NM at the addps, fpu_taskswitch(0) in the handler, xmm state kept"
    ))
}

/// CPUID leaves 0x40000000–2 through the forced-emulation prefix.
pub fn cpuid() -> Check {
    let base = sse::cpuid_forced(0x4000_0000, 0)
        .ok_or_else(|| detail!("ud2;\"xen\";cpuid raised #UD (not emulated)"))?;
    let sig = sse::signature(&base);
    ensure!(
        &sig == b"XenVMMXenVMM",
        "leaf 0x40000000 signature {:?}",
        guests::xenstore::as_text(&sig)
    );
    ensure!(
        base[0] >= 0x4000_0002,
        "leaf 0x40000000 eax {:#x} < 0x40000002",
        base[0]
    );
    let version = sse::cpuid_forced(0x4000_0001, 0).map_or(0, |r| r[0]);
    let xv = xen_version(0, core::ptr::null_mut()) as u32;
    ensure!(
        version == xv,
        "leaf 0x40000001 eax {version:#x} != xen_version {xv:#x}"
    );
    let page = sse::cpuid_forced(0x4000_0002, 0).unwrap_or([0; 4]);
    ensure!(
        page[0] >= 1 && page[1] == 0x4000_0000,
        "leaf 0x40000002: {} hypercall pages, msr {:#x}",
        page[0],
        page[1]
    );
    let native = sse::cpuid_native(0x4000_0000, 0);
    Ok(detail!(
        "\"XenVMMXenVMM\" max leaf {:#x}, version {}.{}, hypercall msr {:#x}; native cpuid \
         0x40000000 gives {:?}",
        base[0],
        version >> 16,
        version & 0xffff,
        page[1],
        guests::xenstore::as_text(&sse::signature(&native)).trim_end_matches('\0')
    ))
}

static FS_TARGET: u64 = 0xF5F5_0000_0000_00F5;
static FS_TARGET2: u64 = 0xF5F5_0000_0000_00F6;
static GS_TARGET: u64 = 0x6565_0000_0000_0065;

/// `wrmsr`/`rdmsr` of FS_BASE and GS_BASE (emulated), `set_segment_base(SEGBASE_FS)`,
/// each checked by loading through `%fs:0` / `%gs:0`.
pub fn msr() -> Check {
    let fs = &raw const FS_TARGET as u64;
    ensure!(
        sse::wrmsr(sse::MSR_FS_BASE, fs),
        "wrmsr(FS_BASE) raised #GP (not emulated)"
    );
    let got = sse::read_fs0();
    ensure!(
        got == Some(FS_TARGET),
        "%fs:0 = {got:x?} after wrmsr(FS_BASE)"
    );
    let back = sse::rdmsr(sse::MSR_FS_BASE);
    ensure!(back == Some(fs), "rdmsr(FS_BASE) = {back:x?}, want {fs:#x}");

    let gs = &raw const GS_TARGET as u64;
    ensure!(
        sse::wrmsr(sse::MSR_GS_BASE, gs),
        "wrmsr(GS_BASE) raised #GP (not emulated)"
    );
    let got = sse::read_gs0();
    ensure!(
        got == Some(GS_TARGET),
        "%gs:0 = {got:x?} after wrmsr(GS_BASE)"
    );
    let back = sse::rdmsr(sse::MSR_GS_BASE);
    ensure!(back == Some(gs), "rdmsr(GS_BASE) = {back:x?}, want {gs:#x}");

    let fs2 = &raw const FS_TARGET2 as u64;
    let rc = sse::set_segment_base(SEGBASE_FS, fs2);
    ensure!(rc == 0, "set_segment_base(SEGBASE_FS) = {rc}");
    let got = sse::read_fs0();
    ensure!(
        got == Some(FS_TARGET2),
        "%fs:0 = {got:x?} after set_segment_base"
    );
    sse::set_segment_base(SEGBASE_FS, 0);
    Ok(detail!(
        "wrmsr/rdmsr FS_BASE and GS_BASE emulated and live (%fs:0, %gs:0), \
         set_segment_base(FS) live"
    ))
}

/// Programs PIT channel 2 as Linux's `quick_pit_calibrate` does (gate on, mode 0, count
/// 0xffff) and reads it twice 1 ms apart: it must count down at about 1.19 MHz, and OUT2
/// (port 0x61 bit 5) must stay low. Returns the two counts.
fn pit_channel2() -> Result<(u16, u16), &'static str> {
    use guests::privop::{inb_dx, outb_dx};
    let gate = inb_dx(0x61).ok_or("in 0x61 faulted")?;
    let ok = outb_dx(0x61, (gate & !2) | 1)
        && outb_dx(0x43, 0xb0)
        && outb_dx(0x42, 0xff)
        && outb_dx(0x42, 0xff);
    if !ok {
        return Err("out faulted");
    }
    let read = || -> Option<u16> { Some(u16::from_le_bytes([inb_dx(0x42)?, inb_dx(0x42)?])) };
    let first = read().ok_or("in 0x42 faulted")?;
    let t0 = time::now();
    while time::now() - t0 < time::MS {}
    let second = read().ok_or("in 0x42 faulted")?;
    let status = inb_dx(0x61).ok_or("in 0x61 faulted")?;
    let ticks = first.wrapping_sub(second);
    if status & 1 != 1 || status & 0x20 != 0 {
        return Err("port 0x61: gate not on, or OUT2 high within 55 ms");
    }
    if !(1000..=20_000).contains(&ticks) {
        return Err("did not count ~1193 ticks per ms");
    }
    Ok((first, second))
}

/// Target of the `rep insb` probe.
static mut INS_BUFFER: [u8; 4096] = [0; 4096];

/// CR0.PE, CR0.TS, CR0.WP, CR0.PG.
const CR0_PE: u64 = 1;
const CR0_TS: u64 = 1 << 3;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
/// CR4.PSE, CR4.PAE, CR4.PGE.
const CR4_PSE: u64 = 1 << 4;
const CR4_PAE: u64 = 1 << 5;
const CR4_PGE: u64 = 1 << 7;

/// Privileged instructions emulated as Xen does for a PV kernel: `mov` from/to CR0 (only TS
/// may change) and CR4 (Xen's PV view; writes of ignored bits succeed), `clts`, port I/O (#GP
/// until `set_iopl(1)`, then reads give all ones and writes are dropped), `wbinvd`.
pub fn privileged() -> Check {
    use guests::privop;
    let mut problems = Problems::default();

    let cr0 = privop::read_cr0();
    problems.check(
        cr0.is_some_and(|v| v & (CR0_PE | CR0_PG) == CR0_PE | CR0_PG && v & CR0_TS == 0),
        format_args!("mov %cr0: {cr0:x?}, want PE|PG set, TS clear"),
    );
    let cr0 = cr0.unwrap_or(CR0_PE | CR0_PG);
    let set_ts = privop::write_cr0(cr0 | CR0_TS);
    let with_ts = privop::read_cr0();
    let cleared = privop::clts();
    let after = privop::read_cr0();
    problems.check(
        set_ts && with_ts == Some(cr0 | CR0_TS) && cleared && after == Some(cr0),
        format_args!(
            "mov to %cr0 with TS: ok={set_ts} reads {with_ts:x?}; clts ok={cleared} reads \
             {after:x?}"
        ),
    );
    let wp_refused = !privop::write_cr0(cr0 & !CR0_WP);
    problems.check(
        wp_refused && privop::read_cr0() == Some(cr0),
        format_args!("clearing CR0.WP was not refused with #GP"),
    );

    let cr4 = privop::read_cr4();
    problems.check(
        cr4.is_some_and(|v| v & CR4_PAE != 0 && v & (CR4_PSE | CR4_PGE) == 0),
        format_args!("mov %cr4: {cr4:x?}, want PAE set, PSE and PGE hidden"),
    );
    let cr4 = cr4.unwrap_or(CR4_PAE);
    let wrote = privop::write_cr4(cr4 | CR4_PGE | CR4_PSE);
    let back = privop::read_cr4();
    problems.check(
        wrote && back == Some(cr4),
        format_args!("mov to %cr4 of PGE|PSE: ok={wrote}, reads back {back:x?}, want {cr4:#x}"),
    );

    let before = traps::count(13);
    let gp = privop::inb_imm();
    problems.check(
        gp.is_none() && traps::count(13) == before + 1,
        format_args!("in $0x71 before set_iopl gave {gp:x?}, want #GP"),
    );
    let rc = privop::set_iopl(1);
    problems.check(rc == 0, format_args!("physdev_op(set_iopl, 1) = {rc}"));
    let b = privop::inb_imm();
    let w = privop::inw_dx(0xcfc);
    let l = privop::inl_dx(0xcfc);
    problems.check(
        b == Some(0x5a5a_5a5a_5a5a_5aff)
            && w == Some(0x5a5a_5a5a_5a5a_ffff)
            && l == Some(0xffff_ffff),
        format_args!("in after set_iopl: al {b:x?}, ax {w:x?}, eax {l:x?}; want all ones"),
    );
    // What one emulated `in` costs (quick_pit_calibrate does up to 100,000 of them).
    let t0 = guests::time::now();
    for _ in 0..1000 {
        let _ = privop::inb_imm();
    }
    let in_ns = (guests::time::now() - t0) / 1000;
    let pit = pit_channel2();
    problems.check(pit.is_ok(), format_args!("PIT channel 2: {pit:?}"));
    let out = privop::outb_dx(0x80, 0x42);
    problems.check(out, format_args!("out %al,%dx after set_iopl raised #GP"));
    let byte = 0u8;
    let from = &raw const byte;
    let outs = privop::outsb(0x80, from);
    problems.check(
        outs == Some(from as u64 + 1),
        format_args!(
            "outsb after set_iopl: rsi {outs:x?}, want {:#x}",
            from as u64 + 1
        ),
    );
    // 3000 bytes: more than the hypervisor does per fault, so the rep continues twice.
    let buf = &raw mut INS_BUFFER;
    let start = buf as u64;
    // SAFETY: INS_BUFFER is ours alone and holds 4096 bytes.
    let ins = unsafe { privop::rep_insb(0x1f0, buf.cast(), 3000) };
    // SAFETY: as above; the emulated `rep insb` is done, nothing else refers to the buffer.
    let bytes = unsafe { &*buf };
    let filled = bytes[..3000].iter().all(|&b| b == 0xff) && bytes[3000] == 0;
    problems.check(
        ins == Some((start + 3000, 0)) && filled,
        format_args!(
            "rep insb x3000: (rdi, rcx) {ins:x?}, want ({:#x}, 0); bytes all ones: {filled}",
            start + 3000
        ),
    );
    privop::set_iopl(0);
    let gp = privop::outsb(0x80, from);
    problems.check(
        gp.is_none(),
        format_args!("outsb after set_iopl(0) was not a #GP"),
    );

    let wb = privop::wbinvd();
    problems.check(wb, format_args!("wbinvd raised #GP"));
    problems.into_check(detail!(
        "cr0 {cr0:#x} (TS via mov/clts, WP change #GP), cr4 {cr4:#x} (PGE/PSE write ignored), \
         in/out/ins/outs #GP then ~0 after set_iopl(1) (rep insb x3000; {in_ns} ns per emulated \
         in), wbinvd ignored"
    ))
}

/// The variable the `debug-registers` verdict watches.
static WATCHED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Writes `value` to `WATCHED`; returns the address of the instruction after the store.
fn write_watched(value: u64) -> u64 {
    let after: u64;
    // SAFETY: a plain 8-byte store to our own static; a data breakpoint on it is a trap, so
    // the #DB handler returns to the next instruction.
    unsafe {
        asm!(
            "mov {v}, ({p})",
            "1:",
            "lea 1b(%rip), {a}",
            v = in(reg) value,
            p = in(reg) WATCHED.as_ptr(),
            a = out(reg) after,
            options(att_syntax, nostack)
        )
    };
    after
}

/// Debug registers reach the CPU: a write breakpoint (DR0 + DR7) on a variable raises #DB
/// in our handler right after the store, with DR6.B0 set, also after a yield (switched out
/// and in); cleared DR7 stops it; a breakpoint on a hypervisor address is refused.
pub fn debug_registers() -> Check {
    let mut p = Problems::default();
    let set = |r: u64, v: u64| {
        // SAFETY: set_debugreg takes plain values.
        unsafe { traps::hypercall(nr::SET_DEBUGREG, [r, v, 0, 0, 0]) }
    };
    // SAFETY: as above.
    let get = |r: u64| unsafe { traps::hypercall(nr::GET_DEBUGREG, [r, 0, 0, 0, 0]) } as u64;
    const EPERM: i64 = 1;
    let rc = set(2, 0xFFFF_8000_0000_0000 + 0x1000);
    p.check(
        rc == -EPERM,
        format_args!("DR2 on a hypervisor address: {rc}, want -1"),
    );
    // L0, R/W0 = 01 (writes), LEN0 = 11 (8 bytes).
    let dr7 = 1 | (1 << 16) | (3 << 18);
    let rc = set(0, WATCHED.as_ptr() as u64) | set(6, 0) | set(7, dr7);
    p.check(rc == 0, format_args!("arming DR0/DR7: {rc}"));
    for round in ["armed", "after a yield"] {
        let before = traps::count(1);
        let after = write_watched(7);
        let hits = traps::count(1) - before;
        let dr6 = get(6);
        p.check(
            hits == 1 && traps::last().vector == 1 && traps::last().rip == after,
            format_args!(
                "{round}: {hits} #DB, last vector {} rip {:#x} (store ends at {after:#x})",
                traps::last().vector,
                traps::last().rip
            ),
        );
        p.check(
            dr6 & 1 != 0,
            format_args!("{round}: DR6 {dr6:#x} without B0"),
        );
        let _ = set(6, 0);
        time::yield_now();
    }
    let _ = set(7, 0);
    let before = traps::count(1);
    write_watched(8);
    p.check(
        traps::count(1) == before,
        format_args!("#DB after DR7 was cleared"),
    );
    p.into_check(detail!(
        "write breakpoint on {:#x}: #DB after the store with DR6.B0, again after a yield, \
         none once DR7 is clear; hypervisor address -EPERM",
        WATCHED.as_ptr() as u64
    ))
}
