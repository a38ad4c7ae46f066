//! The per-connection queue of outgoing bytes: replies and watch events, in order, each
//! delivered exactly once, possibly split across several ring writes.
//!
//! ```text
//!   front                                              back
//!   [ msg 0 (partly sent) | msg 1 | msg 2 (event) | ... ]
//!     ^ sent_of_front
//! ```

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::message::Message;

#[derive(Clone, Debug)]
struct Queued {
    bytes: Vec<u8>,
    is_event: bool,
}

/// Outgoing messages of one connection.
#[derive(Clone, Debug, Default)]
pub struct OutputQueue {
    messages: VecDeque<Queued>,
    sent_of_front: usize,
    queued_bytes: usize,
}

/// An event was refused because the queue would exceed its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

impl OutputQueue {
    /// Queues a reply. Replies are never refused: one is produced per processed request and
    /// requests are only processed while the queue has room (see `Limits::max_output_bytes`).
    pub fn push_reply(&mut self, message: &Message) {
        self.push(message.to_bytes(), false);
    }

    /// Queues a watch event unless an identical event is still waiting untouched (xenstored
    /// drops such duplicates; `@` special events are never merged). `Overflow` if the queue
    /// would exceed `limit` bytes.
    pub fn push_event(&mut self, message: &Message, limit: usize) -> Result<(), Overflow> {
        let bytes = message.to_bytes();
        let special = message.payload.first() == Some(&b'@');
        let untouched = |i: usize| i > 0 || self.sent_of_front == 0;
        if !special
            && self
                .messages
                .iter()
                .enumerate()
                .any(|(i, q)| q.is_event && untouched(i) && q.bytes == bytes)
        {
            return Ok(());
        }
        if self.queued_bytes.saturating_add(bytes.len()) > limit {
            return Err(Overflow);
        }
        self.push(bytes, true);
        Ok(())
    }

    fn push(&mut self, bytes: Vec<u8>, is_event: bool) {
        self.queued_bytes = self.queued_bytes.saturating_add(bytes.len());
        self.messages.push_back(Queued { bytes, is_event });
    }

    /// The not-yet-sent bytes of the front message (empty if the queue is empty).
    pub fn front_chunk(&self) -> &[u8] {
        self.messages
            .front()
            .and_then(|q| q.bytes.get(self.sent_of_front..))
            .unwrap_or(&[])
    }

    /// Marks `count` bytes of [`OutputQueue::front_chunk`] as sent (clamped to its length).
    pub fn consume(&mut self, count: usize) {
        let available = self.front_chunk().len();
        let count = count.min(available);
        self.sent_of_front += count;
        self.queued_bytes -= count;
        if count == available && available > 0 {
            self.messages.pop_front();
            self.sent_of_front = 0;
        }
    }

    /// Bytes still to send.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Whether nothing is left to send.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        *self = OutputQueue::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_abi::io::xs_wire::{XS_READ, XS_WATCH_EVENT};

    fn event(path: &str) -> Message {
        let mut payload = path.as_bytes().to_vec();
        payload.extend_from_slice(b"\0tok\0");
        Message::new(XS_WATCH_EVENT, 0, 0, payload)
    }

    #[test]
    fn partial_sends_then_pop() {
        let mut q = OutputQueue::default();
        q.push_reply(&Message::new(XS_READ, 1, 0, b"abc".to_vec()));
        assert_eq!(q.queued_bytes(), 19);
        q.consume(10);
        assert_eq!(q.front_chunk().len(), 9);
        q.consume(100);
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn duplicate_events_merge_unless_started() {
        let mut q = OutputQueue::default();
        q.push_event(&event("/a"), 1000).unwrap();
        q.push_event(&event("/a"), 1000).unwrap();
        assert_eq!(q.queued_bytes(), 16 + 7);
        q.consume(1);
        q.push_event(&event("/a"), 1000).unwrap();
        assert_eq!(q.queued_bytes(), 2 * 23 - 1);
        q.push_event(&event("@releaseDomain"), 1000).unwrap();
        q.push_event(&event("@releaseDomain"), 1000).unwrap();
        assert_eq!(q.queued_bytes(), 2 * 23 - 1 + 2 * 35);
    }

    #[test]
    fn overflow_refuses_events() {
        let mut q = OutputQueue::default();
        assert_eq!(q.push_event(&event("/a"), 22), Err(Overflow));
        assert!(q.is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    use pv_abi::io::xs_wire::XS_READ;

    proptest! {
        /// Whatever the chunk sizes the ring accepts, the bytes come out exactly once, in order.
        #[test]
        fn bytes_leave_exactly_once_in_order(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..20),
            chunks in prop::collection::vec(1usize..50, 1..200),
        ) {
            let mut q = OutputQueue::default();
            let mut expected = Vec::new();
            for (i, payload) in payloads.into_iter().enumerate() {
                let m = Message::new(XS_READ, i as u32, 0, payload);
                expected.extend(m.to_bytes());
                q.push_reply(&m);
            }
            prop_assert_eq!(q.queued_bytes(), expected.len());
            let mut out = Vec::new();
            for chunk in chunks.into_iter().cycle() {
                if q.is_empty() {
                    break;
                }
                let bytes = q.front_chunk();
                let n = chunk.min(bytes.len());
                out.extend_from_slice(&bytes[..n]);
                q.consume(n);
                prop_assert_eq!(q.queued_bytes(), expected.len() - out.len());
            }
            prop_assert_eq!(out, expected);
        }
    }
}
