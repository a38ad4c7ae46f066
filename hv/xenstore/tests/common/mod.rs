//! Test harness: guests with Vec-backed ring pages talking to a `Store`, the way a real guest
//! kernel would (write request bytes, bump `req_prod`, read `rsp`, bump `rsp_cons`).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use pv_abi::io::xs_wire::*;
use xenstore::message::{Message, HEADER_SIZE};
use xenstore::{DomId, Limits, RingPage, ServiceOutcome, Store};

/// A guest's interface page in ordinary memory.
pub struct VecPage(pub Vec<u8>);

impl VecPage {
    pub fn new() -> VecPage {
        VecPage(vec![0; 4096])
    }
    pub fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.0[offset..offset + 4].try_into().unwrap())
    }
    pub fn set_u32(&mut self, offset: usize, value: u32) {
        self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }
}

impl RingPage for VecPage {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&self.0[offset..offset + buf.len()]);
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        self.0[offset..offset + data.len()].copy_from_slice(data);
    }
}

/// The guest side of one connection.
pub struct Guest {
    pub page: VecPage,
    /// Request bytes not yet put into the ring.
    pub pending: VecDeque<u8>,
    /// Response bytes read from the ring, not yet parsed.
    pub inbox: Vec<u8>,
    pub replies: VecDeque<Message>,
    pub events: VecDeque<Message>,
    /// Every response byte ever read, in order.
    pub received: Vec<u8>,
    /// Whether the guest reads its `rsp` ring (false simulates a guest that stops draining).
    pub draining: bool,
    /// Most response bytes the guest reads per service (None = all available).
    pub max_read: Option<usize>,
    pub next_req_id: u32,
    pub last_outcome: ServiceOutcome,
    /// Response bytes read after the last service.
    pub last_pulled: usize,
}

impl Guest {
    fn new() -> Guest {
        Guest {
            page: VecPage::new(),
            pending: VecDeque::new(),
            inbox: Vec::new(),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            received: Vec::new(),
            draining: true,
            max_read: None,
            next_req_id: 1,
            last_outcome: ServiceOutcome::default(),
            last_pulled: 0,
        }
    }

    /// Copies as many pending bytes as fit into `req`. Returns how many.
    pub fn push_requests(&mut self) -> usize {
        let cons = self.page.u32_at(offsets::REQ_CONS);
        let mut prod = self.page.u32_at(offsets::REQ_PROD);
        let mut written = 0;
        while prod.wrapping_sub(cons) < XENSTORE_RING_SIZE as u32 {
            let Some(b) = self.pending.pop_front() else {
                break;
            };
            self.page.0[offsets::REQ + mask_xenstore_idx(prod)] = b;
            prod = prod.wrapping_add(1);
            written += 1;
        }
        self.page.set_u32(offsets::REQ_PROD, prod);
        written
    }

    /// Reads all available `rsp` bytes and parses whole messages.
    pub fn pull_responses(&mut self) -> usize {
        if !self.draining {
            return 0;
        }
        let mut cons = self.page.u32_at(offsets::RSP_CONS);
        let prod = self.page.u32_at(offsets::RSP_PROD);
        if prod.wrapping_sub(cons) > XENSTORE_RING_SIZE as u32 {
            return 0; // a careful guest ignores a nonsensical ring
        }
        let mut read = 0;
        while cons != prod && self.max_read.is_none_or(|max| read < max) {
            let b = self.page.0[offsets::RSP + mask_xenstore_idx(cons)];
            self.inbox.push(b);
            self.received.push(b);
            cons = cons.wrapping_add(1);
            read += 1;
        }
        self.page.set_u32(offsets::RSP_CONS, cons);
        self.parse();
        read
    }

    fn parse(&mut self) {
        loop {
            if self.inbox.len() < HEADER_SIZE {
                return;
            }
            let len = u32::from_le_bytes(self.inbox[12..16].try_into().unwrap()) as usize;
            assert!(
                len <= XENSTORE_PAYLOAD_MAX,
                "server sent an oversized message"
            );
            if self.inbox.len() < HEADER_SIZE + len {
                return;
            }
            let word = |i: usize| u32::from_le_bytes(self.inbox[i..i + 4].try_into().unwrap());
            let message = Message::new(
                word(0),
                word(4),
                word(8),
                self.inbox[HEADER_SIZE..HEADER_SIZE + len].to_vec(),
            );
            self.inbox.drain(..HEADER_SIZE + len);
            if message.header.type_ == XS_WATCH_EVENT {
                self.events.push_back(message);
            } else {
                self.replies.push_back(message);
            }
        }
    }
}

/// A store plus guests.
pub struct Harness {
    pub store: Store,
    pub guests: BTreeMap<DomId, Guest>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Harness {
        Harness {
            store: Store::new(limits),
            guests: BTreeMap::new(),
        }
    }

    /// Introduces guest `id` and gives it a zeroed page.
    pub fn add_guest(&mut self, id: u16) -> DomId {
        let domid = DomId(id);
        self.store.introduce_domain(domid).unwrap();
        self.guests.insert(domid, Guest::new());
        domid
    }

    pub fn guest(&mut self, id: u16) -> &mut Guest {
        self.guests.get_mut(&DomId(id)).unwrap()
    }

    /// Queues raw request bytes for guest `id`.
    pub fn send_raw(&mut self, id: u16, bytes: &[u8]) {
        self.guest(id).pending.extend(bytes.iter().copied());
    }

    /// Queues one request; returns its req_id.
    pub fn send(&mut self, id: u16, type_: u32, tx_id: u32, payload: &[u8]) -> u32 {
        let guest = self.guest(id);
        let req_id = guest.next_req_id;
        guest.next_req_id += 1;
        let bytes = Message::new(type_, req_id, tx_id, payload.to_vec()).to_bytes();
        guest.pending.extend(bytes);
        req_id
    }

    /// Services one guest once (push its requests, service, pull responses).
    pub fn service_one(&mut self, domid: DomId) -> ServiceOutcome {
        let guest = self.guests.get_mut(&domid).unwrap();
        guest.push_requests();
        let outcome = self.store.service(domid, &mut guest.page);
        guest.last_pulled = guest.pull_responses();
        guest.last_outcome = outcome.clone();
        outcome
    }

    /// Services every guest until nothing moves.
    ///
    /// The round limit only catches a livelock: a guest that reads one byte per service
    /// (`max_read = Some(1)`) needs a round per byte, and the property tests queue up to
    /// 12 replies of 1500 bytes (plus headers) at once.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            let mut progress = false;
            let ids: Vec<DomId> = self.guests.keys().copied().collect();
            for domid in ids {
                let before = self.guests[&domid].pending.len();
                let outcome = self.service_one(domid);
                let guest = &self.guests[&domid];
                progress |= outcome.notify_guest
                    || guest.pending.len() != before
                    || outcome.call_again
                    || guest.last_pulled > 0;
            }
            self.store.take_domains_with_output();
            if !progress {
                return;
            }
        }
        panic!("harness did not quiesce");
    }

    /// Sends one request, runs to quiescence and returns the reply with its req_id.
    pub fn call(&mut self, id: u16, type_: u32, tx_id: u32, payload: &[u8]) -> Message {
        let req_id = self.send(id, type_, tx_id, payload);
        self.run();
        let guest = self.guest(id);
        let pos = guest
            .replies
            .iter()
            .position(|m| m.header.req_id == req_id)
            .expect("no reply");
        guest.replies.remove(pos).unwrap()
    }

    /// Like `call`, mapped to `Ok(payload)` or `Err("ENAME")`.
    pub fn ask(
        &mut self,
        id: u16,
        type_: u32,
        tx_id: u32,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let reply = self.call(id, type_, tx_id, payload);
        if reply.header.type_ == XS_ERROR {
            let name = reply
                .payload
                .strip_suffix(b"\0")
                .expect("error reply not NUL-terminated");
            Err(String::from_utf8(name.to_vec()).unwrap())
        } else {
            assert_eq!(reply.header.type_, type_, "reply type");
            assert_eq!(reply.header.tx_id, tx_id, "reply tx_id");
            Ok(reply.payload)
        }
    }

    pub fn read(&mut self, id: u16, path: &str) -> Result<Vec<u8>, String> {
        self.ask(id, XS_READ, 0, &nul(path))
    }

    pub fn write(&mut self, id: u16, path: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        self.ask(id, XS_WRITE, 0, &[path.as_bytes(), b"\0", value].concat())
    }

    /// Drains guest `id`'s watch events as (path, token) strings.
    pub fn events(&mut self, id: u16) -> Vec<(String, String)> {
        self.guest(id)
            .events
            .drain(..)
            .map(|m| {
                let parts: Vec<&[u8]> = m.payload.split(|&b| b == 0).collect();
                assert_eq!(parts.len(), 3, "event payload {:?}", m.payload);
                assert_eq!((m.header.req_id, m.header.tx_id), (0, 0));
                (
                    String::from_utf8(parts[0].to_vec()).unwrap(),
                    String::from_utf8(parts[1].to_vec()).unwrap(),
                )
            })
            .collect()
    }
}

/// `s` followed by a NUL.
pub fn nul(s: &str) -> Vec<u8> {
    [s.as_bytes(), b"\0"].concat()
}

/// Each string followed by a NUL, concatenated.
pub fn strs(parts: &[&str]) -> Vec<u8> {
    parts.iter().flat_map(|p| nul(p)).collect()
}

/// `(path, token)` pairs, for comparing events.
pub fn ev(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}
