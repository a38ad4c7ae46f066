//! `VCPUOP_register_vcpu_time_memory_area`: a second copy of a vCPU's `vcpu_time_info` at a
//! guest *virtual* address (Linux maps it into the vDSO for a syscall-free `clock_gettime`).
//!
//! ```text
//!  refresh_vcpu_time(v):  vcpu_info.time  ← record (version odd → even)
//!                         time area (if any):
//!                           +0 version ← odd         (the primary's odd version)
//!                           +0..32     ← record, version still odd
//!                           +0 version ← even
//! ```
//! As in Xen (`update_secondary_system_time`), the copy goes through the vCPU's *kernel*
//! address space (`GuestMemory` walks the guest's tables and needs a writable mapping — the
//! same mechanism as the runstate area), and a write that faults is dropped silently.
//! Address 0 unregisters; an address outside the guest's range is refused with -EFAULT
//! (Xen's `guest_handle_okay`).

use core::mem::size_of;

use hv_core::mm::pte::is_guest_range;
use hv_core::time::version_update_end;
use pv_abi::xen::VcpuTimeInfo;

use crate::guest_memory::GuestMemory;
use crate::hypervisor::{Hypervisor, VcpuRef};

/// Whether `addr` can hold a time area: 0 (none), or a canonical guest range of 32 bytes
/// outside the hypervisor's slots.
fn time_area_ok(addr: u64) -> bool {
    addr == 0 || is_guest_range(addr, size_of::<VcpuTimeInfo>() as u64)
}

impl Hypervisor {
    /// Writes vCPU `v`'s time record: its `vcpu_info` and, if registered, its time area.
    pub fn refresh_vcpu_time(&mut self, v: VcpuRef) {
        let Some(d) = self.domains.get(&v.0) else {
            return;
        };
        let Some(info) = d.vcpu_info(v.1) else {
            return;
        };
        let mut record = self.time.update_vcpu_time(info);
        let vcpu = &d.vcpus[v.1];
        if vcpu.time_area == 0 {
            return;
        }
        let g = GuestMemory::new(&self.memory.mm, hv_core::mm::Mfn(vcpu.kernel_root));
        let area = vcpu.time_area;
        if g.write_obj(area, &record.version).is_err() {
            return;
        }
        let _ = g.write_obj(area, &record);
        record.version = version_update_end(record.version);
        let _ = g.write_obj(area, &record.version);
    }

    /// Registers (or with 0, unregisters) vCPU `v`'s time area and fills it at once.
    pub fn register_time_area(&mut self, v: VcpuRef, addr: u64) -> Result<(), i64> {
        if !time_area_ok(addr) {
            return Err(pv_abi::errno::neg(pv_abi::errno::EFAULT));
        }
        let Some(vcpu) = self
            .domains
            .get_mut(&v.0)
            .and_then(|d| d.vcpus.get_mut(v.1))
        else {
            return Err(pv_abi::errno::neg(pv_abi::errno::ENOENT));
        };
        vcpu.time_area = addr;
        self.refresh_vcpu_time(v);
        Ok(())
    }
}
