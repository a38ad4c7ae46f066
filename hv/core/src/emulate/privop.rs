//! Privileged instructions a PV guest kernel executes in ring 3, where they raise #GP:
//! decoded from the faulting bytes plus the registers, into the operation the hypervisor
//! carries out as Xen's `pv/emul-priv-op.c` does.
//!
//! ```text
//!   mov %crN,%r / mov %r,%crN   0F 20 /r, 0F 22 /r   (N and r from ModRM, REX.R → CR8+)
//!   in  $imm8 / %dx → al|ax|eax E4 E5 EC ED (+66)
//!   out al|ax|eax → $imm8 / %dx E6 E7 EE EF (+66)
//!   [rep] ins / outs            6C..6F (+66, F3/F2)  element by element, bounded per fault
//!   wbinvd, invd                0F 09, 0F 08
//!   rdmsr, wrmsr                0F 32, 0F 30
//!   clts                        0F 06
//!   cli, sti                    FA, FB               a no-op when iopl allows (Xen)
//! ```
//!
//! The forms without prefixes, ModRM or memory operands (every row but `mov %cr` and the
//! string I/O, when no prefix precedes them) are recognised from their bytes directly
//! ([`decode_fixed`]); the rest goes through the `iced-x86` decoder. Both give the same result
//! (host-tested over every such byte pattern); the direct path spares a guest's first
//! privileged instruction the decoder's one-time table set-up, which costs ~8 ms of a boot
//! under TCG (Mini-OS's first `wrmsr`).

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use super::decode::{decode, gpr_operand, memory_address_of, DecodeError};
use super::regs::{size_mask, GuestRegs, RegOperand, RAX, RCX, RDI, RDX, RSI};

/// One privileged operation, with its register operands resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivOp {
    /// `mov %crN, dst`.
    ReadCr {
        /// Control register number (0..=15).
        cr: u8,
        /// Destination (always a 64-bit register).
        dst: RegOperand,
    },
    /// `mov src, %crN`; `value` is the source register's value.
    WriteCr {
        /// Control register number.
        cr: u8,
        /// The value written.
        value: u64,
    },
    /// `in`: read `size` bytes from `port` into al/ax/eax.
    PortIn {
        /// Port number.
        port: u16,
        /// 1, 2 or 4.
        size: u8,
    },
    /// `out`: write the low `size` bytes of `value` (al/ax/eax) to `port`.
    PortOut {
        /// Port number.
        port: u16,
        /// 1, 2 or 4.
        size: u8,
        /// al/ax/eax, masked to `size`.
        value: u32,
    },
    /// `ins`/`outs` (string port I/O), possibly `rep`.
    StringIo(StringIo),
    /// `wbinvd` / `invd`.
    CacheFlush,
    /// `rdmsr`: MSR number from ecx, result to edx:eax.
    Rdmsr {
        /// ecx.
        msr: u32,
    },
    /// `wrmsr`: MSR ecx ← edx:eax.
    Wrmsr {
        /// ecx.
        msr: u32,
        /// edx:eax.
        value: u64,
    },
    /// `clts`: clear CR0.TS.
    Clts,
    /// `cli` / `sti`: Xen skips them when the vCPU's I/O privilege allows (they do not
    /// touch the event mask: "fast & loose"), else #GP.
    InterruptFlag,
}

/// A decoded privileged instruction and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// What to do.
    pub op: PrivOp,
    /// Instruction length (rip advances by this much when emulated).
    pub len: usize,
}

/// The port of an `in`/`out`: the immediate, or dx.
fn port(insn: &iced_x86::Instruction, operand: u32, regs: &GuestRegs) -> u16 {
    match insn.op_kind(operand) {
        OpKind::Immediate8 => u16::from(insn.immediate8()),
        _ => regs.gpr[RDX] as u16,
    }
}

/// Decodes the privileged instruction at the start of `bytes` (fetched from `regs.rip`).
/// Errors: `Truncated`, `Invalid`, or `Unsupported` for any instruction not listed above.
pub fn decode_privileged(bytes: &[u8], regs: &GuestRegs) -> Result<Decoded, DecodeError> {
    if let Some(decoded) = decode_fixed(bytes, regs) {
        return Ok(decoded);
    }
    let insn = decode(bytes, regs.rip)?;
    let op = match insn.code() {
        Code::Mov_r64_cr | Code::Mov_cr_r64 => {
            let (cr_reg, gpr_reg) = if insn.code() == Code::Mov_r64_cr {
                (insn.op1_register(), insn.op0_register())
            } else {
                (insn.op0_register(), insn.op1_register())
            };
            let cr = (cr_reg as usize)
                .checked_sub(iced_x86::Register::CR0 as usize)
                .and_then(|n| u8::try_from(n).ok())
                .filter(|&n| n < 16)
                .ok_or(DecodeError::Unsupported)?;
            let gpr = gpr_operand(gpr_reg).ok_or(DecodeError::Unsupported)?;
            if insn.code() == Code::Mov_r64_cr {
                PrivOp::ReadCr { cr, dst: gpr }
            } else {
                PrivOp::WriteCr {
                    cr,
                    value: regs.read(gpr),
                }
            }
        }
        Code::Wbinvd | Code::Invd => PrivOp::CacheFlush,
        Code::Clts => PrivOp::Clts,
        Code::Cli | Code::Sti => PrivOp::InterruptFlag,
        Code::Rdmsr => PrivOp::Rdmsr {
            msr: regs.gpr[1] as u32,
        },
        Code::Wrmsr => PrivOp::Wrmsr {
            msr: regs.gpr[1] as u32,
            value: (regs.gpr[RDX] << 32) | (regs.gpr[RAX] & 0xFFFF_FFFF),
        },
        _ => match insn.mnemonic() {
            Mnemonic::In | Mnemonic::Out => {
                // in al|ax|eax, port / out port, al|ax|eax
                let (data, port_operand) = match insn.mnemonic() {
                    Mnemonic::In => (insn.op0_register(), 1),
                    _ => (insn.op1_register(), 0),
                };
                let size = gpr_operand(data).ok_or(DecodeError::Unsupported)?.size;
                let port = port(&insn, port_operand, regs);
                if insn.mnemonic() == Mnemonic::In {
                    PrivOp::PortIn { port, size }
                } else {
                    PrivOp::PortOut {
                        port,
                        size,
                        value: (regs.gpr[RAX] & size_mask(size)) as u32,
                    }
                }
            }
            Mnemonic::Insb
            | Mnemonic::Insw
            | Mnemonic::Insd
            | Mnemonic::Outsb
            | Mnemonic::Outsw
            | Mnemonic::Outsd => PrivOp::StringIo(string_io(&insn, regs)?),
            _ => return Err(DecodeError::Unsupported),
        },
    };
    Ok(Decoded {
        op,
        len: insn.len(),
    })
}

/// The privileged instructions of one fixed encoding with no prefix, ModRM or memory
/// operand, decoded from their bytes; `None` for anything else (including any prefix, so a
/// prefixed form always goes through the full decoder).
pub fn decode_fixed(bytes: &[u8], regs: &GuestRegs) -> Option<Decoded> {
    let eax = regs.gpr[RAX];
    let dx = regs.gpr[RDX] as u16;
    let port_out = |port: u16, size: u8| PrivOp::PortOut {
        port,
        size,
        value: (eax & size_mask(size)) as u32,
    };
    let (op, len) = match *bytes {
        [0x0f, second, ..] => {
            let op = match second {
                0x30 => PrivOp::Wrmsr {
                    msr: regs.gpr[RCX] as u32,
                    value: (regs.gpr[RDX] << 32) | (eax & 0xFFFF_FFFF),
                },
                0x32 => PrivOp::Rdmsr {
                    msr: regs.gpr[RCX] as u32,
                },
                0x06 => PrivOp::Clts,
                0x08 | 0x09 => PrivOp::CacheFlush,
                _ => return None,
            };
            (op, 2)
        }
        [0xfa | 0xfb, ..] => (PrivOp::InterruptFlag, 1),
        [0xe4, port, ..] => (
            PrivOp::PortIn {
                port: port.into(),
                size: 1,
            },
            2,
        ),
        [0xe5, port, ..] => (
            PrivOp::PortIn {
                port: port.into(),
                size: 4,
            },
            2,
        ),
        [0xe6, port, ..] => (port_out(port.into(), 1), 2),
        [0xe7, port, ..] => (port_out(port.into(), 4), 2),
        [0xec, ..] => (PrivOp::PortIn { port: dx, size: 1 }, 1),
        [0xed, ..] => (PrivOp::PortIn { port: dx, size: 4 }, 1),
        [0xee, ..] => (port_out(dx, 1), 1),
        [0xef, ..] => (port_out(dx, 4), 1),
        _ => return None,
    };
    Some(Decoded { op, len })
}

/// An `ins` or `outs`: `count` elements of `size` bytes between `port` and memory at
/// `address` (ES:RDI for `ins`, seg:RSI for `outs`), walking down if RFLAGS.DF is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StringIo {
    /// Port number (dx).
    pub port: u16,
    /// 1, 2 or 4.
    pub size: u8,
    /// `ins` (port → memory) rather than `outs`.
    pub input: bool,
    /// Linear address of the first element.
    pub address: u64,
    /// Elements left: rcx with a `rep` prefix, else 1.
    pub count: u64,
    /// Whether a `rep` prefix repeats it.
    pub rep: bool,
    /// RFLAGS.DF: addresses decrease.
    pub down: bool,
}

/// RFLAGS.DF.
const DIRECTION_FLAG: u64 = 1 << 10;

fn string_io(insn: &Instruction, regs: &GuestRegs) -> Result<StringIo, DecodeError> {
    let input = matches!(
        insn.mnemonic(),
        Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd
    );
    // ins: [es:rdi], dx — outs: dx, [seg:rsi]. A 0x67 prefix (32-bit rdi/rsi/rcx) is refused.
    let (memory, wanted) = if input {
        (0, OpKind::MemoryESRDI)
    } else {
        (1, OpKind::MemorySegRSI)
    };
    if insn.op_kind(memory) != wanted {
        return Err(DecodeError::Unsupported);
    }
    let size = match insn.mnemonic() {
        Mnemonic::Insb | Mnemonic::Outsb => 1,
        Mnemonic::Insw | Mnemonic::Outsw => 2,
        _ => 4,
    };
    let rep = insn.has_rep_prefix() || insn.has_repne_prefix();
    Ok(StringIo {
        port: regs.gpr[RDX] as u16,
        size,
        input,
        address: memory_address_of(insn, memory, regs)?,
        count: if rep { regs.gpr[RCX] } else { 1 },
        rep,
        down: regs.rflags & DIRECTION_FLAG != 0,
    })
}

impl StringIo {
    /// Linear address of element `i` (wrapping, as the CPU's address arithmetic).
    pub fn element_address(&self, i: u64) -> u64 {
        let step = i.wrapping_mul(u64::from(self.size));
        if self.down {
            self.address.wrapping_sub(step)
        } else {
            self.address.wrapping_add(step)
        }
    }

    /// The registers after `done` elements (rdi or rsi moved, rcx counted down with `rep`),
    /// and whether the instruction is complete (then rip moves past its `len` bytes; if not,
    /// rip stays and the next fault continues it, as an interrupted `rep` does).
    pub fn after(&self, regs: &GuestRegs, done: u64, len: usize) -> (GuestRegs, bool) {
        let mut out = *regs;
        let index = if self.input { RDI } else { RSI };
        let moved = done.wrapping_mul(u64::from(self.size));
        out.gpr[index] = if self.down {
            regs.gpr[index].wrapping_sub(moved)
        } else {
            regs.gpr[index].wrapping_add(moved)
        };
        let complete = done >= self.count;
        if self.rep {
            out.gpr[RCX] = self.count.saturating_sub(done);
        }
        if complete {
            out.rip = regs.rip.wrapping_add(len as u64);
        }
        (out, complete)
    }
}

/// The register an `in` of `size` bytes writes (al, ax or eax).
pub fn port_in_destination(size: u8) -> RegOperand {
    RegOperand::sized(RAX, size)
}
