//! The guest registers an emulated instruction reads and writes, and x86's rules for writing
//! a sub-register (8/16-bit writes merge, 32-bit writes zero-extend, AH..BH are bits 8..=15).
//!
//! ```text
//!   gpr index: 0 rax  1 rcx  2 rdx  3 rbx  4 rsp  5 rbp  6 rsi  7 rdi  8..=15 r8..r15
//! ```

/// Arithmetic flags an emulated instruction may change (CF PF AF ZF SF OF).
pub const ARITH_FLAGS: u64 = CF | PF | AF | ZF | SF | OF;
/// Carry flag.
pub const CF: u64 = 1 << 0;
/// Parity flag.
pub const PF: u64 = 1 << 2;
/// Auxiliary-carry flag.
pub const AF: u64 = 1 << 4;
/// Zero flag.
pub const ZF: u64 = 1 << 6;
/// Sign flag.
pub const SF: u64 = 1 << 7;
/// Overflow flag.
pub const OF: u64 = 1 << 11;

/// General-purpose registers (index order as in the instruction encoding), rip and rflags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestRegs {
    /// rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15.
    pub gpr: [u64; 16],
    /// Instruction pointer.
    pub rip: u64,
    /// Flags.
    pub rflags: u64,
    /// FS base (for `%fs:` operands).
    pub fs_base: u64,
    /// GS base (for `%gs:` operands).
    pub gs_base: u64,
}

/// Index of rax in [`GuestRegs::gpr`].
pub const RAX: usize = 0;
/// Index of rcx.
pub const RCX: usize = 1;
/// Index of rdx.
pub const RDX: usize = 2;
/// Index of rbx.
pub const RBX: usize = 3;
/// Index of rsi.
pub const RSI: usize = 6;
/// Index of rdi.
pub const RDI: usize = 7;

/// A register operand: which register, how wide, and whether it is AH/CH/DH/BH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegOperand {
    /// 0..=15, see [`GuestRegs::gpr`].
    pub index: usize,
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    /// AH, CH, DH or BH (bits 8..=15 of registers 0..=3).
    pub high_byte: bool,
}

impl RegOperand {
    /// The full 64-bit register `index`.
    pub fn full(index: usize) -> Self {
        RegOperand {
            index: index & 15,
            size: 8,
            high_byte: false,
        }
    }

    /// `index` at `size` bytes (the low part; never AH..BH).
    pub fn sized(index: usize, size: u8) -> Self {
        RegOperand {
            index: index & 15,
            size,
            high_byte: false,
        }
    }
}

/// All ones in the low `size` bytes (`size` ≥ 8 gives all 64 bits).
pub fn size_mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (u32::from(size) * 8)) - 1
    }
}

impl GuestRegs {
    /// Reads `op` (zero-extended).
    pub fn read(&self, op: RegOperand) -> u64 {
        let full = self.gpr[op.index & 15];
        if op.high_byte {
            (full >> 8) & 0xFF
        } else {
            full & size_mask(op.size)
        }
    }

    /// Writes `value` to `op`: 8- and 16-bit writes keep the rest of the register, a 32-bit
    /// write clears bits 32..=63, a 64-bit write replaces it.
    pub fn write(&mut self, op: RegOperand, value: u64) {
        let slot = &mut self.gpr[op.index & 15];
        *slot = match (op.size, op.high_byte) {
            (_, true) => (*slot & !0xFF00) | ((value & 0xFF) << 8),
            (1 | 2, false) => (*slot & !size_mask(op.size)) | (value & size_mask(op.size)),
            (4, false) => value & 0xFFFF_FFFF,
            _ => value,
        };
    }

    /// Replaces the flags in `mask` with those in `bits`.
    pub fn set_flags(&mut self, mask: u64, bits: u64) {
        self.rflags = (self.rflags & !mask) | (bits & mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_register_writes_follow_x86_rules() {
        let mut r = GuestRegs::default();
        r.gpr[RAX] = 0x1111_2222_3333_4444;
        r.write(RegOperand::sized(RAX, 1), 0xAB);
        assert_eq!(r.gpr[RAX], 0x1111_2222_3333_44AB);
        r.write(RegOperand::sized(RAX, 2), 0xCDEF);
        assert_eq!(r.gpr[RAX], 0x1111_2222_3333_CDEF);
        r.write(
            RegOperand {
                index: RAX,
                size: 1,
                high_byte: true,
            },
            0x77,
        );
        assert_eq!(r.gpr[RAX], 0x1111_2222_3333_77EF);
        r.write(RegOperand::sized(RAX, 4), 0xFFFF_FFFF_1234_5678);
        assert_eq!(r.gpr[RAX], 0x1234_5678);
        r.write(RegOperand::full(RAX), u64::MAX);
        assert_eq!(r.read(RegOperand::sized(RAX, 2)), 0xFFFF);
    }
}
