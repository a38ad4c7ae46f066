//! The xenstore service: the `xenstore` crate's server, fed from each domain's store ring.
//!
//! At domain creation the toolstack writes the domain's entries as `xl` would:
//!
//! ```text
//!  /local/domain/N/name              kernel's GUEST_OS note
//!  /local/domain/N/domid             N
//!  /local/domain/N/memory/target     KiB
//!  /local/domain/N/memory/static-max KiB
//!  /local/domain/N/control/…, data/, … (created guest-writable by `introduce_domain`;
//!                                    control/shutdown requests go there)
//! ```
//!
//! A guest notifying its store port makes the server consume its requests and answer; watch
//! events for other domains are delivered to their rings too.

use alloc::format;
use alloc::string::ToString;

use xenstore::ring::RingPage;
use xenstore::{DomId, Store};

use crate::domain::DomainId;
use crate::hypervisor::Hypervisor;
use crate::rings::PageRing;

impl RingPage for PageRing<'_> {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        PageRing::read(self, offset, buf);
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        PageRing::write(self, offset, data);
    }
}

/// The hypervisor's xenstore.
pub fn new_store() -> Store {
    Store::new(xenstore::Limits::default())
}

impl Hypervisor {
    /// Registers domain `id` with xenstore and writes its entries, all in one step.
    pub fn introduce_to_store(&mut self, id: DomainId, name: &str, nr_pages: u64, max_pages: u64) {
        let target = (nr_pages * 4).to_string();
        let static_max = (max_pages * 4).to_string();
        let entries: [(&str, &[u8]); 3] = [
            ("name", name.as_bytes()),
            ("memory/target", target.as_bytes()),
            ("memory/static-max", static_max.as_bytes()),
        ];
        if let Err(e) = self.store.introduce_domain_with(DomId(id), &entries) {
            log::warn!("xenstore: cannot introduce domain {id}: {e:?}");
        }
    }

    /// Forgets domain `id` in xenstore.
    pub fn release_from_store(&mut self, id: DomainId) {
        let _ = self.store.release_domain(DomId(id));
    }

    /// Writes `control/shutdown` for domain `id`.
    pub fn store_request_shutdown(&mut self, id: DomainId, what: &str) {
        let _ = self.store.tool_write(
            &format!("/local/domain/{id}/control/shutdown"),
            what.as_bytes(),
        );
        self.service_store_outputs();
    }

    /// Serves domain `id`'s store ring (it notified its store port).
    pub fn xenstore_backend(&mut self, id: DomainId) {
        let mut round = 0;
        loop {
            let Some(d) = self.domains.get(&id) else {
                return;
            };
            let port = d.store_port;
            let mut ring = PageRing::new(&d.store_ring);
            let outcome = self.store.service(DomId(id), &mut ring);
            if let Some(e) = outcome.error {
                log::warn!("d{id}: xenstore ring protocol error: {e:?}; connection closed");
            }
            if outcome.notify_guest {
                self.notify_backend_port(id, port);
            }
            round += 1;
            if !outcome.call_again || round > 16 {
                break;
            }
        }
        self.service_store_outputs();
    }

    /// Delivers queued xenstore output (watch events) to every domain that has some.
    pub fn service_store_outputs(&mut self) {
        for dom in self.store.take_domains_with_output() {
            let id = dom.0;
            let Some(d) = self.domains.get(&id) else {
                continue;
            };
            let port = d.store_port;
            let mut ring = PageRing::new(&d.store_ring);
            let outcome = self.store.service(dom, &mut ring);
            if outcome.notify_guest {
                self.notify_backend_port(id, port);
            }
        }
    }
}
