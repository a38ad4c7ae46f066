//! Two domains that find each other through xenstore and exchange data through grants and
//! an inter-domain event channel, the way a PV frontend and backend do.
//!
//! * `offer peer=N`: grants domain N one page to read (ref 8, read-only, holding a
//!   greeting) and one to write (ref 9); opens an unbound port for N; publishes
//!   `data/{read-ref,write-ref,port}` under its xenstore home, readable by N only; waits for
//!   N's event, then checks the reply N copied into the writable page.
//! * `take peer=N`: reads those keys from `/local/domain/N/data`, binds the port, copies the
//!   greeting out of ref 8 and a reply into ref 9 with `GNTTABOP_copy`, tries what it must
//!   not be able to do (write the read-only grant, read an ungranted ref, name N's frame
//!   without a grant, read N's private keys), and notifies N.
//!
//! Then the mapping half, as a PV frontend and backend share a ring:
//! * `offer` also grants a ring page (ref 10, writable) and, as a decoy, ref 11 to another
//!   domain. On `take`'s first event it checks the copy, that its entries show
//!   `GTF_reading`/`GTF_writing` while `take` maps them and that it cannot end access then,
//!   answers the requests on the ring and notifies; after `take`'s second event (unmapped)
//!   it ends access to every grant.
//! * `take` maps ref 8 read-only (by virtual address) and ref 10 writable (by PTE address,
//!   `GNTMAP_contains_pte`), reads the greeting through the mapping, tries the maps and
//!   unmaps it must not be able to do, puts requests on the ring, waits for the answers,
//!   unmaps both (a second unmap fails) and notifies.
//! * `die-mapped` on either side: that side powers off while the other still maps (or is
//!   mapped by) it. A dying grantee's mappings are dropped and the granter sees its flags
//!   clear; a dying granter's frames stay readable through the grantee's mappings until the
//!   grantee unmaps.
//!
//! Each prints `pair: <role>: PASS` or `FAIL (<why>)`, then powers off.
#![no_std]
#![no_main]

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use guests::gnttab::{self, GrantTable};
use guests::mm::Bootstrap;
use guests::ring::{self, PageSlot, VIRT_BASE};
use guests::time::{self, MS};
use guests::xenstore::{as_text, Text, Xenstore};
use guests::{events, hypercall, println, traps, StartInfo};
use pv_abi::grant_table::*;
use pv_abi::sched::SHUTDOWN_POWEROFF;
use pv_abi::xen::{hypercall as nr, DOMID_SELF};

const READ_REF: u32 = 8;
const WRITE_REF: u32 = 9;
const RING_REF: u32 = 10;
const DECOY_REF: u32 = 11;
/// Requests `take` puts on the ring.
const RING_REQS: u32 = 16;
/// Ring layout (u32s): producer indices, then the request and response slots.
const REQ_PROD: u64 = 0;
const RSP_PROD: u64 = 4;
const REQS: u64 = 64;
const RSPS: u64 = 256;
const GREETING: &[u8] = b"greetings from the offering domain";
const REPLY: &[u8] = b"and a reply from the taking domain";

static mut SHARED: [PageSlot; 3] = [const { PageSlot([0; 4096]) }; 3];
static mut LOCAL: PageSlot = PageSlot([0; 4096]);
/// Where `take` maps the peer's pages (its own frames are put back afterwards).
static mut MAPS: [PageSlot; 3] = [const { PageSlot([0; 4096]) }; 3];

/// The u32 at `va + off` (a mapped page), accessed atomically: the peer uses it meanwhile.
fn word(va: u64, off: u64) -> &'static AtomicU32 {
    // SAFETY: `va` is one of our page slots (or a grant mapped over one), `off` is 4-aligned
    // and inside the page; shared words are only accessed atomically.
    unsafe { AtomicU32::from_ptr((va + off) as *mut u32) }
}

/// Machine address of the L1 entry mapping `va`, walked through the start-of-day tables.
fn pte_maddr(si: &StartInfo, va: u64) -> Option<u64> {
    Bootstrap::new(si).l1_entry(si, va).map(|(maddr, _)| maddr)
}

fn has_word(si: &StartInfo, w: &str) -> bool {
    si.cmdline().split_ascii_whitespace().any(|x| x == w)
}

/// Writes `data` at `va`, one of our static page buffers.
fn write_at(va: u64, data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        // SAFETY: `va` is one of our page buffers and `data` fits in the page; the
        // hypervisor or the peer may read it meanwhile, hence volatile.
        unsafe { ((va + i as u64) as *mut u8).write_volatile(b) };
    }
}

/// Whether `data` is at `va`, one of our static page buffers.
fn equals_at(va: u64, data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &b)| {
        // SAFETY: as in `write_at`; the hypervisor writes it on the peer's behalf.
        unsafe { ((va + i as u64) as *const u8).read_volatile() == b }
    })
}

fn peer(si: &StartInfo) -> Option<u16> {
    si.cmdline()
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("peer="))
        .find_map(|v| v.parse().ok())
}

fn mfn_of(si: &StartInfo, va: u64) -> u64 {
    ring::pfn_to_mfn(si, (va - VIRT_BASE) >> 12).unwrap_or(0)
}

/// One `GNTTABOP_copy`; returns the op's status.
fn copy(source: GnttabCopyPtr, dest: GnttabCopyPtr, len: u16, flags: u16) -> i16 {
    let mut op = GnttabCopy {
        source,
        dest,
        len,
        flags,
        ..Default::default()
    };
    // SAFETY: one gnttab_copy structure, read and written by the hypervisor.
    let rc = unsafe {
        traps::hypercall(
            nr::GRANT_TABLE_OP,
            [u64::from(GNTTABOP_COPY), &raw mut op as u64, 1, 0, 0],
        )
    };
    if rc != 0 {
        return i16::MIN;
    }
    op.status
}

fn gref(domid: u16, r: u32) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u: u64::from(r),
        domid,
        ..Default::default()
    }
}

fn own(si: &StartInfo, va: u64) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u: mfn_of(si, va),
        domid: DOMID_SELF,
        ..Default::default()
    }
}

fn offer(si: &StartInfo, xs: &mut Xenstore, peer: u16) -> Result<(), &'static str> {
    let (rc, status, frames) = gnttab::setup_table();
    if rc != 0 || status != 0 {
        return Err("setup_table failed");
    }
    let table = GrantTable::map(&frames).map_err(|_| "cannot map the grant table")?;
    let read_va = &raw const SHARED as u64;
    let write_va = read_va + 4096;
    write_at(read_va, GREETING);
    table.grant(
        READ_REF,
        peer,
        mfn_of(si, read_va) as u32,
        GTF_PERMIT_ACCESS | GTF_READONLY,
    );
    table.grant(
        WRITE_REF,
        peer,
        mfn_of(si, write_va) as u32,
        GTF_PERMIT_ACCESS,
    );
    let ring_va = read_va + 2 * 4096;
    table.grant(
        RING_REF,
        peer,
        mfn_of(si, ring_va) as u32,
        GTF_PERMIT_ACCESS,
    );
    table.grant(
        DECOY_REF,
        peer + 40,
        mfn_of(si, ring_va) as u32,
        GTF_PERMIT_ACCESS,
    );
    let port = events::alloc_unbound(peer).map_err(|_| "alloc_unbound failed")?;
    events::unmask(port);
    // The event upcall handler counts deliveries on the port; the peer can only send once
    // it has read the port from xenstore, below.
    let before = events::count(port);
    let mut owner = Text::<16>::new();
    let _ = write!(owner, "n{}", own_id(xs));
    let mut r = Text::<16>::new();
    let _ = write!(r, "r{peer}");
    let put = |xs: &mut Xenstore, key: &str, v: u32| -> Result<(), &'static str> {
        let mut path = Text::<32>::new();
        let _ = write!(path, "data/{key}");
        let mut val = Text::<16>::new();
        let _ = write!(val, "{v}");
        xs.write(0, path.as_str(), val.as_str().as_bytes())
            .map_err(|_| "xenstore write failed")?;
        xs.set_perms(0, path.as_str(), &[owner.as_str(), r.as_str()])
            .map_err(|_| "xenstore set_perms failed")
    };
    put(xs, "read-ref", READ_REF)?;
    put(xs, "write-ref", WRITE_REF)?;
    put(xs, "ring-ref", RING_REF)?;
    put(xs, "decoy-ref", DECOY_REF)?;
    put(xs, "port", port)?;
    println!(
        "pair: offer: published refs {READ_REF}/{WRITE_REF} and port {port} for domain {peer}"
    );
    let deadline = time::now() + 20_000 * MS;
    if !time::wait_until(deadline, || events::count(port) > before) {
        return Err("no event from the peer");
    }
    // The peer's copy has completed: it notified us afterwards.
    if !equals_at(write_va, REPLY) {
        return Err("the reply is not in the writable page");
    }
    // The peer maps READ_REF read-only and RING_REF writable now.
    let (ro_flags, _, _) = table.read(READ_REF);
    let (ring_flags, _, _) = table.read(RING_REF);
    let busy = GTF_READING | GTF_WRITING;
    let ended_while_mapped = table.end_access(RING_REF);
    println!(
        "pair: offer: while mapped: read-only ref flags {:#x}, ring ref flags {:#x}, end access possible: {ended_while_mapped}",
        ro_flags & busy,
        ring_flags & busy
    );
    if ro_flags & busy != GTF_READING || ring_flags & busy != busy || ended_while_mapped {
        return Err("the grant entries do not show the mappings");
    }
    serve_ring(ring_va);
    let mapped_events = events::count(port);
    events::send(port);
    if has_word(si, "die-mapped") {
        println!("pair: offer: leaving while the peer maps our pages");
        return Ok(());
    }
    // The peer unmaps (or dies), then everything can be ended.
    let ended = time::wait_until(time::now() + 20_000 * MS, || {
        let (f, _, _) = table.read(RING_REF);
        let (g, _, _) = table.read(READ_REF);
        (f | g) & busy == 0
    });
    if !ended {
        return Err("the grant entries still show mappings");
    }
    if !has_word(si, "peer-dies")
        && !time::wait_until(time::now() + 20_000 * MS, || {
            events::count(port) > mapped_events
        })
    {
        return Err("no event after the unmap");
    }
    for r in [READ_REF, WRITE_REF, RING_REF, DECOY_REF] {
        if !table.end_access(r) {
            return Err("cannot end access after the unmap");
        }
    }
    println!("pair: offer: all grants ended");
    Ok(())
}

/// Answers every request on the ring at `ring_va` (response = 2 × request + 1).
fn serve_ring(ring_va: u64) {
    let n = word(ring_va, REQ_PROD)
        .load(Ordering::Acquire)
        .min(RING_REQS);
    for i in 0..u64::from(n) {
        let req = word(ring_va, REQS + 4 * i).load(Ordering::Relaxed);
        word(ring_va, RSPS + 4 * i).store(req * 2 + 1, Ordering::Relaxed);
    }
    word(ring_va, RSP_PROD).store(n, Ordering::Release);
}

fn own_id(xs: &mut Xenstore) -> u16 {
    xs.read(0, "domid")
        .ok()
        .and_then(|v| as_text(v).parse().ok())
        .unwrap_or(0)
}

fn read_key(xs: &mut Xenstore, peer: u16, key: &str) -> Option<u32> {
    let mut path = Text::<64>::new();
    let _ = write!(path, "/local/domain/{peer}/data/{key}");
    xs.read(0, path.as_str())
        .ok()
        .and_then(|v| as_text(v).parse().ok())
}

fn take(si: &StartInfo, xs: &mut Xenstore, peer: u16) -> Result<(), &'static str> {
    // Wait for the offer.
    let deadline = time::now() + 20_000 * MS;
    let port = loop {
        if let Some(p) = read_key(xs, peer, "port") {
            break p;
        }
        if time::now() > deadline {
            return Err("the peer never published its port");
        }
        time::sleep(10 * MS);
    };
    let read_ref = read_key(xs, peer, "read-ref").ok_or("no read-ref")?;
    let write_ref = read_key(xs, peer, "write-ref").ok_or("no write-ref")?;
    let local = events::bind_interdomain(peer, port).map_err(|_| "bind_interdomain failed")?;
    let buf = &raw const LOCAL as u64;
    let status = copy(
        gref(peer, read_ref),
        own(si, buf),
        GREETING.len() as u16,
        GNTCOPY_SOURCE_GREF,
    );
    if status != GNTST_OKAY {
        println!("pair: take: copy out of ref {read_ref}: status {status}");
        return Err("copy out of the read-only grant failed");
    }
    if !equals_at(buf, GREETING) {
        return Err("the greeting did not arrive");
    }
    // What must fail.
    let ro = copy(own(si, buf), gref(peer, read_ref), 4, GNTCOPY_DEST_GREF);
    let ungranted = copy(gref(peer, 100), own(si, buf), 4, GNTCOPY_SOURCE_GREF);
    let mut theirs = gref(peer, 0);
    theirs.u = 0x1000; // some frame number, without a grant
    let frame = copy(theirs, own(si, buf), 4, 0);
    let across = {
        let mut p = gref(peer, read_ref);
        p.offset = 4090;
        copy(p, own(si, buf), 16, GNTCOPY_SOURCE_GREF)
    };
    let mut name = Text::<64>::new();
    let _ = write!(name, "/local/domain/{peer}/name");
    let private = match xs.read(0, name.as_str()) {
        Err(e) => !e.is("EACCES"),
        Ok(_) => true,
    };
    println!(
        "pair: take: refused as they must be: write to read-only ref {ro}, ungranted ref {ungranted}, frame without grant {frame}, across a page {across}, peer's name readable: {private}"
    );
    if ro == GNTST_OKAY
        || ungranted == GNTST_OKAY
        || frame != GNTST_PERMISSION_DENIED
        || across != GNTST_BAD_COPY_ARG
        || private
    {
        return Err("a forbidden copy was not refused");
    }
    write_at(buf, REPLY);
    let status = copy(
        own(si, buf),
        gref(peer, write_ref),
        REPLY.len() as u16,
        GNTCOPY_DEST_GREF,
    );
    if status != GNTST_OKAY {
        return Err("copy into the writable grant failed");
    }
    let ring_ref = read_key(xs, peer, "ring-ref").ok_or("no ring-ref")?;
    let decoy_ref = read_key(xs, peer, "decoy-ref").ok_or("no decoy-ref")?;
    events::unmask(local);
    map_and_talk(si, peer, local, read_ref, ring_ref, decoy_ref)
}

/// The mapping half of `take` (module doc).
fn map_and_talk(
    si: &StartInfo,
    peer: u16,
    local: u32,
    read_ref: u32,
    ring_ref: u32,
    decoy_ref: u32,
) -> Result<(), &'static str> {
    let ro_va = &raw const MAPS as u64;
    let ring_va = ro_va + 4096;
    let own = [mfn_of(si, ro_va), mfn_of(si, ring_va)];
    let ring_pte = pte_maddr(si, ring_va).ok_or("cannot find the ring slot's PTE")?;
    let host = GNTMAP_HOST_MAP;
    let (rc, ro) = gnttab::map_grant_ref(peer, read_ref, ro_va, host | GNTMAP_READONLY);
    if rc != 0 || ro.status != GNTST_OKAY {
        println!(
            "pair: take: map of ref {read_ref}: rc {rc} status {}",
            ro.status
        );
        return Err("read-only map failed");
    }
    let (rc, ring) = gnttab::map_grant_ref(peer, ring_ref, ring_pte, host | GNTMAP_CONTAINS_PTE);
    if rc != 0 || ring.status != GNTST_OKAY {
        println!(
            "pair: take: map of ref {ring_ref}: rc {rc} status {}",
            ring.status
        );
        return Err("ring map failed");
    }
    if !equals_at(ro_va, GREETING) {
        return Err("the greeting is not visible through the mapping");
    }
    // What must fail.
    let spare = ro_va + 2 * 4096;
    let status = |flags: u32, r: u32, at: u64| gnttab::map_grant_ref(peer, r, at, flags).1.status;
    let writable_ro = status(host, read_ref, spare);
    let ungranted = status(host | GNTMAP_READONLY, 100, spare);
    let beyond = status(host | GNTMAP_READONLY, 1 << 20, spare);
    let decoy = status(host, decoy_ref, spare);
    let hv_area = status(host | GNTMAP_READONLY, read_ref, 0xFFFF_8000_0000_0000);
    let unaligned = status(host | GNTMAP_READONLY, read_ref, spare + 8);
    let no_domain = gnttab::map_grant_ref(peer + 100, read_ref, spare, host)
        .1
        .status;
    let bad_handle = gnttab::unmap_grant_ref(0xBEEF, ro_va);
    let wrong_addr = gnttab::unmap_grant_ref(ro.handle, spare);
    // The granted frame named directly in our own page table.
    let direct = {
        let frame = ro.dev_bus_addr >> 12;
        let pte = pte_maddr(si, spare).unwrap_or(0);
        // SAFETY: a request the hypervisor must refuse; were it accepted it would only
        // remap our own spare page slot.
        unsafe { guests::mm::ops::mmu_update_one(pte, frame << 12 | 1) }.err()
    };
    println!(
        "pair: take: map refused as it must be: writable on read-only {writable_ro}, ungranted {ungranted}, beyond the table {beyond}, granted to another {decoy}, hypervisor area {hv_area}, unaligned {unaligned}, no such domain {no_domain}; unmap: bad handle {bad_handle}, wrong address {wrong_addr}; mmu_update of the granted frame: {direct:?}"
    );
    let refused = [writable_ro, ungranted, decoy, hv_area, unaligned] == [GNTST_GENERAL_ERROR; 5]
        && beyond == GNTST_BAD_GNTREF
        && no_domain == GNTST_BAD_DOMAIN
        && bad_handle == GNTST_BAD_HANDLE
        && wrong_addr == GNTST_GENERAL_ERROR
        && direct.is_some();
    if !refused {
        return Err("a forbidden map or unmap was not refused");
    }
    // Requests on the shared ring.
    for i in 0..RING_REQS {
        word(ring_va, REQS + 4 * u64::from(i)).store(1000 + i, Ordering::Relaxed);
    }
    word(ring_va, REQ_PROD).store(RING_REQS, Ordering::Release);
    let before = events::count(local);
    events::send(local);
    let answered = time::wait_until(time::now() + 20_000 * MS, || {
        events::count(local) > before
            && word(ring_va, RSP_PROD).load(Ordering::Acquire) == RING_REQS
    });
    if !answered {
        return Err("no answers on the ring");
    }
    let right = (0..RING_REQS).all(|i| {
        word(ring_va, RSPS + 4 * u64::from(i)).load(Ordering::Relaxed) == (1000 + i) * 2 + 1
    });
    if !right {
        return Err("wrong answers on the ring");
    }
    println!("pair: take: {RING_REQS} answers on the mapped ring");
    if has_word(si, "die-mapped") {
        println!("pair: take: leaving with the peer's pages mapped");
        return Ok(());
    }
    if has_word(si, "peer-dies") {
        // The peer is gone or going: its pages stay ours to read until we unmap.
        time::sleep(300 * MS);
        word(ring_va, REQ_PROD).store(7, Ordering::Release);
        if !equals_at(ro_va, GREETING) || word(ring_va, REQ_PROD).load(Ordering::Acquire) != 7 {
            return Err("the dead peer's pages changed under our mappings");
        }
        println!("pair: take: the dead peer's pages are still mapped");
    }
    let first = [
        gnttab::unmap_grant_ref(ro.handle, ro_va),
        gnttab::unmap_grant_ref(ring.handle, ring_pte),
    ];
    let again = gnttab::unmap_grant_ref(ro.handle, ro_va);
    println!("pair: take: unmapped: {first:?}, again: {again}");
    if first != [GNTST_OKAY; 2] || again != GNTST_BAD_HANDLE {
        return Err("unmap failed");
    }
    for (va, mfn) in [(ro_va, own[0]), (ring_va, own[1])] {
        if ring::map_frame(va, mfn) != 0 {
            return Err("cannot map our own page back");
        }
    }
    events::send(local);
    Ok(())
}

#[no_mangle]
fn guest_main(si: &'static StartInfo) -> ! {
    traps::install_trap_table();
    traps::set_callbacks();
    events::init(si);
    let timer = events::bind_virq(pv_abi::event_channel::VIRQ_TIMER).unwrap_or(0);
    events::unmask(timer);
    let role = if si.cmdline().contains("offer") {
        "offer"
    } else {
        "take"
    };
    let verdict = match (peer(si), Xenstore::new(si)) {
        (Some(p), Ok(mut xs)) => {
            if role == "offer" {
                offer(si, &mut xs, p)
            } else {
                take(si, &mut xs, p)
            }
        }
        (None, _) => Err("no peer=N on the command line"),
        (_, Err(e)) => Err(e),
    };
    match verdict {
        Ok(()) => println!("pair: {role}: PASS"),
        Err(why) => println!("pair: {role}: FAIL ({why})"),
    }
    let _ = hypercall::xen_version(0, core::ptr::null_mut());
    hypercall::shutdown(SHUTDOWN_POWEROFF)
}
