//! `physdev_op`: a PV domU has no physical devices; only the I/O privilege level request Linux
//! makes at boot is accepted (and recorded — port I/O stays forbidden).

use pv_abi::errno;
use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};

use super::{Call, Ret};

pub fn physdev_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    match cmd as u32 {
        PHYSDEVOP_SET_IOPL => match call.guest().read_obj::<PhysdevSetIopl>(arg) {
            Ok(p) if p.iopl <= 3 => Ret::Value(0),
            Ok(_) => Ret::Value(errno::neg(errno::EINVAL)),
            Err(f) => f.into(),
        },
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
