//! Running vCPUs on the physical CPU.
//!
//! Every guest exit lands in [`guest_entry`] with the guest's registers in the top-of-stack
//! frame. The handler works on that frame; then [`Hypervisor::schedule`] either resumes the
//! same vCPU (returning through the frame) or switches: the frame and hardware state go into
//! the old vCPU, the next runnable vCPU's state comes into the frame. With nothing runnable the
//! CPU idles (`sti; hlt`) until an interrupt makes a vCPU runnable; when the last domain is
//! gone the machine stops with an exit code summarising how the domains ended. Before halting,
//! the idle CPU scrubs dirty free memory (`Memory::scrub_some`), a chunk at a time, letting
//! interrupts in between chunks and going back to scheduling as soon as one was handled.
//!
//! Fair sharing (`hv_core::runqueue`): runnable vCPUs wait ordered by virtual run time; the
//! running one keeps the CPU until it blocks, yields, dies, or its time slice ends while
//! others wait — the LAPIC timer is armed for the slice's end, so a vCPU spinning with
//! events masked cannot keep its peers from running. Blocked vCPUs are never picked.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::context;
use crate::arch::entry::{self, TrapFrame, SYSCALL32_VECTOR, SYSCALL_VECTOR};
use crate::arch::exit::{exit, ExitCode};
use crate::arch::{cpu, idt, lapic};
use crate::domain::{DomainId, DomainState, RunState};
use crate::hypervisor::{self, Hypervisor, VcpuRef};
use hv_core::domain_config::Action;
use hv_core::profile::Kind;

/// A domain that ends this many times in a row with `restart` is not built again.
const MAX_RESTARTS: u32 = 16;

/// How often serial input is polled while domains exist, when it has no interrupt.
const CONSOLE_POLL_NS: u64 = 20_000_000;

/// What to do after handling an exit.
enum Next {
    /// Return to the vCPU now in the frame.
    Resume,
    /// Nothing can run: idle.
    Idle,
}

/// What the idle loop should do next.
enum IdleStep {
    /// Enter this vCPU.
    Enter(TrapFrame),
    /// Stop the machine.
    Exit(ExitCode),
    /// Wait for an interrupt.
    Wait,
}

/// Entry from a guest (exception, interrupt or SYSCALL in ring 3).
pub fn guest_entry(frame: &mut TrapFrame) {
    let next = hypervisor::with(|hv| hv.handle_exit(frame));
    if let Next::Idle = next {
        idle_loop()
    }
}

/// Interrupts handled while idle (the scrubber stops when this moves).
static IDLE_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Frames the idle loop scrubs between two looks at pending interrupts (256 KiB).
const IDLE_SCRUB_FRAMES: u64 = 64;

/// The LAPIC timer fired while the hypervisor was idle.
pub fn timer_interrupt() {
    IDLE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
    hypervisor::with(|hv| {
        hv.timer_tick();
        hv.program_timer();
    });
}

/// The serial port received input while the hypervisor was idle.
pub fn serial_interrupt() {
    IDLE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    lapic::eoi();
    hypervisor::with(|hv| hv.console_input());
}

fn idle_loop() -> ! {
    loop {
        match hypervisor::with(|hv| hv.idle_step()) {
            IdleStep::Enter(regs) => entry::enter_guest(&regs),
            IdleStep::Exit(code) => exit(code),
            IdleStep::Wait => scrub_or_wait(),
        }
    }
}

/// Nothing to run: scrubs dirty free memory until an interrupt arrives; halts once all free
/// memory is clean.
fn scrub_or_wait() {
    let seen = IDLE_INTERRUPTS.load(Ordering::Relaxed);
    loop {
        if hypervisor::with(|hv| hv.memory.scrub_some(IDLE_SCRUB_FRAMES)) == 0 {
            cpu::idle_wait();
            return;
        }
        cpu::allow_interrupts();
        if IDLE_INTERRUPTS.load(Ordering::Relaxed) != seen {
            return;
        }
    }
}

/// Starts running guests; never returns.
pub fn start() -> ! {
    idle_loop()
}

impl Hypervisor {
    fn handle_exit(&mut self, frame: &mut TrapFrame) -> Next {
        // Profiling and hypercall/bounce tracing, tested once per exit: the usual exit runs
        // the copy of the path with neither compiled in (each test is a block under TCG).
        let trace = log::max_level() >= log::LevelFilter::Trace;
        let observed = crate::arch::cpu::opaque(u64::from(self.prof_on) | u64::from(trace));
        if observed != 0 {
            return self.handle_exit_observed(frame);
        }
        self.handle_exit_as::<false>(frame)
    }

    /// [`Self::handle_exit`] with profiling or tracing on.
    #[cold]
    #[inline(never)]
    fn handle_exit_observed(&mut self, frame: &mut TrapFrame) -> Next {
        self.handle_exit_as::<true>(frame)
    }

    /// One guest exit; `OBSERVED`: whether profile and trace hooks are compiled in (each
    /// then tests its own switch as before).
    #[inline(always)]
    fn handle_exit_as<const OBSERVED: bool>(&mut self, frame: &mut TrapFrame) -> Next {
        let Some(cur) = self.current() else {
            log::error!(
                "guest exit with no current vCPU (vector {:#x})",
                frame.vector
            );
            exit(ExitCode::HypervisorFailure)
        };
        if OBSERVED {
            self.prof_exit(cur.0);
        }
        let queued = self.cpu_ref().run_queue.len();
        // Hypercalls and exceptions inline; interrupts out of line.
        match frame.vector {
            SYSCALL_VECTOR => crate::hypercall::syscall::<OBSERVED>(self, cur, frame),
            v if v < 32 => {
                crate::guest_traps::exception::<OBSERVED>(self, cur, frame);
                // Bounces and emulation (CPUID, segment-base MSRs) set no timer.
                self.cpu().timers_untouched = true;
            }
            _ => self.handle_other_exit(cur, frame),
        }
        // A vCPU that joined the run queue (an event woke it) brings the running one's
        // slice end as a deadline.
        if self.cpu_ref().run_queue.len() > queued {
            self.cpu().timers_untouched = false;
        }
        let next = self.schedule(frame);
        if OBSERVED {
            self.prof_end_exit();
        }
        next
    }

    /// Interrupts and compat SYSCALL.
    #[inline(never)]
    fn handle_other_exit(&mut self, cur: VcpuRef, frame: &mut TrapFrame) {
        match frame.vector {
            SYSCALL32_VECTOR => crate::hypercall::syscall32(self, cur, frame),
            v if v == u32::from(idt::vector::TIMER) => {
                lapic::eoi();
                self.prof_classify(Kind::Timer);
                self.timer_tick();
                let ran = self.time.now().saturating_sub(self.cpu_ref().slice_start);
                if self.cpu_ref().run_queue.should_preempt(ran) {
                    self.cpu().preempt = true;
                }
            }
            v if v == u32::from(idt::vector::SERIAL) => {
                lapic::eoi();
                self.prof_classify(Kind::Interrupt);
                self.console_input();
            }
            v if v == u32::from(idt::vector::SPURIOUS) => self.prof_classify(Kind::Interrupt),
            v => {
                self.prof_classify(Kind::Interrupt);
                log::warn!("unexpected interrupt vector {v:#x} from guest");
            }
        }
    }

    /// Whether `v` exists, its domain is running, and it is runnable.
    fn can_run(&mut self, v: VcpuRef) -> bool {
        self.domains
            .get(&v.0)
            .and_then(|d| d.is_running().then_some(d))
            .and_then(|d| d.vcpus.get(v.1))
            .is_some_and(|vcpu| vcpu.state == RunState::Runnable)
    }

    /// After an exit has been handled: resume, switch or idle. The resume of the running
    /// vCPU is inlined into the exit path; a switch is out of line ([`Self::switch_from`]).
    #[inline(always)]
    fn schedule(&mut self, frame: &mut TrapFrame) -> Next {
        let preempt = core::mem::take(&mut self.cpu().preempt);
        let timers_untouched = core::mem::take(&mut self.cpu().timers_untouched);
        let cur = self.current();
        // A running vCPU and no preemption, tested as one word; the vCPU taken without a
        // second test (a select: when the word is set, `cur` is `Some`).
        let resume = crate::arch::cpu::opaque(u64::from(cur.is_some()) & u64::from(!preempt));
        if resume != 0 && self.prepare_return(cur.unwrap_or_default(), frame) {
            // The timer as last programmed still covers every deadline (an armed one that
            // has not fired is not later than any; a disarmed one had none to cover).
            if !timers_untouched {
                self.program_timer_after_exit();
            }
            return Next::Resume;
        }
        self.switch_from(cur, frame)
    }

    /// [`Self::schedule`] when the running vCPU `cur` (if any) does not resume: it is
    /// switched out (unless it is gone already) and the next one switched in, or the CPU idles.
    #[inline(never)]
    fn switch_from(&mut self, cur: Option<VcpuRef>, frame: &mut TrapFrame) -> Next {
        if let Some(cur) = cur {
            if self.current() == Some(cur) {
                self.switch_out(cur, frame);
            }
        }
        self.cpu().current = None;
        while let Some(next) = self.pick_next() {
            *frame = self.switch_in(next);
            if self.prepare_return_switched(next, frame) {
                self.program_timer();
                return Next::Resume;
            }
            self.cpu().current = None;
        }
        self.program_timer();
        Next::Idle
    }

    /// [`Self::program_timer`] after an exit that may have moved a deadline, out of line: the
    /// resume with the timer as armed falls straight through to the return.
    #[cold]
    #[inline(never)]
    fn program_timer_after_exit(&mut self) {
        self.program_timer();
    }

    /// Whether vCPU `v` can run and, if so, the event callback to bounce into when an upcall
    /// is due (0: none due, or no callback). One lookup: this runs on every return.
    #[inline(always)]
    fn return_state(&self, v: VcpuRef) -> Option<u64> {
        // Each branch is a block under TCG: the two states tested together, the upcall
        // worked out without one.
        let d = self.domains.get(&v.0)?;
        let vcpu = d.vcpus.get(v.1)?;
        // One integer, zero exactly when the domain runs and the vCPU is runnable (a byte
        // ORed in, not two booleans, which the compiler would split into two branches).
        let not_runnable =
            (vcpu.state as u8 ^ RunState::Runnable as u8) | u8::from(!d.is_running());
        if not_runnable != 0 {
            return None;
        }
        // The callback when an upcall is due, else 0: masked, not branched on (the caller
        // tests the result once).
        let due = crate::arch::cpu::opaque(u64::from(d.upcall_due(v.1, vcpu)));
        Some(vcpu.callbacks.event & due.wrapping_neg())
    }

    /// [`Self::prepare_return`] after a switch, out of line: the resume of the same vCPU is
    /// the only copy inlined into the exit path.
    #[inline(never)]
    fn prepare_return_switched(&mut self, v: VcpuRef, frame: &mut TrapFrame) -> bool {
        self.prepare_return(v, frame)
    }

    /// Last steps before returning to vCPU `v` through `frame`: check it can run, deliver a
    /// pending event upcall, and check the frame is one the CPU can return to (one it cannot
    /// goes to [`Self::return_to_failsafe`]). Returns whether the vCPU is still alive.
    /// Runs on every exit: inlined into the resume path (no call, no register shuffling).
    #[inline(always)]
    fn prepare_return(&mut self, v: VcpuRef, frame: &mut TrapFrame) -> bool {
        let Some(upcall) = self.return_state(v) else {
            return false;
        };
        if upcall != 0 && !self.deliver_event_upcall(v, frame, upcall) {
            return false;
        }
        match crate::bounce::check_return_frame(frame) {
            Ok(()) => true,
            Err(why) => self.return_to_failsafe(v, frame, why),
        }
    }

    /// A return frame the CPU cannot take (a bad selector or rip, e.g. from a Linux
    /// process's `sigreturn`) goes to the guest's failsafe callback, as when Xen's own return
    /// faults; without one the domain is crashed. Returns whether the vCPU is still alive.
    #[cold]
    #[inline(never)]
    fn return_to_failsafe(&mut self, v: VcpuRef, frame: &mut TrapFrame, why: &str) -> bool {
        let failsafe = self.domains.get(&v.0).map(|d| {
            (
                d.vcpus[v.1].callbacks.failsafe,
                d.vcpus[v.1].callbacks.failsafe_masks,
            )
        });
        if let Some((handler, mask_events)) = failsafe.filter(|f| f.0 != 0) {
            log::debug!(
                "d{}: bad return frame ({why}: rip {:#x} cs {:#x} ss {:#x}): failsafe callback",
                v.0,
                frame.rip,
                frame.cs,
                frame.ss
            );
            let b = crate::bounce::Bounce {
                handler,
                error_code: None,
                mask_events,
                segments: Some(crate::arch::context::data_selectors().map(u64::from)),
            };
            if crate::bounce::bounce(self, v, frame, b).is_ok()
                && crate::bounce::check_return_frame(frame).is_ok()
            {
                return true;
            }
        }
        let why = alloc::format!("cannot return to the guest: {why}");
        self.crash_domain(v.0, &why);
        false
    }

    /// Bounces vCPU `v` into its event callback `handler` (an upcall is due); returns whether
    /// the vCPU can still run (a frame that cannot be written crashes the domain).
    #[inline(never)]
    fn deliver_event_upcall(&mut self, v: VcpuRef, frame: &mut TrapFrame, handler: u64) -> bool {
        let b = crate::bounce::Bounce {
            handler,
            error_code: None,
            mask_events: true,
            segments: None,
        };
        // Charged to the domain receiving it, then back to what was running (if anything).
        let outer = self.prof.current();
        self.prof_switch(v.0, Kind::Upcall, true);
        let bounced = crate::bounce::bounce(self, v, frame, b);
        match outer {
            Some((dom, kind)) => self.prof_switch(dom, kind, false),
            None => self.prof_stop(),
        }
        match bounced {
            // `return_state` found `v` runnable just before, and a bounce changes no run
            // state: no second lookup.
            Ok(()) => true,
            Err(f) => {
                let why = alloc::format!(
                    "cannot write the event frame to the guest stack at {:#x}",
                    f.va
                );
                self.crash_domain(v.0, &why);
                self.can_run(v)
            }
        }
    }

    /// Saves the running vCPU's state (if it still exists) and queues it if runnable.
    fn switch_out(&mut self, cur: VcpuRef, frame: &TrapFrame) {
        self.cpu().current = None;
        let runnable = self.can_run(cur);
        if let Some(v) = self
            .domains
            .get_mut(&cur.0)
            .and_then(|d| d.vcpus.get_mut(cur.1))
        {
            v.regs = *frame;
            v.arch.save();
        }
        self.unload_debugregs(cur);
        let state = if runnable {
            pv_abi::vcpu::RUNSTATE_RUNNABLE
        } else {
            pv_abi::vcpu::RUNSTATE_BLOCKED
        };
        self.set_runstate(cur, state);
        let mut ran = self.account_slice(cur.0);
        let cpu = self.cpu();
        if core::mem::take(&mut cpu.yielding) {
            // A yield gives way: charge at least a whole slice.
            ran = ran.max(cpu.run_queue.slice_ns());
        }
        cpu.run_queue.put_prev(cur, ran, runnable);
    }

    /// Adds the running vCPU's time since `slice_start` to domain `id`'s CPU time and returns
    /// it.
    fn account_slice(&mut self, id: DomainId) -> u64 {
        let ran = self.time.now().saturating_sub(self.cpu_ref().slice_start);
        if let Some(d) = self.domains.get_mut(&id) {
            d.cpu_ns += ran;
        }
        ran
    }

    /// Loads `next`'s hardware state and time, and returns its registers.
    fn switch_in(&mut self, next: VcpuRef) -> TrapFrame {
        let d = self.domains.get_mut(&next.0).expect("picked vCPU exists");
        let v = &mut d.vcpus[next.1];
        v.descriptors.load();
        v.arch.restore();
        let regs = v.regs;
        self.load_debugregs(next);
        self.refresh_vcpu_time(next);
        let now = self.time.now();
        let cpu = self.cpu();
        cpu.current = Some(next);
        cpu.slice_start = now;
        self.set_runstate(next, pv_abi::vcpu::RUNSTATE_RUNNING);
        regs
    }

    fn pick_next(&mut self) -> Option<VcpuRef> {
        while let Some(v) = self.cpu().run_queue.pick_next() {
            if self.can_run(v) {
                return Some(v);
            }
        }
        None
    }

    fn idle_step(&mut self) -> IdleStep {
        self.timer_tick();
        while let Some(next) = self.pick_next() {
            let mut regs = self.switch_in(next);
            if self.prepare_return(next, &mut regs) {
                self.program_timer();
                return IdleStep::Enter(regs);
            }
            self.cpu().current = None;
        }
        // Nothing runs: a lone domain has said what it will say for now (its prompt shows);
        // with neighbours, whose output could cut the line, the line waits for the rest or
        // for its delay.
        if self
            .domains
            .values()
            .filter(|d| d.is_running())
            .take(2)
            .count()
            == 1
        {
            self.show_partial_lines();
        }
        self.program_timer();
        if !self.domains.values().any(|d| d.is_running()) {
            let code = if self.any_crashed {
                ExitCode::Crash
            } else {
                self.outcome
            };
            log::info!("no domains left; stopping the machine ({code:?})");
            return IdleStep::Exit(code);
        }
        IdleStep::Wait
    }

    /// Timer work: expire guest timers and poll timeouts, drain console rings, show
    /// unfinished console lines that waited long enough, read serial input, run due toolstack
    /// actions.
    pub fn timer_tick(&mut self) {
        // The one-shot timer has fired (or may have, when idle): `program_timer` must re-arm.
        self.time.armed = None;
        self.expire_timers();
        self.expire_polls();
        let ids: alloc::vec::Vec<DomainId> = self.domains.keys().collect();
        for id in ids {
            self.console_backend(id);
        }
        self.show_due_partial_lines();
        if !self.serial_irq || self.input.uart_may_hold {
            self.console_input();
        }
        self.toolstack_tick();
    }

    /// When the hypervisor itself next needs the CPU: poll timeouts, console polling while
    /// domains exist, unfinished console lines, due toolstack actions.
    pub fn housekeeping_deadline(&self, now: u64) -> Option<u64> {
        // One pass over the domains: their vCPUs' poll timeouts and their unfinished
        // console lines (`crate::console_lines`).
        let per_domain = self
            .domains
            .values()
            .flat_map(|d| {
                let polls = d.vcpus.iter();
                let polls = polls.filter_map(|v| v.poll.as_ref().and_then(|p| p.deadline));
                polls.chain(d.console.line.deadline())
            })
            .min();
        let console =
            (!self.serial_irq && !self.domains.is_empty()).then_some(now + CONSOLE_POLL_NS);
        [per_domain, console, self.toolstack_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Wakes vCPUs whose `SCHEDOP_poll` timed out.
    fn expire_polls(&mut self) {
        let now = self.time.now();
        let mut due = alloc::vec::Vec::new();
        for (id, d) in self.domains.iter() {
            for (i, v) in d.vcpus.iter().enumerate() {
                if v.poll
                    .as_ref()
                    .and_then(|p| p.deadline)
                    .is_some_and(|t| t <= now)
                {
                    due.push((id, i));
                }
            }
        }
        for v in due {
            self.poll_timeout(v);
        }
    }

    /// Ends vCPU `v`'s poll (its timeout passed or its timer fired).
    pub fn poll_timeout(&mut self, v: VcpuRef) {
        let polling = self
            .domains
            .get(&v.0)
            .and_then(|d| d.vcpus.get(v.1))
            .is_some_and(|vc| vc.poll.is_some());
        if polling {
            self.wake(v);
        }
    }

    /// An event was raised on `port` for vCPU `v`: wake it if it is blocked waiting for one.
    pub fn wake_for_event(&mut self, v: VcpuRef, port: u32) {
        let Some(vcpu) = self.domains.get(&v.0).and_then(|d| d.vcpus.get(v.1)) else {
            return;
        };
        if vcpu.state != RunState::Blocked {
            return;
        }
        let wake = match &vcpu.poll {
            Some(p) => p.ports.is_empty() || p.ports.contains(&port),
            None => true,
        };
        if wake {
            self.wake(v);
        }
    }

    /// Makes a vCPU runnable (if it was blocked) and queues it.
    pub fn wake(&mut self, v: VcpuRef) {
        if let Some(vcpu) = self
            .domains
            .get_mut(&v.0)
            .and_then(|d| d.vcpus.get_mut(v.1))
        {
            if vcpu.state == RunState::Blocked {
                vcpu.state = RunState::Runnable;
                vcpu.poll = None;
            }
        }
        // It joins its home CPU's queue, and preempts what that CPU runs if fairer.
        let Some(home) = self.home_cpu(v) else {
            return;
        };
        if self.cpus[home].current == Some(v) || !self.can_run(v) {
            return;
        }
        let cpu = &mut self.cpus[home];
        if cpu.run_queue.wake(v, cpu.current) {
            cpu.preempt = true;
        }
    }

    /// Gives each of a freshly built domain's vCPUs a home CPU (the least loaded) and adds it
    /// to that CPU's run queue.
    pub fn start_domain(&mut self, id: DomainId) {
        let n = self.domains.get(&id).map_or(0, |d| d.vcpus.len());
        for i in 0..n {
            let loads = self.cpus.each_ref().map(|c| c.run_queue.members());
            let home = hv_core::runqueue::least_loaded(&loads);
            if let Some(vcpu) = self.domain(id).and_then(|d| d.vcpus.get_mut(i)) {
                vcpu.cpu = home;
            }
            self.cpus[home]
                .run_queue
                .add((id, i), hv_core::runqueue::NICE_0_WEIGHT);
            self.wake((id, i));
        }
        // Input typed before the domain existed is waiting in the UART.
        self.console_input();
    }

    /// The guest shut itself down with `reason`.
    pub fn shutdown_domain(&mut self, id: DomainId, reason: u32) {
        let name = pv_abi::sched::name(reason).unwrap_or("unknown reason");
        self.console_last_words(id);
        log::info!("domain {id} shut down: {name}");
        self.outcome = match reason {
            pv_abi::sched::SHUTDOWN_REBOOT => ExitCode::Reboot,
            pv_abi::sched::SHUTDOWN_CRASH | pv_abi::sched::SHUTDOWN_WATCHDOG => {
                self.any_crashed = true;
                ExitCode::Crash
            }
            _ => ExitCode::Poweroff,
        };
        if let Some(d) = self.domains.get_mut(&id) {
            d.state = DomainState::ShutDown(reason);
        }
        self.end_domain(id, reason);
    }

    /// Kills a domain that broke the rules or faulted, with one clear log line.
    pub fn crash_domain(&mut self, id: DomainId, why: &str) {
        self.console_last_words(id);
        log::error!("domain {id} crashed: {why}");
        self.any_crashed = true;
        if let Some(d) = self.domains.get_mut(&id) {
            d.state = DomainState::Crashed(alloc::string::String::from(why));
        }
        self.end_domain(id, pv_abi::sched::SHUTDOWN_CRASH);
    }

    /// A domain stopped running (`reason` is a `SHUTDOWN_*`, crashes included): do what its
    /// configuration says — destroy it, keep it stopped, or build it again.
    fn end_domain(&mut self, id: DomainId, reason: u32) {
        let action = self
            .records
            .get(&id)
            .map_or(Action::Destroy, |r| r.options.action_for(reason));
        match action {
            Action::Destroy => {
                self.records.remove(&id);
                self.destroy_domain(id);
            }
            Action::Preserve => {
                log::info!("domain {id} preserved: stopped, its memory kept");
                self.stop_vcpus(id);
            }
            Action::Restart => {
                let Some(mut record) = self.records.remove(&id) else {
                    return;
                };
                self.destroy_domain(id);
                record.restarts += 1;
                if record.restarts > MAX_RESTARTS {
                    log::error!(
                        "{:?} ended {} times in a row; not restarting it again",
                        record.options.name,
                        record.restarts
                    );
                    return;
                }
                self.restart_domain(record);
            }
        }
    }

    /// Takes a domain's vCPUs off every CPU and out of every run queue (so no CPU's
    /// `current` outlives the domain: see `percpu.rs`).
    fn stop_vcpus(&mut self, id: DomainId) {
        let n = self.domains.get(&id).map_or(0, |d| d.vcpus.len());
        for cpu in &mut self.cpus {
            for i in 0..n {
                cpu.run_queue.remove((id, i));
            }
            if cpu.current.is_some_and(|v| v.0 == id) {
                cpu.current = None;
            }
        }
    }

    /// Frees everything a dead domain held. The CPU leaves its address space first.
    pub fn destroy_domain(&mut self, id: DomainId) {
        context::load_cr3(self.memory.page_tables.l4());
        // The running vCPU's slice so far counts in the CPU time its profile reports.
        if self.current().is_some_and(|v| v.0 == id) {
            self.account_slice(id);
        }
        self.stop_vcpus(id);
        let Some(mut d) = self.domains.remove(&id) else {
            return;
        };
        if self.prof_on {
            crate::profile::log_profile(&d);
        }
        if !d.continuations.is_empty() {
            let mut line = alloc::string::String::new();
            for (&number, n) in &d.continuations {
                let name = pv_abi::xen::hypercall::name(number);
                let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" {name} {n}"));
            }
            log::info!("domain {id}: hypercalls continued:{line}");
        }
        d.flush_console();
        let ev = hv_core::evtchn::DomId(id);
        let _ = self.events.destroy_domain(ev);
        self.time.timers.remove_domain(ev);
        // Its mappings of other domains' grants clear flags in their tables: every domain's
        // grant pages are reachable here (the PTEs go with its page tables below).
        let _ = self.grants.destroy_domain(
            hv_core::DomId(id),
            &mut crate::grants::HeldEntries(&self.grant_pages),
        );
        let grant_pages = self.grant_pages.remove_domain(id);
        grant_pages.release(&mut self.memory);
        d.release_pages(&mut self.memory);
        self.release_from_store(id);
        match self.memory.destroy_domain(hv_core::mm::DomId(id)) {
            Ok(done) => {
                log::info!("{}", done.stats.line(id, self.tsc_khz()));
                log::info!("domain {id}: {} frames returned", done.freed);
                match done.check.ok() {
                    true => log::info!("{}", done.check.line(id)),
                    false => log::error!("{}", done.check.line(id)),
                }
            }
            Err(e) => log::error!("domain {id}: teardown failed: {e:?}"),
        }
    }
}
