//! The hypervisor's backend side of a PV console ring (`xencons_interface`).
//!
//! The guest writes bytes into `out[]` and advances `out_prod`; [`drain_output`] hands them
//! to a sink and advances `out_cons`. Input for the guest goes the other way through `in[]`
//! with [`push_input`]. Indices are free-running `u32`s (see `pv_abi::io::console`); the
//! guest controls `out_prod` and `in_cons`, so both are checked before any byte is touched —
//! a ring claiming more data (or less room) than it can hold is an error, never a panic.
//!
//! The page is reached through [`ConsoleRing`], which the platform implements with volatile
//! accesses to guest memory. After a call, notify the guest (raise the console port with
//! `notify_from_backend`) when the result says so.

use core::mem::offset_of;

use pv_abi::io::console::{
    mask_xencons_in_idx, mask_xencons_out_idx, XenconsInterface, XENCONS_IN_SIZE, XENCONS_OUT_SIZE,
};

/// Byte-level access to one console ring page.
///
/// The core only calls these with `offset + len ≤ size_of::<XenconsInterface>()` (3092).
/// Index reads must have acquire semantics and index writes release semantics, so that ring
/// bytes are read after the producer index that covers them, and written before the index
/// that publishes them.
pub trait ConsoleRing {
    /// Reads the `u32` at `offset` (an index field) with acquire semantics.
    fn read_u32(&self, offset: usize) -> u32;
    /// Writes the `u32` at `offset` (an index field) with release semantics.
    fn write_u32(&mut self, offset: usize, value: u32);
    /// Copies `buf.len()` bytes starting at `offset` out of the page.
    fn read_bytes(&self, offset: usize, buf: &mut [u8]);
    /// Copies `bytes` into the page starting at `offset`.
    fn write_bytes(&mut self, offset: usize, bytes: &[u8]);
}

/// A ring whose indices are impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleError {
    /// `out_prod - out_cons` exceeds the size of `out[]`.
    BadOutIndices {
        /// `out_cons` as read.
        cons: u32,
        /// `out_prod` as read.
        prod: u32,
    },
    /// `in_prod - in_cons` exceeds the size of `in[]`.
    BadInIndices {
        /// `in_cons` as read.
        cons: u32,
        /// `in_prod` as read.
        prod: u32,
    },
}

/// Result of a successful ring operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingTransfer {
    /// Bytes moved.
    pub bytes: usize,
    /// Whether to notify the guest (bytes moved: new input, or output room freed).
    pub notify: bool,
}

impl RingTransfer {
    fn of(bytes: usize) -> Self {
        Self {
            bytes,
            notify: bytes > 0,
        }
    }
}

const IN_CONS: usize = offset_of!(XenconsInterface, in_cons);
const IN_PROD: usize = offset_of!(XenconsInterface, in_prod);
const OUT_CONS: usize = offset_of!(XenconsInterface, out_cons);
const OUT_PROD: usize = offset_of!(XenconsInterface, out_prod);
const IN_RING: usize = offset_of!(XenconsInterface, r#in);
const OUT_RING: usize = offset_of!(XenconsInterface, out);

/// Bytes copied per `read_bytes` call (keeps the stack buffer small).
const CHUNK: usize = 256;

/// Hands every byte between `out_cons` and `out_prod` to `sink` (in order, in one or more
/// slices), then sets `out_cons = out_prod`.
///
/// Errors: `BadOutIndices` if `out_prod - out_cons` (wrapping) exceeds 2048; nothing is
/// consumed then.
pub fn drain_output(
    page: &mut impl ConsoleRing,
    mut sink: impl FnMut(&[u8]),
) -> Result<RingTransfer, ConsoleError> {
    let cons = page.read_u32(OUT_CONS);
    let prod = page.read_u32(OUT_PROD);
    let len =
        used(cons, prod, XENCONS_OUT_SIZE).ok_or(ConsoleError::BadOutIndices { cons, prod })?;
    let mut buf = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let at = mask_xencons_out_idx(cons.wrapping_add(done as u32));
        let n = (len - done).min(XENCONS_OUT_SIZE - at).min(CHUNK);
        page.read_bytes(OUT_RING + at, &mut buf[..n]);
        sink(&buf[..n]);
        done += n;
    }
    page.write_u32(OUT_CONS, prod);
    Ok(RingTransfer::of(len))
}

/// Copies as much of `bytes` as fits into `in[]` after `in_prod`, then advances `in_prod`.
///
/// Returns how many bytes were accepted (the rest is for the caller to keep or drop).
/// Errors: `BadInIndices` if `in_prod - in_cons` (wrapping) exceeds 1024; nothing is written.
pub fn push_input(page: &mut impl ConsoleRing, bytes: &[u8]) -> Result<RingTransfer, ConsoleError> {
    let cons = page.read_u32(IN_CONS);
    let prod = page.read_u32(IN_PROD);
    let queued =
        used(cons, prod, XENCONS_IN_SIZE).ok_or(ConsoleError::BadInIndices { cons, prod })?;
    let len = bytes.len().min(XENCONS_IN_SIZE - queued);
    let mut done = 0;
    while done < len {
        let at = mask_xencons_in_idx(prod.wrapping_add(done as u32));
        let n = (len - done).min(XENCONS_IN_SIZE - at);
        page.write_bytes(IN_RING + at, &bytes[done..done + n]);
        done += n;
    }
    page.write_u32(IN_PROD, prod.wrapping_add(len as u32));
    Ok(RingTransfer::of(len))
}

/// Bytes queued between `cons` and `prod`, if that fits a ring of `size` bytes.
fn used(cons: u32, prod: u32, size: usize) -> Option<usize> {
    let used = prod.wrapping_sub(cons) as usize;
    (used <= size).then_some(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// A ring page in plain memory.
    struct Page(Vec<u8>);

    impl Page {
        fn new() -> Self {
            Page(alloc::vec![0; core::mem::size_of::<XenconsInterface>()])
        }
        fn set(&mut self, offset: usize, v: u32) {
            self.write_u32(offset, v);
        }
        fn get(&self, offset: usize) -> u32 {
            self.read_u32(offset)
        }
        /// Guest side: append to out[].
        fn guest_write(&mut self, bytes: &[u8]) {
            let mut prod = self.get(OUT_PROD);
            for &b in bytes {
                self.0[OUT_RING + mask_xencons_out_idx(prod)] = b;
                prod = prod.wrapping_add(1);
            }
            self.set(OUT_PROD, prod);
        }
        /// Guest side: take everything from in[].
        fn guest_read(&mut self) -> Vec<u8> {
            let (mut cons, prod) = (self.get(IN_CONS), self.get(IN_PROD));
            let mut out = Vec::new();
            while cons != prod {
                out.push(self.0[IN_RING + mask_xencons_in_idx(cons)]);
                cons = cons.wrapping_add(1);
            }
            self.set(IN_CONS, cons);
            out
        }
    }

    impl ConsoleRing for Page {
        fn read_u32(&self, offset: usize) -> u32 {
            u32::from_le_bytes(self.0[offset..offset + 4].try_into().unwrap())
        }
        fn write_u32(&mut self, offset: usize, value: u32) {
            self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        }
        fn read_bytes(&self, offset: usize, buf: &mut [u8]) {
            buf.copy_from_slice(&self.0[offset..offset + buf.len()]);
        }
        fn write_bytes(&mut self, offset: usize, bytes: &[u8]) {
            self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
    }

    fn drain(page: &mut Page) -> Result<(Vec<u8>, RingTransfer), ConsoleError> {
        let mut got = Vec::new();
        let t = drain_output(page, |b| got.extend_from_slice(b))?;
        Ok((got, t))
    }

    #[test]
    fn drains_output_and_wraps() {
        let mut page = Page::new();
        page.set(OUT_CONS, 2040);
        page.set(OUT_PROD, 2040);
        page.guest_write(b"hello, wrapped world");
        let (got, t) = drain(&mut page).unwrap();
        assert_eq!(got, b"hello, wrapped world");
        assert_eq!(
            t,
            RingTransfer {
                bytes: 20,
                notify: true
            }
        );
        assert_eq!(page.get(OUT_CONS), 2060);
        let (got, t) = drain(&mut page).unwrap();
        assert!(got.is_empty());
        assert!(!t.notify);
    }

    #[test]
    fn output_indices_wrap_around_u32() {
        let mut page = Page::new();
        page.set(OUT_CONS, u32::MAX - 3);
        page.set(OUT_PROD, u32::MAX - 3);
        page.guest_write(b"abcdefgh");
        assert_eq!(page.get(OUT_PROD), 4);
        assert_eq!(drain(&mut page).unwrap().0, b"abcdefgh");
        assert_eq!(page.get(OUT_CONS), 4);
    }

    #[test]
    fn full_output_ring_drains_2048_bytes() {
        let mut page = Page::new();
        let data: Vec<u8> = (0..2048u32).map(|i| i as u8).collect();
        page.guest_write(&data);
        assert_eq!(drain(&mut page).unwrap().0, data);
    }

    #[test]
    fn bad_output_indices_are_an_error_and_consume_nothing() {
        let mut page = Page::new();
        page.set(OUT_CONS, 10);
        page.set(OUT_PROD, 10 + 2049);
        assert_eq!(
            drain(&mut page),
            Err(ConsoleError::BadOutIndices {
                cons: 10,
                prod: 2059
            })
        );
        page.set(OUT_PROD, 9); // behind the consumer
        assert_eq!(
            drain(&mut page).err(),
            Some(ConsoleError::BadOutIndices { cons: 10, prod: 9 })
        );
        assert_eq!(page.get(OUT_CONS), 10);
    }

    #[test]
    fn input_respects_free_space_and_wraps() {
        let mut page = Page::new();
        page.set(IN_CONS, 1000);
        page.set(IN_PROD, 1000);
        let t = push_input(&mut page, b"0123456789012345678901234567890123456789").unwrap();
        assert_eq!(
            t,
            RingTransfer {
                bytes: 40,
                notify: true
            }
        );
        assert_eq!(
            page.guest_read(),
            b"0123456789012345678901234567890123456789"
        );
        // Fill up: only 1024 bytes fit until the guest reads.
        let big = [7u8; 1500];
        assert_eq!(push_input(&mut page, &big).unwrap().bytes, 1024);
        assert_eq!(
            push_input(&mut page, b"x").unwrap(),
            RingTransfer {
                bytes: 0,
                notify: false
            }
        );
        assert_eq!(page.guest_read().len(), 1024);
    }

    #[test]
    fn bad_input_indices_are_an_error() {
        let mut page = Page::new();
        page.set(IN_CONS, 5);
        page.set(IN_PROD, 5 + 1025);
        assert_eq!(
            push_input(&mut page, b"a"),
            Err(ConsoleError::BadInIndices {
                cons: 5,
                prod: 1030
            })
        );
        assert_eq!(page.get(IN_PROD), 1030);
    }

    proptest! {
        /// Any index values the guest can write: never a panic, and data round-trips whenever
        /// the indices are sane.
        #[test]
        fn arbitrary_indices_never_panic(
            out_cons in any::<u32>(), out_len in 0u32..3000,
            in_cons in any::<u32>(), in_used in 0u32..1500,
            input in proptest::collection::vec(any::<u8>(), 0..1200),
        ) {
            let mut page = Page::new();
            page.set(OUT_CONS, out_cons);
            page.set(OUT_PROD, out_cons.wrapping_add(out_len));
            page.set(IN_CONS, in_cons);
            page.set(IN_PROD, in_cons.wrapping_add(in_used));
            let drained = drain(&mut page);
            prop_assert_eq!(drained.is_ok(), out_len <= 2048);
            if let Ok((bytes, _)) = drained {
                prop_assert_eq!(bytes.len(), out_len as usize);
                prop_assert_eq!(page.get(OUT_CONS), page.get(OUT_PROD));
            }
            let pushed = push_input(&mut page, &input);
            prop_assert_eq!(pushed.is_ok(), in_used <= 1024);
            if let Ok(t) = pushed {
                prop_assert_eq!(t.bytes, input.len().min(1024 - in_used as usize));
                page.set(IN_CONS, in_cons.wrapping_add(in_used));
                prop_assert_eq!(page.guest_read(), &input[..t.bytes]);
            }
        }

        /// A guest stream written in random pieces comes out whole and in order.
        #[test]
        fn output_stream_round_trips(pieces in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..2048), 1..8), start in any::<u32>()) {
            let mut page = Page::new();
            page.set(OUT_CONS, start);
            page.set(OUT_PROD, start);
            let mut expected = Vec::new();
            let mut got = Vec::new();
            for piece in pieces {
                page.guest_write(&piece);
                expected.extend_from_slice(&piece);
                got.extend(drain(&mut page).unwrap().0);
            }
            prop_assert_eq!(got, expected);
        }
    }
}
