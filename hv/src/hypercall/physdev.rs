//! `physdev_op`: a PV domU has no physical devices; only the I/O privilege level request Linux
//! makes at boot is accepted. It is recorded per vCPU (as Xen's `arch.pv.iopl`): with it, the
//! guest kernel's `in`/`out` are emulated (reads give all ones, writes are dropped) instead of
//! raising #GP (`crate::emulate`).

use pv_abi::errno;
use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};

use super::{Call, Ret};

pub fn physdev_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    match cmd as u32 {
        PHYSDEVOP_SET_IOPL => match call.guest().read_obj::<PhysdevSetIopl>(arg) {
            Ok(p) if p.iopl <= 3 => {
                if let Some(d) = call.hv.domain(call.who.0) {
                    d.vcpus[call.who.1].pv_control.iopl = p.iopl as u8;
                }
                Ret::Value(0)
            }
            Ok(_) => Ret::Value(errno::neg(errno::EINVAL)),
            Err(f) => f.into(),
        },
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
