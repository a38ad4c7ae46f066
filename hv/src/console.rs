//! The physical console (serial port) as seen by guests: lines from domain N are printed with
//! a `(dN) ` prefix, like Xen does.

use core::fmt::Write;

use crate::arch::serial::SerialWriter;

/// Prints one line of guest output.
pub fn guest_line(domain: u16, text: &str) {
    let _ = writeln!(SerialWriter, "(d{domain}) {text}");
}
