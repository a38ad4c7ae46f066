//! Every domain's grant table: its frames, limits and version, plus the domain lifecycle.
//!
//! ```text
//!   create_domain:  1 frame (Xen's INITIAL_NR_GRANT_FRAMES), max_frames as configured
//!   setup_table(n): frames grow to max(current, n), never shrink; n > max is refused
//!   destroy_domain: the frames go back to the platform; mappings the domain held are released
//! ```

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::error::GnttabError;
use super::map::{ActiveGrant, Mapping, UnmappedGrant};
use super::types::{GrantEntryAccess, GrantFrameAllocator, GrantHandle, GrantRef, Mfn};
use crate::evtchn::DomId;

/// Frames a table starts with (`INITIAL_NR_GRANT_FRAMES` on x86).
pub const INITIAL_NR_GRANT_FRAMES: u32 = 1;
/// Xen's default maximum table size (`gnttab_max_frames`), in frames.
pub const DEFAULT_MAX_GRANT_FRAMES: u32 = 64;
/// Upper bound accepted for a domain's maximum (keeps `frames × 512` refs within `u32`).
pub const MAX_GRANT_FRAMES_LIMIT: u32 = 4096;

/// The answer to `GNTTABOP_query_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuerySize {
    /// Frames in the table now.
    pub nr_frames: u32,
    /// Frames it may grow to.
    pub max_nr_frames: u32,
}

/// One domain's grant table and the grant mappings it holds of other domains' grants.
#[derive(Clone, Debug)]
pub(super) struct GrantTable {
    /// Distinguishes this table from earlier ones of the same domain id.
    pub(super) generation: u64,
    pub(super) frames: Vec<Mfn>,
    pub(super) max_frames: u32,
    /// Pins on this domain's grants, by reference.
    pub(super) active: BTreeMap<GrantRef, ActiveGrant>,
    /// Mappings this domain made (Xen's maptrack), by handle.
    pub(super) maptrack: BTreeMap<GrantHandle, Mapping>,
    /// Handles freed by unmaps, reused last-freed first.
    pub(super) free_handles: Vec<GrantHandle>,
    /// Handles below this were handed out at least once.
    pub(super) next_handle: u32,
    /// Live mappings allowed (`MAX_HANDLES`; lower in tests).
    pub(super) max_handles: u32,
}

impl GrantTable {
    /// Number of valid grant references.
    pub(super) fn nr_entries(&self) -> u32 {
        (self.frames.len() as u32).saturating_mul(pv_abi::grant_table::GRANT_ENTRIES_V1_PER_FRAME)
    }

    /// Where entry `gref` lives: its table frame and byte offset. `BadGrantRef` beyond the
    /// table.
    pub(super) fn entry_location(&self, gref: GrantRef) -> Result<(Mfn, usize), GnttabError> {
        if gref.0 >= self.nr_entries() {
            return Err(GnttabError::BadGrantRef);
        }
        let (frame_index, offset) = gref.location();
        let mfn = *self
            .frames
            .get(frame_index)
            .ok_or(GnttabError::BadGrantRef)?;
        Ok((mfn, offset))
    }
}

/// What `destroy_domain` hands back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestroyedTable {
    /// The table's frames, to unshare and free.
    pub frames: Vec<Mfn>,
    /// Mappings the domain still held, now released (their PTEs and page references are the
    /// platform's to drop).
    pub released: Vec<UnmappedGrant>,
}

/// Grant tables of all domains.
#[derive(Clone, Debug, Default)]
pub struct GrantTables {
    pub(super) tables: BTreeMap<DomId, GrantTable>,
    next_generation: u64,
}

impl GrantTables {
    /// No tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates `dom`'s table with `INITIAL_NR_GRANT_FRAMES` frames from `alloc` and a maximum
    /// of `max_frames` (use `DEFAULT_MAX_GRANT_FRAMES` for Xen's default).
    ///
    /// Errors: `BadMaxFrames` (0 or above `MAX_GRANT_FRAMES_LIMIT`), `DomainExists`,
    /// `OutOfMemory`.
    pub fn create_domain(
        &mut self,
        dom: DomId,
        max_frames: u32,
        alloc: &mut impl GrantFrameAllocator,
    ) -> Result<(), GnttabError> {
        if !(INITIAL_NR_GRANT_FRAMES..=MAX_GRANT_FRAMES_LIMIT).contains(&max_frames) {
            return Err(GnttabError::BadMaxFrames);
        }
        if self.tables.contains_key(&dom) {
            return Err(GnttabError::DomainExists);
        }
        self.next_generation += 1;
        let table = GrantTable {
            generation: self.next_generation,
            frames: Vec::new(),
            max_frames,
            active: BTreeMap::new(),
            maptrack: BTreeMap::new(),
            free_handles: Vec::new(),
            next_handle: 0,
            max_handles: super::map::MAX_HANDLES,
        };
        self.tables.insert(dom, table);
        if let Err(e) = self.grow(dom, INITIAL_NR_GRANT_FRAMES, alloc) {
            self.tables.remove(&dom);
            return Err(e);
        }
        Ok(())
    }

    /// Removes `dom`'s table. Mappings `dom` held of other domains' grants are released first
    /// (their pins dropped, `GTF_reading`/`GTF_writing` cleared as needed). Mappings other
    /// domains hold of `dom`'s grants stay with them until they unmap.
    ///
    /// Errors: `NoSuchDomain`.
    pub fn destroy_domain(
        &mut self,
        dom: DomId,
        entries: &mut impl GrantEntryAccess,
    ) -> Result<DestroyedTable, GnttabError> {
        let handles: Vec<GrantHandle> = self.table(dom)?.maptrack.keys().copied().collect();
        let mut released = Vec::with_capacity(handles.len());
        for handle in handles {
            released.push(self.unmap_grant_ref(dom, handle, entries)?);
        }
        let table = self.tables.remove(&dom).ok_or(GnttabError::NoSuchDomain)?;
        Ok(DestroyedTable {
            frames: table.frames,
            released,
        })
    }

    /// `GNTTABOP_setup_table`: grows `dom`'s table to at least `nr_frames` frames and returns
    /// the first `nr_frames` frame numbers (MFNs, for a PV guest to map).
    ///
    /// Pre: `nr_frames ≤ max`. Post: the table has `max(old, nr_frames)` frames; on error it is
    /// unchanged. Errors: `NoSuchDomain`, `NotPermitted` (another domain), `TooManyFrames`,
    /// `OutOfMemory`.
    pub fn setup_table(
        &mut self,
        caller: DomId,
        dom: DomId,
        nr_frames: u32,
        alloc: &mut impl GrantFrameAllocator,
    ) -> Result<&[Mfn], GnttabError> {
        let dom = self.check_target(caller, dom)?;
        self.grow(dom, nr_frames, alloc)?;
        let frames = &self.table(dom)?.frames;
        Ok(&frames[..frames.len().min(nr_frames as usize)])
    }

    /// `GNTTABOP_query_size`. Errors: `NoSuchDomain`, `NotPermitted`.
    pub fn query_size(&self, caller: DomId, dom: DomId) -> Result<QuerySize, GnttabError> {
        let table = self.table(self.check_target(caller, dom)?)?;
        Ok(QuerySize {
            nr_frames: table.frames.len() as u32,
            max_nr_frames: table.max_frames,
        })
    }

    /// `GNTTABOP_set_version` for the caller's own table. Only version 1 is offered.
    /// The boundary writes back `get_version` whatever the outcome, as Xen does.
    ///
    /// Errors: `NoSuchDomain`, `BadVersion` (not 1 or 2), `VersionUnsupported` (2).
    pub fn set_version(&self, caller: DomId, version: u32) -> Result<(), GnttabError> {
        self.table(caller)?;
        match version {
            1 => Ok(()),
            2 => Err(GnttabError::VersionUnsupported),
            _ => Err(GnttabError::BadVersion),
        }
    }

    /// `GNTTABOP_get_version`: always 1. Errors: `NoSuchDomain`, `NotPermitted`.
    pub fn get_version(&self, caller: DomId, dom: DomId) -> Result<u32, GnttabError> {
        self.table(self.check_target(caller, dom)?)?;
        Ok(1)
    }

    /// The frames of `dom`'s table (for the platform's bookkeeping).
    pub fn frames(&self, dom: DomId) -> Result<&[Mfn], GnttabError> {
        Ok(&self.table(dom)?.frames)
    }

    /// Resolves `DOMID_SELF` and checks that `dom` exists and is the caller.
    fn check_target(&self, caller: DomId, dom: DomId) -> Result<DomId, GnttabError> {
        let dom = dom.resolve(caller);
        self.table(dom)?;
        if dom != caller {
            return Err(GnttabError::NotPermitted);
        }
        Ok(dom)
    }

    /// Grows `dom`'s table to `nr_frames`; on failure frees what this call allocated.
    fn grow(
        &mut self,
        dom: DomId,
        nr_frames: u32,
        alloc: &mut impl GrantFrameAllocator,
    ) -> Result<(), GnttabError> {
        let table = self.tables.get_mut(&dom).ok_or(GnttabError::NoSuchDomain)?;
        if nr_frames > table.max_frames {
            return Err(GnttabError::TooManyFrames);
        }
        let old = table.frames.len();
        while table.frames.len() < nr_frames as usize {
            match alloc.alloc_frame(dom) {
                Some(frame) => table.frames.push(frame),
                None => {
                    for frame in table.frames.drain(old..) {
                        alloc.free_frame(dom, frame);
                    }
                    return Err(GnttabError::OutOfMemory);
                }
            }
        }
        Ok(())
    }

    pub(super) fn table(&self, dom: DomId) -> Result<&GrantTable, GnttabError> {
        self.tables.get(&dom).ok_or(GnttabError::NoSuchDomain)
    }
}
