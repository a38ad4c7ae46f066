//! Domains: a PV guest's identity, memory, vCPUs and lifecycle.
//!
//! ```text
//!  Running ──SCHEDOP_shutdown(reason)──► ShutDown(reason) ──► destroyed (memory returned)
//!     └────────guest fault / rule break──► Crashed(why) ──────► destroyed
//! ```
//! A domain that breaks the rules is crashed alone, with one log line saying why; the
//! hypervisor and the other domains go on.

use hv_core::emulate::pit::Pit2;

pub mod builder;
pub mod kernel_file;
pub mod vcpu;

use alloc::string::String;
use alloc::vec::Vec;

use hv_core::domain_config::{DomainOptions, DomainPlan};
use hv_core::memmap::Range;

pub use vcpu::{PollState, RunState, Vcpu};

use crate::guest_page::GuestPage;
use crate::memory::Memory;

/// Domain id (1.. for guests; 0 is the hypervisor acting as toolstack).
pub type DomainId = u16;

/// Lifecycle state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainState {
    /// Running (some vCPU may be blocked).
    Running,
    /// Shut down by the guest with a SHUTDOWN_* reason.
    ShutDown(u32),
    /// Killed by the hypervisor, with the reason.
    Crashed(String),
}

/// The console's view of a domain's output (`crate::console_lines`).
pub struct ConsoleState {
    /// What starts each of its lines: `(dN) `, or `(name) ` for a configured domain.
    pub prefix: String,
    /// Its unfinished line.
    pub line: hv_core::console_line::LineBuffer,
}

impl ConsoleState {
    /// The console of domain `id`, prefixed `(dN) ` until it is given a name.
    pub fn new(id: DomainId) -> Self {
        Self {
            prefix: alloc::format!("(d{id}) "),
            line: hv_core::console_line::LineBuffer::new(),
        }
    }
}

/// How a domain was configured: its settings and the boot modules it is built from, kept
/// so that it can be built again (`on_reboot = "restart"` and friends).
#[derive(Clone, Debug)]
pub struct DomainRecord {
    /// Settings.
    pub options: DomainOptions,
    /// The kernel module's bytes.
    pub kernel: Range,
    /// The ramdisk module's bytes.
    pub ramdisk: Option<Range>,
    /// How often it ended with `restart` in a row.
    pub restarts: u32,
}

impl DomainRecord {
    /// The record of `plan` over the loader's `modules`.
    pub fn new(plan: &DomainPlan, modules: &[crate::arch::bootinfo::Module]) -> Self {
        Self {
            options: plan.options.clone(),
            kernel: modules[plan.kernel].range,
            ramdisk: plan.ramdisk.map(|i| modules[i].range),
            restarts: 0,
        }
    }
}

/// A PV domain.
pub struct Domain {
    /// Id.
    pub id: DomainId,
    /// Name (from the kernel's GUEST_OS note).
    pub name: String,
    /// Lifecycle.
    pub state: DomainState,
    /// vCPUs.
    pub vcpus: Vec<Vcpu>,
    /// Pages the domain was built with.
    pub nr_pages: u64,
    /// Reservation ceiling, pages.
    pub max_pages: u64,
    /// shared_info (a hypervisor frame shared with the domain), held to be written.
    pub shared_info: GuestPage,
    /// The console ring page, held while the hypervisor is its backend.
    pub console_ring: GuestPage,
    /// Guest port of the console ring's event channel (backend: the hypervisor).
    pub console_port: u32,
    /// The xenstore ring page, held while the hypervisor is its backend.
    pub store_ring: GuestPage,
    /// Guest port of the xenstore ring's event channel (backend: the hypervisor).
    pub store_port: u32,
    /// `vm_assist` bits enabled.
    pub vm_assist: u64,
    /// The PIT channel 2 and speaker gate its emulated port I/O sees (as Xen's `vpit`).
    pub pit: Pit2,
    /// Console output line assembly.
    pub console: ConsoleState,
    /// Built with superpages allowed.
    pub superpages: bool,
    /// Whether its CPUID shows PSE yet (`hv_core::pse_stage`).
    pub pse: hv_core::pse_stage::PseStage,
    /// CPU time its vCPUs have had, ns.
    pub cpu_ns: u64,
    /// Hypercalls preempted and continued (`hv_core::continuation`), by hypercall number;
    /// reported at teardown.
    pub continuations: alloc::collections::BTreeMap<u64, u64>,
    /// Where its time in the hypervisor went (`crate::profile`).
    pub profile: hv_core::profile::Profile,
}

impl Domain {
    /// Whether the domain is still alive.
    pub fn is_running(&self) -> bool {
        self.state == DomainState::Running
    }

    /// One word for its state (debug keys).
    pub fn state_word(&self) -> &'static str {
        match self.state {
            DomainState::Running => "running",
            DomainState::ShutDown(_) => "shut-down",
            DomainState::Crashed(_) => "crashed",
        }
    }

    /// Gives back every page the hypervisor holds for the domain (before its memory is torn
    /// down; teardown would drop the holds anyway, this keeps the books exact).
    pub fn release_pages(self, memory: &mut Memory) {
        for vcpu in self.vcpus {
            if let crate::vcpu_info::VcpuInfoLoc::Registered(page, _) = vcpu.vcpu_info {
                memory.release_page(page);
            }
        }
        memory.release_page(self.shared_info);
        memory.release_page(self.console_ring);
        memory.release_page(self.store_ring);
    }
}
