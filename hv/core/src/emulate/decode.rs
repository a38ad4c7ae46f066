//! One x86-64 instruction from guest bytes, through the `iced-x86` decoder (decoder only,
//! `no_std`, no VEX/EVEX/XOP/3DNow! tables): the shared front end of privileged-instruction
//! and page-table-write emulation.
//!
//! The guest controls every byte. `iced-x86` applies the hardware's rules: at most 15 bytes
//! (longer prefix runs are invalid), the last of several segment or size prefixes wins, REX
//! only counts right before the opcode. Anything it cannot decode fully is an error here, and
//! the caller delivers the guest's original fault.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction, MemorySize, OpKind, Register};

use super::regs::{GuestRegs, RegOperand};

/// The longest x86 instruction.
pub const MAX_INSTRUCTION_LEN: usize = 15;

/// Why the bytes do not give an instruction the emulator handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside the instruction (the rest could not be fetched).
    Truncated,
    /// Not a valid instruction (including one longer than 15 bytes).
    Invalid,
    /// A valid instruction this emulator does not handle (or an operand form it refuses).
    Unsupported,
}

/// Decodes the instruction at the start of `bytes`, located at `rip`, in 64-bit mode.
pub(crate) fn decode(bytes: &[u8], rip: u64) -> Result<Instruction, DecodeError> {
    let bytes = &bytes[..bytes.len().min(MAX_INSTRUCTION_LEN)];
    let mut decoder = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE);
    let insn = decoder.decode();
    if insn.is_invalid() {
        return Err(match decoder.last_error() {
            DecoderError::NoMoreBytes => DecodeError::Truncated,
            _ => DecodeError::Invalid,
        });
    }
    Ok(insn)
}

/// The general-purpose register `r` as an operand; `None` for any other register.
///
/// `iced-x86` numbers the GPRs in encoding order within each width: AL CL DL BL AH CH DH BH
/// SPL BPL SIL DIL R8L..R15L, then AX..R15W, EAX..R15D, RAX..R15.
pub(crate) fn gpr_operand(r: Register) -> Option<RegOperand> {
    let n = r as usize;
    let at = |first: Register| n.checked_sub(first as usize).filter(|&i| i < 16);
    if let Some(i) = at(Register::RAX) {
        return Some(RegOperand::sized(i, 8));
    }
    if let Some(i) = at(Register::EAX) {
        return Some(RegOperand::sized(i, 4));
    }
    if let Some(i) = at(Register::AX) {
        return Some(RegOperand::sized(i, 2));
    }
    let i = n.checked_sub(Register::AL as usize).filter(|&i| i < 20)?;
    Some(match i {
        0..=3 => RegOperand::sized(i, 1),
        4..=7 => RegOperand {
            index: i - 4,
            size: 1,
            high_byte: true,
        },
        _ => RegOperand::sized(i - 4, 1),
    })
}

/// The width in bytes of the memory operand of `insn`, for the plain integer widths only.
pub(crate) fn memory_operand_size(insn: &Instruction) -> Result<u8, DecodeError> {
    match insn.memory_size() {
        MemorySize::UInt8 | MemorySize::Int8 => Ok(1),
        MemorySize::UInt16 | MemorySize::Int16 => Ok(2),
        MemorySize::UInt32 | MemorySize::Int32 => Ok(4),
        MemorySize::UInt64 | MemorySize::Int64 => Ok(8),
        _ => Err(DecodeError::Unsupported),
    }
}

/// The value of register `r` for an address computation (only GPRs and segment registers;
/// in 64-bit mode only FS and GS have a base).
fn address_register(regs: &GuestRegs, r: Register) -> Option<u64> {
    match r {
        Register::ES | Register::CS | Register::SS | Register::DS => Some(0),
        Register::FS => Some(regs.fs_base),
        Register::GS => Some(regs.gs_base),
        _ => gpr_operand(r).map(|op| regs.read(op)),
    }
}

/// The linear address of memory operand `operand` of `insn` (segment base included, 32-bit
/// address size truncated as the CPU does). `Unsupported` for string, vector-index or other
/// forms that name registers we do not model.
pub(crate) fn memory_address(
    insn: &Instruction,
    operand: u32,
    regs: &GuestRegs,
) -> Result<u64, DecodeError> {
    if insn.op_kind(operand) != OpKind::Memory {
        return Err(DecodeError::Unsupported);
    }
    memory_address_of(insn, operand, regs)
}

/// The linear address of any memory operand form (including the string forms es:rdi and
/// seg:rsi), computed by `iced-x86` from our registers.
pub(crate) fn memory_address_of(
    insn: &Instruction,
    operand: u32,
    regs: &GuestRegs,
) -> Result<u64, DecodeError> {
    insn.virtual_address(operand, 0, |r, _, _| address_register(regs, r))
        .ok_or(DecodeError::Unsupported)
}

/// The value of source operand `operand`: a GPR (zero-extended) or an immediate (sign-extended
/// to 64 bits as the instruction defines). `Unsupported` otherwise.
pub(crate) fn source_value(
    insn: &Instruction,
    operand: u32,
    regs: &GuestRegs,
) -> Result<u64, DecodeError> {
    match insn.op_kind(operand) {
        OpKind::Register => gpr_operand(insn.op_register(operand))
            .map(|op| regs.read(op))
            .ok_or(DecodeError::Unsupported),
        OpKind::Immediate8
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate64
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32to64 => Ok(insn.immediate(operand)),
        _ => Err(DecodeError::Unsupported),
    }
}
