//! Emulation of the privileged instructions a PV kernel executes in ring 3, the platform half:
//! fetch the faulting instruction, hand bytes and registers to `hv_core::emulate`, apply the
//! decoded operation, commit registers. As Xen's `pv/emul-priv-op.c`, for the guest kernel:
//!
//! * `mov` from CR0 (TS = the virtual TS), CR3 (the kernel root) and CR4 (Xen's PV view);
//!   `mov` to CR0 (only TS may change: `fpu_taskswitch`) and CR4 (guest bits kept, never
//!   faults); `clts`;
//! * port I/O (`in`/`out`, imm8 or dx, 1/2/4 bytes; `[rep] ins`/`outs`) once
//!   `physdev_op(SET_IOPL)` raised the vCPU's iopl to its virtual CPL — the PIT's channel 2
//!   and gate (0x42, 0x43, 0x61) are emulated per domain as in Xen, every other port reads
//!   all ones and drops writes (no port is ever granted to a domain); `ins`/`outs` move all
//!   ones / nothing; a `rep` runs at most 1024 elements per fault and continues on the next;
//! * `wbinvd`/`invd`: ignored (Xen ignores them for domains without cache-flush rights);
//! * `wrmsr`/`rdmsr` of the segment-base MSRs (FS, GS, shadow GS), `rdmsr` of EFER and TSC;
//! * CPUID behind Xen's forced-emulation prefix `ud2; .ascii "xen"; cpuid` (raised as #UD).
//!
//! Anything else — `hlt`, `cli`, other MSRs (Linux uses the `_safe` accessors), user-mode
//! callers without iopl 3 — is bounced back to the guest as the #GP it raised.

use hv_core::cpuid::{guest_cpuid, Policy};
use hv_core::emulate::control::{self, Cr4Policy};
use hv_core::emulate::pit;
use hv_core::emulate::privop::{decode_privileged, port_in_destination, PrivOp, StringIo};
use hv_core::emulate::{GuestRegs, MAX_INSTRUCTION_LEN};
use hv_core::mm::pte::is_canonical;
use hv_core::mm::Mfn;
use pv_abi::xen::VMASST_TYPE_ARCHITECTURAL_IOPL;

use crate::arch::entry::TrapFrame;
use crate::arch::{context, cpu};
use crate::guest_memory::GuestMemory;
use crate::hypervisor::{Hypervisor, VcpuRef};

const MSR_FS_BASE: u32 = 0xC000_0100;
const MSR_GS_BASE: u32 = 0xC000_0101;
const MSR_SHADOW_GS_BASE: u32 = 0xC000_0102;
const MSR_EFER: u32 = 0xC000_0080;
const MSR_TSC: u32 = 0x10;

/// Xen's forced-emulation prefix followed by CPUID.
const FORCED_CPUID: [u8; 7] = [0x0F, 0x0B, b'x', b'e', b'n', 0x0F, 0xA2];

/// What emulation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Emulated {
    /// Done; the frame was updated (rip advanced).
    Done,
    /// Not an instruction we emulate: deliver the original fault.
    No,
}

/// The CPUID policy PV guests see (forced-emulation CPUID, and which CR4 bits they may set);
/// `pse` is the domain's stage (`hv_core::pse_stage`): only a superpage domain past its
/// trigger sees PSE.
pub fn cpuid_policy(pse: bool) -> Policy {
    Policy {
        expose_pse: pse,
        version: crate::hypercall::XEN_VERSION_NUMBER,
    }
}

/// Reads up to `buf.len()` instruction bytes at `rip` in the vCPU's current address space,
/// page by page; returns how many could be read (a short count means the rest is unmapped).
pub fn fetch(hv: &Hypervisor, v: VcpuRef, rip: u64, buf: &mut [u8]) -> usize {
    let Some(d) = hv.domains.get(&v.0) else {
        return 0;
    };
    let memory = GuestMemory::new(&hv.memory.mm, Mfn(d.vcpus[v.1].current_root()));
    let mut done = 0;
    while done < buf.len() {
        let Some(at) = rip.checked_add(done as u64) else {
            break;
        };
        let in_page = (4096 - (at & 0xFFF)) as usize;
        let n = in_page.min(buf.len() - done);
        if memory.read(at, &mut buf[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    done
}

/// The registers of `frame` (plus the live FS/GS bases) as the core's emulator sees them.
pub fn guest_regs(frame: &TrapFrame) -> GuestRegs {
    let (fs_base, gs_base, _) = context::segment_bases();
    GuestRegs {
        gpr: [
            frame.rax, frame.rcx, frame.rdx, frame.rbx, frame.rsp, frame.rbp, frame.rsi, frame.rdi,
            frame.r8, frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15,
        ],
        rip: frame.rip,
        rflags: frame.rflags,
        fs_base,
        gs_base,
    }
}

/// Writes the emulator's registers back into `frame` (segment bases are not changed here).
pub fn commit_regs(frame: &mut TrapFrame, regs: &GuestRegs) {
    let g = &regs.gpr;
    [
        frame.rax, frame.rcx, frame.rdx, frame.rbx, frame.rsp, frame.rbp, frame.rsi, frame.rdi,
    ] = [g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]];
    [
        frame.r8, frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15,
    ] = [g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]];
    frame.rip = regs.rip;
    frame.rflags = regs.rflags;
}

/// The CR4 bits the CPUID policy lets a guest control.
fn cr4_policy() -> Cr4Policy {
    let [_, _, c1, d1] = guest_cpuid(cpuid_policy(false), 1, 0, cpu::cpuid(1, 0));
    let [_, b7, _, _] = guest_cpuid(cpuid_policy(false), 7, 0, cpu::cpuid(7, 0));
    Cr4Policy {
        tsc: d1 & (1 << 4) != 0,
        de: d1 & (1 << 2) != 0,
        fsgsbase: b7 & 1 != 0,
        xsave: c1 & (1 << 26) != 0,
    }
}

/// Elements of a `rep ins`/`rep outs` done per fault; the rest continue on the next one (rip
/// stays on the instruction), so a huge rcx cannot keep the hypervisor busy.
const STRING_IO_ELEMENTS_PER_FAULT: u64 = 1024;

/// Carries out `ins`/`outs` against guest memory: `ins` stores all ones, `outs` reads the
/// source (the data goes nowhere). Returns the elements done before the first inaccessible
/// one, at most [`STRING_IO_ELEMENTS_PER_FAULT`].
fn string_io(hv: &Hypervisor, root: u64, io: &StringIo) -> u64 {
    let memory = GuestMemory::new(&hv.memory.mm, Mfn(root));
    let ones = [0xFFu8; 4];
    let mut buf = [0u8; 4];
    let size = usize::from(io.size).min(4);
    let todo = io.count.min(STRING_IO_ELEMENTS_PER_FAULT);
    for i in 0..todo {
        let at = io.element_address(i);
        let ok = if io.input {
            memory.write(at, &ones[..size]).is_ok()
        } else {
            memory.read(at, &mut buf[..size]).is_ok()
        };
        if !ok {
            return i;
        }
    }
    todo
}

/// Port I/O (plain and string) for vCPU `v`: `Some(true)` done (registers updated, rip
/// included), `Some(false)` refused (#GP), `None` not port I/O.
fn port_io(
    hv: &mut Hypervisor,
    v: VcpuRef,
    op: PrivOp,
    len: usize,
    regs: &mut GuestRegs,
) -> Option<bool> {
    let now = hv.time.now();
    let d = hv.domains.get(&v.0)?;
    let vcpu = &d.vcpus[v.1];
    let architectural_iopl = d.vm_assist & (1 << VMASST_TYPE_ARCHITECTURAL_IOPL) != 0;
    let allowed = control::io_allowed(vcpu.kernel_mode, &vcpu.pv_control, architectural_iopl);
    let root = vcpu.current_root();
    match op {
        PrivOp::PortIn { .. }
        | PrivOp::PortOut { .. }
        | PrivOp::StringIo(_)
        | PrivOp::InterruptFlag
            if !allowed =>
        {
            Some(false)
        }
        // Linux runs `pushf; cli; ...; popf` before its alternatives are patched
        // (this_cpu_cmpxchg16b_emu): Xen lets cli/sti through as no-ops.
        PrivOp::InterruptFlag => {
            regs.rip = regs.rip.wrapping_add(len as u64);
            Some(true)
        }
        PrivOp::PortIn { port, size } => {
            let pit = &mut hv.domains.get_mut(&v.0)?.pit;
            let value = pit::guest_port_read(pit, port, size, now);
            regs.write(port_in_destination(size), u64::from(value));
            regs.rip = regs.rip.wrapping_add(len as u64);
            Some(true)
        }
        PrivOp::PortOut { port, size, value } => {
            let pit = &mut hv.domains.get_mut(&v.0)?.pit;
            pit::guest_port_write(pit, port, size, value, now);
            regs.rip = regs.rip.wrapping_add(len as u64);
            Some(true)
        }
        PrivOp::StringIo(io) => {
            let done = string_io(hv, root, &io);
            if done == 0 && io.count != 0 {
                // The first element's memory is not accessible. Xen raises #PF there; we
                // leave the guest its #GP.
                return Some(false);
            }
            *regs = io.after(regs, done, len).0;
            Some(true)
        }
        _ => None,
    }
}

/// Applies `op` (an instruction of `len` bytes) for vCPU `v`, updating `regs` (rip included);
/// `false` if it must fault instead.
fn apply(hv: &mut Hypervisor, v: VcpuRef, op: PrivOp, len: usize, regs: &mut GuestRegs) -> bool {
    if let Some(done) = port_io(hv, v, op, len, regs) {
        return done;
    }
    let Some(d) = hv.domain(v.0) else {
        return false;
    };
    let vcpu = &mut d.vcpus[v.1];
    if !vcpu.kernel_mode {
        return false;
    }
    match op {
        PrivOp::ReadCr { cr, dst } => {
            let value = match cr {
                0 => control::guest_cr0(cpu::read_cr0(), vcpu.arch.virtual_ts),
                3 => vcpu.kernel_root << 12,
                4 => control::guest_cr4(cpu::read_cr4(), &vcpu.pv_control),
                _ => return false,
            };
            regs.write(dst, value);
        }
        PrivOp::WriteCr { cr: 0, value } => {
            let Some(ts) = control::cr0_write(cpu::read_cr0(), value) else {
                log::debug!("d{}: refused CR0 write {value:#x}", v.0);
                return false;
            };
            vcpu.arch.virtual_ts = ts;
            vcpu.arch.apply_ts();
        }
        PrivOp::WriteCr { cr: 4, value } => {
            vcpu.pv_control.cr4_guest = control::cr4_write(value, cr4_policy());
        }
        PrivOp::Clts => {
            vcpu.arch.virtual_ts = false;
            vcpu.arch.apply_ts();
        }
        PrivOp::CacheFlush => {}
        PrivOp::Wrmsr { msr, value } => match msr {
            MSR_FS_BASE | MSR_GS_BASE | MSR_SHADOW_GS_BASE if !is_canonical(value) => return false,
            MSR_FS_BASE => context::set_fs_base(value),
            MSR_GS_BASE => context::set_gs_base(value),
            MSR_SHADOW_GS_BASE => context::set_shadow_gs_base(value),
            _ => return false,
        },
        PrivOp::Rdmsr { msr } => {
            let (fs, gs, shadow) = context::segment_bases();
            let value = match msr {
                MSR_FS_BASE => fs,
                MSR_GS_BASE => gs,
                MSR_SHADOW_GS_BASE => shadow,
                MSR_EFER => cpu::rdmsr(MSR_EFER),
                MSR_TSC => cpu::rdtsc(),
                _ => return false,
            };
            regs.gpr[0] = value & 0xFFFF_FFFF;
            regs.gpr[2] = value >> 32;
        }
        PrivOp::WriteCr { .. }
        | PrivOp::PortIn { .. }
        | PrivOp::PortOut { .. }
        | PrivOp::StringIo(_)
        | PrivOp::InterruptFlag => return false,
    }
    regs.rip = regs.rip.wrapping_add(len as u64);
    true
}

/// A #GP from guest `v`: emulate the privileged instruction that raised it, if it is one.
pub fn general_protection(hv: &mut Hypervisor, v: VcpuRef, frame: &mut TrapFrame) -> Emulated {
    let mut bytes = [0u8; MAX_INSTRUCTION_LEN];
    let n = fetch(hv, v, frame.rip, &mut bytes);
    let mut regs = guest_regs(frame);
    let Ok(decoded) = decode_privileged(&bytes[..n], &regs) else {
        return Emulated::No;
    };
    if !apply(hv, v, decoded.op, decoded.len, &mut regs) {
        return Emulated::No;
    }
    commit_regs(frame, &regs);
    Emulated::Done
}

/// A #UD from guest `v`: emulate CPUID behind Xen's forced-emulation prefix.
pub fn invalid_opcode(hv: &mut Hypervisor, v: VcpuRef, frame: &mut TrapFrame) -> Emulated {
    let mut insn = [0u8; 7];
    if fetch(hv, v, frame.rip, &mut insn) != insn.len() || insn != FORCED_CPUID {
        return Emulated::No;
    }
    let (leaf, subleaf) = (frame.rax as u32, frame.rcx as u32);
    let native = cpu::cpuid(leaf, subleaf);
    let pse = hv.domains.get(&v.0).is_some_and(|d| d.pse.visible());
    let [a, b, c, d] = guest_cpuid(cpuid_policy(pse), leaf, subleaf, native);
    frame.rax = u64::from(a);
    frame.rbx = u64::from(b);
    frame.rcx = u64::from(c);
    frame.rdx = u64::from(d);
    frame.rip = frame.rip.wrapping_add(FORCED_CPUID.len() as u64);
    Emulated::Done
}
