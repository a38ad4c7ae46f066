//! The hypervisor's state — memory, domains, the scheduler's view — behind one lock.
//!
//! The hypervisor runs on one physical CPU with interrupts masked while it works, so the lock
//! is never contended; it exists so that every path (trap entry, idle loop) reaches the state
//! the same explicit way. It is held for the handling of one exit or idle step and released
//! before the CPU enters a guest: never across a guest run. Paths that cannot take it (NMI,
//! fatal errors) never touch the state. Per-CPU scheduling state is in `percpu.rs`.

use alloc::collections::BTreeMap;

use spin::Mutex;

use hv_core::evtchn::EventChannels;
use hv_core::gnttab::GrantTables;
use hv_core::idtable::IdTable;

use crate::arch::exit::ExitCode;
use crate::domain::{Domain, DomainId, DomainRecord};
use crate::grants::GrantPages;
use crate::memory::Memory;
use crate::percpu::{PerCpu, MAX_CPUS};
use crate::time::TimeKeeper;
use crate::toolstack::Toolstack;

/// A vCPU, named by its domain and index.
pub type VcpuRef = (DomainId, usize);

/// Everything the hypervisor knows.
pub struct Hypervisor {
    /// Machine memory and page types.
    pub memory: Memory,
    /// Live domains, indexed directly by id (one bounds check per lookup: every exit
    /// finds the running domain here).
    pub domains: IdTable<Domain>,
    /// Event channels of all domains.
    pub events: EventChannels,
    /// Grant tables of all domains.
    pub grants: GrantTables,
    /// The grant-table frames, held for the hypervisor to write their entries.
    pub grant_pages: GrantPages,
    /// Clocks and guest timers.
    pub time: TimeKeeper,
    /// The xenstore server.
    pub store: xenstore::Store,
    /// Pending toolstack actions.
    pub toolstack: Toolstack,
    /// Each physical CPU's scheduling state (run queue, running vCPU, slice): reach the
    /// running CPU's through [`Hypervisor::cpu`] (`percpu.rs`).
    pub cpus: [PerCpu; MAX_CPUS],
    /// How the machine should stop once the last domain is gone.
    pub outcome: ExitCode,
    /// Whether any domain crashed.
    pub any_crashed: bool,
    /// Whether serial input arrives as an interrupt (else it is polled).
    pub serial_irq: bool,
    /// How each configured domain was built (for restarts), by its current id.
    pub records: BTreeMap<DomainId, DomainRecord>,
    /// The id the next created domain gets.
    pub next_domain_id: DomainId,
    /// Serial input focus and debug keys.
    pub input: crate::console::InputState,
    /// Attributes hypervisor time to (domain, kind of work): see `crate::profile`.
    /// Whether per-domain profiles are kept (`profile` on the command line).
    pub prof_on: bool,
    /// Whether MMU batches collect their TLB flushes (`flushbatch`, default on).
    pub flush_batch_on: bool,
    pub prof: hv_core::profile::Clock<DomainId>,
}

static HV: Mutex<Option<Hypervisor>> = Mutex::new(None);

/// Where the hypervisor's state lives (every exit locks it).
pub fn state_address() -> u64 {
    &raw const HV as u64
}

/// Installs the state (once, at the end of boot).
pub fn install(hv: Hypervisor) {
    *HV.lock() = Some(hv);
}

/// Runs `f` with the state.
pub fn with<R>(f: impl FnOnce(&mut Hypervisor) -> R) -> R {
    // Never contended (one CPU, interrupts masked): one compare-exchange and one branch on
    // the exit path, the spinning loop out of line.
    let mut guard = HV.try_lock().unwrap_or_else(lock_contended);
    let hv = guard
        .as_mut()
        .expect("hypervisor state used before boot finished");
    f(hv)
}

/// [`with`] when the lock is held: spins until it is free.
#[cold]
#[inline(never)]
fn lock_contended() -> spin::MutexGuard<'static, Option<Hypervisor>> {
    HV.lock()
}

impl Hypervisor {
    /// A fresh state over `memory`, with the system clock running at `tsc_hz`.
    pub fn new(memory: Memory, tsc_hz: u64) -> Self {
        Self {
            memory,
            domains: IdTable::new(),
            events: EventChannels::new(),
            grants: GrantTables::new(),
            grant_pages: GrantPages::default(),
            time: TimeKeeper::new(tsc_hz),
            store: crate::store::new_store(),
            toolstack: Toolstack::default(),
            cpus: core::array::from_fn(|_| PerCpu::default()),
            prof: Default::default(),
            prof_on: false,
            flush_batch_on: true,
            outcome: ExitCode::Poweroff,
            any_crashed: false,
            serial_irq: false,
            records: BTreeMap::new(),
            next_domain_id: 1,
            input: crate::console::InputState::default(),
        }
    }

    /// The domain `id`, if alive.
    pub fn domain(&mut self, id: DomainId) -> Option<&mut Domain> {
        self.domains.get_mut(&id)
    }
}
