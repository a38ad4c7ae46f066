//! Reassembly of incoming requests from a byte stream that arrives in arbitrary pieces.
//!
//! ```text
//!   Header { have < 16 } --16 bytes--> Payload { have < len } --len bytes--> Complete
//!        ^                                (len > 4096: protocol error)            |
//!        `------------------------------- take_complete() -----------------------'
//! ```

use alloc::vec::Vec;
use pv_abi::io::xs_wire::{XsdSockmsg, XENSTORE_PAYLOAD_MAX};
use pv_abi::zerocopy::FromBytes;

use crate::message::{Message, HEADER_SIZE};
use crate::ProtocolError;

/// Where the assembler is in the current message.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Header {
        bytes: [u8; HEADER_SIZE],
        have: usize,
    },
    Payload {
        header: XsdSockmsg,
        payload: Vec<u8>,
    },
    Complete(Message),
}

/// Request reassembly state of one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputAssembler {
    state: State,
}

impl Default for InputAssembler {
    fn default() -> Self {
        InputAssembler {
            state: State::Header {
                bytes: [0; HEADER_SIZE],
                have: 0,
            },
        }
    }
}

impl InputAssembler {
    /// Bytes the assembler can take now (0 while a complete message waits).
    pub fn wanted(&self) -> usize {
        match &self.state {
            State::Header { have, .. } => HEADER_SIZE - have,
            State::Payload { header, payload } => {
                (header.len as usize).saturating_sub(payload.len())
            }
            State::Complete(_) => 0,
        }
    }

    /// Appends bytes; at most [`InputAssembler::wanted`] of them are used, the rest ignored.
    ///
    /// Transitions: Header -> Payload once 16 bytes are in (`PayloadTooLong` if the header
    /// announces more than `XENSTORE_PAYLOAD_MAX`); Payload -> Complete once `len` bytes are in.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        let data = &data[..data.len().min(self.wanted())];
        match &mut self.state {
            State::Header { bytes, have } => {
                bytes[*have..*have + data.len()].copy_from_slice(data);
                *have += data.len();
                if *have == HEADER_SIZE {
                    let header = XsdSockmsg::read_from_bytes(&bytes[..])
                        .map_err(|_| ProtocolError::PayloadTooLong)?;
                    if header.len as usize > XENSTORE_PAYLOAD_MAX {
                        return Err(ProtocolError::PayloadTooLong);
                    }
                    self.state = State::Payload {
                        header,
                        payload: Vec::with_capacity(header.len as usize),
                    };
                }
            }
            State::Payload { payload, .. } => payload.extend_from_slice(data),
            State::Complete(_) => {}
        }
        if let State::Payload { header, payload } = &mut self.state {
            if payload.len() == header.len as usize {
                let message = Message {
                    header: *header,
                    payload: core::mem::take(payload),
                };
                self.state = State::Complete(message);
            }
        }
        Ok(())
    }

    /// The complete message waiting to be processed, if any.
    pub fn complete(&self) -> Option<&Message> {
        match &self.state {
            State::Complete(m) => Some(m),
            _ => None,
        }
    }

    /// Takes the complete message and starts on the next header.
    pub fn take_complete(&mut self) -> Option<Message> {
        match core::mem::take(self).state {
            State::Complete(m) => Some(m),
            other => {
                self.state = other;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_abi::io::xs_wire::XS_READ;

    #[test]
    fn byte_by_byte() {
        let bytes = Message::new(XS_READ, 4, 0, b"/x\0".to_vec()).to_bytes();
        let mut a = InputAssembler::default();
        for b in &bytes {
            assert!(a.complete().is_none());
            a.feed(core::slice::from_ref(b)).unwrap();
        }
        let m = a.take_complete().unwrap();
        assert_eq!(m.header.req_id, 4);
        assert_eq!(m.payload, b"/x\0");
        assert_eq!(a.wanted(), HEADER_SIZE);
    }

    #[test]
    fn empty_payload_completes_with_header() {
        let mut a = InputAssembler::default();
        a.feed(&Message::new(XS_READ, 1, 0, Vec::new()).to_bytes())
            .unwrap();
        assert!(a.complete().is_some());
        assert_eq!(a.wanted(), 0);
    }

    #[test]
    fn oversized_payload_is_a_protocol_error() {
        let mut header = Message::new(XS_READ, 1, 0, Vec::new());
        header.header.len = 4097;
        let mut a = InputAssembler::default();
        assert_eq!(
            a.feed(&header.to_bytes()),
            Err(ProtocolError::PayloadTooLong)
        );
    }
}
