//! The hypervisor as its own toolstack (there is no dom0): creating a domain with everything
//! around it — event-channel table with the console and xenstore backend ports, grant table,
//! time in shared_info, the domain's xenstore entries — and asking domains to shut down.
//!
//! A shutdown request writes `control/shutdown = "poweroff"` in the domain's xenstore
//! directory (what `xl shutdown` does); a domain that has not shut down within
//! [`SHUTDOWN_GRACE_NS`] is destroyed.

use hv_core::evtchn::{self, BackendService};

use crate::domain::builder::{self, BackendPorts, BuildError, DomainSpec};
use crate::domain::DomainId;
use crate::grants::FrameSource;
use crate::hypervisor::Hypervisor;

/// Time a domain gets to act on a shutdown request before it is destroyed.
pub const SHUTDOWN_GRACE_NS: u64 = 5_000_000_000;
/// Grant-table frames a domain may grow to (Xen's default `max_grant_frames`).
pub const MAX_GRANT_FRAMES: u32 = 64;

/// Pending toolstack actions.
#[derive(Debug, Default)]
pub struct Toolstack {
    /// System time at which every domain is asked to shut down.
    pub shutdown_at: Option<u64>,
    /// System time after which domains that ignored the request are destroyed.
    pub destroy_at: Option<u64>,
}

impl Hypervisor {
    /// Creates, builds and starts domain `id`.
    pub fn create_domain(&mut self, id: DomainId, spec: &DomainSpec) -> Result<(), BuildError> {
        let mut phases = builder::PhaseTimer::new(self.time.tsc_hz());
        let ev = evtchn::DomId(id);
        let ports = self.events.create_domain(ev, 1).and_then(|()| {
            let console = self.events.bind_backend(ev, BackendService::Console)?;
            let store = self.events.bind_backend(ev, BackendService::Xenstore)?;
            Ok((console.0, store.0))
        });
        let Ok((console_port, store_port)) = ports else {
            let _ = self.events.destroy_domain(ev);
            return Err(BuildError::Events);
        };
        let ports = BackendPorts {
            console: console_port,
            store: store_port,
        };
        phases.mark("events");
        let mut dom = match builder::build(&mut self.memory, id, spec, ports, &mut phases) {
            Ok(d) => d,
            Err(e) => {
                let _ = self.events.destroy_domain(ev);
                return Err(e);
            }
        };
        dom.max_pages = dom.max_pages.max(spec.max_memory_bytes / 4096);
        let name = dom.name.clone();
        let (nr_pages, max_pages) = (dom.nr_pages, dom.max_pages);
        self.domains.insert(id, dom);
        let gt = self.grants.create_domain(
            hv_core::DomId(id),
            MAX_GRANT_FRAMES,
            &mut FrameSource {
                memory: &mut self.memory,
                pages: &mut self.grant_pages,
            },
        );
        if gt.is_err() {
            self.crash_domain(id, "cannot create its grant table");
            return Err(BuildError::Grants);
        }
        phases.mark("grants");
        if let Some(d) = self.domains.get(&id) {
            self.time.write_wallclock(&d.shared_info);
        }
        self.refresh_vcpu_time((id, 0));
        phases.mark("time");
        self.introduce_to_store(id, &name, nr_pages, max_pages);
        phases.mark("xenstore");
        self.start_domain(id);
        phases.mark("start");
        log::info!("d{id}: built in {} us", phases.total_us());
        log::debug!("d{id}: build steps: {phases}");
        Ok(())
    }

    /// Creates domain `id` from its configuration record (boot modules and settings).
    pub fn create_configured_domain(
        &mut self,
        id: DomainId,
        record: &crate::domain::DomainRecord,
    ) -> Result<(), BuildError> {
        let kernel = crate::arch::phys::module_bytes(record.kernel);
        let ramdisk = record.ramdisk.map(crate::arch::phys::module_bytes);
        let o = &record.options;
        let spec = DomainSpec {
            kernel: kernel.bytes(),
            ramdisk: ramdisk.as_ref().map(|r| r.bytes()),
            cmdline: &o.cmdline,
            memory_bytes: o.memory,
            max_memory_bytes: o.max_memory,
            superpages: o.superpages,
            name: &o.name,
            tsc_hz: self.time.tsc_hz(),
        };
        self.create_domain(id, &spec)
    }

    /// Builds the domain of `record` again under a fresh id (its old one ended with a
    /// `restart` action).
    pub fn restart_domain(&mut self, record: crate::domain::DomainRecord) {
        let Some(id) = hv_core::domid::next_free(self.next_domain_id, |id| {
            self.domains.contains_key(&id) || self.records.contains_key(&id)
        }) else {
            log::error!(
                "cannot restart {:?}: no free domain id",
                record.options.name
            );
            return;
        };
        self.next_domain_id = id.wrapping_add(1);
        log::info!("restarting {:?} as domain {id}", record.options.name);
        match self.create_configured_domain(id, &record) {
            Ok(()) => {
                self.records.insert(id, record);
            }
            Err(e) => log::error!("cannot restart {:?}: {e:?}", record.options.name),
        }
    }

    /// Asks every domain to shut down at system time `at`.
    pub fn request_shutdown_at(&mut self, at: u64) {
        self.toolstack.shutdown_at = Some(at);
    }

    /// When the toolstack next needs to run.
    pub fn toolstack_deadline(&self) -> Option<u64> {
        [self.toolstack.shutdown_at, self.toolstack.destroy_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs due toolstack actions.
    pub fn toolstack_tick(&mut self) {
        let now = self.time.now();
        if self.toolstack.shutdown_at.is_some_and(|t| t <= now) {
            self.toolstack.shutdown_at = None;
            self.toolstack.destroy_at = Some(now + SHUTDOWN_GRACE_NS);
            let ids: alloc::vec::Vec<DomainId> = self.domains.keys().collect();
            for id in ids {
                log::info!("asking domain {id} to shut down (control/shutdown = poweroff)");
                self.store_request_shutdown(id, "poweroff");
            }
        }
        if self.toolstack.destroy_at.is_some_and(|t| t <= now) {
            self.toolstack.destroy_at = None;
            let ids: alloc::vec::Vec<DomainId> = self.domains.keys().collect();
            for id in ids {
                self.crash_domain(id, "did not shut down within 5 s of the shutdown request");
            }
        }
    }
}
