//! Grant tables, version 1: per-domain table frames and the bookkeeping of grant mappings.
//!
//! A domain's grant table is a set of frames the hypervisor allocates and shares with the
//! domain; the guest fills 8-byte `grant_entry_v1`s in them to let another domain map one of
//! its pages. The core keeps the frame list, limits and version ([`GrantTables`]), and — for
//! `map_grant_ref` / `unmap_grant_ref` — the pins on each granted entry and the handles of
//! each mapping. Guest memory is reached only through [`GrantFrameAllocator`] (new frames)
//! and [`GrantEntryAccess`] (atomic entry reads and flag updates).
//!
//! | file     | concern                                                               |
//! |----------|-----------------------------------------------------------------------|
//! | `types`  | `Mfn`, `GrantRef`, `GrantHandle`, the platform traits                 |
//! | `table`  | lifecycle, `setup_table`, `query_size`, `set_version`, `get_version`  |
//! | `map`    | `map_grant_ref`, `unmap_grant_ref`: pins, entry flags, handles        |
//! | `copy`   | `copy`: the grant checks of each side, short-lived status bits        |
//! | `error`  | `GnttabError`, its `GNTST_*` status and errno                         |
//!
//! Only version 1 exists here: `set_version(2)` is refused with `-ENOSYS`, the answer Xen
//! gives when v2 is disabled, which Linux takes as "stay on v1". Not implemented:
//! `transfer`, `unmap_and_replace`, `swap_grant_ref`, status frames.

mod copy;
mod error;
mod map;
mod table;
mod types;

#[cfg(test)]
mod tests;

pub use error::GnttabError;
pub use map::{MappedGrant, UnmappedGrant, MAX_HANDLES, MAX_PINS};
pub use table::{
    DestroyedTable, GrantTables, QuerySize, DEFAULT_MAX_GRANT_FRAMES, INITIAL_NR_GRANT_FRAMES,
    MAX_GRANT_FRAMES_LIMIT,
};
pub use types::{GrantEntryAccess, GrantFrameAllocator, GrantHandle, GrantRef, Mfn};
