//! Checks of the descriptor-table side of the ABI, the way Linux uses it: `set_gdt`,
//! `update_descriptor`, `MMUEXT_SET_LDT`, user selectors from the guest's own GDT in `iret`
//! frames and `SEGBASE_GS_USER_SEL`, and the debug registers.
//!
//! The GDT and LDT pages are page-aligned slots of our own image (as the shared_info and
//! grant-table slots are); a page must be mapped read-only before it can become a descriptor
//! page, and can be made writable again once it is no longer one.
//!
//! ```text
//!  our GDT (like Linux's)          selector
//!  2  kernel code, DPL 0 (fixed up to DPL 3 by the hypervisor)
//!  4  user code 32-bit, DPL 3      0x23
//!  5  user data, DPL 3             0x2b
//!  6  user code 64-bit, DPL 3      0x33
//!  9  (update_descriptor) data     0x4b
//!  10 (update_descriptor) gate     0x53 — DPL forced to 0
//! ```

use core::arch::asm;

use guests::mm::frames::{p2m, VIRT_BASE};
use guests::mm::ops::{mmuext, update_va_mapping};
use guests::mm::pte::{entry, DATA_RO, DATA_RW};
use guests::ring::PageSlot;
use guests::{events, traps, StartInfo};
use pv_abi::arch_x86::SEGBASE_GS_USER_SEL;
use pv_abi::callback::*;
use pv_abi::errno::{neg, EINVAL, EPERM};
use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};
use pv_abi::xen::hypercall as nr;
use pv_abi::xen::{MMUEXT_SET_LDT, UVMF_INVLPG};

use crate::{Check, Problems};

const KERNEL_CS: u64 = 0x00af_9b00_0000_ffff;
const USER32_CS: u64 = 0x00cf_fb00_0000_ffff;
const USER_DS: u64 = 0x00cf_f300_0000_ffff;
const USER_CS: u64 = 0x00af_fb00_0000_ffff;
/// A DPL-0 data segment (Xen raises the DPL to 3).
const KERNEL_DS: u64 = 0x00cf_9300_0000_ffff;
/// A present 64-bit TSS: never allowed in a guest table.
const TSS: u64 = 0x0000_8900_0000_0067;
const DPL3: u64 = 3 << 45;
const DPL_MASK: u64 = 3 << 45;

/// A 64-bit call gate (lower half) to `sel` with DPL 3.
const fn call_gate(sel: u16) -> u64 {
    (1 << 47) | DPL3 | (0xC << 40) | ((sel as u64) << 16) | 0x1000
}

/// One of our free frames, mapped in the start-of-day region.
#[derive(Clone, Copy)]
struct Page {
    mfn: u64,
    va: u64,
}

impl Page {
    fn write(&self, index: usize, value: u64) {
        // SAFETY: a free frame of ours, mapped writable at `va` (callers write only while so).
        unsafe { ((self.va + 8 * index as u64) as *mut u64).write_volatile(value) }
    }

    fn read(&self, index: usize) -> u64 {
        // SAFETY: mapped (read-only or writable) at `va`.
        unsafe { ((self.va + 8 * index as u64) as *const u64).read_volatile() }
    }

    fn fill(&self, entries: &[(usize, u64)]) {
        for i in 0..512 {
            self.write(i, 0);
        }
        for &(i, d) in entries {
            self.write(i, d);
        }
    }

    fn map(&self, flags: u64) -> i64 {
        // SAFETY: the same frame at the same VA, only the write permission changes.
        match unsafe { update_va_mapping(self.va, entry(self.mfn, flags), UVMF_INVLPG) } {
            Ok(()) => 0,
            Err(e) => e,
        }
    }

    fn read_only(&self) -> i64 {
        self.map(DATA_RO)
    }

    fn writable(&self) -> i64 {
        self.map(DATA_RW)
    }

    fn maddr(&self, index: usize) -> u64 {
        self.mfn * 4096 + 8 * index as u64
    }
}

/// Page slots for the descriptor pages: touched only through [`Page`] (volatile).
static mut SLOTS: [PageSlot; 5] = [const { PageSlot([0; 4096]) }; 5];

/// The first `N` of our page slots.
fn pages<const N: usize>(si: &StartInfo) -> Option<[Page; N]> {
    let mut out = [Page { mfn: 0, va: 0 }; N];
    for (i, p) in out.iter_mut().enumerate() {
        // SAFETY: only the address is taken.
        let va = unsafe { &raw const SLOTS[i] } as u64;
        *p = Page {
            mfn: p2m(si, (va - VIRT_BASE) >> 12)?,
            va,
        };
    }
    Some(out)
}

fn hypercall(number: u64, args: [u64; 5]) -> i64 {
    // SAFETY: the calls made here change descriptor tables, debug registers and callbacks of
    // this unikernel, which uses only the hypervisor's flat selectors itself.
    unsafe { traps::hypercall(number, args) }
}

fn set_gdt(frames: &[u64], entries: u64) -> i64 {
    hypercall(nr::SET_GDT, [frames.as_ptr() as u64, entries, 0, 0, 0])
}

fn update_descriptor(maddr: u64, desc: u64) -> i64 {
    hypercall(nr::UPDATE_DESCRIPTOR, [maddr, desc, 0, 0, 0])
}

fn set_ldt(va: u64, entries: u32) -> i64 {
    // SAFETY: changes only the LDT, which this unikernel does not otherwise use.
    match unsafe { mmuext(MMUEXT_SET_LDT, va, u64::from(entries)) } {
        Ok(()) => 0,
        Err(e) => e,
    }
}

/// `lar`: whether `sel` names a descriptor visible at CPL 3 (never faults).
fn lar(sel: u16) -> bool {
    let ok: u8;
    // SAFETY: lar only reads the descriptor tables and sets ZF.
    unsafe {
        asm!("lar {s:e}, {a:e}", "setz {ok}", s = in(reg) u32::from(sel), a = out(reg) _,
             ok = out(reg_byte) ok, options(att_syntax, nostack))
    };
    ok != 0
}

/// `verr`: whether `sel` is readable from CPL 3 (never faults).
fn verr(sel: u16) -> bool {
    let ok: u8;
    // SAFETY: verr only reads the descriptor tables and sets ZF.
    unsafe {
        asm!("verr {s:x}", "setz {ok}", s = in(reg) sel, ok = out(reg_byte) ok,
             options(att_syntax, nostack))
    };
    ok != 0
}

/// The GDT content this file installs.
const OUR_GDT: [(usize, u64); 4] = [(2, KERNEL_CS), (4, USER32_CS), (5, USER_DS), (6, USER_CS)];

/// `set_gdt`: refused while the frame is writable, with a bad descriptor or too many entries;
/// accepted read-only, with Xen's DPL fixup written back; the CPU sees the new entries;
/// replacing the GDT frees the old frame to be made writable again.
pub fn set_gdt_check(si: &StartInfo) -> Check {
    let mut problems = Problems::default();
    let Some([a, bad, c]) = pages::<3>(si) else {
        return Err(detail!("no free frames for GDT pages"));
    };
    a.fill(&OUR_GDT);
    c.fill(&OUR_GDT);
    bad.fill(&[(5, USER_DS), (8, TSS)]);
    let rc = set_gdt(&[a.mfn], 16);
    problems.check(
        rc == neg(EINVAL),
        format_args!("set_gdt on a writable frame gave {rc}"),
    );
    let ro = (a.read_only(), bad.read_only(), c.read_only());
    problems.check(
        ro == (0, 0, 0),
        format_args!("making GDT pages read-only gave {ro:?}"),
    );
    let rc = set_gdt(&[bad.mfn], 16);
    problems.check(
        rc == neg(EINVAL),
        format_args!("set_gdt with a TSS descriptor gave {rc}"),
    );
    let rc = set_gdt(&[a.mfn], 7169);
    problems.check(
        rc == neg(EINVAL),
        format_args!("set_gdt of 7169 entries gave {rc}"),
    );
    problems.check(!lar(0x33), format_args!("0x33 usable before set_gdt"));
    let rc = set_gdt(&[a.mfn], 16);
    problems.check(rc == 0, format_args!("set_gdt gave {rc}"));
    problems.check(
        lar(0x33) && lar(0x23) && verr(0x2b) && !lar(0x43),
        format_args!(
            "after set_gdt lar 0x33 {} lar 0x23 {} verr 0x2b {} lar 0x43 (empty) {}",
            lar(0x33),
            lar(0x23),
            verr(0x2b),
            lar(0x43)
        ),
    );
    problems.check(
        a.read(2) & DPL_MASK == DPL3,
        format_args!("kernel code entry {:#x}: DPL not raised to 3", a.read(2)),
    );
    let rc = a.writable();
    problems.check(
        rc != 0,
        format_args!("the live GDT frame was made writable ({rc})"),
    );
    let rc = set_gdt(&[c.mfn], 16);
    problems.check(rc == 0, format_args!("replacing the GDT gave {rc}"));
    let rc = a.writable();
    problems.check(
        rc == 0,
        format_args!("the old GDT frame cannot be made writable ({rc})"),
    );
    problems.check(lar(0x33), format_args!("0x33 gone after replacing the GDT"));
    problems.into_check(detail!(
        "refused writable/TSS/7169 entries, DPL fixed up, 0x23/0x2b/0x33 live, old frame \
         writable after replacement"
    ))
}

/// `update_descriptor` on the live GDT frame (the CPU sees it at once) and on an ordinary
/// frame; TSS, a call gate to a hypervisor selector and a misaligned address refused.
pub fn update_descriptor_check(si: &StartInfo) -> Check {
    let mut problems = Problems::default();
    // The live GDT is the third page of `set_gdt_check`; the fourth is an ordinary one.
    let Some([_, _, gdt, plain]) = pages::<4>(si) else {
        return Err(detail!("no free frames"));
    };
    problems.check(lar(0x33), format_args!("no live GDT from set_gdt"));
    let rc = update_descriptor(gdt.maddr(9), USER_DS);
    problems.check(
        rc == 0 && verr(0x4b),
        format_args!("user data at 9: rc {rc}, verr 0x4b {}", verr(0x4b)),
    );
    let rc = update_descriptor(gdt.maddr(9), TSS);
    problems.check(rc == neg(EINVAL), format_args!("TSS descriptor gave {rc}"));
    let rc = update_descriptor(gdt.maddr(10), call_gate(0xe008));
    problems.check(
        rc == neg(EINVAL),
        format_args!("call gate to 0xe008 gave {rc}"),
    );
    let rc = update_descriptor(gdt.maddr(9) + 4, USER_DS);
    problems.check(
        rc == neg(EINVAL),
        format_args!("misaligned address gave {rc}"),
    );
    problems.check(
        gdt.read(9) == USER_DS && verr(0x4b),
        format_args!("entry 9 changed by a refused update: {:#x}", gdt.read(9)),
    );
    let rc = update_descriptor(gdt.maddr(10), call_gate(0x33));
    problems.check(
        rc == 0 && gdt.read(10) & DPL_MASK == 0,
        format_args!(
            "call gate to 0x33: rc {rc}, stored {:#x} (want DPL 0)",
            gdt.read(10)
        ),
    );
    let rc = update_descriptor(gdt.maddr(11), KERNEL_DS);
    problems.check(
        rc == 0 && gdt.read(11) == KERNEL_DS | DPL3 && verr(0x5b),
        format_args!(
            "DPL-0 data: rc {rc}, stored {:#x}, verr 0x5b {}",
            gdt.read(11),
            verr(0x5b)
        ),
    );
    let rc = plain.writable();
    let rc2 = update_descriptor(plain.maddr(3), USER_CS);
    problems.check(
        rc == 0 && rc2 == 0 && plain.read(3) == USER_CS,
        format_args!(
            "ordinary frame: map {rc}, update {rc2}, read {:#x}",
            plain.read(3)
        ),
    );
    problems.into_check(detail!(
        "live GDT entry usable at once, DPL fixups, TSS/gate-to-0xe008/misaligned refused, \
         ordinary frame written"
    ))
}

/// `MMUEXT_SET_LDT`: refused for a writable or unmapped page; loaded (the CPU sees exactly
/// its entries) from a read-only one; cleared with 0 entries, after which the page can be
/// made writable again.
pub fn ldt_check(si: &StartInfo) -> Check {
    let mut problems = Problems::default();
    let Some([.., ldt]) = pages::<5>(si) else {
        return Err(detail!("no free frames"));
    };
    let rc = ldt.writable();
    ldt.fill(&[(0, USER_DS), (1, USER_CS)]);
    let rc2 = set_ldt(ldt.va, 2);
    problems.check(
        rc == 0 && rc2 == neg(EINVAL),
        format_args!("SET_LDT on a writable page gave {rc2} (map {rc})"),
    );
    let rc = set_ldt(0x1000_0000_0000, 2);
    problems.check(
        rc == neg(EINVAL),
        format_args!("SET_LDT on an unmapped page gave {rc}"),
    );
    let rc = set_ldt(ldt.va + 8, 2);
    problems.check(
        rc == neg(EINVAL),
        format_args!("SET_LDT misaligned gave {rc}"),
    );
    let ro = ldt.read_only();
    let rc = set_ldt(ldt.va, 2);
    problems.check(
        ro == 0 && rc == 0 && verr(0x7) && lar(0xf) && !lar(0x17),
        format_args!(
            "SET_LDT rc {rc} (map {ro}): verr 0x7 {} lar 0xf {} lar 0x17 (beyond) {}",
            verr(0x7),
            lar(0xf),
            lar(0x17)
        ),
    );
    let rc = ldt.writable();
    problems.check(rc != 0, format_args!("the live LDT page was made writable"));
    let rc = set_ldt(0, 0);
    let rc2 = ldt.writable();
    problems.check(
        rc == 0 && rc2 == 0 && !lar(0x7),
        format_args!(
            "clearing the LDT gave {rc}, page writable again {rc2}, lar 0x7 {}",
            lar(0x7)
        ),
    );
    problems.into_check(detail!(
        "writable/unmapped/misaligned refused, 2 entries live, cleared, page writable again"
    ))
}

/// An `iret` hypercall to CS 0x33 / SS 0x2b from our own GDT (as Linux returns to user
/// mode), read back, then a direct `iretq` to the flat selectors; `SEGBASE_GS_USER_SEL` with
/// 0x2b (Linux on AMD) and with an unusable selector (becomes null, still succeeds).
pub fn user_selectors_check() -> Check {
    let mut problems = Problems::default();
    if !lar(0x33) {
        return Err(detail!("no GDT with 0x33 (set_gdt failed)"));
    }
    let was_enabled = events::irq_disable();
    let (cs, ss): (u64, u64);
    // SAFETY: the iret hypercall returns to label 2 with our own 64-bit user code and data
    // segments (flat, like the hypervisor's), on the same stack; iretq then returns to label
    // 3 with the flat selectors. rflags is pushed with IF clear so events stay masked.
    unsafe {
        asm!(
            "mov %rsp, %r8",
            "lea 2f(%rip), %r9",
            "pushq $0x2b",
            "pushq %r8",
            "pushfq",
            "andq $~0x200, (%rsp)",
            "pushq $0x33",
            "pushq %r9",
            "pushq $0",
            "pushq %rcx",
            "pushq %r11",
            "pushq %rax",
            "mov $23, %eax",
            "syscall",
            "2:",
            "mov %cs, {cs}",
            "mov %ss, {ss}",
            "mov %rsp, %r8",
            "lea 3f(%rip), %r9",
            "pushq $0xe02b",
            "pushq %r8",
            "pushfq",
            "pushq $0xe033",
            "pushq %r9",
            "iretq",
            "3:",
            cs = out(reg) cs,
            ss = out(reg) ss,
            out("r8") _, out("r9") _, out("rax") _, out("rcx") _, out("r11") _,
            options(att_syntax)
        )
    };
    events::irq_restore(was_enabled);
    problems.check(
        cs & 0xffff == 0x33 && ss & 0xffff == 0x2b,
        format_args!("iret to 0x33/0x2b ran with cs {cs:#x} ss {ss:#x}"),
    );
    let failsafe = bad_iret(0x8b);
    problems.check(
        failsafe.is_some_and(|t| t.vector == traps::VECTOR_FAILSAFE && t.cs & 0xffff == 0x88),
        format_args!(
            "iret to 0x8b (beyond our GDT) gave {:?}, want the failsafe callback with cs 0x88",
            failsafe.map(|t| (t.vector, t.cs))
        ),
    );
    // The flat selectors the exit path's one-word test passes, with a non-canonical rip:
    // still refused (SYSRET or IRETQ would fault in the hypervisor), failsafe callback.
    let noncanonical = bad_iret_to(0xe033, 0x0000_8000_0000_0000);
    problems.check(
        noncanonical.is_some_and(|t| t.vector == traps::VECTOR_FAILSAFE),
        format_args!(
            "iret to the non-canonical rip 0x800000000000 gave {:?}, want the failsafe callback",
            noncanonical.map(|t| (t.vector, t.rip))
        ),
    );
    let gs = |sel: u64| {
        let rc = hypercall(
            nr::SET_SEGMENT_BASE,
            [u64::from(SEGBASE_GS_USER_SEL), sel, 0, 0, 0],
        );
        let now: u64;
        // SAFETY: reads the GS selector.
        unsafe { asm!("mov %gs, {0:e}", out(reg) now, options(att_syntax, nomem, nostack)) };
        (rc, now & 0xffff)
    };
    let r2b = gs(0x2b);
    let rgate = gs(0x50);
    let rnull = gs(0);
    problems.check(
        r2b == (0, 0x2b) && rgate == (0, 0) && rnull == (0, 0),
        format_args!(
            "GS_USER_SEL (rc, gs): 0x2b {r2b:?}, call gate 0x50 {rgate:?} (want null), 0 \
             {rnull:?}"
        ),
    );
    problems.into_check(detail!(
        "iret to 0x33/0x2b from the guest GDT, to 0x8b or a non-canonical rip -> failsafe \
         callback, GS_USER_SEL 0x2b loaded, unusable selector becomes null"
    ))
}

/// `set_debugreg`/`get_debugreg` checked as Xen does; `callback_op` takes the 32-bit entry
/// points; `physdev_op(set_iopl)` takes 0-3 only.
pub fn vcpu_misc_check() -> Check {
    let mut problems = Problems::default();
    let set = |r: u64, v: u64| hypercall(nr::SET_DEBUGREG, [r, v, 0, 0, 0]);
    let get = |r: u64| hypercall(nr::GET_DEBUGREG, [r, 0, 0, 0, 0]);
    let rc = set(0, 0x40_0000);
    problems.check(
        rc == 0 && get(0) == 0x40_0000,
        format_args!("DR0: set {rc}, get {:#x}", get(0)),
    );
    let rc = set(1, 0xffff_8000_0000_1000);
    problems.check(
        rc == neg(EPERM),
        format_args!("DR1 in the hypervisor's range gave {rc}"),
    );
    let rc = set(6, 0);
    problems.check(
        rc == 0 && get(6) == 0xffff_0ff0 && get(4) == 0xffff_0ff0,
        format_args!("DR6: set {rc}, get {:#x} (want 0xffff0ff0)", get(6)),
    );
    let rc = set(7, 2 << 16);
    problems.check(
        rc == neg(EPERM),
        format_args!("DR7 I/O breakpoint gave {rc}"),
    );
    let rc = set(7, 1 << 32);
    problems.check(rc == neg(EINVAL), format_args!("DR7 upper bits gave {rc}"));
    let rc = set(8, 0);
    problems.check(rc == neg(EINVAL), format_args!("DR8 gave {rc}"));

    let register = |ty: u16| {
        let cb = CallbackRegister {
            r#type: ty,
            flags: 0,
            pad0: 0,
            address: traps::event_callback_address(),
        };
        hypercall(
            nr::CALLBACK_OP,
            [
                u64::from(CALLBACKOP_REGISTER),
                &cb as *const _ as u64,
                0,
                0,
                0,
            ],
        )
    };
    let rc = (
        register(CALLBACKTYPE_SYSCALL32),
        register(CALLBACKTYPE_SYSENTER),
    );
    problems.check(
        rc == (0, 0),
        format_args!("callback_op syscall32/sysenter gave {rc:?}"),
    );

    let iopl = |level: u32| {
        let p = PhysdevSetIopl { iopl: level };
        hypercall(
            nr::PHYSDEV_OP,
            [
                u64::from(PHYSDEVOP_SET_IOPL),
                &p as *const _ as u64,
                0,
                0,
                0,
            ],
        )
    };
    let rc = (iopl(1), iopl(4), iopl(0));
    problems.check(
        rc == (0, neg(EINVAL), 0),
        format_args!("set_iopl 1/4/0 gave {rc:?}"),
    );
    problems.into_check(detail!(
        "DR0 set/get, DR1 in hypervisor EPERM, DR6 fixup, DR7 I/O EPERM, callbacks \
         syscall32/sysenter, set_iopl"
    ))
}

/// An `iret` hypercall to code selector `cs` that the hypervisor cannot return to, with the
/// probe fixup armed: the failsafe callback's record, if it came.
fn bad_iret(cs: u64) -> Option<traps::TrapRecord> {
    bad_iret_to(cs, 0)
}

/// [`bad_iret`] to `rip` (0: the fixup label itself).
fn bad_iret_to(cs: u64, rip: u64) -> Option<traps::TrapRecord> {
    let was_enabled = events::irq_disable();
    // SAFETY: the hypervisor cannot return through this frame; it bounces to our failsafe
    // callback, which resumes at label 2 (the armed fixup) with the flat selectors and the
    // frame's rsp, i.e. our own stack pointer from before the pushes.
    unsafe {
        asm!(
            "lea 2f(%rip), %r9",
            "mov %r9, ({fixup})",
            "test {rip}, {rip}",
            "cmovz %r9, {rip}",
            "mov %rsp, %r8",
            "pushq $0xe02b",
            "pushq %r8",
            "pushfq",
            "andq $~0x200, (%rsp)",
            "pushq {cs}",
            "pushq {rip}",
            "pushq $0",
            "pushq %rcx",
            "pushq %r11",
            "pushq %rax",
            "mov $23, %eax",
            "syscall",
            "2:",
            fixup = in(reg) traps::fixup_ptr(),
            cs = in(reg) cs,
            rip = inout(reg) rip => _,
            out("r8") _, out("r9") _, out("rax") _, out("rcx") _, out("r11") _,
            options(att_syntax)
        )
    };
    events::irq_restore(was_enabled);
    traps::fixup_consumed().then(traps::last)
}
