//! Guest-side memory management over the Xen PV MMU hypercalls: what a PV kernel needs to
//! build and change its own page tables, the way Mini-OS and Linux do it.
//!
//! * [`ops`]: typed wrappers for `mmu_update`, `mmuext_op`, `update_va_mapping` and the
//!   `memory_op` reservation calls (`populate_physmap`, `decrease_reservation`, `exchange`).
//! * [`frames`]: pfn ↔ mfn (the start-of-day p2m list and the read-only M2P), a reader of
//!   the bootstrap page tables, a frame pool over the free pfns, "make this frame read-only".
//! * [`pte`]: entry bits and constructors.
//! * [`tables`]: a [`Window`] — one L4 slot whose L3/L2/L1 tables the guest builds itself and
//!   in which it maps 4 KiB pages and 2 MiB superpages (a PSE L2 entry).
//!
//! A new page table is never written through a virtual mapping: it comes from the pool
//! (zeroed, and read-only in the bootstrap mapping if it lies there), its entries are written
//! with `mmu_update` while it is still an ordinary frame, and hooking it into its parent with
//! `mmu_update` makes the hypervisor validate it (Mini-OS's way; pinning works too).
//!
//! ```text
//!   bootstrap L4 (pt_base) ── slot S ──▶ L3 ── slot 0 ──▶ L2 ─┬─ slot k ──▶ L1 ──▶ 4 KiB pages
//!   (Window = all of L4 slot S:                              └─ slot j = mfn | PSE ──▶ 2 MiB
//!    VA sign_extend(S << 39) .. + 512 GiB)
//! ```

pub mod frames;
pub mod ops;
pub mod pte;
pub mod tables;

pub use frames::{Bootstrap, FramePool};
pub use ops::{BatchError, Exchanged};
pub use tables::{Level, MapError, Window};
