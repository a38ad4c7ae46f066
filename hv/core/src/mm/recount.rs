//! Recomputes every reference count from first principles, for [`Mm::check_invariants`]:
//! allocation references, hypervisor frames, base pointers, descriptor-page references, the
//! hypervisor's held frames, pins
//! and the present entries of every live page table. Also checks, entry by entry, the rules
//! each live entry must satisfy (flags, adjustment, ownership, superpage rules).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::frame::PageType;
use super::memory::FrameMemory;
use super::pte::{adjust, disallow_mask, entry_mfn, is_present, HYPERVISOR_L4_FIRST, PSE, RW};
use super::types::{DomId, Mfn, PageLevel, ENTRIES_PER_TABLE, SUPERPAGE_ORDER};
use super::validate::is_guest_slot;
use super::Mm;

/// Expected counts, indexed by frame number (or extent for `map`/`superpage`).
pub(crate) struct Recount {
    pub general: Vec<u64>,
    pub types: Vec<u64>,
    pub required: Vec<Option<PageType>>,
    pub linear_entries: Vec<i64>,
    pub linear_uses: Vec<i64>,
    pub allocated_to: Vec<Option<DomId>>,
    pub xen_heap: Vec<bool>,
    pub map: Vec<u64>,
    pub superpage: Vec<u64>,
    /// Per extent: Nosuper references of the hypervisor's held frames inside it.
    pub held: Vec<u64>,
}

/// `usize` index of a frame number already known to be below `max_mfn`.
pub(crate) fn ix(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Recount {
    /// Records one type reference on `mfn` that requires type `ty`.
    fn require(&mut self, mfn: Mfn, ty: PageType) -> Result<(), String> {
        let i = ix(mfn.0);
        self.types[i] += 1;
        match self.required[i] {
            Some(seen) if seen != ty => Err(format!(
                "{mfn:?}: references require both {seen:?} and {ty:?}"
            )),
            _ => {
                self.required[i] = Some(ty);
                Ok(())
            }
        }
    }
}

impl Mm<'_> {
    /// Builds the expected counts; `Err` describes the first rule a live entry breaks.
    pub(crate) fn recount<M: FrameMemory>(&self, mem: &M) -> Result<Recount, String> {
        let frames = ix(self.config.max_mfn);
        let extents = ix(self.config.spage_entries());
        let mut r = Recount {
            general: vec![0; frames],
            types: vec![0; frames],
            required: vec![None; frames],
            linear_entries: vec![0; frames],
            linear_uses: vec![0; frames],
            allocated_to: vec![None; frames],
            xen_heap: vec![false; frames],
            map: vec![0; extents],
            superpage: vec![0; extents],
            held: vec![0; extents],
        };
        for (&dom, d) in &self.domains {
            let xen = d.xen_frames.iter().map(|&m| Mfn(m));
            for mfn in d.extents.frames().chain(xen) {
                let i = ix(mfn.0);
                if mfn.0 >= self.config.max_mfn || r.allocated_to[i].is_some() {
                    return Err(format!("{mfn:?} recorded twice or out of range"));
                }
                r.allocated_to[i] = Some(dom);
                r.general[i] += 1;
            }
            for &mfn in &d.xen_frames {
                r.xen_heap[ix(mfn)] = true;
                r.require(Mfn(mfn), PageType::Writable)?;
            }
            for base in d.vcpus.values().flat_map(|v| [v.kernel, v.user]).flatten() {
                self.frame(base)
                    .map_err(|_| format!("base {base:?} out of range"))?;
                r.general[ix(base.0)] += 1;
                r.require(base, PageType::L4)?;
            }
            for (&mfn, &n) in &d.seg_desc_refs {
                self.frame(Mfn(mfn))
                    .map_err(|_| format!("descriptor {mfn:#x} out of range"))?;
                r.general[ix(mfn)] += n;
                r.require(Mfn(mfn), PageType::SegDesc)?;
                r.types[ix(mfn)] += n.saturating_sub(1);
            }
            for (&mfn, &n) in &d.held {
                let f = self
                    .frame(Mfn(mfn))
                    .map_err(|_| format!("held {mfn:#x} out of range"))?;
                if f.owner() != Some(dom) || !f.is_allocated() || n == 0 {
                    return Err(format!("{dom:?} holds {mfn:#x}, owned by {:?}", f.owner()));
                }
                r.general[ix(mfn)] += n;
                r.require(Mfn(mfn), PageType::Writable)?;
                r.types[ix(mfn)] += n - 1;
                r.held[ix(Mfn(mfn).extent())] += n;
            }
            for &mfn in &d.pseudo_pins {
                // One general reference each, never a type; never also a real pin.
                let f = self
                    .frame(Mfn(mfn))
                    .map_err(|_| format!("pseudo-pin {mfn:#x} out of range"))?;
                if f.owner() != Some(dom) || f.is_pinned() {
                    return Err(format!("{dom:?} pseudo-pins {mfn:#x}: {f:?}"));
                }
                r.general[ix(mfn)] += 1;
            }
        }
        for (i, f) in self.frames.iter().take(frames).enumerate() {
            let mfn = Mfn(i as u64);
            if f.is_pinned() {
                r.general[i] += 1;
                let level = f.page_type().level();
                let ty = level.ok_or_else(|| format!("{mfn:?} pinned but not a table"))?;
                r.require(mfn, ty.into())?;
            }
            if let (Some(level), true) = (f.page_type().level(), f.type_count() > 0) {
                if !f.is_validated() {
                    return Err(format!("{mfn:?} typed {level:?} but not validated"));
                }
                let owner = f
                    .owner()
                    .ok_or_else(|| format!("{mfn:?} table without owner"))?;
                for slot in 0..ENTRIES_PER_TABLE {
                    let entry = mem.read_entry(mfn, slot);
                    self.recount_entry(&mut r, owner, mfn, level, slot, entry)
                        .map_err(|e| format!("{mfn:?} {level:?}[{slot}] = {entry:#x}: {e}"))?;
                }
            }
        }
        Ok(r)
    }

    /// Accounts one entry of live table `table` (of `level`, owned by `owner`).
    fn recount_entry(
        &self,
        r: &mut Recount,
        owner: DomId,
        table: Mfn,
        level: PageLevel,
        slot: usize,
        entry: u64,
    ) -> Result<(), String> {
        if !is_guest_slot(level, slot) {
            let expected = self.config.hypervisor_l4_slots[slot - HYPERVISOR_L4_FIRST];
            return match entry == expected {
                true => Ok(()),
                false => Err(String::from("hypervisor slot overwritten")),
            };
        }
        if !is_present(entry) {
            return Ok(());
        }
        let config = self.domains.get(&owner).ok_or("owner unknown")?.config;
        if entry & disallow_mask(level, config.allow_superpages, config.privileged) != 0 {
            return Err(String::from("disallowed flags"));
        }
        if adjust(level, entry) != entry {
            return Err(String::from("entry not adjusted"));
        }
        let target = entry_mfn(entry);
        let tf = self.frame(target).map_err(|_| "target beyond max_mfn")?;
        if tf.owner() != Some(owner) || !tf.is_allocated() {
            return Err(format!("reaches {target:?} owned by {:?}", tf.owner()));
        }
        let t = ix(target.0);
        match level {
            PageLevel::L1 => {
                r.general[t] += 1;
                if entry & RW != 0 {
                    r.require(target, PageType::Writable)?;
                }
            }
            PageLevel::L2 if entry & PSE != 0 => {
                let extent = target.extent();
                let spage = self.spage_info(extent).ok_or("extent out of range")?;
                if !target.is_aligned(SUPERPAGE_ORDER) || !spage.is_enabled() {
                    return Err(String::from("PSE over a misaligned or non-enabled extent"));
                }
                r.map[ix(extent)] += 1;
                if entry & RW != 0 {
                    r.superpage[ix(extent)] += 1;
                }
            }
            _ if target == table => {
                if entry & RW != 0 {
                    return Err(String::from("writable self-map"));
                }
            }
            _ => {
                r.general[t] += 1;
                if tf.type_count() > 0 && tf.page_type() == PageType::from(level) {
                    if entry & RW != 0 {
                        return Err(String::from("writable linear entry"));
                    }
                    r.linear_entries[ix(table.0)] += 1;
                    r.linear_uses[t] += 1;
                    r.require(target, level.into())?;
                } else {
                    let child = level.child().ok_or("no child level")?;
                    r.require(target, child.into())?;
                }
            }
        }
        Ok(())
    }
}
