//! Grant tables, version 1, the Mini-OS way.
//!
//! `GNTTABOP_setup_table` returns the machine frames of our grant table (PV guests get
//! MFNs); we map each over a `.bss` slot with `update_va_mapping` and then write entries
//! directly in memory. A v1 entry is 8 bytes — `flags` u16, `domid` u16, `frame` u32 — and
//! is published by writing `domid`/`frame` first and `flags` last, so the other side never
//! sees a valid type with stale contents.

use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};

use pv_abi::grant_table::{
    GnttabGetVersion, GnttabMapGrantRef, GnttabQuerySize, GnttabSetVersion, GnttabSetupTable,
    GnttabUnmapGrantRef, GNTTABOP_GET_VERSION, GNTTABOP_MAP_GRANT_REF, GNTTABOP_QUERY_SIZE,
    GNTTABOP_SETUP_TABLE, GNTTABOP_SET_VERSION, GNTTABOP_UNMAP_GRANT_REF,
    GRANT_ENTRIES_V1_PER_FRAME, GTF_READING, GTF_WRITING,
};
use pv_abi::xen::{hypercall as nr, DOMID_SELF};

use crate::ring::{self, PageSlot};
use crate::traps;

/// Frames we ask `setup_table` for (Mini-OS uses 4).
pub const NR_FRAMES: usize = 4;

static mut TABLE_SLOTS: [PageSlot; NR_FRAMES] = [const { PageSlot([0; 4096]) }; NR_FRAMES];

fn op<T>(cmd: u32, arg: &mut T) -> i64 {
    // SAFETY: every caller passes the one structure `cmd` reads and writes (count 1).
    unsafe {
        traps::hypercall(
            nr::GRANT_TABLE_OP,
            [u64::from(cmd), arg as *mut T as u64, 1, 0, 0],
        )
    }
}

/// `GNTTABOP_query_size(DOMID_SELF)` → (hypercall result, the filled structure).
pub fn query_size() -> (i64, GnttabQuerySize) {
    let mut q = GnttabQuerySize {
        dom: DOMID_SELF,
        ..Default::default()
    };
    (op(GNTTABOP_QUERY_SIZE, &mut q), q)
}

/// `GNTTABOP_set_version(version)` → (result, version in force afterwards).
pub fn set_version(version: u32) -> (i64, u32) {
    let mut v = GnttabSetVersion { version };
    (op(GNTTABOP_SET_VERSION, &mut v), v.version)
}

/// `GNTTABOP_get_version(DOMID_SELF)` → (result, version).
pub fn get_version() -> (i64, u32) {
    let mut v = GnttabGetVersion {
        dom: DOMID_SELF,
        ..Default::default()
    };
    (op(GNTTABOP_GET_VERSION, &mut v), v.version)
}

/// `GNTTABOP_setup_table(DOMID_SELF, NR_FRAMES)` → (result, status, the frames' MFNs).
pub fn setup_table() -> (i64, i16, [u64; NR_FRAMES]) {
    let mut frames = [0u64; NR_FRAMES];
    let mut s = GnttabSetupTable {
        dom: DOMID_SELF,
        nr_frames: NR_FRAMES as u32,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    let rc = op(GNTTABOP_SETUP_TABLE, &mut s);
    (rc, s.status, frames)
}

/// `GNTTABOP_map_grant_ref` of `gref` of domain `dom` at `host_addr` with `flags`
/// (`GNTMAP_*`) → (hypercall result, the filled structure: status, handle, bus address).
pub fn map_grant_ref(dom: u16, gref: u32, host_addr: u64, flags: u32) -> (i64, GnttabMapGrantRef) {
    let mut m = GnttabMapGrantRef {
        host_addr,
        flags,
        r#ref: gref,
        dom,
        ..Default::default()
    };
    (op(GNTTABOP_MAP_GRANT_REF, &mut m), m)
}

/// `GNTTABOP_unmap_grant_ref` of `handle` mapped at `host_addr` → the op's status (or
/// `i16::MIN` if the hypercall itself failed).
pub fn unmap_grant_ref(handle: u32, host_addr: u64) -> i16 {
    let mut u = GnttabUnmapGrantRef {
        host_addr,
        handle,
        ..Default::default()
    };
    match op(GNTTABOP_UNMAP_GRANT_REF, &mut u) {
        0 => u.status,
        _ => i16::MIN,
    }
}

/// A mapped v1 grant table.
#[derive(Clone, Copy, Debug)]
pub struct GrantTable {
    base: u64,
}

impl GrantTable {
    /// Maps the frames `setup_table` returned over our slots (contiguous VAs). Fails with the
    /// first `update_va_mapping` error and the index of the frame.
    pub fn map(frames: &[u64; NR_FRAMES]) -> Result<Self, (usize, i64)> {
        let base = &raw const TABLE_SLOTS as u64;
        for (i, &mfn) in frames.iter().enumerate() {
            match ring::map_frame(base + i as u64 * 4096, mfn) {
                0 => {}
                rc => return Err((i, rc)),
            }
        }
        Ok(Self { base })
    }

    /// VA of the first frame.
    pub fn va(&self) -> u64 {
        self.base
    }

    /// Number of v1 entries mapped.
    pub fn capacity(&self) -> u32 {
        GRANT_ENTRIES_V1_PER_FRAME * NR_FRAMES as u32
    }

    fn entry(&self, gref: u32) -> u64 {
        assert!(gref < self.capacity(), "grant ref {gref} out of range");
        self.base + u64::from(gref) * 8
    }

    /// Grants `domid` access to our frame `frame` through entry `gref` (`GTF_*` in `flags`).
    pub fn grant(&self, gref: u32, domid: u16, frame: u32, flags: u16) {
        let e = self.entry(gref);
        // SAFETY: `e` is an 8-aligned entry inside the mapped table; the hypervisor reads
        // and updates entries concurrently, so every access is atomic.
        unsafe {
            AtomicU16::from_ptr((e + 2) as *mut u16).store(domid, Ordering::SeqCst);
            AtomicU32::from_ptr((e + 4) as *mut u32).store(frame, Ordering::SeqCst);
            AtomicU16::from_ptr(e as *mut u16).store(flags, Ordering::SeqCst);
        }
    }

    /// Revokes entry `gref` (flags → 0).
    pub fn revoke(&self, gref: u32) {
        // SAFETY: as in `grant`.
        unsafe { AtomicU16::from_ptr(self.entry(gref) as *mut u16).store(0, Ordering::SeqCst) };
    }

    /// Ends access through entry `gref` the way Linux does: flags go to 0 only while the
    /// hypervisor shows no mapping (`GTF_reading`/`GTF_writing`); `false` if still in use.
    pub fn end_access(&self, gref: u32) -> bool {
        // SAFETY: as in `grant`.
        let flags = unsafe { AtomicU16::from_ptr(self.entry(gref) as *mut u16) };
        let mut seen = flags.load(Ordering::SeqCst);
        loop {
            if seen & (GTF_READING | GTF_WRITING) != 0 {
                return false;
            }
            match flags.compare_exchange(seen, 0, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => seen = now,
            }
        }
    }

    /// Entry `gref` as `(flags, domid, frame)`.
    pub fn read(&self, gref: u32) -> (u16, u16, u32) {
        // SAFETY: as in `grant`.
        let raw =
            unsafe { AtomicU64::from_ptr(self.entry(gref) as *mut u64).load(Ordering::SeqCst) };
        (raw as u16, (raw >> 16) as u16, (raw >> 32) as u32)
    }
}
