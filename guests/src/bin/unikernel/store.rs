//! Checks of the xenstore client: every request type, watches, transactions, and the
//! `control/shutdown` watch a PV guest uses to be shut down cleanly.

use core::fmt::Write;

use guests::println;
use guests::time::{self, MS};
use guests::xenstore::{as_text, Text, Xenstore, XsError};
use pv_abi::sched::{SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_SUSPEND};

use crate::{Check, Ctx, Detail};

type Path = Text<128>;

fn path(ctx: &Ctx, rel: &str) -> Path {
    let mut p = Path::new();
    let _ = write!(p, "{}/{rel}", ctx.domain_path.as_str());
    p
}

fn xs_err(what: &str, p: &str, e: XsError) -> Detail {
    detail!("{what} {p}: {e}")
}

fn read_text(xs: &mut Xenstore, p: &str) -> Result<Text<128>, Detail> {
    let v = xs.read(0, p).map_err(|e| xs_err("read", p, e))?;
    let mut t = Text::new();
    let _ = t.write_str(as_text(v));
    Ok(t)
}

/// Connects, finds our domain path and runs every request type against it.
pub fn xenstore(ctx: &mut Ctx) -> Check {
    let mut xs = Xenstore::new(ctx.si).map_err(|e| detail!("{e}"))?;
    let rel_domid = read_text(&mut xs, "domid")?;
    let domid: u16 = rel_domid
        .as_str()
        .parse()
        .map_err(|_| detail!("domid {:?} is not a number", rel_domid.as_str()))?;
    if let Some(known) = ctx.domid {
        ensure!(
            known == domid,
            "xenstore domid {domid}, event channels say {known}"
        );
    }
    ctx.domid = Some(domid);
    let dp = xs
        .get_domain_path(domid)
        .map_err(|e| detail!("get_domain_path({domid}): {e}"))?;
    let _ = ctx.domain_path.write_str(as_text(dp));
    let mut want = Text::<64>::new();
    let _ = write!(want, "/local/domain/{domid}");
    ensure!(
        ctx.domain_path.as_str() == want.as_str(),
        "get_domain_path({domid}) = {:?}",
        ctx.domain_path.as_str()
    );
    let name = read_text(&mut xs, path(ctx, "name").as_str())?;
    ensure!(!name.as_str().is_empty(), "name is empty");
    let target = read_text(&mut xs, path(ctx, "memory/target").as_str())?;
    let target_kib: u64 = target
        .as_str()
        .parse()
        .map_err(|_| detail!("memory/target {:?} is not a number", target.as_str()))?;
    ensure!(target_kib > 0, "memory/target is 0");

    let result = exercise(ctx, &mut xs);
    let _ = xs.rm(0, path(ctx, "data/unikernel").as_str());
    ctx.xs = Some(xs);
    let ops = result?;
    Ok(detail!(
        "name={:?} domid={domid} memory/target={target_kib} KiB ({} pages); {}",
        name.as_str(),
        ctx.si.nr_pages,
        ops.as_str()
    ))
}

fn exercise(ctx: &Ctx, xs: &mut Xenstore) -> Check {
    let dir = path(ctx, "data/unikernel");
    let greeting = path(ctx, "data/unikernel/greeting");
    xs.mkdir(0, dir.as_str())
        .map_err(|e| xs_err("mkdir", dir.as_str(), e))?;
    let hello = b"hello from a PV unikernel";
    xs.write(0, greeting.as_str(), hello)
        .map_err(|e| xs_err("write", greeting.as_str(), e))?;
    let back = read_text(xs, greeting.as_str())?;
    ensure!(back.as_bytes() == hello, "read back {:?}", back.as_str());
    let list = xs
        .directory(0, dir.as_str())
        .map_err(|e| xs_err("directory", dir.as_str(), e))?;
    ensure!(
        list.split(|&b| b == 0).any(|n| n == b"greeting"),
        "directory {} = {:?}",
        dir.as_str(),
        as_text(list)
    );

    let committed = path(ctx, "data/unikernel/committed");
    let tx = xs
        .transaction_start()
        .map_err(|e| detail!("transaction_start: {e}"))?;
    ensure!(tx != 0, "transaction_start returned id 0");
    xs.write(tx, committed.as_str(), b"yes")
        .map_err(|e| xs_err("write in transaction", committed.as_str(), e))?;
    xs.transaction_end(tx, true)
        .map_err(|e| detail!("transaction_end(commit): {e}"))?;
    let back = read_text(xs, committed.as_str())?;
    ensure!(
        back.as_str() == "yes",
        "after commit read {:?}",
        back.as_str()
    );
    let aborted = path(ctx, "data/unikernel/aborted");
    let tx2 = xs
        .transaction_start()
        .map_err(|e| detail!("transaction_start: {e}"))?;
    xs.write(tx2, aborted.as_str(), b"no")
        .map_err(|e| xs_err("write in transaction", aborted.as_str(), e))?;
    xs.transaction_end(tx2, false)
        .map_err(|e| detail!("transaction_end(abort): {e}"))?;
    let gone = xs.read(0, aborted.as_str()).err();
    ensure!(
        gone.is_some_and(|e| e.is("ENOENT")),
        "aborted write is visible ({gone:?})"
    );

    let watched = path(ctx, "data/unikernel/watched");
    xs.watch(watched.as_str(), "uk-watch")
        .map_err(|e| xs_err("watch", watched.as_str(), e))?;
    let first = xs.next_watch_event(time::now() + 1000 * MS);
    ensure!(first.is_some(), "no initial watch event after XS_WATCH");
    xs.write(0, watched.as_str(), b"1")
        .map_err(|e| xs_err("write", watched.as_str(), e))?;
    let fired = xs
        .next_watch_event(time::now() + 1000 * MS)
        .ok_or_else(|| detail!("no watch event for a write to {}", watched.as_str()))?;
    ensure!(
        fired.path() == watched.as_str() && fired.token() == "uk-watch",
        "watch event path {:?} token {:?}",
        fired.path(),
        fired.token()
    );
    xs.unwatch(watched.as_str(), "uk-watch")
        .map_err(|e| xs_err("unwatch", watched.as_str(), e))?;
    xs.write(0, watched.as_str(), b"2")
        .map_err(|e| xs_err("write", watched.as_str(), e))?;
    let stray = xs.next_watch_event(time::now() + 100 * MS);
    ensure!(stray.is_none(), "watch event after unwatch");

    let foreign = "/local/domain/0/unikernel-was-here";
    let denied = xs.write(0, foreign, b"x").err();
    ensure!(
        denied.is_some_and(|e| e.is("EACCES")),
        "write to {foreign} (dom0's tree): {denied:?}, want EACCES"
    );

    xs.rm(0, dir.as_str())
        .map_err(|e| xs_err("rm", dir.as_str(), e))?;
    let gone = xs.read(0, greeting.as_str()).err();
    ensure!(
        gone.is_some_and(|e| e.is("ENOENT")),
        "read after rm: {gone:?}"
    );
    Ok(detail!(
        "read, write, mkdir, directory, transaction commit (id {tx}) and abort, watch + event, \
         unwatch, rm, get_domain_path; EACCES outside our tree"
    ))
}

const SHUTDOWN_TOKEN: &str = "shutdown";

/// Watches `control/shutdown`, then plays the toolstack once: writes "poweroff", expects the
/// watch to fire with that value, and acknowledges by writing "".
pub fn shutdown_watch(ctx: &mut Ctx) -> Check {
    let node = path(ctx, "control/shutdown");
    let xs = ctx
        .xs
        .as_mut()
        .ok_or_else(|| detail!("no xenstore connection"))?;
    xs.clear_watch_events();
    xs.watch(node.as_str(), SHUTDOWN_TOKEN)
        .map_err(|e| xs_err("watch", node.as_str(), e))?;
    let first = xs.next_watch_event(time::now() + 1000 * MS);
    ensure!(
        first.is_some(),
        "no initial watch event for {}",
        node.as_str()
    );
    xs.write(0, node.as_str(), b"poweroff")
        .map_err(|e| xs_err("write", node.as_str(), e))?;
    let event = xs
        .next_watch_event(time::now() + 1000 * MS)
        .ok_or_else(|| detail!("no watch event after writing {}", node.as_str()))?;
    ensure!(
        event.path() == node.as_str() && event.token() == SHUTDOWN_TOKEN,
        "event path {:?} token {:?}",
        event.path(),
        event.token()
    );
    let request = read_text(xs, node.as_str())?;
    ensure!(
        request.as_str() == "poweroff",
        "control/shutdown = {:?}",
        request.as_str()
    );
    xs.write(0, node.as_str(), b"")
        .map_err(|e| xs_err("acknowledge", node.as_str(), e))?;
    let _ = xs.next_watch_event(time::now() + 100 * MS);
    xs.clear_watch_events();
    Ok(detail!(
        "watch on {} fired for \"poweroff\", acknowledged with \"\"",
        node.as_str()
    ))
}

fn reason(request: &str) -> Option<u32> {
    match request {
        "poweroff" | "halt" => Some(SHUTDOWN_POWEROFF),
        "reboot" => Some(SHUTDOWN_REBOOT),
        "suspend" => Some(SHUTDOWN_SUSPEND),
        "crash" => Some(SHUTDOWN_CRASH),
        _ => None,
    }
}

/// Waits (up to 5 minutes) for the toolstack to write `control/shutdown`, acknowledges it
/// and shuts down with the matching reason.
pub fn wait_for_shutdown(ctx: &mut Ctx) {
    let node = path(ctx, "control/shutdown");
    let Some(xs) = ctx.xs.as_mut() else {
        println!("unikernel: wait-shutdown: no xenstore connection");
        return;
    };
    println!("unikernel: waiting for {} to be written", node.as_str());
    let deadline = time::now() + 300_000 * MS;
    // A request written before we got here is acted on too (no event would come for it).
    let mut pending = true;
    while pending || xs.next_watch_event(deadline).is_some() {
        pending = false;
        let Ok(request) = read_text(xs, node.as_str()) else {
            continue;
        };
        let Some(reason) = reason(request.as_str()) else {
            continue;
        };
        let _ = xs.write(0, node.as_str(), b"");
        println!(
            "unikernel: control/shutdown = {:?}: shutting down ({})",
            request.as_str(),
            pv_abi::sched::name(reason).unwrap_or("?")
        );
        guests::hypercall::shutdown(reason);
    }
    println!("unikernel: no shutdown request arrived");
}
