//! The test environment: our own tables in one L4 slot (the window), the frame pool, the
//! data extents, and the raw hypercalls the attack cases send.
//!
//! ```text
//!  window (L4 slot 300): 2 MiB slot k at base + k * 2 MiB
//!    0  L1 "T1": 4 KiB scratch pages        7  extent A, release attempts
//!    1  extent 1 RW PSE round trip          8  extent B, repopulated / exchanged
//!    2  PSE refused without superpages      9  bad-frame probes (L2 slot)
//!    3  extent A, PSE alias of a 4 KiB map 10  no L1: update_va_mapping must fail
//!    4  extent 0 (bootstrap tables) PSE    11  xsa148: L1 table on extent X's head
//!    5  extent C PSE                       12  xsa148: PSE over extent X
//!    6  extent C frame as L1 (refused)     13  unowned frames
//!
//!  pfns: [first_free, 512) pool for page tables (extent 0, read-only in the bootstrap map)
//!        [512, 1024) extent 1: mapped RW by the bootstrap tables
//!        from the first 2 MiB above the bootstrap mapping: data extents A, B, C, X, M
//! ```

use guests::mm::frames::{self, first_free_pfn, p2m, pfn_to_va, superpage_mfn, SUPERPAGE_FRAMES};
use guests::mm::ops;
use guests::mm::pte::DATA_RW;
use guests::mm::{Bootstrap, FramePool, Level, MapError, Window};
use guests::StartInfo;
use pv_abi::xen::UVMF_INVLPG;

use crate::report::{BAD_ADDRESS, NO_FRAMES};

/// The L4 slot we build our tables in (0xFFFF_9600_0000_0000).
pub const WINDOW_SLOT: usize = 300;

/// Data extent used for the 4 KiB mapping and release-under-superpage cases.
pub const EXT_A: u64 = 0;
/// Data extent released and repopulated (loses "enabled"), then exchanged.
pub const EXT_B: u64 = 1;
/// Data extent for typing page tables under a superpage mapping.
pub const EXT_C: u64 = 2;
/// Data extent whose head frame becomes an L1 table (XSA-148 cases).
pub const EXT_X: u64 = 3;
/// Data extent for the memory_op round trip.
pub const EXT_M: u64 = 4;
/// Number of data extents the cases use.
pub const DATA_EXTENTS: u64 = 5;

/// Everything the cases share.
pub struct Env {
    /// Our start_info.
    pub si: &'static StartInfo,
    /// Whether the domain was built with superpages (cmdline without `nosuper`).
    pub superpages: bool,
    /// The bootstrap-table reader.
    pub boot: Bootstrap,
    /// Free frames for page tables.
    pub pool: FramePool,
    /// Our tables.
    pub win: Window,
    /// The window's L3, L2 and (slot 0) L1 tables.
    pub t3: u64,
    /// See `t3`.
    pub t2: u64,
    /// See `t3`.
    pub t1: u64,
    /// First pfn of the data extents.
    pub data_pfn: u64,
    /// `XENMEM_maximum_ram_page`.
    pub max_ram_page: u64,
}

/// Converts a window result into a return code (0, a Xen errno, or a guest error).
pub fn code(r: Result<(), MapError>) -> i64 {
    match r {
        Ok(()) => 0,
        Err(MapError::Xen(e)) => e,
        Err(MapError::NoFrames) => NO_FRAMES,
        Err(MapError::BadAddress | MapError::NotMapped) => BAD_ADDRESS,
    }
}

/// Converts a hypercall result into a return code.
pub fn rc(r: Result<(), i64>) -> i64 {
    r.err().unwrap_or(0)
}

impl Env {
    /// Sets up the window with its L3, L2 and first L1 (built through `mmu_update`).
    pub fn new(si: &'static StartInfo, superpages: bool) -> Result<Env, &'static str> {
        let boot = Bootstrap::new(si);
        let pool = FramePool::new(first_free_pfn(si), boot.mapped_pages.min(SUPERPAGE_FRAMES));
        // SAFETY: nothing in this program uses L4 slot 300 other than through the window's
        // own mappings, touched only with raw pointers.
        let win = unsafe { Window::new(si, boot, WINDOW_SLOT) }.map_err(|_| "L4 slot 300 busy")?;
        guests::println!(
            "mmu_test: bootstrap L4 mfn {:#x}, {} pages mapped",
            boot.l4_mfn,
            boot.mapped_pages
        );
        let data_pfn = boot.mapped_pages.next_multiple_of(SUPERPAGE_FRAMES);
        if data_pfn + DATA_EXTENTS * SUPERPAGE_FRAMES > si.nr_pages {
            return Err("not enough memory for the data extents (use >= 16 MiB)");
        }
        let mut env = Env {
            si,
            superpages,
            boot,
            pool,
            win,
            t3: 0,
            t2: 0,
            t1: 0,
            data_pfn,
            max_ram_page: u64::try_from(ops::maximum_ram_page()).unwrap_or(0),
        };
        let base = env.win.base();
        env.win
            .ensure(&mut env.pool, base, Level::L1)
            .map_err(|e| {
                guests::println!(
                    "mmu_test: window tables: {e:?}, pool left {}",
                    env.pool.remaining()
                );
                "building the window's tables failed"
            })?;
        env.t3 = env.win.table(base, Level::L3).unwrap_or(0);
        env.t2 = env.win.table(base, Level::L2).unwrap_or(0);
        env.t1 = env.win.table(base, Level::L1).unwrap_or(0);
        Ok(env)
    }

    /// The VA of 2 MiB window slot `k`.
    pub fn va_2m(&self, k: u64) -> u64 {
        self.win.base() + (k << 21)
    }

    /// The VA of 4 KiB scratch page `i` (mapped by `t1`).
    pub fn scratch(&self, i: u64) -> u64 {
        self.win.base() + (i << 12)
    }

    /// Maps `frame` writable at scratch page `slot` and moves vCPU 0's `vcpu_info` to its
    /// start for the rest of the run: (the map's code, the registration's rc or -1 if the
    /// map failed).
    pub fn register_vcpu_info_at(&mut self, frame: u64, slot: u64) -> (i64, i64) {
        let va = self.scratch(slot);
        let mapped = code(self.win.map_4k(&mut self.pool, va, frame, DATA_RW));
        if mapped != 0 {
            return (mapped, -1);
        }
        // SAFETY: the scratch page maps `frame` from here to the end of the run and holds no
        // Rust object.
        let rc = unsafe { guests::events::register_vcpu_info(frame, 0, va) };
        (0, rc)
    }

    /// First pfn of data extent `n`.
    pub fn extent_pfn(&self, n: u64) -> u64 {
        self.data_pfn + n * SUPERPAGE_FRAMES
    }

    /// First mfn of data extent `n` if it is an aligned contiguous superpage.
    pub fn extent_mfn(&self, n: u64) -> Option<u64> {
        superpage_mfn(self.si, self.extent_pfn(n))
    }

    /// The mfn of `pfn`.
    pub fn mfn(&self, pfn: u64) -> u64 {
        p2m(self.si, pfn).unwrap_or(u64::MAX)
    }

    /// A fresh, zeroed, untyped pool frame (read-only in the bootstrap map); its mfn.
    pub fn table_frame(&mut self) -> Result<u64, i64> {
        guests::mm::tables::new_table(self.si, &self.boot, &mut self.pool).map_err(|e| code(Err(e)))
    }

    /// Sets the `level` window entry for `va`; the return code.
    pub fn set(&self, va: u64, level: Level, val: u64) -> i64 {
        code(self.win.set(va, level, val))
    }

    /// The current `level` window entry for `va` (0 if unreadable).
    pub fn get(&self, va: u64, level: Level) -> u64 {
        self.win.read(va, level).unwrap_or(0)
    }

    /// Entry `index` of our table frame `mfn`, read through the bootstrap mapping.
    pub fn entry(&self, mfn: u64, index: usize) -> u64 {
        self.boot
            .read_entry(self.si, mfn, index)
            .unwrap_or(u64::MAX)
    }

    /// One raw `mmu_update` (`ptr` may carry any command bits); the return code.
    pub fn mmu(&self, ptr: u64, val: u64) -> i64 {
        // SAFETY: the cases only target entries of the window's tables, fresh pool frames
        // that are not page tables yet, an unused bootstrap L4 slot, or machine addresses the
        // hypervisor must refuse; none of them maps memory Rust code uses.
        rc(unsafe { ops::mmu_update_one(ptr, val) })
    }

    /// One raw `mmuext_op`; the return code.
    pub fn ext(&self, cmd: u32, arg1: u64, arg2: u64) -> i64 {
        // SAFETY: the cases only name pool frames, data-extent frames, or frame numbers and
        // addresses the hypervisor must refuse; base pointers are only ever given invalid
        // frames, which cannot become a page-table base.
        rc(unsafe { ops::mmuext(cmd, arg1, arg2) })
    }

    /// One raw `update_va_mapping(va, val, UVMF_INVLPG)`; the return code.
    pub fn uvm(&self, va: u64, val: u64) -> i64 {
        // SAFETY: the cases only target window addresses, the bootstrap VAs of pool frames
        // and of the bootstrap tables (keeping their frame), or addresses the hypervisor must
        // refuse; none of them holds memory Rust code uses.
        rc(unsafe { ops::update_va_mapping(va, val, UVMF_INVLPG) })
    }

    /// Flushes our TLB (after unmapping in the window).
    pub fn flush(&self) {
        let _ = ops::tlb_flush_local();
    }

    /// The pfn of our frame `mfn`.
    pub fn pfn_of(&self, mfn: u64) -> u64 {
        frames::m2p(mfn)
    }

    /// The start-of-day VA of `pfn`.
    pub fn boot_va(&self, pfn: u64) -> u64 {
        pfn_to_va(pfn)
    }
}

/// Reads the u64 at `va`.
///
/// # Safety
/// `va` must be mapped (readable) and hold no Rust object being written concurrently.
pub unsafe fn peek(va: u64) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes the u64 at `va`.
///
/// # Safety
/// `va` must be mapped writable and hold no Rust object (free RAM or a window mapping).
pub unsafe fn poke(va: u64, value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { (va as *mut u64).write_volatile(value) }
}
