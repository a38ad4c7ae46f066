//! The console: the serial port as seen by guests.
//!
//! Output from a guest — `console_io` writes and its console ring — is printed line by line
//! with a `(dN) ` prefix, like Xen does. The hypervisor is the console ring's backend: it
//! drains `out` when the guest notifies it (and on every housekeeping tick, in case it didn't)
//! and feeds serial input into `in` of the console's owner (the first domain).

use hv_core::console::{drain_output, push_input};
use hv_core::evtchn::{self, Port};

use crate::arch::serial;
use crate::domain::DomainId;
use crate::events::DomainPages;
use crate::hypervisor::Hypervisor;
use crate::rings::PageRing;

impl Hypervisor {
    /// Drains domain `id`'s console ring onto the serial port.
    pub fn console_backend(&mut self, id: DomainId) {
        let Some(d) = self.domains.get_mut(&id) else {
            return;
        };
        if !d.is_running() {
            return;
        }
        let mut ring = PageRing::new(&d.console_ring);
        let mut out = alloc::vec::Vec::new();
        match drain_output(&mut ring, |bytes| out.extend_from_slice(bytes)) {
            Ok(t) => {
                d.console_output(&out);
                if t.notify {
                    self.notify_backend_port(
                        id,
                        self.domains.get(&id).map_or(0, |d| d.console_port),
                    );
                }
            }
            Err(e) => {
                let why = alloc::format!("console ring indices corrupt ({e:?})");
                self.crash_domain(id, &why);
            }
        }
    }

    /// Moves pending serial input into the console owner's ring.
    pub fn console_input(&mut self) {
        // With no domain to take it, input stays in the UART (and QEMU's backlog) until one
        // exists: nothing typed is lost.
        if !self.domains.values().any(|d| d.is_running()) {
            return;
        }
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < buf.len() {
            match serial::try_read() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return;
        }
        let Some((&id, d)) = self.domains.iter_mut().find(|(_, d)| d.is_running()) else {
            return;
        };
        let mut ring = PageRing::new(&d.console_ring);
        match push_input(&mut ring, &buf[..n]) {
            Ok(t) if t.notify || t.bytes > 0 => {
                let port = d.console_port;
                self.notify_backend_port(id, port);
            }
            Ok(_) => {}
            Err(e) => {
                let why = alloc::format!("console ring indices corrupt ({e:?})");
                self.crash_domain(id, &why);
            }
        }
    }

    /// Raises a backend port of domain `id` (console, xenstore) and wakes its vCPU.
    pub fn notify_backend_port(&mut self, id: DomainId, port: u32) {
        if port == 0 {
            return;
        }
        let r = self.events.notify_from_backend(
            evtchn::DomId(id),
            Port(port),
            &mut DomainPages(&self.domains),
        );
        if let Ok(n) = r {
            self.kick(n);
        }
    }
}
