//! `console_io`: a guest writing to (or reading from) the hypervisor console.
//!
//! Output is printed line by line with a `(dN) ` prefix, like Xen; non-printable bytes are
//! dropped. Reads return 0 bytes (console input goes to the console ring).

use pv_abi::errno;
use pv_abi::xen::{CONSOLEIO_READ, CONSOLEIO_WRITE};

use super::{Call, Ret};
use crate::domain::Domain;

/// Longest line kept before it is printed anyway.
const MAX_LINE: usize = 256;
/// Bytes accepted per call.
const MAX_WRITE: u64 = 64 * 1024;

pub fn console_io(call: &mut Call) -> Ret {
    let [cmd, count, buf, ..] = call.args;
    match cmd as u32 {
        CONSOLEIO_WRITE => {
            let count = count.min(MAX_WRITE);
            let mut chunk = [0u8; 256];
            let mut done = 0;
            while done < count {
                let n = (count - done).min(chunk.len() as u64) as usize;
                if let Err(f) = call.guest().read(buf.wrapping_add(done), &mut chunk[..n]) {
                    return f.into();
                }
                if let Some(d) = call.hv.domain(call.dom()) {
                    d.console_output(&chunk[..n]);
                }
                done += n as u64;
            }
            Ret::Value(0)
        }
        CONSOLEIO_READ => Ret::Value(0),
        _ => Ret::Value(errno::neg(errno::EINVAL)),
    }
}

impl Domain {
    /// Feeds guest console bytes; complete lines are printed.
    pub fn console_output(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => self.flush_console(),
                b'\r' => {}
                b'\t' | 0x20..=0x7e => {
                    self.console.line.push(b);
                    if self.console.line.len() >= MAX_LINE {
                        self.flush_console();
                    }
                }
                _ => {}
            }
        }
    }

    /// Prints the pending partial line, if any.
    pub fn flush_console(&mut self) {
        if self.console.line.is_empty() {
            return;
        }
        let text = core::str::from_utf8(&self.console.line).unwrap_or("");
        crate::console::guest_line(self.id, text);
        self.console.line.clear();
    }
}
