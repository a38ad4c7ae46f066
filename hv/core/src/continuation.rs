//! Hypercall continuations: how a long batch is cut short and re-issued, encoded exactly as
//! Xen's `hypercall_create_continuation` callers encode it, so Linux and Mini-OS see Xen's
//! behaviour.
//!
//! A preempted call does not return to the guest: its argument registers are rewritten and
//! its `rip` moved back onto the `syscall` instruction, so the guest re-issues the same
//! hypercall with the remaining work when it next runs (after the scheduler or an event
//! upcall had its turn). What each call encodes:
//!
//! ```text
//!   mmu_update / mmuext_op (list, count, pdone, foreigndom)
//!       → (list + i·size, (count − i) | MMU_UPDATE_PREEMPTED, pdone, foreigndom)
//!       *pdone = done so far (read back on entry when the flag is set, added to at the end)
//!   multicall (list, nr)            → (list + i·32, nr − i); an entry whose own call was
//!       preempted gets that call's continuation arguments written into it and is re-run
//!   memory_op (cmd | start << MEMOP_EXTENT_SHIFT, arg), reservations
//!       → (cmd | done << MEMOP_EXTENT_SHIFT, arg); the final result is the total done
//!   memory_op (XENMEM_exchange, arg) → the same, progress in the struct's `nr_exchanged`
//! ```
//! `i` is at least 1 in every continuation: each invocation makes progress, so a guest
//! cannot be starved by its own preemption. Preemption is checked before each item after
//! the first (Xen's `i && hypercall_preempt_check()`).

use pv_abi::memory::{MEMOP_CMD_MASK, MEMOP_EXTENT_SHIFT};
use pv_abi::xen::MMU_UPDATE_PREEMPTED;

/// Size of one `multicall_entry` (op, result, 6 args).
pub const MULTICALL_ENTRY_SIZE: u64 = 64;

/// The batch arguments of `mmu_update` / `mmuext_op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuBatch {
    /// Guest VA of the first item still to do.
    pub list: u64,
    /// Items still to do.
    pub count: u32,
    /// Whether this is a continuation: the guest's `*pdone` holds the items done before.
    pub resumed: bool,
    /// The guest's `pdone` pointer (0 = none).
    pub done_ptr: u64,
    /// The `foreigndom` argument, passed on unchanged.
    pub foreigndom: u64,
}

impl MmuBatch {
    /// Decodes the argument registers (`count` is a 32-bit `unsigned int` in Xen).
    pub fn from_args(args: [u64; 5]) -> MmuBatch {
        let count = args[1] as u32;
        MmuBatch {
            list: args[0],
            count: count & !MMU_UPDATE_PREEMPTED,
            resumed: count & MMU_UPDATE_PREEMPTED != 0,
            done_ptr: args[2],
            foreigndom: args[3],
        }
    }

    /// The arguments to re-issue the call with after `i` items of `size` bytes are done.
    /// Pre: `0 < i < count`.
    pub fn continuation(&self, i: u32, size: u64) -> [u64; 5] {
        debug_assert!(i > 0 && i < self.count);
        [
            self.list.wrapping_add(u64::from(i) * size),
            u64::from(self.count.saturating_sub(i) | MMU_UPDATE_PREEMPTED),
            self.done_ptr,
            self.foreigndom,
            0,
        ]
    }
}

/// The arguments of `multicall(list, nr)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulticallBatch {
    /// Guest VA of the first entry still to run.
    pub list: u64,
    /// Entries still to run (`uint32_t nr_calls`).
    pub count: u32,
}

impl MulticallBatch {
    /// Decodes the argument registers.
    pub fn from_args(args: [u64; 5]) -> MulticallBatch {
        MulticallBatch {
            list: args[0],
            count: args[1] as u32,
        }
    }

    /// The arguments to re-issue the multicall with, starting at entry `i` (the entries
    /// before it are done; entry `i` may itself be a preempted call, rewritten in place).
    /// Pre: `i < count`.
    pub fn continuation(&self, i: u32) -> [u64; 5] {
        [
            self.list.wrapping_add(u64::from(i) * MULTICALL_ENTRY_SIZE),
            u64::from(self.count.saturating_sub(i)),
            0,
            0,
            0,
        ]
    }
}

/// The `cmd` argument of `memory_op`: sub-operation and the extent to start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryOpCmd {
    /// `XENMEM_*`.
    pub op: u32,
    /// Extents already done by earlier invocations.
    pub start_extent: u64,
}

impl MemoryOpCmd {
    /// Decodes `cmd`.
    pub fn from_cmd(cmd: u64) -> MemoryOpCmd {
        MemoryOpCmd {
            op: (cmd & MEMOP_CMD_MASK) as u32,
            start_extent: cmd >> MEMOP_EXTENT_SHIFT,
        }
    }

    /// The arguments to re-issue a reservation with after `done` extents in total (its
    /// `arg` unchanged). Pre: `done` fits in the bits above the sub-operation.
    pub fn continuation(&self, done: u64, arg: u64) -> [u64; 5] {
        debug_assert!(done < 1 << (64 - MEMOP_EXTENT_SHIFT));
        [
            u64::from(self.op) | (done << MEMOP_EXTENT_SHIFT),
            arg,
            0,
            0,
            0,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_abi::memory::{XENMEM_EXCHANGE, XENMEM_POPULATE_PHYSMAP};

    #[test]
    fn mmu_batches_encode_the_rest_with_the_preempted_flag() {
        let b = MmuBatch::from_args([0x1000, 100, 0x2000, 0x7FF0, 0]);
        assert_eq!((b.count, b.resumed), (100, false));
        let args = b.continuation(30, 16);
        assert_eq!(
            args,
            [0x1000 + 30 * 16, 70 | 0x8000_0000, 0x2000, 0x7FF0, 0]
        );
        let again = MmuBatch::from_args(args);
        assert_eq!(
            again,
            MmuBatch {
                list: 0x1000 + 480,
                count: 70,
                resumed: true,
                done_ptr: 0x2000,
                foreigndom: 0x7FF0
            }
        );
        // Only the low 32 bits are the count (Xen's `unsigned int`).
        let high = MmuBatch::from_args([0, (1 << 32) | 5, 0, 0, 0]);
        assert_eq!((high.count, high.resumed), (5, false));
        // A continuation of a continuation keeps the flag once.
        assert_eq!(again.continuation(1, 16)[1], 69 | 0x8000_0000);
    }

    #[test]
    fn multicalls_restart_at_the_entry_not_done() {
        let b = MulticallBatch::from_args([0x4000, 10, 99, 99, 99]);
        assert_eq!(b.continuation(3), [0x4000 + 3 * 64, 7, 0, 0, 0]);
        assert_eq!(
            MulticallBatch::from_args(b.continuation(3)).continuation(7),
            [0x4000 + 10 * 64, 0, 0, 0, 0]
        );
    }

    #[test]
    fn memory_op_carries_the_extents_done_above_the_command() {
        let c = MemoryOpCmd::from_cmd(u64::from(XENMEM_POPULATE_PHYSMAP));
        assert_eq!(c.start_extent, 0);
        let args = c.continuation(1234, 0x5000);
        assert_eq!(args[0], u64::from(XENMEM_POPULATE_PHYSMAP) | (1234 << 6));
        assert_eq!(args[1], 0x5000);
        let d = MemoryOpCmd::from_cmd(args[0]);
        assert_eq!((d.op, d.start_extent), (XENMEM_POPULATE_PHYSMAP, 1234));
        let x = MemoryOpCmd::from_cmd(u64::from(XENMEM_EXCHANGE));
        assert_eq!(x.continuation(0, 7)[0], u64::from(XENMEM_EXCHANGE));
    }
}
