//! Guest console output, one whole line at a time.
//!
//! Every domain's console output (`console_io` writes and its console ring) goes through its
//! own [`LineBuffer`], so a line the guest writes in pieces — Linux `pr_cont`, Mini-OS
//! `printk`, a shell echoing a word at a time — reaches the serial port as one line, and a
//! neighbour's output can no longer cut it in two. This is Xen's per-domain `pbuf`
//! (`guest_console_write` in `xen/drivers/char/console.c`, 200 bytes, flushed on newline or
//! when full), with three differences:
//!
//! - a full buffer is flushed with a [`CONTINUATION_MARK`] at the end of the cut piece, so a
//!   reader sees that the next piece of that domain continues the line;
//! - an unfinished line (a prompt such as busybox's `/ # ` or GRUB's `grub> `) is not held
//!   forever: it is shown once its first byte is [`PARTIAL_LINE_DELAY_NS`] old, or at once
//!   when the caller knows no neighbour can cut it or the guest has nothing more to say (the
//!   CPU went idle with one domain running, the domain ended) — Xen prints its hardware
//!   domain's output unbuffered for the same reason;
//! - the bytes kept are the ones the console showed before: printable ASCII, tab and ESC (for
//!   terminal control sequences); everything else, CR included, is dropped on the way in.
//!
//! [`SerialLines`] then interleaves the pieces of all domains (and the hypervisor's own log)
//! on the one serial port: it starts each line with its domain's prefix, and when a shown
//! partial line is interrupted by someone else it ends it first, so lines of two writers never
//! run together on one line.
//!
//! ```text
//!   guest bytes ──filter──▶ LineBuffer (fixed, per domain) ──Piece──▶ SerialLines ──▶ serial
//!                             │ newline: Newline                       prefix / "\n"
//!                             │ full:    Full (+ mark)                 when another writer
//!                             │ timer, idle, death: Open               had the line open
//! ```

use alloc::vec::Vec;

/// Bytes of one line a domain's buffer holds before it is flushed as a cut piece.
///
/// Larger than Xen's 200 so that our guests' own lines (buffered up to 512 bytes before they
/// reach the hypervisor) come out whole.
pub const LINE_CAPACITY: usize = 512;

/// How long the start of an unfinished line may wait for the rest of it, ns.
pub const PARTIAL_LINE_DELAY_NS: u64 = 100_000_000;

/// Printed at the end of a piece cut because the buffer was full.
pub const CONTINUATION_MARK: &[u8] = b"\\";

/// Whether the console shows byte `b` (printable ASCII, newline, tab, ESC).
pub fn is_shown(b: u8) -> bool {
    matches!(b, b'\n' | b'\t' | 0x1b | 0x20..=0x7e)
}

/// How a piece of a line leaves a [`LineBuffer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceEnd {
    /// The guest ended the line.
    Newline,
    /// The buffer filled up: the line goes on in the next piece.
    Full,
    /// Shown early (prompt, idle, domain gone): the line may go on in the next piece.
    Open,
}

/// One domain's unfinished console line: a fixed buffer, so a guest writing forever without
/// a newline costs [`LINE_CAPACITY`] bytes and nothing more.
#[derive(Clone, Debug)]
pub struct LineBuffer {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    /// When the oldest byte now held arrived (system time, ns); `None` while empty.
    since: Option<u64>,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            since: None,
        }
    }

    /// Whether no byte waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When the held bytes must be shown (their oldest byte is [`PARTIAL_LINE_DELAY_NS`]
    /// old), if any are held.
    pub fn deadline(&self) -> Option<u64> {
        self.since.map(|t| t.saturating_add(PARTIAL_LINE_DELAY_NS))
    }

    /// Takes guest output `bytes` that arrived at `now`: hands every finished line (and every
    /// full buffer) to `emit`, keeps the unfinished rest. Bytes the console does not show are
    /// dropped here.
    pub fn write(&mut self, bytes: &[u8], now: u64, emit: &mut impl FnMut(&[u8], PieceEnd)) {
        for &b in bytes.iter().filter(|&&b| is_shown(b)) {
            if b == b'\n' {
                self.take(PieceEnd::Newline, emit);
                continue;
            }
            if self.len == LINE_CAPACITY {
                self.take(PieceEnd::Full, emit);
            }
            if self.len == 0 {
                self.since = Some(now);
            }
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }

    /// Shows the unfinished line now, if there is one (the CPU is idle, the domain is gone).
    pub fn flush(&mut self, emit: &mut impl FnMut(&[u8], PieceEnd)) {
        if self.len > 0 {
            self.take(PieceEnd::Open, emit);
        }
    }

    fn take(&mut self, end: PieceEnd, emit: &mut impl FnMut(&[u8], PieceEnd)) {
        emit(&self.bytes[..self.len], end);
        self.len = 0;
        self.since = None;
    }
}

/// Who writes on the shared serial port: a domain's lines, or the hypervisor's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Domain with this id.
    Domain(u16),
    /// The hypervisor's own log lines (which carry their own `(HV)` prefix).
    Hypervisor,
}

/// The serial port's one open line, if any: the domain whose shown piece did not end it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SerialLines {
    open: Option<u16>,
}

impl SerialLines {
    /// No line open.
    pub const fn new() -> Self {
        Self { open: None }
    }

    /// The domain whose line is open on the port.
    pub fn open(&self) -> Option<u16> {
        self.open
    }

    /// Appends to `out` what the port shows for domain `id`'s piece `text`: the end of
    /// someone else's open line, `prefix` unless the piece continues `id`'s own open line,
    /// the text, and the line's end.
    pub fn piece(&mut self, id: u16, prefix: &[u8], text: &[u8], end: PieceEnd, out: &mut Vec<u8>) {
        self.start(Writer::Domain(id), out);
        if self.open != Some(id) {
            out.extend_from_slice(prefix);
        }
        out.extend_from_slice(text);
        match end {
            PieceEnd::Newline => {
                out.push(b'\n');
                self.open = None;
            }
            PieceEnd::Full => {
                out.extend_from_slice(CONTINUATION_MARK);
                out.push(b'\n');
                self.open = None;
            }
            PieceEnd::Open => self.open = Some(id),
        }
    }

    /// Before `writer` writes: ends another writer's open line (appends `\n` to `out`).
    pub fn start(&mut self, writer: Writer, out: &mut Vec<u8>) {
        match (self.open, writer) {
            (Some(open), Writer::Domain(id)) if open == id => {}
            (Some(_), _) => {
                out.push(b'\n');
                self.open = None;
            }
            (None, _) => {}
        }
    }

    /// Domain `id` is gone: ends its open line, if it has one.
    pub fn end_of(&mut self, id: u16, out: &mut Vec<u8>) {
        if self.open == Some(id) {
            out.push(b'\n');
            self.open = None;
        }
    }
}

mod batched;
pub use batched::Batched;

#[cfg(test)]
mod tests;
