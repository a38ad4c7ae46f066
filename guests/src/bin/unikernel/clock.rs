//! Checks of time and waiting: `vcpu_time_info` and the wall clock, the three timers, and
//! `SCHEDOP_yield` / `block` / `poll`.

use guests::events;
use guests::time::{self, MS};
use pv_abi::vcpu::VCPU_SSHOTTMR_FUTURE;

use guests::ring::PageSlot;
use pv_abi::xen::XEN_PVCLOCK_TSC_STABLE_BIT;

use crate::{loopback_pair, spin_wait, Check, Ctx, Problems};

const ETIME: i64 = 62;
const EINVAL: i64 = 22;

/// System time (seqlock, TSC scaling) is monotonic and agrees with the TSC; the wall clock
/// is plausible; `set_timer_op` + `block` sleeps about as long as asked.
pub fn time(ctx: &Ctx) -> Check {
    let t = time::time_info();
    ensure!(
        t.tsc_to_system_mul != 0,
        "vcpu_time_info.tsc_to_system_mul is 0"
    );
    let khz = time::tsc_khz(&t);
    ensure!(
        (100_000..20_000_000).contains(&khz),
        "implied TSC frequency {khz} kHz (mul {:#x} shift {})",
        t.tsc_to_system_mul,
        t.tsc_shift
    );
    let mut last = time::now();
    for _ in 0..1000 {
        let now = time::now();
        ensure!(now >= last, "system time went backwards: {last} then {now}");
        last = now;
    }
    let (tsc0, ns0) = (time::rdtsc(), time::now());
    let (wc_sec, _) = time::wallclock_now();
    ensure!(
        (1_577_836_800..4_102_444_800).contains(&wc_sec),
        "wall clock {wc_sec} s is not between 2020 and 2100"
    );
    let seen = events::count(ctx.timer_port);
    time::sleep(30 * MS);
    let (tsc1, ns1) = (time::rdtsc(), time::now());
    let slept = ns1 - ns0;
    ensure!(tsc1 > tsc0, "rdtsc did not advance");
    ensure!(
        (30 * MS..2000 * MS).contains(&slept),
        "sleep(30 ms) took {} us",
        slept / 1000
    );
    ensure!(
        events::count(ctx.timer_port) > seen,
        "no VIRQ_TIMER during the sleep"
    );
    let by_tsc = (tsc1 - tsc0) * 1_000_000 / khz.max(1);
    let skew = by_tsc.abs_diff(slept);
    ensure!(
        skew < slept / 10 + MS,
        "system time says {slept} ns, TSC says {by_tsc} ns"
    );
    let (y, mo, d, h, mi, s) = time::civil_from_unix(wc_sec);
    Ok(detail!(
        "monotonic, TSC {} MHz, wall clock {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC, \
         sleep(30 ms) woke by VIRQ_TIMER after {} us",
        khz / 1000,
        slept / 1000
    ))
}

/// Waits for one VIRQ_TIMER after `seen` (≤ 1 s); returns the ns elapsed since `start`.
fn timer_fired(ctx: &Ctx, seen: u32, start: u64) -> Option<u64> {
    spin_wait(ctx.timer_port, seen, 1000 * MS).then(|| time::now() - start)
}

/// `set_timer_op` (and cancelling it), `VCPUOP_set_singleshot_timer` (and its
/// `VCPU_SSHOTTMR_future` check), `VCPUOP_set/stop_periodic_timer`.
pub fn timers(ctx: &Ctx) -> Check {
    let port = ctx.timer_port;
    let rc = time::stop_periodic_timer();
    ensure!(rc == 0, "VCPUOP_stop_periodic_timer = {rc}");

    let (start, seen) = (time::now(), events::count(port));
    let rc = time::set_timer_op(start + 20 * MS);
    ensure!(rc == 0, "set_timer_op = {rc}");
    let op_ns = timer_fired(ctx, seen, start).ok_or_else(|| detail!("set_timer_op never fired"))?;
    ensure!(
        op_ns >= 20 * MS,
        "set_timer_op(+20 ms) fired after {} us",
        op_ns / 1000
    );

    let (start, seen) = (time::now(), events::count(port));
    time::set_timer_op(start + 10 * MS);
    time::set_timer_op(0);
    let fired = spin_wait(port, seen, 40 * MS);
    ensure!(!fired, "set_timer_op(0) did not cancel the timer");

    let (start, seen) = (time::now(), events::count(port));
    let rc = time::set_timer_op(start - MS);
    ensure!(rc == 0, "set_timer_op(past) = {rc}");
    let past_ns = timer_fired(ctx, seen, start)
        .ok_or_else(|| detail!("set_timer_op with a deadline in the past never fired"))?;
    ensure!(
        past_ns < 100 * MS,
        "set_timer_op(past) fired after {} us",
        past_ns / 1000
    );

    let (start, seen) = (time::now(), events::count(port));
    let rc = time::set_singleshot_timer(start + 15 * MS, 0);
    ensure!(rc == 0, "VCPUOP_set_singleshot_timer = {rc}");
    let shot_ns =
        timer_fired(ctx, seen, start).ok_or_else(|| detail!("singleshot timer never fired"))?;
    ensure!(
        shot_ns >= 15 * MS,
        "singleshot(+15 ms) fired after {} us",
        shot_ns / 1000
    );
    let rc = time::set_singleshot_timer(time::now() - MS, VCPU_SSHOTTMR_FUTURE);
    ensure!(
        rc == -ETIME,
        "singleshot in the past with VCPU_SSHOTTMR_future = {rc}, want -62"
    );

    let rc = time::set_periodic_timer(100_000);
    ensure!(
        rc == -EINVAL,
        "set_periodic_timer(100 us) = {rc}, want -22 (< 1 ms)"
    );
    let (start, seen) = (time::now(), events::count(port));
    let rc = time::set_periodic_timer(10 * MS);
    ensure!(rc == 0, "VCPUOP_set_periodic_timer(10 ms) = {rc}");
    while time::now() < start + 100 * MS {
        time::yield_now();
    }
    let ticks = events::count(port) - seen;
    let rc = time::stop_periodic_timer();
    ensure!(rc == 0, "VCPUOP_stop_periodic_timer = {rc}");
    ensure!(
        (3..=20).contains(&ticks),
        "periodic 10 ms: {ticks} ticks in 100 ms"
    );
    let after = events::count(port);
    spin_wait(port, after + 1, 50 * MS);
    let late = events::count(port) - after;
    ensure!(late <= 1, "{late} ticks after stop_periodic_timer");
    Ok(detail!(
        "set_timer_op +20 ms fired at {} us, in the past at once, 0 cancels, singleshot +15 ms at {} us, \
         -ETIME for the past, periodic 10 ms: {ticks} ticks/100 ms, then stopped",
        op_ns / 1000,
        shot_ns / 1000
    ))
}

/// `SCHEDOP_yield`; `SCHEDOP_block` returning at once for a pending event and unmasking;
/// `SCHEDOP_poll` timing out, returning for an already-pending port, and woken by a timer.
pub fn block_yield_poll(ctx: &Ctx) -> Check {
    for _ in 0..3 {
        let rc = time::yield_now();
        ensure!(rc == 0, "SCHEDOP_yield = {rc}");
    }
    let (a, b) = loopback_pair()?;
    let result = block_and_poll(ctx, a, b);
    events::close(b);
    events::close(a);
    result
}

fn block_and_poll(ctx: &Ctx, a: u32, b: u32) -> Check {
    let seen = events::count(a);
    events::irq_disable();
    events::send(b);
    let start = time::now();
    time::set_timer_op(start + 500 * MS);
    let rc = time::block();
    let took = time::now() - start;
    let mask = events::upcall_mask_value();
    events::irq_enable();
    time::set_timer_op(0);
    ensure!(rc == 0, "SCHEDOP_block = {rc}");
    ensure!(
        took < 200 * MS,
        "block with an event pending slept {} us",
        took / 1000
    );
    ensure!(mask == 0, "SCHEDOP_block left evtchn_upcall_mask = {mask}");
    ensure!(
        events::count(a) > seen,
        "pending event not delivered after block"
    );

    events::irq_disable();
    let start = time::now();
    let rc = time::poll(&[a], start + 20 * MS);
    let timeout_ns = time::now() - start;
    events::irq_enable();
    ensure!(rc == 0, "SCHEDOP_poll (timeout) = {rc}");
    ensure!(
        (19 * MS..1000 * MS).contains(&timeout_ns),
        "poll with a 20 ms timeout returned after {} us",
        timeout_ns / 1000
    );

    events::irq_disable();
    events::send(b);
    let start = time::now();
    let rc = time::poll(&[a], start + 1000 * MS);
    let pending_ns = time::now() - start;
    events::irq_enable();
    ensure!(rc == 0, "SCHEDOP_poll (pending) = {rc}");
    ensure!(
        pending_ns < 200 * MS,
        "poll on a pending port took {} us",
        pending_ns / 1000
    );

    events::irq_disable();
    let start = time::now();
    time::set_singleshot_timer(start + 15 * MS, 0);
    let rc = time::poll(&[ctx.timer_port], start + 2000 * MS);
    let woke_ns = time::now() - start;
    let pending = events::is_pending(ctx.timer_port);
    events::irq_enable();
    ensure!(rc == 0, "SCHEDOP_poll (timer) = {rc}");
    ensure!(pending, "poll returned but VIRQ_TIMER is not pending");
    ensure!(
        (15 * MS..1000 * MS).contains(&woke_ns),
        "poll woken by a +15 ms timer after {} us",
        woke_ns / 1000
    );
    Ok(detail!(
        "yield, block returned in {} us with an event pending and unmasked, poll timeout \
         {} us, poll on pending port {} us, poll woken by VIRQ_TIMER at {} us",
        took / 1000,
        timeout_ns / 1000,
        pending_ns / 1000,
        woke_ns / 1000
    ))
}

/// The page holding our second `vcpu_time_info` (at offset 64).
static mut TIME_AREA_PAGE: PageSlot = PageSlot([0; 4096]);

/// `VCPUOP_register_vcpu_time_memory_area`: the area is filled at once, agrees with
/// `vcpu_info.time`, carries `XEN_PVCLOCK_TSC_STABLE_BIT` (Linux's vDSO needs it), follows
/// later updates, and stops changing once unregistered; a hypervisor address is refused.
pub fn time_area() -> Check {
    let mut p = Problems::default();
    let va = &raw const TIME_AREA_PAGE as u64 + 64;
    const EFAULT: i64 = 14;
    let rc = time::register_time_area(0xFFFF_8000_0010_0000);
    p.check(
        rc == -EFAULT,
        format_args!("hypervisor address: {rc}, want -14"),
    );
    let rc = time::register_time_area(va);
    p.check(rc == 0, format_args!("register: {rc}"));
    // SAFETY: `va` is inside our own page slot, 8-aligned, never referenced by Rust.
    let read = || unsafe { time::time_info_at(va) };
    let first = read();
    p.check(
        first.version != 0 && first.tsc_to_system_mul != 0,
        format_args!(
            "area not filled: version {} mul {:#x}",
            first.version, first.tsc_to_system_mul
        ),
    );
    let primary = time::time_info();
    p.check(
        first.tsc_to_system_mul == primary.tsc_to_system_mul
            && first.tsc_shift == primary.tsc_shift,
        format_args!("scale differs from vcpu_info's"),
    );
    p.check(
        first.flags & XEN_PVCLOCK_TSC_STABLE_BIT != 0,
        format_args!("flags {:#x} without TSC_STABLE", first.flags),
    );
    let tsc = time::rdtsc();
    let (a, b) = (
        read().system_time_at(tsc),
        time::time_info().system_time_at(tsc),
    );
    p.check(
        a.abs_diff(b) < MS,
        format_args!("area says {a} ns, vcpu_info says {b} ns"),
    );
    // Every switch-in refreshes the record (a yield switches out and in again).
    time::yield_now();
    let later = read();
    p.check(
        later.version != first.version && later.system_time > first.system_time,
        format_args!(
            "not updated after a yield: version {} -> {}",
            first.version, later.version
        ),
    );
    let rc = time::register_time_area(0);
    p.check(rc == 0, format_args!("unregister: {rc}"));
    let before = read().version;
    time::yield_now();
    let after = read().version;
    p.check(
        before == after,
        format_args!("updated after unregistering: {before} -> {after}"),
    );
    p.into_check(detail!(
        "second vcpu_time_info at {va:#x}: filled, same scale, TSC_STABLE, updated on a switch, \
         quiet after unregistering; hypervisor address -EFAULT"
    ))
}
