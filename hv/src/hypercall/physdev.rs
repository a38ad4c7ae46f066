//! `physdev_op`: a PV domU has no physical devices; only the I/O privilege level request Linux
//! makes at boot is accepted, and recorded in the vCPU (`Vcpu::iopl`) for port I/O emulation.

use pv_abi::errno;
use pv_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};

use super::{Call, Ret};

pub fn physdev_op(call: &mut Call) -> Ret {
    let [cmd, arg, ..] = call.args;
    match cmd as u32 {
        PHYSDEVOP_SET_IOPL => match call.guest().read_obj::<PhysdevSetIopl>(arg) {
            Ok(p) if p.iopl <= 3 => {
                let who = call.who;
                if let Some(v) = call.hv.domain(who.0).and_then(|d| d.vcpus.get_mut(who.1)) {
                    v.iopl = p.iopl as u8;
                }
                Ret::Value(0)
            }
            Ok(_) => Ret::Value(errno::neg(errno::EINVAL)),
            Err(f) => f.into(),
        },
        _ => Ret::Value(errno::neg(errno::ENOSYS)),
    }
}
