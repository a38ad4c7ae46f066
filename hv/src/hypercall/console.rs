//! `console_io`: a guest writing to (or reading from) the hypervisor console.
//!
//! Written bytes go into the domain's line buffer (`crate::console_lines`): lines reach the
//! serial port whole, with a `(dN) ` (or `(name) `) prefix, like Xen; non-printable bytes
//! other than tab and ESC (terminal control sequences, e.g. PV GRUB's menu) are dropped. Reads
//! return 0 bytes (console input goes to the console ring).

use pv_abi::errno;
use pv_abi::xen::{CONSOLEIO_READ, CONSOLEIO_WRITE};

use super::{Call, Ret};

/// Bytes accepted per call.
const MAX_WRITE: u64 = 64 * 1024;

pub fn console_io(call: &mut Call) -> Ret {
    let [cmd, count, buf, ..] = call.args;
    match cmd as u32 {
        CONSOLEIO_WRITE => {
            let count = count.min(MAX_WRITE);
            let now = call.hv.time.now();
            let mut chunk = [0u8; 256];
            let mut done = 0;
            let mut partial_started = false;
            while done < count {
                let n = (count - done).min(chunk.len() as u64) as usize;
                if let Err(f) = call.guest().read(buf.wrapping_add(done), &mut chunk[..n]) {
                    return f.into();
                }
                if let Some(d) = call.hv.domain(call.dom()) {
                    partial_started |= d.console_output(&chunk[..n], now);
                }
                done += n as u64;
            }
            if partial_started {
                // The unfinished line's deadline is new: console_io itself is timer-neutral.
                call.hv.program_timer();
            }
            Ret::Value(0)
        }
        CONSOLEIO_READ => Ret::Value(0),
        _ => Ret::Value(errno::neg(errno::EINVAL)),
    }
}
