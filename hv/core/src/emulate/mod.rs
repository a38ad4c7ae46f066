//! Instruction emulation for PV guests, the pure half: guest instruction bytes plus register
//! state in, a decoded operation out. The platform (`hv/src/emulate.rs`) only fetches the
//! bytes, supplies and commits registers, and applies the operation.
//!
//! ```text
//!  #GP in guest kernel ─► bytes ─► privop::decode_privileged ─► PrivOp ─► control:: rules
//!  #PF write on RO PT  ─► bytes ─► ptwr::decode_memory_write ─► MemoryWrite::execute
//!                                                   └─► new entry ─► Mm::ptwr_write (mmu_update's checks)
//! ```
//! Decoding is `iced-x86` (decoder only); see [`decode`] for how hostile bytes are handled.

pub mod control;
pub mod decode;
pub mod pit;
pub mod privop;
pub mod ptwr;
pub mod regs;

#[cfg(test)]
mod tests;

pub use decode::{DecodeError, MAX_INSTRUCTION_LEN};
pub use regs::GuestRegs;
