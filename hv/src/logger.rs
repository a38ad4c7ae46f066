//! The `log` backend: every record goes to the serial port as `(XEN) [level] message`-style
//! lines (`(HV)` prefix), filtered by the level chosen on the command line.

use core::fmt::Write;
use log::{LevelFilter, Log, Metadata, Record};

use hv_core::console_line::Batched;

use crate::arch::serial;

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            crate::console_lines::before_log();
            // Whole lines (up to 256 bytes) to the port, not one write per fragment.
            let mut line = Batched::<_, 256>::new(serial::write_bytes);
            let _ = writeln!(line, "(HV) {:5} {}", record.level(), record.args());
            line.flush();
        }
    }

    fn flush(&self) {}
}

/// Installs the serial logger with `level`.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Changes the log level (after the command line is parsed).
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
