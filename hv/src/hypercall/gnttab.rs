//! `grant_table_op(cmd, uop, count)`: table setup and queries for grant tables v1.
//!
//! `copy` moves bytes between domains through grants (`gnttab_copy`); `map_grant_ref` /
//! `unmap_grant_ref` map another domain's granted page into the caller's tables
//! (`gnttab_map`).

use hv_core::gnttab::GnttabError;
use pv_abi::errno;
use pv_abi::grant_table::*;

use super::{Call, Ret};
use crate::grants::FrameSource;

/// Ops handled per call.
const MAX_COUNT: u64 = 64;

fn setup_table(call: &mut Call, uop: u64, i: u64) -> Result<(), Ret> {
    let mut s: GnttabSetupTable = call.guest().read_elem(uop, i).map_err(Ret::from)?;
    let me = hv_core::DomId(call.dom());
    let hv = &mut *call.hv;
    let result = hv
        .grants
        .setup_table(
            me,
            hv_core::DomId(s.dom),
            s.nr_frames,
            &mut FrameSource {
                memory: &mut hv.memory,
                pages: &mut hv.grant_pages,
            },
        )
        .map(|f| f.iter().map(|m| m.0).collect::<alloc::vec::Vec<u64>>());
    s.status = match result {
        Ok(frames) => {
            for (k, mfn) in frames.iter().enumerate() {
                if call
                    .guest()
                    .write_elem(s.frame_list, k as u64, mfn)
                    .is_err()
                {
                    s.status = GNTST_BAD_VIRT_ADDR;
                    break;
                }
            }
            if s.status == GNTST_BAD_VIRT_ADDR {
                GNTST_BAD_VIRT_ADDR
            } else {
                GNTST_OKAY
            }
        }
        Err(e) => e.to_gntst(),
    };
    call.guest().write_elem(uop, i, &s).map_err(Ret::from)
}

fn query_size(call: &mut Call, uop: u64, i: u64) -> Result<(), Ret> {
    let mut q: GnttabQuerySize = call.guest().read_elem(uop, i).map_err(Ret::from)?;
    match call
        .hv
        .grants
        .query_size(hv_core::DomId(call.dom()), hv_core::DomId(q.dom))
    {
        Ok(s) => {
            q.nr_frames = s.nr_frames;
            q.max_nr_frames = s.max_nr_frames;
            q.status = GNTST_OKAY;
        }
        Err(e) => q.status = e.to_gntst(),
    }
    call.guest().write_elem(uop, i, &q).map_err(Ret::from)
}

/// Runs `each` on every op of the guest array `uop[..count]` and writes it back (with its
/// status): the call itself fails only when the array cannot be read or written.
pub(super) fn for_each_op<T>(
    call: &mut Call,
    uop: u64,
    count: u64,
    mut each: impl FnMut(&mut Call, &mut T),
) -> Ret
where
    T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable,
{
    for i in 0..count {
        let mut op: T = match call.guest().read_elem(uop, i) {
            Ok(op) => op,
            Err(f) => return f.into(),
        };
        each(call, &mut op);
        if let Err(f) = call.guest().write_elem(uop, i, &op) {
            return f.into();
        }
    }
    Ret::Value(0)
}

fn errno_of(e: GnttabError) -> Ret {
    Ret::Value(i64::from(e.to_errno()))
}

/// `grant_table_op(cmd, uop, count)`.
pub fn grant_table_op(call: &mut Call) -> Ret {
    let [cmd, uop, count, ..] = call.args;
    if count > MAX_COUNT {
        return Ret::Value(errno::neg(errno::EINVAL));
    }
    let me = hv_core::DomId(call.dom());
    match cmd as u32 {
        GNTTABOP_SETUP_TABLE => {
            for i in 0..count {
                if let Err(r) = setup_table(call, uop, i) {
                    return r;
                }
            }
            Ret::Value(0)
        }
        GNTTABOP_QUERY_SIZE => {
            for i in 0..count {
                if let Err(r) = query_size(call, uop, i) {
                    return r;
                }
            }
            Ret::Value(0)
        }
        GNTTABOP_COPY => super::gnttab_copy::copy(call, uop, count),
        GNTTABOP_MAP_GRANT_REF => super::gnttab_map::map(call, uop, count),
        GNTTABOP_UNMAP_GRANT_REF => super::gnttab_map::unmap(call, uop, count),
        GNTTABOP_SET_VERSION => {
            let v: GnttabSetVersion = match call.guest().read_obj(uop) {
                Ok(v) => v,
                Err(f) => return f.into(),
            };
            match call.hv.grants.set_version(me, v.version) {
                Ok(()) => Ret::Value(0),
                Err(e) => errno_of(e),
            }
        }
        GNTTABOP_GET_VERSION => {
            let mut v: GnttabGetVersion = match call.guest().read_obj(uop) {
                Ok(v) => v,
                Err(f) => return f.into(),
            };
            match call.hv.grants.get_version(me, hv_core::DomId(v.dom)) {
                Ok(ver) => {
                    v.version = ver;
                    call.guest()
                        .write_obj(uop, &v)
                        .map_or_else(Ret::from, |_| Ret::Value(0))
                }
                Err(e) => errno_of(e),
            }
        }
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
