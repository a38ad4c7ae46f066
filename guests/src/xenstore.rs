//! A synchronous xenstore client over the store ring (`start_info.store_mfn`,
//! `store_evtchn`), speaking the wire format of `pv_abi::io::xs_wire`.
//!
//! ```text
//!  ring page: 0 req[1024]  1024 rsp[1024]  2048 req_cons 2052 req_prod
//!             2056 rsp_cons 2060 rsp_prod  2064 server_features 2068 connection ...
//!  message:   xsd_sockmsg { type, req_id, tx_id, len } (u32 each) + len bytes (≤ 4096)
//! ```
//!
//! Requests and replies are streamed through the 1 KiB rings chunk by chunk, notifying the
//! server on `store_evtchn` after each chunk. Replies carry the request's type, or
//! `XS_ERROR` with an errno name ("ENOENT"). `XS_WATCH_EVENT` messages ("path\0token\0")
//! can arrive at any time; they are queued and handed out by [`Xenstore::next_watch_event`].

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};

use pv_abi::xen::StartInfo;

use crate::{events, ring, time};

use pv_abi::io::xs_wire::{offsets, XsdSockmsg, XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE};
pub use pv_abi::io::xs_wire::{
    XS_DIRECTORY, XS_ERROR, XS_GET_DOMAIN_PATH, XS_MKDIR, XS_READ, XS_RM, XS_SET_PERMS,
    XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};

const RING_SIZE: u32 = XENSTORE_RING_SIZE as u32;
const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX;
const REQ: u64 = offsets::REQ as u64;
const RSP: u64 = offsets::RSP as u64;
const REQ_CONS: u64 = offsets::REQ_CONS as u64;
const REQ_PROD: u64 = offsets::REQ_PROD as u64;
const RSP_CONS: u64 = offsets::RSP_CONS as u64;
const RSP_PROD: u64 = offsets::RSP_PROD as u64;
const HEADER: usize = core::mem::size_of::<XsdSockmsg>();
/// How long one request may take.
const TIMEOUT: u64 = 2000 * time::MS;

/// A small text buffer (paths, values, details) that never allocates; overflow truncates.
#[derive(Clone)]
pub struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }

    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text (lossy: stops at the first invalid UTF-8 byte).
    pub fn as_str(&self) -> &str {
        as_text(self.as_bytes())
    }
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Bytes as text, up to the first invalid UTF-8 sequence.
pub fn as_text(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsError {
    /// `XS_ERROR` with this errno name.
    Remote([u8; 16]),
    /// No complete reply before the deadline.
    Timeout,
    /// A message longer than `XENSTORE_PAYLOAD_MAX`, or a reply of the wrong type.
    Protocol(u32),
}

impl XsError {
    /// Whether this is `XS_ERROR "name"`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self, XsError::Remote(n) if as_text(n).trim_end_matches('\0') == name)
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsError::Remote(n) => write!(f, "{}", as_text(n).trim_end_matches('\0')),
            XsError::Timeout => write!(f, "timeout"),
            XsError::Protocol(t) => write!(f, "protocol error (type {t})"),
        }
    }
}

/// A queued watch event: `path\0token\0`.
#[derive(Clone)]
pub struct WatchEvent {
    raw: Text<256>,
}

impl WatchEvent {
    fn field(&self, i: usize) -> &str {
        as_text(self.raw.as_bytes().split(|&b| b == 0).nth(i).unwrap_or(&[]))
    }

    /// The path that changed.
    pub fn path(&self) -> &str {
        self.field(0)
    }

    /// The watch's token.
    pub fn token(&self) -> &str {
        self.field(1)
    }
}

/// The client: one outstanding request at a time.
pub struct Xenstore {
    base: u64,
    port: u32,
    req_id: u32,
    reply: [u8; PAYLOAD_MAX],
    reply_len: usize,
    events: [Option<WatchEvent>; 8],
}

fn index(base: u64, offset: u64) -> &'static AtomicU32 {
    // SAFETY: `base` is the mapped store page (checked in `Xenstore::new`); the index
    // fields are shared with the server and only accessed atomically.
    unsafe { AtomicU32::from_ptr((base + offset) as *mut u32) }
}

impl Xenstore {
    /// Finds the store ring (MFN → pfn → VA) and unmasks its port.
    pub fn new(si: &StartInfo) -> Result<Self, &'static str> {
        if si.store_evtchn == 0 {
            return Err("store_evtchn is 0");
        }
        let base = ring::mfn_to_va(si, si.store_mfn).ok_or("store mfn is not in the p2m")?;
        events::unmask(si.store_evtchn);
        Ok(Self {
            base,
            port: si.store_evtchn,
            req_id: 0,
            reply: [0; PAYLOAD_MAX],
            reply_len: 0,
            events: [const { None }; 8],
        })
    }

    /// The store's event channel.
    pub fn port(&self) -> u32 {
        self.port
    }

    fn idx(&self, offset: u64) -> &'static AtomicU32 {
        index(self.base, offset)
    }

    fn write_bytes(&mut self, mut bytes: &[u8], deadline: u64) -> Result<(), XsError> {
        while !bytes.is_empty() {
            let cons = self.idx(REQ_CONS).load(Ordering::Acquire);
            let prod = self.idx(REQ_PROD).load(Ordering::Relaxed);
            let free = RING_SIZE.saturating_sub(prod.wrapping_sub(cons)) as usize;
            if free == 0 {
                let (base, cons) = (self.base, cons);
                if !time::wait_until(deadline, || {
                    index(base, REQ_CONS).load(Ordering::Acquire) != cons
                }) {
                    return Err(XsError::Timeout);
                }
                continue;
            }
            let n = free.min(bytes.len());
            for (i, &b) in bytes[..n].iter().enumerate() {
                let at = u64::from(prod.wrapping_add(i as u32) % RING_SIZE);
                // SAFETY: `at` < 1024 stays inside `req[]` of the mapped store page.
                unsafe { ((self.base + REQ + at) as *mut u8).write_volatile(b) };
            }
            self.idx(REQ_PROD)
                .store(prod.wrapping_add(n as u32), Ordering::Release);
            events::send(self.port);
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn read_bytes(&mut self, out: &mut [u8], deadline: u64) -> Result<(), XsError> {
        let mut done = 0;
        while done < out.len() {
            let cons = self.idx(RSP_CONS).load(Ordering::Relaxed);
            let prod = self.idx(RSP_PROD).load(Ordering::Acquire);
            let avail = prod.wrapping_sub(cons).min(RING_SIZE) as usize;
            if avail == 0 {
                let base = self.base;
                if !time::wait_until(deadline, || {
                    index(base, RSP_PROD).load(Ordering::Acquire) != prod
                }) {
                    return Err(XsError::Timeout);
                }
                continue;
            }
            let n = avail.min(out.len() - done);
            for (i, slot) in out[done..done + n].iter_mut().enumerate() {
                let at = u64::from(cons.wrapping_add(i as u32) % RING_SIZE);
                // SAFETY: `at` < 1024 stays inside `rsp[]` of the mapped store page.
                *slot = unsafe { ((self.base + RSP + at) as *const u8).read_volatile() };
            }
            self.idx(RSP_CONS)
                .store(cons.wrapping_add(n as u32), Ordering::Release);
            events::send(self.port);
            done += n;
        }
        Ok(())
    }

    /// Reads one message; watch events are queued. Returns `(type, req_id)` of a reply
    /// (payload in `self.reply`), or `None` after queueing an event.
    fn read_message(&mut self, deadline: u64) -> Result<Option<(u32, u32)>, XsError> {
        let mut header = [0u8; HEADER];
        self.read_bytes(&mut header, deadline)?;
        let word = |i: usize| u32::from_le_bytes(header[i * 4..i * 4 + 4].try_into().unwrap());
        let (ty, req_id, len) = (word(0), word(1), word(3) as usize);
        if len > PAYLOAD_MAX {
            return Err(XsError::Protocol(ty));
        }
        let mut payload = [0u8; PAYLOAD_MAX];
        self.read_bytes(&mut payload[..len], deadline)?;
        if ty == XS_WATCH_EVENT {
            let mut raw = Text::<256>::new();
            raw.buf[..len.min(256)].copy_from_slice(&payload[..len.min(256)]);
            raw.len = len.min(256);
            if let Some(slot) = self.events.iter_mut().find(|e| e.is_none()) {
                *slot = Some(WatchEvent { raw });
            }
            return Ok(None);
        }
        self.reply[..len].copy_from_slice(&payload[..len]);
        self.reply_len = len;
        Ok(Some((ty, req_id)))
    }

    /// Sends `ty` in transaction `tx` with the concatenation of `parts`, and waits for the
    /// reply. Returns its payload.
    pub fn request(&mut self, ty: u32, tx: u32, parts: &[&[u8]]) -> Result<&[u8], XsError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > PAYLOAD_MAX {
            return Err(XsError::Protocol(ty));
        }
        self.req_id = self.req_id.wrapping_add(1);
        let deadline = time::now() + TIMEOUT;
        let mut header = [0u8; HEADER];
        for (i, w) in [ty, self.req_id, tx, len as u32].into_iter().enumerate() {
            header[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        self.write_bytes(&header, deadline)?;
        for part in parts {
            self.write_bytes(part, deadline)?;
        }
        loop {
            match self.read_message(deadline)? {
                None => continue,
                Some((XS_ERROR, _)) => {
                    let mut name = [0u8; 16];
                    let n = self.reply_len.min(16);
                    name[..n].copy_from_slice(&self.reply[..n]);
                    return Err(XsError::Remote(name));
                }
                Some((t, id)) if t == ty && id == self.req_id => {
                    return Ok(&self.reply[..self.reply_len])
                }
                Some((t, _)) => return Err(XsError::Protocol(t)),
            }
        }
    }

    fn strip_nul(bytes: &[u8]) -> &[u8] {
        bytes.strip_suffix(&[0]).unwrap_or(bytes)
    }

    /// `XS_READ path`.
    pub fn read(&mut self, tx: u32, path: &str) -> Result<&[u8], XsError> {
        self.request(XS_READ, tx, &[path.as_bytes(), b"\0"])
    }

    /// `XS_WRITE path value`.
    pub fn write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.request(XS_WRITE, tx, &[path.as_bytes(), b"\0", value])
            .map(|_| ())
    }

    /// `XS_MKDIR path`.
    pub fn mkdir(&mut self, tx: u32, path: &str) -> Result<(), XsError> {
        self.request(XS_MKDIR, tx, &[path.as_bytes(), b"\0"])
            .map(|_| ())
    }

    /// `XS_RM path`.
    pub fn rm(&mut self, tx: u32, path: &str) -> Result<(), XsError> {
        self.request(XS_RM, tx, &[path.as_bytes(), b"\0"])
            .map(|_| ())
    }

    /// `XS_SET_PERMS path perm…`: each perm is `<r|w|b|n><domid>`, the first naming the
    /// owner and what everybody else may do.
    pub fn set_perms(&mut self, tx: u32, path: &str, perms: &[&str]) -> Result<(), XsError> {
        let mut parts: [&[u8]; 16] = [b""; 16];
        if perms.len() > 7 {
            return Err(XsError::Protocol(XS_SET_PERMS));
        }
        parts[0] = path.as_bytes();
        parts[1] = b"\0";
        for (i, p) in perms.iter().enumerate() {
            parts[2 + 2 * i] = p.as_bytes();
            parts[3 + 2 * i] = b"\0";
        }
        self.request(XS_SET_PERMS, tx, &parts[..2 + 2 * perms.len()])
            .map(|_| ())
    }

    /// `XS_DIRECTORY path`: the children's names, each NUL-terminated.
    pub fn directory(&mut self, tx: u32, path: &str) -> Result<&[u8], XsError> {
        self.request(XS_DIRECTORY, tx, &[path.as_bytes(), b"\0"])
    }

    /// `XS_WATCH path token`.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let parts: [&[u8]; 4] = [path.as_bytes(), b"\0", token.as_bytes(), b"\0"];
        self.request(XS_WATCH, 0, &parts).map(|_| ())
    }

    /// `XS_UNWATCH path token`.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let parts: [&[u8]; 4] = [path.as_bytes(), b"\0", token.as_bytes(), b"\0"];
        self.request(XS_UNWATCH, 0, &parts).map(|_| ())
    }

    /// `XS_TRANSACTION_START` → the transaction id.
    pub fn transaction_start(&mut self) -> Result<u32, XsError> {
        let reply = Self::strip_nul(self.request(XS_TRANSACTION_START, 0, &[b"\0"])?);
        as_text(reply)
            .parse()
            .map_err(|_| XsError::Protocol(XS_TRANSACTION_START))
    }

    /// `XS_TRANSACTION_END` ("T" to commit, "F" to abort).
    pub fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<(), XsError> {
        let flag: &[u8] = if commit { b"T\0" } else { b"F\0" };
        self.request(XS_TRANSACTION_END, tx, &[flag]).map(|_| ())
    }

    /// `XS_GET_DOMAIN_PATH domid` → `/local/domain/<domid>`.
    pub fn get_domain_path(&mut self, domid: u16) -> Result<&[u8], XsError> {
        let mut id = Text::<8>::new();
        let _ = write!(id, "{domid}");
        let reply = self.request(XS_GET_DOMAIN_PATH, 0, &[id.as_bytes(), b"\0"])?;
        Ok(Self::strip_nul(reply))
    }

    /// The next watch event, waiting until system time `deadline` for one.
    pub fn next_watch_event(&mut self, deadline: u64) -> Option<WatchEvent> {
        loop {
            if let Some(e) = self.events[0].take() {
                self.events.rotate_left(1);
                return Some(e);
            }
            let (base, prod) = (self.base, self.idx(RSP_PROD).load(Ordering::Acquire));
            if prod == self.idx(RSP_CONS).load(Ordering::Relaxed)
                && !time::wait_until(deadline, || {
                    index(base, RSP_PROD).load(Ordering::Acquire) != prod
                })
            {
                return None;
            }
            match self.read_message(deadline) {
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Drops queued watch events.
    pub fn clear_watch_events(&mut self) {
        self.events.iter_mut().for_each(|e| *e = None);
    }
}
