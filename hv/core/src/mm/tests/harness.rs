//! Test fixture: a small machine (8 extents = 4096 frames) with two domains and helpers to
//! build page-table hierarchies.
//!
//! ```text
//!  extent 0 (frames    0..512): order-0 frames: D1 gets 16..48, D2 gets 64..80
//!  extent 1 (frames  512..1024): D1, one order-9 allocation (enabled)
//!  extent 2 (frames 1024..1536): D2, one order-9 allocation (enabled)
//!  extents 3..8: free
//! ```

use alloc::boxed::Box;
use alloc::vec;

use crate::mm::pte::{ACCESSED, USER};
use crate::mm::testkit::VecMemory;
use crate::mm::*;

pub const MAX_MFN: u64 = 8 * 512;
pub const D1: DomId = DomId(1);
pub const D2: DomId = DomId(2);
pub const P: u64 = PRESENT;
pub const PW: u64 = PRESENT | RW;
/// D1's enabled superpage extent.
pub const D1_SUPER: u64 = 512;
/// D2's enabled superpage extent.
pub const D2_SUPER: u64 = 1024;

/// An entry pointing at `mfn` with `flags`.
pub fn pte(mfn: u64, flags: u64) -> u64 {
    (mfn << 12) | flags
}

/// The hypervisor L4 slot values used by tests (recognisable, distinct).
pub fn hypervisor_slots() -> [u64; 16] {
    core::array::from_fn(|i| 0xABCD_0000_0000_0000 | ((i as u64) << 12) | 0x63)
}

pub fn config(allow_superpages: bool) -> DomainConfig {
    DomainConfig {
        allow_superpages,
        max_pages: 4096,
        privileged: false,
    }
}

/// A memory manager over leaked storage (tests only) plus frame contents.
pub struct World {
    pub mm: Mm<'static>,
    pub mem: VecMemory,
}

impl World {
    /// An empty machine with no domains.
    pub fn empty() -> World {
        World::sized(MAX_MFN)
    }

    /// An empty machine of `max_mfn` frames.
    pub fn sized(max_mfn: u64) -> World {
        let cfg = MmConfig {
            max_mfn,
            hypervisor_l4_slots: hypervisor_slots(),
        };
        let frames = Box::leak(vec![FrameInfo::FREE; max_mfn as usize].into_boxed_slice());
        let spages =
            Box::leak(vec![SpageInfo::FREE; cfg.spage_entries() as usize].into_boxed_slice());
        World {
            mm: Mm::new(cfg, frames, spages).unwrap(),
            mem: VecMemory::new(),
        }
    }

    /// The standard layout (module doc); D1 allows superpages, D2 does not.
    pub fn new() -> World {
        let mut w = World::empty();
        w.mm.create_domain(D1, config(true)).unwrap();
        w.mm.create_domain(D2, config(false)).unwrap();
        for m in 16..48 {
            w.mm.assign(D1, Mfn(m), 0).unwrap();
        }
        for m in 64..80 {
            w.mm.assign(D2, Mfn(m), 0).unwrap();
        }
        w.mm.assign(D1, Mfn(D1_SUPER), 9).unwrap();
        w.mm.assign(D2, Mfn(D2_SUPER), 9).unwrap();
        w.mm.take_flush_needed();
        w.check();
        w
    }

    /// Asserts every invariant.
    #[track_caller]
    pub fn check(&self) {
        if let Err(e) = self.mm.check_invariants(&self.mem) {
            panic!("invariant violated: {e}");
        }
    }

    /// A guest store through its own writable mapping (no hypervisor check involved).
    pub fn poke(&mut self, mfn: u64, slot: usize, value: u64) {
        self.mem.write_entry(Mfn(mfn), slot, value);
    }

    pub fn peek(&self, mfn: u64, slot: usize) -> u64 {
        self.mem.read_entry(Mfn(mfn), slot)
    }

    /// `mmu_update` of slot `slot` of frame `table`.
    pub fn update(&mut self, dom: DomId, table: u64, slot: usize, val: u64) -> Result<(), MmError> {
        let maddr = (table << 12) + (slot as u64) * 8;
        self.mm.mmu_update(dom, maddr, val, false, &mut self.mem)
    }

    pub fn pin(&mut self, dom: DomId, mfn: u64, level: PageLevel) -> Result<(), MmError> {
        self.mm.pin(dom, Mfn(mfn), level, &mut self.mem)
    }

    pub fn unpin(&mut self, dom: DomId, mfn: u64) -> Result<(), MmError> {
        self.mm.unpin(dom, Mfn(mfn), &mut self.mem)
    }

    pub fn frame(&self, mfn: u64) -> FrameInfo {
        self.mm.frame_info(Mfn(mfn)).unwrap()
    }

    pub fn spage(&self, mfn: u64) -> SpageInfo {
        self.mm.spage_info(mfn >> 9).unwrap()
    }

    /// Writes (raw) a chain L4[l4s] → L3[l3s] → L2[l2s] → L1 into untyped frames, all
    /// present, writable, kernel (no USER: adjusted by validation). Does not validate.
    pub fn chain(&mut self, l4: u64, l3: u64, l2: u64, l1: u64, va: u64) {
        self.poke(l4, slot(va, 39), pte(l3, PW));
        self.poke(l3, slot(va, 30), pte(l2, PW));
        self.poke(l2, slot(va, 21), pte(l1, PW));
    }
}

/// Index of `va` at the level whose shift is `shift`.
pub fn slot(va: u64, shift: u32) -> usize {
    ((va >> shift) & 0x1FF) as usize
}

/// The flags validation adds to a present kernel L2/L3 entry, and to an L4 entry.
pub const PDE_ADJ: u64 = USER;
pub const L4_ADJ: u64 = USER | ACCESSED;
