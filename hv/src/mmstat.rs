//! The per-domain MMU counters on the serial console: one `MMSTAT` line per domain on the
//! `m` debug key and at teardown (with the `MMCHECK` line, see `sched`). The counting is
//! `hv_core::mm::MmStats`; the TSC pairs are around the MMU hypercalls (`hypercall::call_one`)
//! and each emulated page-table write (`ptwr`).

use hv_core::mm::DomId;

use crate::domain::DomainId;
use crate::hypervisor::Hypervisor;

impl Hypervisor {
    /// The TSC rate in kHz (the unit the `MMSTAT` cycle counts convert with).
    pub fn tsc_khz(&self) -> u64 {
        self.time.tsc_hz() / 1000
    }

    /// Logs the `MMSTAT` line of live domain `id`.
    pub fn log_mmstat(&self, id: DomainId) {
        if let Some(stats) = self.memory.mm.stats(DomId(id)) {
            log::info!("{}", stats.line(id, self.tsc_khz()));
        }
    }
}
