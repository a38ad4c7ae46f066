//! Grant mapping bookkeeping: `GNTTABOP_map_grant_ref` / `unmap_grant_ref` (version 1).
//!
//! The granter's entry says who may map which frame; the hypervisor pins the grant while it
//! is mapped and mirrors the pin in the entry's flags so the granter can see it:
//!
//! ```text
//!   pins (readers, writers)   entry flags
//!   (0, 0)                    neither       <- no ActiveGrant
//!   (r>0, 0)                  GTF_reading
//!   (r, w>0)                  GTF_reading | GTF_writing
//! ```
//!
//! The first pin checks the entry (type `GTF_permit_access`, `domid` = mapper, not
//! `GTF_sub_page`) and latches its `frame`; the first writable pin also checks
//! `!GTF_readonly`. Flags are set with a bounded compare-and-exchange loop because the guest
//! writes the same word. The PTE itself is the platform's: it validates the returned frame
//! (owned by the granter), installs the mapping, and on failure undoes it with
//! `unmap_grant_ref`. Unmapping drops the whole mapping (host and device parts together).

use alloc::vec::Vec;

use pv_abi::grant_table::{
    GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP, GNTMAP_READONLY, GTF_PAT, GTF_PCD, GTF_PERMIT_ACCESS,
    GTF_PWT, GTF_READING, GTF_READONLY, GTF_SUB_PAGE, GTF_TYPE_MASK, GTF_WRITING,
};

use super::error::GnttabError;
use super::table::GrantTables;
use super::types::{join_header, split_header, GrantEntryAccess, GrantHandle, GrantRef, Mfn};
use crate::evtchn::DomId;

/// Pins of one kind (read-only or writable) a grant may hold, like Xen's 8-bit counters with
/// their overflow guard.
pub const MAX_PINS: u32 = 128;
/// Mapping handles per mapping domain.
pub const MAX_HANDLES: u32 = 1 << 18;
/// Compare-and-exchange attempts on an entry before giving up on a guest that keeps
/// changing it.
const CMPXCHG_ATTEMPTS: u32 = 5;

/// A pinned grant of the granting domain (Xen's active entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ActiveGrant {
    /// The only domain allowed to add pins while any exist.
    pub(super) mapper: DomId,
    /// The granted frame, latched at the first pin.
    pub(super) frame: u32,
    /// Read-only pins.
    pub(super) readers: u32,
    /// Writable pins.
    pub(super) writers: u32,
}

/// One mapping a domain made (Xen's maptrack entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mapping {
    pub(super) granter: DomId,
    pub(super) generation: u64,
    pub(super) gref: GrantRef,
    pub(super) flags: u32,
    pub(super) frame: u32,
}

impl Mapping {
    /// The mapping as the platform sees it, under `handle`.
    fn described(&self, handle: GrantHandle) -> UnmappedGrant {
        UnmappedGrant {
            handle,
            granter: self.granter,
            gref: self.gref,
            flags: self.flags,
            frame: u64::from(self.frame),
        }
    }
}

/// A successful `map_grant_ref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedGrant {
    /// Handle for the unmap.
    pub handle: GrantHandle,
    /// The granted frame as the granter wrote it (its MFN, for a PV granter).
    pub frame: u64,
    /// Whether the mapping must be read-only.
    pub readonly: bool,
    /// The entry's `GTF_PAT | GTF_PCD | GTF_PWT` bits, for the PTE's cache attributes.
    pub cache_flags: u16,
}

/// A mapping removed by `unmap_grant_ref` (or by destroying the mapping domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnmappedGrant {
    /// Its handle.
    pub handle: GrantHandle,
    /// The granting domain.
    pub granter: DomId,
    /// The grant reference.
    pub gref: GrantRef,
    /// The `GNTMAP_*` flags it was mapped with.
    pub flags: u32,
    /// The frame that was mapped.
    pub frame: u64,
}

impl GrantTables {
    /// `GNTTABOP_map_grant_ref`: `mapper` maps grant `gref` of `granter` with `flags`
    /// (`GNTMAP_*`). `granter` must be a real id (`DOMID_SELF` is not accepted, as in Xen).
    ///
    /// Post: one more read-only or writable pin on the grant, entry flags updated, a new
    /// handle in `mapper`'s maptrack. Errors: `BadMapFlags`, `NoSuchDomain`, `NoHandleSpace`,
    /// `BadGrantRef`, `AccessDenied`.
    pub fn map_grant_ref(
        &mut self,
        mapper: DomId,
        granter: DomId,
        gref: GrantRef,
        flags: u32,
        entries: &mut impl GrantEntryAccess,
    ) -> Result<MappedGrant, GnttabError> {
        if flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0 {
            return Err(GnttabError::BadMapFlags);
        }
        let readonly = flags & GNTMAP_READONLY != 0;
        self.table(granter)?;
        let handle = self.take_handle(mapper)?;
        self.pin_grant(mapper, granter, gref, flags, handle, entries)
            .inspect_err(|_| self.give_back_handle(mapper, handle))
            .map(|(frame, entry_flags)| MappedGrant {
                handle,
                frame: u64::from(frame),
                readonly,
                cache_flags: entry_flags & (GTF_PAT | GTF_PCD | GTF_PWT),
            })
    }

    /// The body of `map_grant_ref` once `handle` is reserved: checks and pins the grant and
    /// records the mapping. Returns the frame and the entry's flags.
    fn pin_grant(
        &mut self,
        mapper: DomId,
        granter: DomId,
        gref: GrantRef,
        flags: u32,
        handle: GrantHandle,
        entries: &mut impl GrantEntryAccess,
    ) -> Result<(u32, u16), GnttabError> {
        let readonly = flags & GNTMAP_READONLY != 0;
        let granter_table = self.table(granter)?;
        let generation = granter_table.generation;
        let (mfn, offset) = granter_table.entry_location(gref)?;
        let active = granter_table.active.get(&gref).copied();
        if let Some(a) = active {
            let count = if readonly { a.readers } else { a.writers };
            if a.mapper != mapper || count >= MAX_PINS {
                return Err(GnttabError::AccessDenied);
            }
        }
        if active.is_none_or(|a| !readonly && a.writers == 0) {
            set_status(entries, mfn, offset, active.is_none(), readonly, mapper)?;
        }
        let frame = active.map_or_else(|| entries.read_frame(mfn, offset), |a| a.frame);
        let (entry_flags, _) = split_header(entries.read_header(mfn, offset));

        let granter_table = self
            .tables
            .get_mut(&granter)
            .ok_or(GnttabError::NoSuchDomain)?;
        let pin = granter_table.active.entry(gref).or_insert(ActiveGrant {
            mapper,
            frame,
            readers: 0,
            writers: 0,
        });
        if readonly {
            pin.readers += 1;
        } else {
            pin.writers += 1;
        }
        let mapping = Mapping {
            granter,
            generation,
            gref,
            flags,
            frame,
        };
        let mapper_table = self
            .tables
            .get_mut(&mapper)
            .ok_or(GnttabError::NoSuchDomain)?;
        mapper_table.maptrack.insert(handle, mapping);
        Ok((frame, entry_flags))
    }

    /// `GNTTABOP_unmap_grant_ref`: removes mapping `handle` of `mapper`.
    ///
    /// Post: handle free; the grant loses one pin and, when the last writable (or last) pin
    /// goes, `GTF_writing` (and `GTF_reading`) are cleared. If the granter was destroyed in
    /// the meantime only the handle is dropped. Errors: `NoSuchDomain`, `BadHandle`.
    pub fn unmap_grant_ref(
        &mut self,
        mapper: DomId,
        handle: GrantHandle,
        entries: &mut impl GrantEntryAccess,
    ) -> Result<UnmappedGrant, GnttabError> {
        let mapper_table = self
            .tables
            .get_mut(&mapper)
            .ok_or(GnttabError::NoSuchDomain)?;
        let m = mapper_table
            .maptrack
            .remove(&handle)
            .ok_or(GnttabError::BadHandle)?;
        mapper_table.free_handles.push(handle);
        let readonly = m.flags & GNTMAP_READONLY != 0;
        if let Some(table) = self.tables.get_mut(&m.granter) {
            if table.generation == m.generation {
                let (frame_index, offset) = m.gref.location();
                let mfn = table.frames.get(frame_index).copied();
                if let (Some(pin), Some(mfn)) = (table.active.get_mut(&m.gref), mfn) {
                    let count = if readonly {
                        &mut pin.readers
                    } else {
                        &mut pin.writers
                    };
                    *count = count.saturating_sub(1);
                    let mut clear = 0;
                    if !readonly && pin.writers == 0 {
                        clear |= GTF_WRITING;
                    }
                    if pin.readers == 0 && pin.writers == 0 {
                        clear |= GTF_READING;
                        table.active.remove(&m.gref);
                    }
                    if clear != 0 {
                        entries.clear_flags(mfn, offset, clear);
                    }
                }
            }
        }
        Ok(m.described(handle))
    }

    /// Handles of `mapper`'s live mappings, in order.
    pub fn mapping_handles(&self, mapper: DomId) -> Result<Vec<GrantHandle>, GnttabError> {
        Ok(self.table(mapper)?.maptrack.keys().copied().collect())
    }

    /// Pins on grant `gref` of `granter` as (read-only, writable).
    pub fn pins(&self, granter: DomId, gref: GrantRef) -> Result<(u32, u32), GnttabError> {
        let table = self.table(granter)?;
        Ok(table
            .active
            .get(&gref)
            .map_or((0, 0), |a| (a.readers, a.writers)))
    }

    /// A free handle of `mapper` (the last one freed, else a new one), taken off the free
    /// list. O(1): a guest with many mappings does not slow its next map down.
    fn take_handle(&mut self, mapper: DomId) -> Result<GrantHandle, GnttabError> {
        let table = self
            .tables
            .get_mut(&mapper)
            .ok_or(GnttabError::NoSuchDomain)?;
        if table.maptrack.len() >= table.max_handles as usize {
            return Err(GnttabError::NoHandleSpace);
        }
        if let Some(h) = table.free_handles.pop() {
            return Ok(h);
        }
        let h = GrantHandle(table.next_handle);
        table.next_handle += 1;
        Ok(h)
    }

    /// Puts an unused handle back on `mapper`'s free list (a map that failed after taking it).
    fn give_back_handle(&mut self, mapper: DomId, handle: GrantHandle) {
        if let Some(table) = self.tables.get_mut(&mapper) {
            table.free_handles.push(handle);
        }
    }

    /// The mapping `handle` of `mapper`, without changing anything (for the platform to
    /// undo the PTE before `unmap_grant_ref`). Errors: `NoSuchDomain`, `BadHandle`.
    pub fn mapping(
        &self,
        mapper: DomId,
        handle: GrantHandle,
    ) -> Result<UnmappedGrant, GnttabError> {
        let m = self
            .table(mapper)?
            .maptrack
            .get(&handle)
            .ok_or(GnttabError::BadHandle)?;
        Ok(m.described(handle))
    }

    /// Test hook: lowers `mapper`'s limit on live mappings.
    #[cfg(test)]
    pub(crate) fn set_max_handles(&mut self, mapper: DomId, max: u32) {
        if let Some(t) = self.tables.get_mut(&mapper) {
            t.max_handles = max;
        }
    }
}

/// Sets `GTF_reading` (and `GTF_writing` unless `readonly`) in the entry, checking type and
/// domain on the first pin (Xen's `_set_status_v1`).
pub(super) fn set_status(
    entries: &mut impl GrantEntryAccess,
    mfn: Mfn,
    offset: usize,
    first_pin: bool,
    readonly: bool,
    mapper: DomId,
) -> Result<(), GnttabError> {
    let mut seen = entries.read_header(mfn, offset);
    for _ in 0..CMPXCHG_ATTEMPTS {
        let (flags, domid) = split_header(seen);
        let kind = flags & (GTF_TYPE_MASK | GTF_SUB_PAGE);
        if first_pin && (kind != GTF_PERMIT_ACCESS || domid != mapper.0) {
            return Err(GnttabError::AccessDenied);
        }
        let mut new = flags | GTF_READING;
        if !readonly {
            if flags & GTF_READONLY != 0 {
                return Err(GnttabError::AccessDenied);
            }
            new |= GTF_WRITING;
        }
        let found = entries.cmpxchg_header(mfn, offset, seen, join_header(new, domid));
        if found == seen {
            return Ok(());
        }
        seen = found;
    }
    Err(GnttabError::AccessDenied)
}
