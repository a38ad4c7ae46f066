//! `GNTTABOP_map_grant_ref` / `GNTTABOP_unmap_grant_ref` (v1): a domain maps a page another
//! domain granted it into its own page tables.
//!
//! ```text
//!   map:   grant layer (who may map, pins, GTF_reading/GTF_writing, handle)
//!            └─▶ MMU (the grantee's L1 entry takes a foreign reference on the frame)
//!          an MMU refusal undoes the grant layer's part: GNTST_general_error
//!   unmap: handle lookup ─▶ MMU clears the entry (must still map the frame, else
//!          GNTST_general_error and the grant stays in use, as in Xen) ─▶ pins dropped
//! ```
//! `host_addr` is a page-aligned virtual address in the caller's current tables, or with
//! `GNTMAP_contains_pte` the machine address of the L1 entry. Mapping for a device only
//! (`GNTMAP_device_map` without `GNTMAP_host_map`) is refused with `GNTST_general_error`:
//! there is no IOMMU and no PTE to hold the frame. Cache attributes of the grant entry are
//! not applied (mappings are write-back).

use hv_core::gnttab::{GnttabError, GrantHandle, GrantRef};
use hv_core::mm::{DomId, GrantMapping, GrantSite, Mfn};
use pv_abi::grant_table::*;

use super::{Call, Ret};
use crate::arch::cpu;
use crate::grants::HeldEntries;
use crate::memory::DirectMapMemory;

/// Where `host_addr` with `flags` points in the caller's tables.
fn site(call: &Call, host_addr: u64, flags: u32) -> GrantSite {
    if flags & GNTMAP_CONTAINS_PTE != 0 {
        return GrantSite::Pte(host_addr);
    }
    let root = call
        .hv
        .domains
        .get(&call.dom())
        .map_or(0, |d| d.vcpus[call.who.1].current_root());
    GrantSite::Va {
        root: Mfn(root),
        va: host_addr,
    }
}

fn flush_if_needed(call: &mut Call) {
    if call.hv.memory.mm.take_flush_needed() {
        cpu::flush_tlb();
    }
}

/// One map op; fills its status, handle and bus address.
fn map_one(call: &mut Call, op: &mut GnttabMapGrantRef) {
    let me = call.dom();
    if op.flags & GNTMAP_HOST_MAP == 0 && op.flags & GNTMAP_DEVICE_MAP != 0 {
        op.status = GNTST_GENERAL_ERROR;
        return;
    }
    let hv = &mut *call.hv;
    let mapped = hv.grants.map_grant_ref(
        hv_core::DomId(me),
        hv_core::DomId(op.dom),
        GrantRef(op.r#ref),
        op.flags,
        &mut HeldEntries(&hv.grant_pages),
    );
    let m = match mapped {
        Ok(m) => m,
        Err(e) => {
            op.status = e.to_gntst();
            return;
        }
    };
    let g = GrantMapping {
        granter: DomId(op.dom),
        frame: Mfn(m.frame),
        writable: !m.readonly,
        user: op.flags & GNTMAP_APPLICATION_MAP != 0,
    };
    let at = site(call, op.host_addr, op.flags);
    let r = call
        .hv
        .memory
        .mm
        .map_grant(DomId(me), at, g, &mut DirectMapMemory);
    flush_if_needed(call);
    if let Err(e) = r {
        log::debug!(
            "d{me}: map_grant_ref d{} ref {} at {:#x}: {e}",
            op.dom,
            op.r#ref,
            op.host_addr
        );
        let hv = &mut *call.hv;
        let _ = hv.grants.unmap_grant_ref(
            hv_core::DomId(me),
            m.handle,
            &mut HeldEntries(&hv.grant_pages),
        );
        op.status = GNTST_GENERAL_ERROR;
        return;
    }
    op.handle = m.handle.0;
    op.dev_bus_addr = m.frame << 12;
    op.status = GNTST_OKAY;
}

/// One unmap op; returns its status.
fn unmap_one(call: &mut Call, op: &GnttabUnmapGrantRef) -> i16 {
    let me = hv_core::DomId(call.dom());
    let handle = GrantHandle(op.handle);
    let m = match call.hv.grants.mapping(me, handle) {
        Ok(m) => m,
        Err(e) => return e.to_gntst(),
    };
    if m.flags & GNTMAP_HOST_MAP != 0 {
        if op.host_addr == 0 {
            return GNTST_GENERAL_ERROR;
        }
        let at = site(call, op.host_addr, m.flags);
        let r = call
            .hv
            .memory
            .mm
            .unmap_grant(DomId(me.0), at, Mfn(m.frame), &mut DirectMapMemory);
        flush_if_needed(call);
        if let Err(e) = r {
            log::debug!("d{}: unmap_grant_ref handle {}: {e}", me.0, op.handle);
            return GNTST_GENERAL_ERROR;
        }
    }
    let hv = &mut *call.hv;
    let r = hv
        .grants
        .unmap_grant_ref(me, handle, &mut HeldEntries(&hv.grant_pages));
    hv.memory.reap_orphans();
    match r {
        Ok(_) => GNTST_OKAY,
        Err(GnttabError::BadHandle) => GNTST_BAD_HANDLE,
        Err(e) => e.to_gntst(),
    }
}

/// `GNTTABOP_map_grant_ref` for `count` ops at `uop`.
pub fn map(call: &mut Call, uop: u64, count: u64) -> Ret {
    super::gnttab::for_each_op(call, uop, count, map_one)
}

/// `GNTTABOP_unmap_grant_ref` for `count` ops at `uop`.
pub fn unmap(call: &mut Call, uop: u64, count: u64) -> Ret {
    super::gnttab::for_each_op(call, uop, count, |call, op: &mut GnttabUnmapGrantRef| {
        op.status = unmap_one(call, op);
    })
}
