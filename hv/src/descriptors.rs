//! A vCPU's descriptor tables: the GDT it installs with `set_gdt`, the LDT it installs with
//! `MMUEXT_SET_LDT`, and `update_descriptor`.
//!
//! ```text
//!  guest frames (typed SegDesc, one reference each)      the CPU (arch::gdt)
//!  GDT frames [f0, f1, ..]  --copy of `gdt_entries`-->  GDT entries 0 .. 7167
//!  LDT pages at ldt_base    --copy of `ldt_entries`-->  LDT (LDTR 0xe050, or null)
//! ```
//!
//! Typing a frame SegDesc checks and fixes up all its descriptors (`hv_core::mm`), and the
//! guest can change a typed frame only with `update_descriptor`, which checks the new value
//! and updates the running vCPU's copy. The copy is reloaded on every vCPU switch-in. The
//! references are dropped when a table is replaced (so Linux can make an old GDT frame
//! writable again) and with the domain (`Mm::destroy_domain` takes the rest).
//!
//! Unlike Xen, which maps LDT pages lazily on the first fault, `SET_LDT` takes the LDT pages
//! at once: a page that is not mapped, or cannot be typed, refuses the call.

use alloc::vec::Vec;

use hv_core::descriptor::{FIRST_RESERVED_GDT_ENTRY, MAX_LDT_ENTRIES};
use hv_core::mm::pte::is_canonical;
use hv_core::mm::{DomId, FrameMemory, Mfn, MmError};

use crate::arch::gdt;
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::memory::DirectMapMemory;

const ENTRIES_PER_FRAME: usize = 512;

/// The descriptor tables a vCPU installed.
#[derive(Default)]
pub struct DescriptorTables {
    /// GDT frames (SegDesc references held), in order.
    gdt_frames: Vec<Mfn>,
    /// Number of GDT entries (≤ `FIRST_RESERVED_GDT_ENTRY`).
    gdt_entries: u32,
    /// LDT linear base (page aligned) as the guest gave it.
    ldt_base: u64,
    /// Number of LDT entries.
    ldt_entries: u32,
    /// LDT frames (SegDesc references held), in order.
    ldt_frames: Vec<Mfn>,
}

impl DescriptorTables {
    /// Copies the tables into the CPU's GDT and LDT (the vCPU is being switched in).
    pub fn load(&self) {
        gdt::load_guest_gdt(entries(&self.gdt_frames, self.gdt_entries));
        gdt::load_ldt(entries(&self.ldt_frames, self.ldt_entries));
    }

    /// The LDT as `SET_LDT` gave it: (linear base, entries).
    pub fn ldt(&self) -> (u64, u32) {
        (self.ldt_base, self.ldt_entries)
    }
}

/// The first `n` descriptors of `frames`, read from guest memory.
fn entries(frames: &[Mfn], n: u32) -> impl Iterator<Item = u64> + '_ {
    (0..n as usize).map(move |i| {
        DirectMapMemory.read_entry(frames[i / ENTRIES_PER_FRAME], i % ENTRIES_PER_FRAME)
    })
}

/// Takes a SegDesc reference on each of `frames` for `dom`; all or none.
fn take_frames(hv: &mut Hypervisor, dom: DomId, frames: &[Mfn]) -> Result<(), MmError> {
    for (i, &mfn) in frames.iter().enumerate() {
        if let Err(e) = hv
            .memory
            .mm
            .get_seg_desc_page(dom, mfn, &mut DirectMapMemory)
        {
            put_frames(hv, &frames[..i]);
            return Err(e);
        }
    }
    Ok(())
}

fn put_frames(hv: &mut Hypervisor, frames: &[Mfn]) {
    for &mfn in frames {
        if let Err(e) = hv.memory.mm.put_seg_desc_page(mfn, &mut DirectMapMemory) {
            log::error!("descriptor frame {mfn:?}: reference already gone ({e})");
        }
    }
}

fn tables(hv: &mut Hypervisor, who: VcpuRef) -> Option<&mut DescriptorTables> {
    hv.domain(who.0)
        .and_then(|d| d.vcpus.get_mut(who.1))
        .map(|v| &mut v.descriptors)
}

/// `set_gdt(frames, entries)` for the running vCPU `who`: `frames` holds
/// ceil(`entries` / 512) machine frames. Errors (old GDT kept): `Invalid` (too many entries,
/// wrong frame count), or why a frame cannot be typed SegDesc (`BadDescriptor`,
/// `TypeConflict` for a frame still mapped writable, ...).
pub fn set_gdt(
    hv: &mut Hypervisor,
    who: VcpuRef,
    frames: &[u64],
    entries: u32,
) -> Result<(), MmError> {
    if entries > FIRST_RESERVED_GDT_ENTRY
        || frames.len() != (entries as usize).div_ceil(ENTRIES_PER_FRAME)
    {
        return Err(MmError::Invalid);
    }
    let frames: Vec<Mfn> = frames.iter().map(|&f| Mfn(f)).collect();
    take_frames(hv, DomId(who.0), &frames)?;
    let Some(t) = tables(hv, who) else {
        put_frames(hv, &frames);
        return Err(MmError::NoDomain);
    };
    let old = core::mem::replace(&mut t.gdt_frames, frames);
    t.gdt_entries = entries;
    t.load();
    put_frames(hv, &old);
    Ok(())
}

/// `MMUEXT_SET_LDT(base, entries)` for the running vCPU `who`, whose current address space
/// maps the LDT at `base`. Errors (old LDT kept): `Invalid` (misaligned or non-canonical
/// base, too many entries), `NotMapped`, or why a page cannot be typed SegDesc.
pub fn set_ldt(hv: &mut Hypervisor, who: VcpuRef, base: u64, entries: u32) -> Result<(), MmError> {
    let base = if entries == 0 { 0 } else { base };
    if base & 0xFFF != 0 || !is_canonical(base) || entries > MAX_LDT_ENTRIES {
        return Err(MmError::Invalid);
    }
    let Some(root) = hv
        .domains
        .get(&who.0)
        .and_then(|d| d.vcpus.get(who.1))
        .map(|v| v.current_root())
    else {
        return Err(MmError::NoDomain);
    };
    if tables(hv, who).is_some_and(|t| t.ldt() == (base, entries)) {
        return Ok(());
    }
    let pages = (entries as usize * 8).div_ceil(4096);
    let mut frames = Vec::with_capacity(pages);
    for i in 0..pages as u64 {
        let va = base.checked_add(i * 4096).ok_or(MmError::Invalid)?;
        let ma = hv
            .memory
            .mm
            .translate(Mfn(root), va, false, &DirectMapMemory)?;
        frames.push(Mfn(ma >> 12));
    }
    take_frames(hv, DomId(who.0), &frames)?;
    let Some(t) = tables(hv, who) else {
        put_frames(hv, &frames);
        return Err(MmError::NoDomain);
    };
    let old = core::mem::replace(&mut t.ldt_frames, frames);
    (t.ldt_base, t.ldt_entries) = (base, entries);
    t.load();
    put_frames(hv, &old);
    Ok(())
}

/// `update_descriptor(maddr, desc)` from the running vCPU `who`: checks and stores the
/// descriptor, and updates the CPU's copy if the frame is in `who`'s GDT or LDT.
pub fn update_descriptor(
    hv: &mut Hypervisor,
    who: VcpuRef,
    maddr: u64,
    desc: u64,
) -> Result<(), MmError> {
    let stored = hv
        .memory
        .mm
        .update_descriptor(DomId(who.0), maddr, desc, &mut DirectMapMemory)?;
    let mfn = Mfn(maddr >> 12);
    let slot = ((maddr & 0xFFF) / 8) as usize;
    if let Some(t) = tables(hv, who) {
        for (i, _) in t.gdt_frames.iter().enumerate().filter(|(_, &f)| f == mfn) {
            gdt::set_guest_gdt_entry(i * ENTRIES_PER_FRAME + slot, stored);
        }
        for (i, _) in t.ldt_frames.iter().enumerate().filter(|(_, &f)| f == mfn) {
            gdt::set_ldt_entry(i * ENTRIES_PER_FRAME + slot, stored);
        }
    }
    Ok(())
}
