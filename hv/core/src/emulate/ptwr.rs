//! Writable page tables (Xen's `ptwr`, `pv/ro-page-fault.c`), the pure half: decode the one
//! instruction whose store to a read-only page-table page faulted, and compute what it does to
//! the 8-byte entry and to the registers.
//!
//! ```text
//!   mov m, r/imm            store                      (1, 2, 4 or 8 bytes)
//!   xchg m, r               store r; r ← old
//!   cmpxchg m, r            acc == old ? (ZF=1, store r) : (ZF=0, acc ← old); flags of cmp
//!   cmpxchg8b m64           edx:eax == old ? (ZF=1, store ecx:ebx) : (ZF=0, edx:eax ← old)
//!   [lock] and/or/xor m, …  store old op src; CF=OF=0, ZF SF PF from the result
//!   [lock] add/sub m, …     store old ± src; flags of the arithmetic
//!   [lock] bts/btr/btc m, … CF ← bit; store with the bit set/cleared/flipped
//! ```
//! An access must be naturally aligned and at most 8 bytes, so it lies inside one entry; a
//! narrower access is merged into the full entry (Xen's "sub-word access → full-word access").
//! `cmpxchg16b` (16 bytes: two entries) is refused, as in Xen. The platform checks that the
//! access is in the faulting page, validates the new entry with `mmu_update`'s rules, and only
//! then commits the register results.

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use super::decode::{
    decode, gpr_operand, memory_address, memory_operand_size, source_value, DecodeError,
};
use super::regs::{
    size_mask, GuestRegs, RegOperand, AF, ARITH_FLAGS, CF, OF, PF, RAX, RBX, RCX, RDX, SF, ZF,
};

/// A read-modify-write of the bits in `[lo, hi)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `xor`.
    Xor,
    /// `add`.
    Add,
    /// `sub`.
    Sub,
}

/// A bit-test-and-modify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    /// `bts`.
    Set,
    /// `btr`.
    Reset,
    /// `btc`.
    Complement,
}

/// What the instruction does to its memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// `mov`: store the value.
    Store(u64),
    /// `xchg`: store the register, which receives the old value.
    Exchange(RegOperand),
    /// `cmpxchg`: compare with the accumulator, store the register if equal.
    CompareExchange(RegOperand),
    /// `cmpxchg8b`.
    CompareExchange8b,
    /// and/or/xor/add/sub with this source value.
    Alu(LogicOp, u64),
    /// bts/btr/btc of bit `bit` of the operand (already reduced modulo its width).
    Bit(BitOp, u32),
}

/// A decoded write to memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryWrite {
    /// What it does.
    pub kind: WriteKind,
    /// Linear address of the accessed bytes.
    pub address: u64,
    /// Access width: 1, 2, 4 or 8 bytes.
    pub size: u8,
    /// Instruction length.
    pub len: usize,
}

/// The result of executing a [`MemoryWrite`] against the current operand value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteResult {
    /// The new operand value to store (`size` bytes), or `None` (a failed compare stores
    /// nothing).
    pub store: Option<u64>,
    /// The registers afterwards (rip advanced); commit them only once the store is accepted.
    pub regs: GuestRegs,
}

fn alu_kind(m: Mnemonic) -> Option<LogicOp> {
    Some(match m {
        Mnemonic::And => LogicOp::And,
        Mnemonic::Or => LogicOp::Or,
        Mnemonic::Xor => LogicOp::Xor,
        Mnemonic::Add => LogicOp::Add,
        Mnemonic::Sub => LogicOp::Sub,
        _ => return None,
    })
}

fn bit_kind(m: Mnemonic) -> Option<BitOp> {
    Some(match m {
        Mnemonic::Bts => BitOp::Set,
        Mnemonic::Btr => BitOp::Reset,
        Mnemonic::Btc => BitOp::Complement,
        _ => return None,
    })
}

/// Decodes the instruction at the start of `bytes` (at `regs.rip`) as a write to memory.
/// `Unsupported` for anything not in the table above, for a register destination, and for
/// an access that is not naturally aligned.
pub fn decode_memory_write(bytes: &[u8], regs: &GuestRegs) -> Result<MemoryWrite, DecodeError> {
    let insn = decode(bytes, regs.rip)?;
    if insn.op_count() == 0 || insn.op0_kind() != OpKind::Memory {
        return Err(DecodeError::Unsupported);
    }
    let size = memory_operand_size(&insn)?;
    let mut address = memory_address(&insn, 0, regs)?;
    let mnemonic = insn.mnemonic();
    let kind = match mnemonic {
        Mnemonic::Mov => WriteKind::Store(source_value(&insn, 1, regs)?),
        Mnemonic::Xchg => WriteKind::Exchange(register_operand(&insn, 1)?),
        Mnemonic::Cmpxchg => WriteKind::CompareExchange(register_operand(&insn, 1)?),
        Mnemonic::Cmpxchg8b if insn.code() == Code::Cmpxchg8b_m64 => WriteKind::CompareExchange8b,
        m if alu_kind(m).is_some() => {
            let op = alu_kind(m).ok_or(DecodeError::Unsupported)?;
            WriteKind::Alu(op, source_value(&insn, 1, regs)? & size_mask(size))
        }
        m if bit_kind(m).is_some() => {
            let op = bit_kind(m).ok_or(DecodeError::Unsupported)?;
            let (bit, displacement) = bit_position(&insn, size, regs)?;
            address = address.wrapping_add(displacement as u64);
            WriteKind::Bit(op, bit)
        }
        _ => return Err(DecodeError::Unsupported),
    };
    if !matches!(size, 1 | 2 | 4 | 8) || address & (u64::from(size) - 1) != 0 {
        return Err(DecodeError::Unsupported);
    }
    Ok(MemoryWrite {
        kind,
        address,
        size,
        len: insn.len(),
    })
}

fn register_operand(insn: &Instruction, operand: u32) -> Result<RegOperand, DecodeError> {
    if insn.op_kind(operand) != OpKind::Register {
        return Err(DecodeError::Unsupported);
    }
    gpr_operand(insn.op_register(operand)).ok_or(DecodeError::Unsupported)
}

/// The bit within the operand and the byte displacement of the operand a bt* instruction
/// touches: an immediate bit number is taken modulo the width; a register bit number is
/// signed and selects an operand anywhere around the address (`size`-byte steps).
fn bit_position(insn: &Instruction, size: u8, regs: &GuestRegs) -> Result<(u32, i64), DecodeError> {
    let bits = u32::from(size) * 8;
    let raw = source_value(insn, 1, regs)?;
    if insn.op1_kind() != OpKind::Register {
        return Ok(((raw as u32) % bits, 0));
    }
    // Sign-extend the register's `size`-byte value.
    let shift = 64 - bits;
    let signed = ((raw << shift) as i64) >> shift;
    let bits = i64::from(bits);
    let step = signed.div_euclid(bits);
    let bit = signed.rem_euclid(bits) as u32;
    Ok((bit, step.wrapping_mul(i64::from(size))))
}

fn parity_flag(result: u64) -> u64 {
    if (result as u8).count_ones().is_multiple_of(2) {
        PF
    } else {
        0
    }
}

fn sign_bit(size: u8) -> u64 {
    1 << (u32::from(size) * 8 - 1)
}

/// ZF SF PF of `result` at width `size`.
fn result_flags(result: u64, size: u8) -> u64 {
    let r = result & size_mask(size);
    let mut f = parity_flag(r);
    if r == 0 {
        f |= ZF;
    }
    if r & sign_bit(size) != 0 {
        f |= SF;
    }
    f
}

/// Flags of `a - b` at width `size` (also what `cmp`/`cmpxchg` set).
pub fn sub_flags(a: u64, b: u64, size: u8) -> u64 {
    let m = size_mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b) & m;
    let mut f = result_flags(r, size);
    if b > a {
        f |= CF;
    }
    if (a ^ b) & (a ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    f
}

fn add_flags(a: u64, b: u64, size: u8) -> u64 {
    let m = size_mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_add(b) & m;
    let mut f = result_flags(r, size);
    if r < a {
        f |= CF;
    }
    if !(a ^ b) & (a ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    f
}

impl MemoryWrite {
    /// Executes the instruction against `old`, the current `size`-byte operand value.
    pub fn execute(&self, old: u64, regs: &GuestRegs) -> WriteResult {
        let m = size_mask(self.size);
        let old = old & m;
        let mut out = *regs;
        out.rip = regs.rip.wrapping_add(self.len as u64);
        let store = match self.kind {
            WriteKind::Store(v) => Some(v & m),
            WriteKind::Exchange(r) => {
                out.write(r, old);
                Some(regs.read(r) & m)
            }
            WriteKind::CompareExchange(r) => {
                let acc = RegOperand::sized(RAX, self.size);
                let expected = regs.read(acc);
                out.set_flags(ARITH_FLAGS, sub_flags(expected, old, self.size));
                if expected == old {
                    Some(regs.read(r) & m)
                } else {
                    out.write(acc, old);
                    None
                }
            }
            WriteKind::CompareExchange8b => {
                let expected = (regs.gpr[RDX] << 32) | (regs.gpr[RAX] & 0xFFFF_FFFF);
                if expected == old {
                    out.set_flags(ZF, ZF);
                    Some((regs.gpr[RCX] << 32) | (regs.gpr[RBX] & 0xFFFF_FFFF))
                } else {
                    out.set_flags(ZF, 0);
                    out.write(RegOperand::sized(RAX, 4), old);
                    out.write(RegOperand::sized(RDX, 4), old >> 32);
                    None
                }
            }
            WriteKind::Alu(op, src) => {
                let (r, flags) = match op {
                    LogicOp::And => (old & src, result_flags(old & src, self.size)),
                    LogicOp::Or => (old | src, result_flags(old | src, self.size)),
                    LogicOp::Xor => (old ^ src, result_flags(old ^ src, self.size)),
                    LogicOp::Add => (old.wrapping_add(src), add_flags(old, src, self.size)),
                    LogicOp::Sub => (old.wrapping_sub(src), sub_flags(old, src, self.size)),
                };
                out.set_flags(ARITH_FLAGS, flags);
                Some(r & m)
            }
            WriteKind::Bit(op, bit) => {
                let mask = 1u64 << bit;
                out.set_flags(CF, if old & mask != 0 { CF } else { 0 });
                Some(match op {
                    BitOp::Set => old | mask,
                    BitOp::Reset => old & !mask,
                    BitOp::Complement => old ^ mask,
                })
            }
        };
        WriteResult { store, regs: out }
    }

    /// Byte offset of the access inside its 8-byte entry.
    pub fn offset_in_entry(&self) -> u32 {
        (self.address & 7) as u32
    }
}

/// The `size`-byte field at byte `offset` of `entry`.
pub fn extract(entry: u64, offset: u32, size: u8) -> u64 {
    (entry >> (offset * 8)) & size_mask(size)
}

/// `entry` with the `size`-byte field at byte `offset` replaced by `value`.
pub fn merge(entry: u64, offset: u32, size: u8, value: u64) -> u64 {
    let mask = size_mask(size) << (offset * 8);
    (entry & !mask) | ((value & size_mask(size)) << (offset * 8))
}
