//! Checks of the shared-memory side of the ABI: callback registration and upcall entry
//! state, event-channel operations, the console ring and grant tables.

use guests::gnttab::{self, GrantTable};
use guests::ring::{self, ConsoleRing};
use guests::time::{self, MS};
use guests::{events, traps};
use pv_abi::event_channel::{
    EVTCHNSTAT_CLOSED, EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_UNBOUND, EVTCHNSTAT_VIRQ, VIRQ_TIMER,
};
use pv_abi::grant_table::{GNTST_OKAY, GTF_PERMIT_ACCESS, GTF_READONLY};

use crate::{loopback_pair, spin_wait, Check, Ctx, Detail};

/// `callback_op(CALLBACKOP_register)` for event + failsafe succeeded, and upcalls enter with
/// `evtchn_upcall_mask = 1`, a frame whose IF is set and whose saved mask is 0.
pub fn callbacks(ctx: &Ctx) -> Check {
    ensure!(
        ctx.callbacks_rc == (0, 0),
        "callback_op(register) event/failsafe = {:?}",
        ctx.callbacks_rc
    );
    let (a, b) = loopback_pair()?;
    let seen = events::count(a);
    events::send(b);
    let delivered = spin_wait(a, seen, 500 * MS);
    events::close(b);
    events::close(a);
    ensure!(delivered, "no upcall for a loopback event");
    let [upcalls, masked_wrong, if_clear, saved_mask] = events::upcall_stats();
    ensure!(
        masked_wrong == 0,
        "{masked_wrong} of {upcalls} upcalls entered with evtchn_upcall_mask != 1"
    );
    ensure!(
        if_clear == 0 && saved_mask == 0,
        "{if_clear} upcall frames with IF clear, {saved_mask} with a saved mask"
    );
    Ok(detail!(
        "callback_op registered event+failsafe; {upcalls} upcalls, each entered with \
         upcall_mask=1, frame IF=1, saved mask 0 (failsafe entries: {})",
        traps::count(traps::VECTOR_FAILSAFE)
    ))
}

fn status_is(port: u32, want: u32) -> Result<pv_abi::event_channel::EvtchnStatus, Detail> {
    let s = events::status(port).map_err(|rc| detail!("EVTCHNOP_status({port}) = {rc}"))?;
    ensure!(
        s.status == want,
        "EVTCHNOP_status({port}) = {}, want {want}",
        s.status
    );
    Ok(s)
}

/// VIRQ binding status, a loopback interdomain pair (send both ways, status of both ends),
/// masking with both ways of unmasking, and close.
pub fn events(ctx: &mut Ctx) -> Check {
    ensure!(
        ctx.timer_port != 0,
        "EVTCHNOP_bind_virq(VIRQ_TIMER) failed at setup"
    );
    let virq = status_is(ctx.timer_port, EVTCHNSTAT_VIRQ)?;
    ensure!(
        virq.u_word0 == VIRQ_TIMER && virq.vcpu == 0,
        "timer port status: virq {} vcpu {}",
        virq.u_word0,
        virq.vcpu
    );
    let again = events::bind_virq(VIRQ_TIMER);
    ensure!(
        again == Err(-17),
        "second bind_virq(VIRQ_TIMER) = {again:?}, want Err(-17) (EEXIST)"
    );
    let self_id = pv_abi::xen::DOMID_SELF;
    let a = events::alloc_unbound(self_id).map_err(|rc| detail!("alloc_unbound: {rc}"))?;
    let unbound = status_is(a, EVTCHNSTAT_UNBOUND)?;
    let b = events::bind_interdomain(self_id, a).map_err(|rc| detail!("bind_interdomain: {rc}"))?;
    let sa = status_is(a, EVTCHNSTAT_INTERDOMAIN)?;
    let sb = status_is(b, EVTCHNSTAT_INTERDOMAIN)?;
    ensure!(
        sa.u_word1 == b && sb.u_word1 == a,
        "peer ports: {a} -> {}, {b} -> {}",
        sa.u_word1,
        sb.u_word1
    );
    ensure!(
        sa.u_word0 == unbound.u_word0 && sa.u_word0 < 0x7ff0,
        "domid from status: unbound says {}, interdomain says {}",
        unbound.u_word0,
        sa.u_word0
    );
    ctx.domid = Some(sa.u_word0 as u16);
    events::unmask(a);
    events::unmask(b);

    let (ca, cb) = (events::count(a), events::count(b));
    events::send(b);
    ensure!(spin_wait(a, ca, 500 * MS), "send({b}) did not raise {a}");
    events::send(a);
    ensure!(spin_wait(b, cb, 500 * MS), "send({a}) did not raise {b}");

    events::mask(a);
    let ca = events::count(a);
    events::send(b);
    time::yield_now();
    ensure!(
        events::is_pending(a) && events::count(a) == ca,
        "masked port: pending {} upcalls {}",
        events::is_pending(a),
        events::count(a) - ca
    );
    events::unmask(a);
    ensure!(
        spin_wait(a, ca, 500 * MS),
        "shared-memory unmask did not deliver"
    );

    events::mask(a);
    let ca = events::count(a);
    events::send(b);
    let rc = events::unmask_op(a);
    ensure!(rc == 0, "EVTCHNOP_unmask = {rc}");
    ensure!(
        spin_wait(a, ca, 500 * MS),
        "EVTCHNOP_unmask did not deliver"
    );

    let rc = events::close(b);
    ensure!(rc == 0, "close({b}) = {rc}");
    status_is(a, EVTCHNSTAT_UNBOUND)?;
    status_is(b, EVTCHNSTAT_CLOSED)?;
    let rc = events::close(a);
    ensure!(rc == 0, "close({a}) = {rc}");
    status_is(a, EVTCHNSTAT_CLOSED)?;
    let rc = events::send(a);
    ensure!(rc < 0, "send on a closed port = {rc}");
    Ok(detail!(
        "VIRQ_TIMER on port {} (rebinding: -EEXIST), loopback {a}<->{b} both ways (domid {}), mask + unmask \
         (memory and EVTCHNOP_unmask), close -> unbound -> closed, send on closed = {rc}",
        ctx.timer_port,
        sa.u_word0
    ))
}

/// Output through the ring (consumed by the backend), input if asked for.
pub fn console_ring(ctx: &Ctx) -> Check {
    let ring = ConsoleRing::new(ctx.si).map_err(|e| detail!("{e}"))?;
    let pfn = ring::mfn_to_pfn(ctx.si.console.mfn);
    events::unmask(ring.port);
    let line = b"unikernel: console-ring: this line went through the console ring\n";
    let written = ring.write_all(line, 100);
    ensure!(
        written == line.len(),
        "wrote {written} of {} bytes",
        line.len()
    );
    let deadline = time::now() + 1000 * MS;
    while ring.out_indices().0 != ring.out_indices().1 && time::now() < deadline {
        time::yield_now();
    }
    let (cons, prod) = ring.out_indices();
    ensure!(
        cons == prod,
        "backend did not consume: out_cons {cons} out_prod {prod}"
    );
    let mut input = [0u8; 128];
    let mut got = ring.read(&mut input);
    if ctx.console_input {
        ring.write_all(
            b"unikernel: console-ring: type a line and press enter\n",
            100,
        );
        let deadline = time::now() + 30_000 * MS;
        while !input[..got].iter().any(|&c| c == b'\r' || c == b'\n') && time::now() < deadline {
            time::wait_until(deadline, || ring.input_available() > 0);
            got += ring.read(&mut input[got..]);
        }
        ensure!(got > 0, "no input typed within 30 s");
    }
    let text = guests::xenstore::as_text(&input[..got]).trim_end();
    Ok(if got == 0 {
        detail!(
            "port {}, mfn {:#x} -> pfn {pfn:#x}, {} bytes consumed; input: nothing typed (skipped)",
            ring.port,
            ctx.si.console.mfn,
            line.len()
        )
    } else {
        detail!(
            "port {}, mfn {:#x} -> pfn {pfn:#x}, {} bytes consumed; input: {:?}",
            ring.port,
            ctx.si.console.mfn,
            line.len(),
            text
        )
    })
}

static GRANTED_PAGE: ring::PageSlot = ring::PageSlot([0; 4096]);

/// `query_size`, `set_version(1)`, `setup_table` (4 frames), map them, write an entry and
/// read it back.
pub fn grant_table(ctx: &Ctx) -> Check {
    let (rc, q) = gnttab::query_size();
    ensure!(
        rc == 0 && q.status == GNTST_OKAY,
        "query_size = {rc} status {}",
        q.status
    );
    let (rc, version) = gnttab::set_version(1);
    ensure!(
        rc == 0 && version == 1,
        "set_version(1) = {rc}, version {version}"
    );
    let (rc, version) = gnttab::get_version();
    ensure!(
        rc == 0 && version == 1,
        "get_version = {rc}, version {version}"
    );
    let (rc, status, frames) = gnttab::setup_table();
    ensure!(
        rc == 0 && status == GNTST_OKAY,
        "setup_table(4) = {rc} status {status}"
    );
    ensure!(
        frames.iter().all(|&f| f != 0),
        "setup_table returned frames {frames:x?}"
    );
    let table = GrantTable::map(&frames)
        .map_err(|(i, rc)| detail!("update_va_mapping of grant frame {i} = {rc}"))?;
    let va = &raw const GRANTED_PAGE as u64;
    let pfn = (va - ring::VIRT_BASE) / 4096;
    let mfn = ring::pfn_to_mfn(ctx.si, pfn).unwrap_or(0);
    let gref = 8;
    let flags = GTF_PERMIT_ACCESS | GTF_READONLY;
    table.grant(gref, 0, mfn as u32, flags);
    let back = table.read(gref);
    ensure!(
        back == (flags, 0, mfn as u32),
        "grant entry {gref} reads back {back:x?}"
    );
    table.revoke(gref);
    let (rc, after) = gnttab::query_size();
    ensure!(
        rc == 0 && after.nr_frames >= 4,
        "query_size after setup: {rc}, {} frames",
        after.nr_frames
    );
    Ok(detail!(
        "v1, {} -> {} of max {} frames at mfns {:x?}, mapped at {:#x}, entry {gref} = \
         permit_access|readonly dom0 frame {mfn:#x} read back",
        q.nr_frames,
        after.nr_frames,
        q.max_nr_frames,
        frames,
        table.va()
    ))
}
