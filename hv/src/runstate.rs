//! vCPU runstate accounting (`vcpu_runstate_info`): time spent running, runnable, blocked and
//! offline, kept per vCPU and copied to the guest's registered area on every change.

use pv_abi::vcpu::{VcpuRunstateInfo, XEN_RUNSTATE_UPDATE};

use crate::guest_memory::GuestMemory;
use crate::hypervisor::{Hypervisor, VcpuRef};

impl Hypervisor {
    /// Moves vCPU `v` to runstate `state` (RUNSTATE_*), accounting the time in the old one.
    pub fn set_runstate(&mut self, v: VcpuRef, state: i32) {
        let now = self.time.now();
        let Some(vcpu) = self
            .domains
            .get_mut(&v.0)
            .and_then(|d| d.vcpus.get_mut(v.1))
        else {
            return;
        };
        let rs = &mut vcpu.runstate;
        if rs.state == state {
            return;
        }
        let old = (rs.state as usize).min(3);
        rs.time[old] = rs.time[old].saturating_add(now.saturating_sub(rs.entry));
        rs.state = state;
        rs.entry = now;
        self.update_runstate(v);
    }

    /// The runstate of vCPU `v` as the guest sees it.
    pub fn runstate_info(&self, v: VcpuRef) -> VcpuRunstateInfo {
        let rs = self
            .domains
            .get(&v.0)
            .and_then(|d| d.vcpus.get(v.1))
            .map(|v| v.runstate)
            .unwrap_or_default();
        VcpuRunstateInfo {
            state: rs.state,
            pad0: 0,
            state_entry_time: rs.entry,
            time: rs.time,
        }
    }

    /// Copies vCPU `v`'s runstate to its registered area (if any), with the update flag set
    /// while writing when the guest asked for `VMASST_TYPE_runstate_update_flag`.
    pub fn update_runstate(&mut self, v: VcpuRef) {
        let Some(d) = self.domains.get(&v.0) else {
            return;
        };
        let vcpu = &d.vcpus[v.1];
        if vcpu.runstate_area == 0 {
            return;
        }
        let mut info = self.runstate_info(v);
        let flag = d.vm_assist & (1 << pv_abi::xen::VMASST_TYPE_RUNSTATE_UPDATE_FLAG) != 0;
        let g = GuestMemory::new(&self.memory.mm, hv_core::mm::Mfn(vcpu.kernel_root));
        let area = vcpu.runstate_area;
        if flag {
            let entry = info.state_entry_time | XEN_RUNSTATE_UPDATE;
            let _ = g.write_obj(area + 8, &entry);
        }
        let _ = g.write_obj(area, &info);
        if flag {
            info.state_entry_time &= !XEN_RUNSTATE_UPDATE;
            let _ = g.write_obj(area + 8, &info.state_entry_time);
        }
    }
}
