//! `console_io`: a guest writing to (or reading from) the hypervisor console.
//!
//! Output is printed line by line with a `(dN) ` (or `(name) `) prefix, like Xen; non-printable bytes other
//! than tab and ESC (terminal control sequences, e.g. PV GRUB's menu) are dropped. Reads return 0 bytes (console input goes to the console ring).

use pv_abi::errno;
use pv_abi::xen::{CONSOLEIO_READ, CONSOLEIO_WRITE};

use super::{Call, Ret};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering};

use crate::domain::Domain;

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

/// The domain whose line is open on the serial port (0: none). Another domain's output
/// first ends that line, so lines of different domains never run together; the interrupted
/// domain's next bytes start a fresh, prefixed line.
static OPEN_LINE: AtomicU16 = AtomicU16::new(0);

impl Domain {
    /// Feeds guest console bytes to the serial port as they come, with the domain's prefix
    /// (`(dN) ` or `(name) `) at the start of every line (partial lines such as prompts show
    /// at once).
    pub fn console_output(&mut self, bytes: &[u8]) {
        let mut out = Vec::with_capacity(bytes.len() + 16);
        for &b in bytes {
            if !matches!(b, b'\n' | b'\t' | 0x1b | 0x20..=0x7e) {
                continue;
            }
            let open = OPEN_LINE.load(Ordering::Relaxed);
            if open != self.id {
                if open != 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(self.console.prefix.as_bytes());
                OPEN_LINE.store(self.id, Ordering::Relaxed);
            }
            out.push(b);
            if b == b'\n' {
                OPEN_LINE.store(0, Ordering::Relaxed);
            }
        }
        crate::arch::serial::write_bytes(&out);
    }

    /// Ends a partial line (when the domain goes away).
    pub fn flush_console(&mut self) {
        if OPEN_LINE.load(Ordering::Relaxed) == self.id {
            crate::arch::serial::write_bytes(b"\n");
            OPEN_LINE.store(0, Ordering::Relaxed);
        }
    }
}
