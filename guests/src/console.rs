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
        let via = if USE_PAGE.load(Ordering::Relaxed) {
            Via::Page
        } else {
            Via::Syscall
        };
        for chunk in s.as_bytes().chunks(1024) {
            if console_write(via, chunk) < 0 {
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
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
