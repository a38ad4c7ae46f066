//! Guest console output on the serial port, one whole line at a time.
//!
//! Each domain's output — `console_io` writes and its console ring — goes into its own
//! `hv_core::console_line::LineBuffer` (in [`ConsoleState`]); finished lines go out with the
//! domain's `(dN) ` / `(name) ` prefix through the one [`SerialLines`] of the port, which the
//! hypervisor's log shares (it ends a shown partial line before an `(HV)` line).
//!
//! An unfinished line (a prompt) is shown:
//! - when the CPU goes idle while one domain runs — it has said all it will say for now, and
//!   no neighbour can cut its line ([`Hypervisor::show_partial_lines`] from the idle loop);
//!   with several domains, two that sleep between the pieces of their lines would otherwise
//!   cut each other's lines at every idle moment;
//! - once it is `PARTIAL_LINE_DELAY_NS` old (the timer tick; the timer is armed for it when a
//!   partial line starts, and `housekeeping_deadline` covers it);
//! - when its domain ends (shutdown, crash, destroy), after its ring has been drained, so a
//!   dying guest's last words come out before the hypervisor's line about its end.

use alloc::vec::Vec;

use hv_core::console::drain_output;
use hv_core::console_line::{SerialLines, Writer};
use spin::Mutex;

use crate::domain::{ConsoleState, Domain, DomainId};
use crate::hypervisor::Hypervisor;
use crate::rings::PageRing;

/// Who has a line open on the serial port (shared with the logger).
static SERIAL_LINES: Mutex<SerialLines> = Mutex::new(SerialLines::new());

/// Before the hypervisor logs a line: ends a domain's shown partial line. Skipped if the
/// state is locked (a fatal error while a line was being written): the log line then simply
/// follows on the same line.
pub fn before_log() {
    let Some(mut lines) = SERIAL_LINES.try_lock() else {
        return;
    };
    let mut out = Vec::new();
    lines.start(Writer::Hypervisor, &mut out);
    if !out.is_empty() {
        crate::arch::serial::write_bytes(&out);
    }
}

impl ConsoleState {
    /// Takes guest console bytes that arrived at `now` (system time, ns). Returns whether a
    /// partial line started waiting (its deadline is new: the caller re-arms the timer).
    pub fn write(&mut self, id: DomainId, bytes: &[u8], now: u64) -> bool {
        let was_empty = self.line.is_empty();
        let prefix = self.prefix.as_bytes();
        with_port(|lines, out| {
            self.line.write(bytes, now, &mut |text, end| {
                lines.piece(id, prefix, text, end, out)
            });
        });
        was_empty && !self.line.is_empty()
    }

    /// Shows the unfinished line now.
    pub fn show_partial(&mut self, id: DomainId) {
        if self.line.is_empty() {
            return;
        }
        let prefix = self.prefix.as_bytes();
        with_port(|lines, out| {
            self.line
                .flush(&mut |text, end| lines.piece(id, prefix, text, end, out));
        });
    }

    /// Shows the unfinished line if it has waited long enough at `now`.
    pub fn show_partial_if_due(&mut self, id: DomainId, now: u64) {
        if self.line.deadline().is_some_and(|t| t <= now) {
            self.show_partial(id);
        }
    }

    /// The domain is gone: shows what it left unfinished and ends its line.
    pub fn close(&mut self, id: DomainId) {
        self.show_partial(id);
        with_port(|lines, out| lines.end_of(id, out));
    }
}

/// Runs `f` with the port's line state and a buffer for the bytes to send, then sends them.
fn with_port(f: impl FnOnce(&mut SerialLines, &mut Vec<u8>)) {
    let mut lines = SERIAL_LINES.lock();
    let mut out = Vec::new();
    f(&mut lines, &mut out);
    if !out.is_empty() {
        crate::arch::serial::write_bytes(&out);
    }
}

impl Domain {
    /// Feeds guest console bytes (from `console_io` or the console ring) that arrived at `now`.
    /// Returns whether a partial line started waiting (see [`ConsoleState::write`]).
    pub fn console_output(&mut self, bytes: &[u8], now: u64) -> bool {
        self.console.write(self.id, bytes, now)
    }

    /// Shows what the domain left unfinished and ends its line (the domain goes away).
    pub fn flush_console(&mut self) {
        self.console.close(self.id);
    }
}

impl Hypervisor {
    /// Shows every domain's unfinished line (the CPU is going idle with one domain running).
    pub fn show_partial_lines(&mut self) {
        for d in self.domains.values_mut() {
            let id = d.id;
            d.console.show_partial(id);
        }
    }

    /// Shows the unfinished lines that have waited long enough.
    pub fn show_due_partial_lines(&mut self) {
        let now = self.time.now();
        for d in self.domains.values_mut() {
            let id = d.id;
            d.console.show_partial_if_due(id, now);
        }
    }

    /// A domain is ending: drains what its console ring still holds (a ring with impossible
    /// indices is skipped, not crashed again) and shows its unfinished line, so its last
    /// output precedes the hypervisor's line about its end.
    pub fn console_last_words(&mut self, id: DomainId) {
        let now = self.time.now();
        let Some(d) = self.domains.get_mut(&id) else {
            return;
        };
        let (ring, console) = (&d.console_ring, &mut d.console);
        let _ = drain_output(&mut PageRing::new(ring), |bytes| {
            console.write(id, bytes, now);
        });
        d.flush_console();
    }
}
