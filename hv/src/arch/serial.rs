//! The 16550 serial port (COM1): the hypervisor's log and the guests' console.
//!
//! Output is polled and never blocks for long (the UART is emulated or fast); input is polled
//! from the scheduler and fed into the console ring of the domain that owns the console.

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};

const COM1: u16 = 0x3F8;

static PORT: Mutex<Option<Uart16550<PioBackend>>> = Mutex::new(None);

/// Initialises COM1 at 115200 8N1. Safe to call once at boot.
pub fn init() {
    // SAFETY: COM1 (0x3F8..0x3FF) is the standard PC serial port and nothing else uses it.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
        return;
    };
    if uart.init(Config::default()).is_ok() {
        *PORT.lock() = Some(uart);
    }
}

/// Writes bytes, turning `\n` into `\r\n` for terminals.
pub fn write_bytes(bytes: &[u8]) {
    let mut port = PORT.lock();
    let Some(uart) = port.as_mut() else { return };
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        match chunk.split_last() {
            Some((b'\n', body)) => {
                uart.send_bytes_exact(body);
                uart.send_bytes_exact(b"\r\n");
            }
            _ => uart.send_bytes_exact(chunk),
        }
    }
}

/// Asks the UART to interrupt when a byte arrives.
pub fn enable_receive_interrupt() {
    if let Some(uart) = PORT.lock().as_mut() {
        uart.enable_interrupts(uart_16550::spec::registers::IER::DATA_READY);
        // OUT2 gates the UART's interrupt line on PC hardware.
        super::cpu::outb(COM1 + 4, super::cpu::inb(COM1 + 4) | 0x08);
    }
}

/// Reads one byte if the receiver holds one.
pub fn try_read() -> Option<u8> {
    PORT.lock().as_mut()?.try_receive_byte().ok()
}

/// Forcibly releases the port lock (used only by the fatal-error path, which never returns).
pub fn force_unlock() {
    if PORT.is_locked() {
        // SAFETY: only called on the way to stopping the machine, after which the interrupted
        // holder never runs again.
        unsafe { PORT.force_unlock() };
    }
}
