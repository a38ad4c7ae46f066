//! `GNTTABOP_copy`: the hypervisor copies bytes between two frames for a domain, at least
//! one of them usually another domain's, named by a grant reference it was given (how PV
//! backends move data without mapping).
//!
//! Each side is a grant reference of `domid` (with its `GNTCOPY_*_gref` flag; the entry must
//! grant the caller access, writable for the destination) or a frame of the caller's own
//! (`DOMID_SELF` or its own id). The frame must belong to the domain named. The destination
//! is written only while held (`Memory::hold_page`: a general reference and a writable type,
//! so a page table or descriptor page is refused); the source is read directly, the call
//! running to its end before the owner can run again.

use hv_core::gnttab::GrantRef;
use hv_core::mm::{DomId, Mfn};
use pv_abi::grant_table::*;
use pv_abi::xen::DOMID_SELF;

use super::{Call, Ret};
use crate::arch::phys;
use crate::grants::HeldEntries;

const PAGE: usize = 4096;

/// One side of a copy, resolved.
struct Side {
    /// The frame.
    frame: u64,
    /// Its owner.
    owner: u16,
    /// The grant acquired for it, to release: (granter, ref).
    grant: Option<(u16, GrantRef)>,
}

fn domain_of(call: &Call, domid: u16) -> u16 {
    if domid == DOMID_SELF {
        call.dom()
    } else {
        domid
    }
}

/// Resolves and checks one side; on success a grant it names is acquired.
fn resolve(call: &mut Call, ptr: &GnttabCopyPtr, by_gref: bool, write: bool) -> Result<Side, i16> {
    let me = call.dom();
    let dom = domain_of(call, ptr.domid);
    let side = if by_gref {
        let gref = GrantRef(ptr.u as u32);
        let hv = &mut *call.hv;
        let frame = hv
            .grants
            .acquire_for_copy(
                hv_core::DomId(me),
                hv_core::DomId(dom),
                gref,
                write,
                &mut HeldEntries(&hv.grant_pages),
            )
            .map_err(|e| e.to_gntst())?;
        Side {
            frame,
            owner: dom,
            grant: Some((dom, gref)),
        }
    } else {
        // Without a grant only the caller's own frames may be named.
        if dom != me {
            return Err(GNTST_PERMISSION_DENIED);
        }
        Side {
            frame: ptr.u,
            owner: me,
            grant: None,
        }
    };
    let owned = call
        .hv
        .memory
        .mm
        .frame_info(Mfn(side.frame))
        .is_some_and(|f| f.owner() == Some(DomId(side.owner)) && f.is_allocated());
    if !owned {
        release(call, &side, write);
        return Err(GNTST_BAD_PAGE);
    }
    Ok(side)
}

fn release(call: &mut Call, side: &Side, write: bool) {
    if let Some((granter, gref)) = side.grant {
        let hv = &mut *call.hv;
        hv.grants.release_for_copy(
            hv_core::DomId(granter),
            gref,
            write,
            &mut HeldEntries(&hv.grant_pages),
        );
    }
}

/// Runs one copy; returns its `GNTST_*` status.
fn copy_one(call: &mut Call, op: &GnttabCopy) -> i16 {
    let len = usize::from(op.len);
    if usize::from(op.source.offset) + len > PAGE || usize::from(op.dest.offset) + len > PAGE {
        return GNTST_BAD_COPY_ARG;
    }
    let src = match resolve(call, &op.source, op.flags & GNTCOPY_SOURCE_GREF != 0, false) {
        Ok(s) => s,
        Err(status) => return status,
    };
    let dst = match resolve(call, &op.dest, op.flags & GNTCOPY_DEST_GREF != 0, true) {
        Ok(d) => d,
        Err(status) => {
            release(call, &src, false);
            return status;
        }
    };
    let mut buf = [0u8; PAGE];
    phys::read_bytes(
        src.frame * PAGE as u64 + u64::from(op.source.offset),
        &mut buf[..len],
    );
    let status = match call.hv.memory.hold_page(DomId(dst.owner), dst.frame) {
        Ok(page) => {
            page.write(usize::from(op.dest.offset), &buf[..len]);
            call.hv.memory.release_page(page);
            GNTST_OKAY
        }
        Err(_) => GNTST_GENERAL_ERROR,
    };
    release(call, &dst, true);
    release(call, &src, false);
    status
}

/// `GNTTABOP_copy` for `count` ops at `uop`: each op's status is written back; the call
/// itself fails only when the guest's array cannot be read or written.
pub fn copy(call: &mut Call, uop: u64, count: u64) -> Ret {
    super::gnttab::for_each_op(call, uop, count, |call, op: &mut GnttabCopy| {
        op.status = copy_one(call, op);
    })
}
