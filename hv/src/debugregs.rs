//! Guest debug registers in the CPU (Xen's `activate_debugregs` and `do_debug`).
//!
//! ```text
//!  set_debugreg (checked: hv_core::debugreg) ─▶ vcpu.debugreg[]; live at once if current
//!  switch_in:  DR7 active (L0-3/G0-3)? ─▶ load DR0-3, DR6, then DR7 (without GD);
//!              else the CPU's DR7 still active (left by a crashed vCPU)? ─▶ DR7 = 0
//!  switch_out: DR7 active? ─▶ DR7 = 0 (other vCPUs and the idle hypervisor see none)
//!  #DB from the guest:      DR6 → merged into vcpu.debugreg[6], DR6 reset, #DB bounced
//!                           to the guest's handler (it reads DR6 with get_debugreg)
//!  #DB in the hypervisor:   DR6 merged the same way, nothing delivered (Xen ignores it)
//! ```
//! The hypervisor never touches a guest virtual address (guest memory goes through the
//! direct map) and breakpoint addresses are refused inside its range, so a guest's
//! breakpoint only fires in guest code.

use hv_core::debugreg::{hardware_dr7, is_active, merge_dr6, DR6_DEFAULT};

use crate::arch::cpu;
use crate::hypervisor::{Hypervisor, VcpuRef};

impl Hypervisor {
    /// Loads vCPU `v`'s breakpoints into the CPU if its DR7 enables any (switch-in);
    /// otherwise makes sure none are left enabled — a vCPU taken off the CPU without a
    /// switch-out (its domain crashed or was destroyed) may have left its DR7 behind.
    pub fn load_debugregs(&self, v: VcpuRef) {
        let dr = self.debugregs(v).unwrap_or(hv_core::debugreg::INITIAL);
        if is_active(dr[7]) {
            for n in [0, 1, 2, 3, 6] {
                cpu::write_dr(n, dr[n]);
            }
            cpu::write_dr(7, hardware_dr7(dr[7]));
        } else if is_active(cpu::read_dr7()) {
            cpu::write_dr(7, 0);
        }
    }

    /// Turns vCPU `v`'s breakpoints off in the CPU (switch-out).
    pub fn unload_debugregs(&self, v: VcpuRef) {
        if self.debugregs(v).is_some_and(|dr| is_active(dr[7])) {
            cpu::write_dr(7, 0);
        }
    }

    /// After `set_debugreg(index)` on the running vCPU `v`: makes the CPU agree (Xen writes
    /// the register at once for the current vCPU; enabling DR7 loads the others too).
    pub fn apply_debugreg(&self, v: VcpuRef, index: usize) {
        if self.current() != Some(v) {
            return;
        }
        let Some(dr) = self.debugregs(v) else {
            return;
        };
        match index {
            7 if is_active(dr[7]) => self.load_debugregs(v),
            7 => cpu::write_dr(7, 0),
            _ if is_active(dr[7]) => cpu::write_dr(index, dr[index]),
            _ => {}
        }
    }

    /// Consumes a #DB's status: merges DR6 into the current vCPU's and resets the CPU's.
    pub fn take_debug_status(&mut self) {
        let hit = cpu::read_dr6();
        cpu::write_dr(6, DR6_DEFAULT);
        let Some(v) = self.current() else {
            return;
        };
        if let Some(vcpu) = self.domain(v.0).and_then(|d| d.vcpus.get_mut(v.1)) {
            vcpu.debugreg[6] = merge_dr6(vcpu.debugreg[6], hit);
        }
    }

    fn debugregs(&self, v: VcpuRef) -> Option<[u64; 8]> {
        self.domains
            .get(&v.0)
            .and_then(|d| d.vcpus.get(v.1))
            .map(|vcpu| vcpu.debugreg)
    }
}
