//! A `fmt::Write` that hands formatted text to its sink in chunks of up to `N` bytes instead
//! of one call per formatting fragment. The hypervisor's log records go to the serial port,
//! where every write first reads the line status register (under TCG a port read is an exit
//! to QEMU's device model): a record written fragment by fragment (`{}` by `{}`) paid one per
//! fragment.

use core::fmt;

/// Collects text and calls `sink` with it when `N` bytes are held and on [`Batched::flush`].
pub struct Batched<F: FnMut(&[u8]), const N: usize> {
    buf: [u8; N],
    len: usize,
    sink: F,
}

impl<F: FnMut(&[u8]), const N: usize> Batched<F, N> {
    /// An empty batch writing to `sink`.
    pub fn new(sink: F) -> Self {
        Self {
            buf: [0; N],
            len: 0,
            sink,
        }
    }

    /// Hands what is held to the sink.
    pub fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl<F: FnMut(&[u8]), const N: usize> fmt::Write for Batched<F, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == N {
                self.flush();
            }
            let n = bytes.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt::Write;

    fn log_level() -> &'static str {
        "INFO"
    }

    #[test]
    fn one_call_for_a_short_record() {
        let mut calls: Vec<Vec<u8>> = Vec::new();
        {
            let mut b = Batched::<_, 64>::new(|s: &[u8]| calls.push(s.to_vec()));
            let (level, n, what) = (log_level(), 12, 'x');
            write!(b, "(HV) {level:5} {n} of {what}").unwrap();
            b.flush();
        }
        assert_eq!(calls, [b"(HV) INFO  12 of x".to_vec()]);
    }

    #[test]
    fn long_text_arrives_whole_in_order() {
        let mut out = Vec::new();
        let mut calls = 0;
        let text: String = (0..1000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        {
            let mut b = Batched::<_, 16>::new(|s: &[u8]| {
                assert!(s.len() <= 16);
                calls += 1;
                out.extend_from_slice(s);
            });
            for piece in text.as_bytes().chunks(7) {
                b.write_str(core::str::from_utf8(piece).unwrap()).unwrap();
            }
            b.flush();
            b.flush();
        }
        assert_eq!(out, text.as_bytes());
        assert_eq!(calls, 1000usize.div_ceil(16));
    }

    #[test]
    fn nothing_held_nothing_sent() {
        let mut calls = 0;
        {
            let mut b = Batched::<_, 8>::new(|_: &[u8]| calls += 1);
            b.flush();
        }
        assert_eq!(calls, 0);
    }
}
