//! `print!`/`println!` through `console_io`, for guests before (or without) a console ring.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::hypercall::{console_write, Via};

static USE_PAGE: AtomicBool = AtomicBool::new(false);

/// Sends console output through the hypercall page instead of a raw `syscall`.
pub fn use_hypercall_page(yes: bool) {
    USE_PAGE.store(yes, Ordering::Relaxed);
}

/// A `fmt::Write` sink that forwards to `console_io`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes())
    }
}

/// Sends `bytes` to `console_io`, 1 KiB per call.
fn write_bytes(bytes: &[u8]) -> fmt::Result {
    let via = if USE_PAGE.load(Ordering::Relaxed) {
        Via::Page
    } else {
        Via::Syscall
    };
    for chunk in bytes.chunks(1024) {
        if console_write(via, chunk) < 0 {
            return Err(fmt::Error);
        }
    }
    Ok(())
}

/// Collects one `print!` in a buffer so that a line reaches the console in one `console_io`
/// call: the hypervisor ends an open line when another domain writes, so a line written in
/// pieces could be cut by a neighbour's output.
struct Buffered {
    buf: [u8; 512],
    len: usize,
}

impl Buffered {
    fn flush(&mut self) -> fmt::Result {
        let r = write_bytes(&self.buf[..self.len]);
        self.len = 0;
        r
    }
}

impl Write for Buffered {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.buf.len() {
            self.flush()?;
            if s.len() > self.buf.len() {
                return write_bytes(s.as_bytes());
            }
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut out = Buffered {
        buf: [0; 512],
        len: 0,
    };
    if out.write_fmt(args).is_ok() {
        let _ = out.flush();
    }
}

/// Prints to the hypervisor console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Prints a line to the hypervisor console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}
