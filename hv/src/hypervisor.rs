//! The hypervisor's state — memory, domains, the scheduler's view — behind one lock.
//!
//! The hypervisor runs on one physical CPU with interrupts masked while it works, so the lock
//! is never contended; it exists so that every path (trap entry, idle loop) reaches the state
//! the same explicit way. Paths that cannot take it (NMI, fatal errors) never touch the state.

use alloc::collections::{BTreeMap, VecDeque};

use spin::Mutex;

use hv_core::evtchn::EventChannels;
use hv_core::gnttab::GrantTables;

use crate::arch::exit::ExitCode;
use crate::domain::{Domain, DomainId};
use crate::grants::GrantPages;
use crate::memory::Memory;
use crate::time::TimeKeeper;
use crate::toolstack::Toolstack;

/// A vCPU, named by its domain and index.
pub type VcpuRef = (DomainId, usize);

/// Everything the hypervisor knows.
pub struct Hypervisor {
    /// Machine memory and page types.
    pub memory: Memory,
    /// Live domains.
    pub domains: BTreeMap<DomainId, Domain>,
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
    /// The vCPU whose registers are in the top-of-stack frame, if any.
    pub current: Option<VcpuRef>,
    /// Runnable vCPUs waiting for the CPU.
    pub run_queue: VecDeque<VcpuRef>,
    /// Set when the current vCPU should give up the CPU at the next exit.
    pub preempt: bool,
    /// How the machine should stop once the last domain is gone.
    pub outcome: ExitCode,
    /// Whether any domain crashed.
    pub any_crashed: bool,
    /// Whether serial input arrives as an interrupt (else it is polled).
    pub serial_irq: bool,
}

static HV: Mutex<Option<Hypervisor>> = Mutex::new(None);

/// Installs the state (once, at the end of boot).
pub fn install(hv: Hypervisor) {
    *HV.lock() = Some(hv);
}

/// Runs `f` with the state.
pub fn with<R>(f: impl FnOnce(&mut Hypervisor) -> R) -> R {
    let mut guard = HV.lock();
    let hv = guard
        .as_mut()
        .expect("hypervisor state used before boot finished");
    f(hv)
}

impl Hypervisor {
    /// A fresh state over `memory`, with the system clock running at `tsc_hz`.
    pub fn new(memory: Memory, tsc_hz: u64) -> Self {
        Self {
            memory,
            domains: BTreeMap::new(),
            events: EventChannels::new(),
            grants: GrantTables::new(),
            grant_pages: GrantPages::default(),
            time: TimeKeeper::new(tsc_hz),
            store: crate::store::new_store(),
            toolstack: Toolstack::default(),
            current: None,
            run_queue: VecDeque::new(),
            preempt: false,
            outcome: ExitCode::Poweroff,
            any_crashed: false,
            serial_irq: false,
        }
    }

    /// The domain `id`, if alive.
    pub fn domain(&mut self, id: DomainId) -> Option<&mut Domain> {
        self.domains.get_mut(&id)
    }
}
