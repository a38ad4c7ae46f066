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
//! Each prints `pair: <role>: PASS` or `FAIL (<why>)`, then powers off.
#![no_std]
#![no_main]

use core::fmt::Write;

use guests::gnttab::{self, GrantTable};
use guests::ring::{self, PageSlot, VIRT_BASE};
use guests::time::{self, MS};
use guests::xenstore::{as_text, Text, Xenstore};
use guests::{events, hypercall, println, traps, StartInfo};
use pv_abi::grant_table::*;
use pv_abi::sched::SHUTDOWN_POWEROFF;
use pv_abi::xen::{hypercall as nr, DOMID_SELF};

const READ_REF: u32 = 8;
const WRITE_REF: u32 = 9;
const GREETING: &[u8] = b"greetings from the offering domain";
const REPLY: &[u8] = b"and a reply from the taking domain";

static mut SHARED: [PageSlot; 2] = [const { PageSlot([0; 4096]) }; 2];
static mut LOCAL: PageSlot = PageSlot([0; 4096]);

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
    table.revoke(READ_REF);
    table.revoke(WRITE_REF);
    Ok(())
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
