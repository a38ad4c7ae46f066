//! Time for guests: the system clock (nanoseconds since boot, from the TSC), the wallclock
//! (from the RTC at boot), each vCPU's `vcpu_time_info`, guest timers, and the LAPIC timer
//! that wakes the hypervisor at the next deadline — so an idle guest costs no CPU.
//!
//! ```text
//!  vcpu_info[v].time (vcpu_info + 32; see vcpu_info.rs):
//!  +0 version  +8 tsc_timestamp  +16 system_time  +24 tsc_to_system_mul  +28 tsc_shift  +29 flags
//!  shared_info + 3072: wc_version, wc_sec, wc_nsec, wc_sec_hi
//! ```

use hv_core::evtchn::{DomId, VcpuId};
use hv_core::time::{
    version_update_begin, version_update_end, SystemClock, TimeScale, TimerQueue, WallClock,
    XEN_PVCLOCK_TSC_STABLE,
};
use pv_abi::xen::VcpuTimeInfo;

use crate::arch::{cpu, lapic, rtc};
use crate::guest_page::GuestPage;
use crate::hypervisor::{Hypervisor, VcpuRef};
use crate::vcpu_info::VcpuInfo;

const WALLCLOCK_OFFSET: usize = 3072;

/// The hypervisor's clocks and guest timers.
pub struct TimeKeeper {
    /// TSC → system time.
    pub clock: SystemClock,
    /// Wallclock at system time 0.
    pub wallclock: WallClock,
    /// Guest timers.
    pub timers: TimerQueue,
    /// When the LAPIC one-shot timer is armed to fire (system time), `None` = disarmed:
    /// re-arming costs an APIC register write (an exit to the device model under
    /// emulation), so it is skipped when the armed time is still ahead and not later than
    /// the wanted one (an early tick only re-arms).
    pub armed: Option<u64>,
    /// The calibrated TSC frequency.
    tsc_hz: u64,
}

impl TimeKeeper {
    /// The calibrated TSC frequency.
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Starts the system clock now, with the calibrated TSC frequency.
    pub fn new(tsc_hz: u64) -> Self {
        let scale =
            TimeScale::from_frequency(tsc_hz.max(1_000_000)).expect("TSC frequency in range");
        let clock = SystemClock::new(scale, cpu::rdtsc());
        let wallclock = WallClock::from_unix_time(rtc::unix_time(), 0, clock.now(cpu::rdtsc()))
            .unwrap_or(WallClock {
                wc_sec: 0,
                wc_nsec: 0,
                wc_sec_hi: 0,
            });
        Self {
            clock,
            wallclock,
            timers: TimerQueue::new(),
            armed: None,
            tsc_hz,
        }
    }

    /// System time now, ns since boot.
    pub fn now(&self) -> u64 {
        self.clock.now(cpu::rdtsc())
    }

    /// Writes a vCPU's `vcpu_time_info` (seqlock protocol: odd version while writing) and
    /// returns the record written, with its odd (in-progress) version — what the secondary
    /// copy (`time_area.rs`) writes first.
    pub fn update_vcpu_time(&self, info: VcpuInfo) -> VcpuTimeInfo {
        let f = self.clock.vcpu_time(cpu::rdtsc(), XEN_PVCLOCK_TSC_STABLE);
        let version = info.time_word(0) as u32;
        let odd = version_update_begin(version);
        info.set_time_word(0, u64::from(odd));
        info.set_time_word(1, f.tsc_timestamp);
        info.set_time_word(2, f.system_time);
        let tail = u64::from(f.tsc_to_system_mul)
            | (u64::from(f.tsc_shift as u8) << 32)
            | (u64::from(f.flags) << 40);
        info.set_time_word(3, tail);
        info.set_time_word(0, u64::from(version_update_end(odd)));
        VcpuTimeInfo {
            version: odd,
            pad0: 0,
            tsc_timestamp: f.tsc_timestamp,
            system_time: f.system_time,
            tsc_to_system_mul: f.tsc_to_system_mul,
            tsc_shift: f.tsc_shift,
            flags: f.flags,
            pad1: [0; 2],
        }
    }

    /// Writes the wallclock fields of a domain's shared_info page.
    pub fn write_wallclock(&self, shared_info: &GuestPage) {
        let base = WALLCLOCK_OFFSET;
        let version = shared_info.read_u64(base) as u32;
        let odd = version.wrapping_add(1) | 1;
        let w = self.wallclock;
        shared_info.write_u64(base, u64::from(odd) | (u64::from(w.wc_sec) << 32));
        shared_info.write_u64(
            base + 8,
            u64::from(w.wc_nsec) | (u64::from(w.wc_sec_hi) << 32),
        );
        shared_info.write_u64(
            base,
            u64::from(odd.wrapping_add(1)) | (u64::from(w.wc_sec) << 32),
        );
    }
}

impl Hypervisor {
    /// Raises VIRQ_TIMER for every guest timer that is due.
    pub fn expire_timers(&mut self) {
        let now = self.time.now();
        for (dom, vcpu) in self.time.timers.expire(now) {
            let v: VcpuRef = (dom.0, vcpu.0 as usize);
            self.raise_virq(v, pv_abi::xen::VIRQ_TIMER);
            self.poll_timeout(v);
        }
    }

    /// Arms the LAPIC timer for the next guest deadline (or the periodic hypervisor tick).
    pub fn program_timer(&mut self) {
        let now = self.time.now();
        let mut next = self.time.timers.next_deadline();
        if let Some(tick) = self.housekeeping_deadline(now) {
            next = Some(next.map_or(tick, |n| n.min(tick)));
        }
        // The running vCPU's slice ends while others wait.
        let cpu = self.cpu_ref();
        if cpu.current.is_some() && !cpu.run_queue.is_empty() {
            let end = cpu.slice_start + cpu.run_queue.slice_ns();
            next = Some(next.map_or(end, |n| n.min(end)));
        }
        let target = next.map(|deadline| deadline.max(now.saturating_add(1_000)));
        let keep = match (self.time.armed, target) {
            (None, None) => true,
            (Some(armed), target) => armed > now && target.is_none_or(|t| armed <= t),
            (None, Some(_)) => false,
        };
        if keep {
            return;
        }
        self.time.armed = target;
        lapic::arm_timer_ns(target.map_or(0, |t| t - now));
    }

    /// Sets `v`'s single-shot timer (`set_timer_op` semantics; 0 cancels).
    pub fn set_timer_op(&mut self, v: VcpuRef, timeout: u64) {
        let now = self.time.now();
        self.time
            .timers
            .set_timer_op(DomId(v.0), VcpuId(v.1 as u32), timeout, now);
    }
}
