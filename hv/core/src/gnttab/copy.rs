//! `GNTTABOP_copy` (version 1): the grant checks of one side of a copy.
//!
//! A side named by grant reference is acquired like a short-lived pin: the granter's entry
//! must be `GTF_permit_access` to the copying domain (not sub-page), and not `GTF_readonly`
//! when it is the destination. While the copy runs the entry shows `GTF_reading` (and
//! `GTF_writing` for a destination), so the granter cannot revoke it half-way; the release
//! clears what no mapping pin still needs. The platform checks that the returned frame
//! belongs to the granter and does the copy.

use pv_abi::grant_table::{GTF_READING, GTF_WRITING};

use super::error::GnttabError;
use super::map::set_status;
use super::table::GrantTables;
use super::types::{GrantEntryAccess, GrantRef};
use crate::evtchn::DomId;

impl GrantTables {
    /// Acquires grant `gref` of `granter` for one copy by `caller` (`write`: as destination).
    /// Returns the granted frame.
    ///
    /// Post: the entry shows `GTF_reading` (and `GTF_writing` if `write`); no pin or handle
    /// is recorded. Errors: `NoSuchDomain`, `BadGrantRef`, `AccessDenied`.
    pub fn acquire_for_copy(
        &self,
        caller: DomId,
        granter: DomId,
        gref: GrantRef,
        write: bool,
        entries: &mut impl GrantEntryAccess,
    ) -> Result<u64, GnttabError> {
        let table = self.table(granter)?;
        let (mfn, offset) = table.entry_location(gref)?;
        let active = table.active.get(&gref).copied();
        if active.is_some_and(|a| a.mapper != caller) {
            return Err(GnttabError::AccessDenied);
        }
        if active.is_none_or(|a| write && a.writers == 0) {
            set_status(entries, mfn, offset, active.is_none(), !write, caller)?;
        }
        Ok(active.map_or_else(
            || u64::from(entries.read_frame(mfn, offset)),
            |a| u64::from(a.frame),
        ))
    }

    /// Ends a copy's use of grant `gref` of `granter` (after [`Self::acquire_for_copy`]
    /// succeeded with the same `write`): clears the status bits no mapping pin holds.
    pub fn release_for_copy(
        &self,
        granter: DomId,
        gref: GrantRef,
        write: bool,
        entries: &mut impl GrantEntryAccess,
    ) {
        let Ok(table) = self.table(granter) else {
            return;
        };
        let (frame_index, offset) = gref.location();
        let Some(&mfn) = table.frames.get(frame_index) else {
            return;
        };
        let active = table.active.get(&gref);
        let mut clear = 0;
        if write && active.is_none_or(|a| a.writers == 0) {
            clear |= GTF_WRITING;
        }
        if active.is_none() {
            clear |= GTF_READING;
        }
        if clear != 0 {
            entries.clear_flags(mfn, offset, clear);
        }
    }
}
