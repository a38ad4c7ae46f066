//! Writable page tables (Xen's `ptwr`, `vm_assist(VMASST_TYPE_writable_pagetables)`), the
//! platform half: a guest-kernel write that page-faults on a read-only mapping of one of its
//! own L1 (or L2) page tables is decoded, checked with `mmu_update`'s rules and applied, and
//! the guest resumes after the instruction.
//!
//! ```text
//!  #PF (present, write, not reserved-bit, not fetch) in guest kernel mode, assist enabled,
//!  cr2 in a read-only mapping of a page table (checked before any decoding)
//!   → fetch ≤ 15 bytes at rip → decode_memory_write (mov, xchg, cmpxchg, cmpxchg8b,
//!     and/or/xor/add/sub, bts/btr/btc) → access in the cr2 page, naturally aligned
//!   → Mm::ptwr_target (read-only mapping of a live L1/L2 the domain owns)
//!   → read entry → execute → merge sub-word → Mm::ptwr_write (mod_entry) → commit registers
//!  any refusal → the original #PF goes to the guest (Xen's behaviour)
//! ```
//! One CPU and a hypervisor that is not preempted: nothing else can change the entry between
//! the read and the write, so the read-modify-write is atomic as the guest's `lock` demands.

use hv_core::emulate::ptwr::{decode_memory_write, extract, merge};
use hv_core::emulate::MAX_INSTRUCTION_LEN;
use hv_core::mm::{DomId, Mfn, Mm, PageLevel};
use hv_core::profile::Kind;
use pv_abi::xen::VMASST_TYPE_WRITABLE_PAGETABLES;

use crate::arch::cpu;
use crate::arch::entry::TrapFrame;
use crate::emulate::{commit_regs, fetch, guest_regs, Emulated};
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::memory::DirectMapMemory;

/// Page-fault error code: the page was present.
const PFEC_PRESENT: u64 = 1 << 0;
/// The access was a write.
const PFEC_WRITE: u64 = 1 << 1;
/// A reserved bit was set in a paging entry.
const PFEC_RESERVED: u64 = 1 << 3;
/// The access was an instruction fetch.
const PFEC_FETCH: u64 = 1 << 4;

/// A #PF from guest `v` at `cr2` with `error_code`: emulate it if it is a write to one of the
/// guest's read-only page tables.
pub fn page_fault(
    hv: &mut Hypervisor,
    v: VcpuRef,
    frame: &mut TrapFrame,
    cr2: u64,
    error_code: u64,
) -> Emulated {
    let wanted = PFEC_PRESENT | PFEC_WRITE;
    if error_code & (wanted | PFEC_RESERVED | PFEC_FETCH) != wanted {
        return Emulated::No;
    }
    let Some(d) = hv.domains.get(&v.0) else {
        return Emulated::No;
    };
    let vcpu = &d.vcpus[v.1];
    if d.vm_assist & (1 << VMASST_TYPE_WRITABLE_PAGETABLES) == 0 || !vcpu.kernel_mode {
        return Emulated::No;
    }
    let root = Mfn(vcpu.current_root());
    let dom = DomId(v.0);
    let start = cpu::rdtsc();
    // Only faults on a page table get the decoder.
    let Ok(page) = hv.memory.mm.ptwr_target(dom, root, cr2, &DirectMapMemory) else {
        return Emulated::No;
    };
    let mut bytes = [0u8; MAX_INSTRUCTION_LEN];
    let n = fetch(hv, v, frame.rip, &mut bytes);
    let regs = guest_regs(frame);
    let Ok(write) = decode_memory_write(&bytes[..n], &regs) else {
        return Emulated::No;
    };
    // Only the access that faulted, in the page that faulted (Xen: "naturally-aligned stores
    // within the original %cr2 page").
    if (write.address ^ cr2) & !0xFFF != 0 {
        return Emulated::No;
    }
    // Same page, same table: nothing ran in between that could change the mapping.
    let target = Mm::ptwr_retarget(page, write.address);
    let mm = &mut hv.memory.mm;
    let entry = mm.ptwr_read(target, &DirectMapMemory);
    let offset = write.offset_in_entry();
    let result = write.execute(extract(entry, offset, write.size), &regs);
    if let Some(value) = result.store {
        let new = merge(entry, offset, write.size, value);
        let applied = mm.ptwr_write(dom, target, new, &mut DirectMapMemory);
        if mm.take_flush_needed() {
            cpu::flush_tlb();
        }
        if let Err(e) = applied {
            log::debug!(
                "d{}: page-table write at {:#x} (rip {:#x}) of {new:#x} refused: {e}",
                v.0,
                write.address,
                frame.rip
            );
            return Emulated::No;
        }
    }
    commit_regs(frame, &result.regs);
    let cycles = cpu::rdtsc().wrapping_sub(start);
    hv.memory.mm.note_ptwr(dom, target.level, cycles);
    hv.prof_classify(match target.level {
        PageLevel::L1 => Kind::PtwrL1,
        _ => Kind::PtwrL2,
    });
    Emulated::Done
}
