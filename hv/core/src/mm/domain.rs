//! Per-domain bookkeeping kept by the memory manager: policy, owned blocks, shared hypervisor
//! frames, vCPU root tables, and the descriptor-page and held-frame references kept for the
//! platform.

use alloc::collections::{BTreeMap, BTreeSet};

use super::extents::Extents;
use super::stats::MmStats;
use super::types::{BaseKind, DomainConfig, Mfn};

/// A vCPU's two root tables; each holds one general + one L4 type reference while set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct VcpuBase {
    pub kernel: Option<Mfn>,
    pub user: Option<Mfn>,
}

impl VcpuBase {
    pub(crate) fn get(&self, kind: BaseKind) -> Option<Mfn> {
        match kind {
            BaseKind::Kernel => self.kernel,
            BaseKind::User => self.user,
        }
    }

    pub(crate) fn slot(&mut self, kind: BaseKind) -> &mut Option<Mfn> {
        match kind {
            BaseKind::Kernel => &mut self.kernel,
            BaseKind::User => &mut self.user,
        }
    }
}

/// Everything the memory manager remembers about one domain.
#[derive(Clone, Debug)]
pub(crate) struct Domain {
    /// Policy from `create_domain`.
    pub config: DomainConfig,
    /// Blocks assigned by the allocator and not released.
    pub extents: Extents,
    /// Total frames in `extents` (Xen's `tot_pages`).
    pub tot_pages: u64,
    /// Hypervisor frames shared with the domain (not counted in `tot_pages`).
    pub xen_frames: BTreeSet<u64>,
    /// Root tables per vCPU id.
    pub vcpus: BTreeMap<u32, VcpuBase>,
    /// Descriptor-page references (general + SegDesc type) held for the platform, per frame.
    pub seg_desc_refs: BTreeMap<u64, u64>,
    /// Frames the hypervisor holds to write them (general + Writable type + one Nosuper
    /// reference on the extent each), per frame: the live [`super::HeldFrame`]s.
    pub held: BTreeMap<u64, u64>,
    /// Distinguishes this incarnation of the id from earlier ones, so a token of a destroyed
    /// domain (a `HeldFrame`, a `TakenExtent`) never acts on a later domain with the same id.
    pub epoch: u64,
    /// Frames pinned as L1 while they head a live PSE mapping (Linux's pin walker takes a
    /// huge PMD for a pointer to an L1): each holds one general reference, never a type.
    pub pseudo_pins: BTreeSet<u64>,
    /// The `MMSTAT` counters.
    pub stats: MmStats,
}

impl Domain {
    pub(crate) fn new(config: DomainConfig, epoch: u64) -> Domain {
        Domain {
            config,
            extents: Extents::default(),
            tot_pages: 0,
            xen_frames: BTreeSet::new(),
            vcpus: BTreeMap::new(),
            seg_desc_refs: BTreeMap::new(),
            held: BTreeMap::new(),
            epoch,
            pseudo_pins: BTreeSet::new(),
            stats: MmStats::default(),
        }
    }
}
