//! The console: the serial port as seen by guests.
//!
//! Output from a guest — `console_io` writes and its console ring — is printed line by line
//! with a `(dN) ` prefix, like Xen does (buffered per domain: `crate::console_lines`). The hypervisor is the console ring's backend: it
//! drains `out` when the guest notifies it (and on every housekeeping tick, in case it didn't)
//! and feeds serial input into `in` of the domain with the input focus (at first the first
//! domain). Three Ctrl-A in a row move the focus on, through every running domain and then to
//! the hypervisor's debug keys (`hv_core::console_input`).

use hv_core::console::{drain_output, push_input};
use hv_core::console_input::{self, DebugCommand, DebugKeys, Input, Switcher};
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
        let now = self.time.now();
        let port = d.console_port;
        let (ring, console) = (&d.console_ring, &mut d.console);
        let mut partial_started = false;
        match drain_output(&mut PageRing::new(ring), |bytes| {
            partial_started |= console.write(id, bytes, now);
        }) {
            Ok(t) => {
                if t.notify {
                    self.notify_backend_port(id, port);
                }
                if partial_started {
                    // The unfinished line's deadline is new (the notify hypercall is
                    // timer-neutral).
                    self.program_timer();
                }
            }
            Err(e) => {
                let why = alloc::format!("console ring indices corrupt ({e:?})");
                self.crash_domain(id, &why);
            }
        }
    }

    /// Moves pending serial input to whoever has the input focus.
    pub fn console_input(&mut self) {
        // With no domain to take it, input stays in the UART (and QEMU's backlog) until one
        // exists: nothing typed is lost.
        if !self.domains.values().any(|d| d.is_running()) {
            self.input.uart_may_hold = true;
            return;
        }
        let mut typed = [0u8; 64];
        let mut n = 0;
        while n < typed.len() {
            match serial::try_read() {
                Some(b) => {
                    typed[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        self.input.uart_may_hold = n == typed.len();
        if n == 0 {
            return;
        }
        let mut inputs = alloc::vec::Vec::with_capacity(n);
        for &b in &typed[..n] {
            self.input.switcher.feed(b, &mut |i| inputs.push(i));
        }
        let mut for_domain = alloc::vec::Vec::with_capacity(n);
        for i in inputs {
            match (i, self.input_focus()) {
                (Input::Switch, focus) => {
                    self.deliver_input(focus, &for_domain);
                    for_domain.clear();
                    self.switch_focus(focus);
                }
                (Input::Byte(b), Some(_)) => for_domain.push(b),
                (Input::Byte(b), None) => {
                    if let Some(cmd) = self.input.keys.feed(b) {
                        self.debug_command(cmd);
                    }
                }
            }
        }
        let focus = self.input_focus();
        self.deliver_input(focus, &for_domain);
    }

    /// The domain with the input focus (`None`: the hypervisor's debug keys). A focused
    /// domain that stopped running hands the focus to the first running one.
    fn input_focus(&mut self) -> Option<DomainId> {
        if let Focus::Domain(id) = self.input.focus {
            if self.domains.get(&id).is_some_and(|d| d.is_running()) {
                return Some(id);
            }
            let first = self
                .domains
                .iter()
                .find(|(_, d)| d.is_running())
                .map(|(id, _)| id);
            self.input.focus = first.map_or(Focus::Hypervisor, Focus::Domain);
            return first;
        }
        None
    }

    fn switch_focus(&mut self, from: Option<DomainId>) {
        let next = self
            .domains
            .iter()
            .filter(|&(id, d)| d.is_running() && from.is_none_or(|f| id > f))
            .map(|(id, _)| id)
            .next();
        self.input.focus = match (from, next) {
            (_, Some(id)) => {
                let name = self.domains.get(&id).map_or("", |d| d.name.as_str());
                log::info!("serial input to domain {id} ({name}); 3 x Ctrl-A switches");
                Focus::Domain(id)
            }
            (Some(_), None) => {
                log::info!("serial input to the hypervisor: {}", console_input::HELP);
                Focus::Hypervisor
            }
            (None, None) => Focus::Hypervisor,
        };
    }

    fn debug_command(&mut self, cmd: DebugCommand) {
        match cmd {
            DebugCommand::List => {
                log::info!("domains: id name state memory superpages cpu");
                for d in self.domains.values() {
                    log::info!(
                        "  {} {} {} {} MiB{} {} ms",
                        d.id,
                        d.name,
                        d.state_word(),
                        d.nr_pages / 256,
                        if d.superpages { " superpages" } else { "" },
                        d.cpu_ns / 1_000_000
                    );
                }
            }
            DebugCommand::Profile if !self.prof_on => {
                log::info!("profiles are off: boot with `profile` on the hypervisor command line");
            }
            DebugCommand::Profile => {
                for d in self.domains.values().filter(|d| d.is_running()) {
                    crate::profile::log_profile(d);
                }
            }
            DebugCommand::MmStats => {
                for d in self.domains.values().filter(|d| d.is_running()) {
                    self.log_mmstat(d.id);
                }
            }
            DebugCommand::Destroy(id) => {
                if self.domains.contains_key(&id) {
                    log::info!("destroying domain {id} (debug key)");
                    self.records.remove(&id);
                    self.destroy_domain(id);
                } else {
                    log::info!("no domain {id}");
                }
            }
            DebugCommand::Help | DebugCommand::Unknown => log::info!("{}", console_input::HELP),
        }
    }

    /// Puts typed bytes into domain `id`'s console ring.
    fn deliver_input(&mut self, id: Option<DomainId>, bytes: &[u8]) {
        let Some(id) = id else { return };
        if bytes.is_empty() {
            return;
        }
        let Some(d) = self.domains.get_mut(&id) else {
            return;
        };
        let mut ring = PageRing::new(&d.console_ring);
        match push_input(&mut ring, bytes) {
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

/// Who gets serial input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// A domain's console.
    Domain(DomainId),
    /// The hypervisor's debug keys.
    Hypervisor,
}

/// Serial input state: focus, Ctrl-A counting, a debug command being typed.
#[derive(Debug)]
pub struct InputState {
    /// Who gets input.
    pub focus: Focus,
    /// The UART may hold input that no interrupt will announce: set at boot and when a read
    /// stopped before the UART was empty (no running domain to take it, or a full buffer,
    /// which leaves the interrupt line raised: no new edge). The timer tick polls the UART
    /// only while this is set or input has no interrupt (`Hypervisor::serial_irq`): under
    /// emulation each poll is an exit to the device model.
    pub uart_may_hold: bool,
    switcher: Switcher,
    keys: DebugKeys,
}

impl Default for InputState {
    fn default() -> Self {
        Self {
            // The first domain (ids start at 1).
            focus: Focus::Domain(1),
            uart_may_hold: true,
            switcher: Switcher::default(),
            keys: DebugKeys::default(),
        }
    }
}
