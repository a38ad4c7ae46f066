//! Per-domain hypervisor profile, the platform half (the bookkeeping is
//! `hv_core::profile`): TSC checkpoints at guest exit entry and just before the return to a
//! guest (so an exit's scheduling and return path count in its kind), around each call a
//! multicall runs and each `mmuext_op` item, around event upcalls; a table at domain
//! teardown and on the `c` debug key. Off unless `profile` is on the command line. Two `rdtsc` and one domain lookup per plain exit: a
//! third checkpoint to split out the return path measurably slowed `bench-superpage` under
//! TCG, where `rdtsc` is a helper call.

use hv_core::profile::{Kind, Segment};

use crate::arch::cpu;
use crate::domain::{Domain, DomainId};
use crate::hypervisor::Hypervisor;

/// Kinds shown in a table.
const ROWS: usize = 32;

impl Hypervisor {
    /// A guest exit of `dom` begins: its time is charged to `dom` from now.
    #[inline(always)]
    pub fn prof_exit(&mut self, dom: DomainId) {
        if !self.prof_on {
            return;
        }
        // The clock is stopped between exits: normally no segment to charge.
        self.prof_switch(dom, Kind::Other, false);
    }

    /// The exit ends (the guest is resumed or the CPU idles): charges it, counts one exit.
    #[inline(always)]
    pub fn prof_end_exit(&mut self) {
        if self.prof_on {
            self.prof_end_exit_on();
        }
    }

    #[cold]
    #[inline(never)]
    fn prof_end_exit_on(&mut self) {
        let Some(s) = self.prof.stop(cpu::rdtsc()) else {
            return;
        };
        if let Some(d) = self.domains.get_mut(&s.dom) {
            d.profile.charge(s.kind, s.cycles, s.counted);
            d.profile.exits += 1;
        }
    }

    /// Names what the open segment is (free: no time reading). With profiling off (the
    /// usual case) this is one test on the exit path; the work is out of line.
    #[inline(always)]
    pub fn prof_classify(&mut self, kind: Kind) {
        self.prof_classify_with(|| kind);
    }

    /// [`Self::prof_classify`] with the kind computed only when profiling is on (a kind
    /// worked out from a guest number costs a few tests on the exit path otherwise).
    #[inline(always)]
    pub fn prof_classify_with(&mut self, kind: impl FnOnce() -> Kind) {
        if self.prof_on {
            self.prof_classify_on(kind());
        }
    }

    #[cold]
    #[inline(never)]
    fn prof_classify_on(&mut self, kind: Kind) {
        self.prof.classify(kind);
    }

    /// Charges the time so far and goes on charging `dom`'s `kind` (`counted`: a new
    /// occurrence, not the resumption of an outer one).
    #[inline(always)]
    pub fn prof_switch(&mut self, dom: DomainId, kind: Kind, counted: bool) {
        if self.prof_on {
            self.prof_switch_on(dom, kind, counted);
        }
    }

    #[cold]
    #[inline(never)]
    fn prof_switch_on(&mut self, dom: DomainId, kind: Kind, counted: bool) {
        let seg = self.prof.switch(dom, kind, counted, cpu::rdtsc());
        self.prof_charge(seg);
    }

    /// Charges the time so far and stops charging.
    pub fn prof_stop(&mut self) {
        if !self.prof_on {
            return;
        }
        let seg = self.prof.stop(cpu::rdtsc());
        self.prof_charge(seg);
    }

    /// Adds `n` batch items to `dom`'s `kind`.
    pub fn prof_items(&mut self, dom: DomainId, kind: Kind, n: u64) {
        if !self.prof_on {
            return;
        }
        if let Some(d) = self.domains.get_mut(&dom) {
            d.profile.add_items(kind, n);
        }
    }

    fn prof_charge(&mut self, seg: Option<Segment<DomainId>>) {
        let Some(s) = seg else { return };
        // A domain destroyed during the exit is gone with its profile.
        if let Some(d) = self.domains.get_mut(&s.dom) {
            d.profile.charge(s.kind, s.cycles, s.counted);
        }
    }
}

/// Logs `d`'s profile table at info level.
pub fn log_profile(d: &Domain) {
    log::info!(
        "domain {} ({}) hypervisor profile, {} ms run:",
        d.id,
        d.name,
        d.cpu_ns / 1_000_000
    );
    d.profile.report(ROWS, |line| log::info!("{line}"));
    let (cr3, flushes, invlpg) = cpu::tlb_counts();
    log::info!(
        "TLB since boot (all domains): cr3_loads={cr3} of_which_flushes={flushes} invlpg={invlpg}; \
         LAPIC timer writes {}",
        crate::arch::lapic::timer_writes()
    );
}
