//! Shared pages and the PV console ring.
//!
//! Frames the hypervisor shares with us (console and xenstore rings) are named by *machine*
//! frame number in `start_info`. The read-only M2P at `MACH2PHYS_VIRT_START` turns an MFN
//! into our pfn, and the start-of-day region maps pfn `p` at `VIRT_BASE + p * 4096`, so such
//! a page is already mapped. Frames outside that region (shared_info, grant frames) are
//! mapped over one of our own page-aligned `.bss` slots with `update_va_mapping`, as Mini-OS
//! does for shared_info.
//!
//! The console ring (`xencons_interface`): we produce into `out[]` and advance `out_prod`,
//! then `EVTCHNOP_send` on `console.domU.evtchn`; the backend consumes and advances
//! `out_cons`. Input arrives in `in[]` (`in_prod` by the backend, `in_cons` by us).
//!
//! ```text
//!   0 in[1024]   1024 out[2048]   3072 in_cons  3076 in_prod  3080 out_cons  3084 out_prod
//! ```

use core::fmt::{self, Write};
use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use pv_abi::arch_x86::MACH2PHYS_VIRT_START;
use pv_abi::io::console::{XenconsInterface, XENCONS_IN_SIZE, XENCONS_OUT_SIZE};
use pv_abi::xen::{hypercall as nr, StartInfo, UVMF_INVLPG};

use crate::{events, traps};

/// Where pfn 0 is mapped (our linker script's `VIRT_BASE`).
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// PTE bits for a present, writable, accessed, dirty mapping (Xen adds `_PAGE_USER`).
pub const PTE_RW: u64 = 0x1 | 0x2 | 0x20 | 0x40;

/// A page-aligned page of `.bss` whose VA can be re-pointed at another frame.
#[repr(C, align(4096))]
pub struct PageSlot(pub [u8; 4096]);

/// The pfn behind machine frame `mfn`, from the hypervisor's read-only M2P table.
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    let entry = (MACH2PHYS_VIRT_START + mfn * 8) as *const u64;
    // SAFETY: the M2P is mapped read-only for every PV guest (Xen ABI, `xen-x86_64.h`); the
    // hypervisor owns it, so read it volatile.
    unsafe { entry.read_volatile() }
}

/// The machine frame behind our pfn, from the start-of-day p2m list (`mfn_list`).
pub fn pfn_to_mfn(si: &StartInfo, pfn: u64) -> Option<u64> {
    if pfn >= si.nr_pages {
        return None;
    }
    let entry = (si.mfn_list + pfn * 8) as *const u64;
    // SAFETY: `mfn_list` is the VA of an array of `nr_pages` u64s mapped by the builder.
    Some(unsafe { entry.read_volatile() })
}

/// The VA of pfn `pfn` inside the start-of-day region.
pub fn pfn_to_va(pfn: u64) -> u64 {
    VIRT_BASE + pfn * 4096
}

/// The VA of machine frame `mfn`, if it is one of ours in the start-of-day region.
pub fn mfn_to_va(si: &StartInfo, mfn: u64) -> Option<u64> {
    let pfn = mfn_to_pfn(mfn);
    (pfn_to_mfn(si, pfn) == Some(mfn)).then(|| pfn_to_va(pfn))
}

/// `update_va_mapping(va, mfn << 12 | PTE_RW, UVMF_INVLPG)`: points the page at `va` (one of
/// our `.bss` slots) at machine frame `mfn`. Returns the hypercall result.
pub fn map_frame(va: u64, mfn: u64) -> i64 {
    // SAFETY: callers pass the VA of a `PageSlot` they own and never touch through a Rust
    // reference; replacing its frame cannot unmap our code, stack or data.
    unsafe {
        traps::hypercall(
            nr::UPDATE_VA_MAPPING,
            [va, mfn << 12 | PTE_RW, UVMF_INVLPG, 0, 0],
        )
    }
}

/// The console ring page and its event channel.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleRing {
    base: u64,
    /// `console.domU.evtchn`.
    pub port: u32,
}

fn index(base: u64, field: usize) -> &'static AtomicU32 {
    // SAFETY: `base` is the VA of the mapped console page (checked in `ConsoleRing::new`);
    // index fields are 4-aligned u32s shared with the backend, accessed atomically only.
    unsafe { AtomicU32::from_ptr((base + field as u64) as *mut u32) }
}

impl ConsoleRing {
    /// Finds the ring from `start_info.console.domU` (MFN → pfn via the M2P → VA).
    pub fn new(si: &StartInfo) -> Result<Self, &'static str> {
        if si.console.evtchn == 0 {
            return Err("console.domU.evtchn is 0");
        }
        let base = mfn_to_va(si, si.console.mfn).ok_or("console mfn is not in the p2m")?;
        Ok(Self {
            base,
            port: si.console.evtchn,
        })
    }

    /// VA of the ring page.
    pub fn va(&self) -> u64 {
        self.base
    }

    fn idx(&self, field: usize) -> &'static AtomicU32 {
        index(self.base, field)
    }

    /// `(out_cons, out_prod)`.
    pub fn out_indices(&self) -> (u32, u32) {
        let cons = self.idx(offset_of!(XenconsInterface, out_cons));
        let prod = self.idx(offset_of!(XenconsInterface, out_prod));
        (cons.load(Ordering::Acquire), prod.load(Ordering::Acquire))
    }

    /// Writes as much of `bytes` as fits, then notifies the backend. Returns bytes written.
    pub fn write_some(&self, bytes: &[u8]) -> usize {
        let (cons, prod) = self.out_indices();
        let free = XENCONS_OUT_SIZE - (prod.wrapping_sub(cons) as usize).min(XENCONS_OUT_SIZE);
        let n = free.min(bytes.len());
        let out = self.base + offset_of!(XenconsInterface, out) as u64;
        for (i, &b) in bytes[..n].iter().enumerate() {
            let at = prod.wrapping_add(i as u32) as usize & (XENCONS_OUT_SIZE - 1);
            // SAFETY: `at` < 2048 stays inside `out[]` of the mapped ring page.
            unsafe { ((out + at as u64) as *mut u8).write_volatile(b) };
        }
        if n > 0 {
            let prod_idx = self.idx(offset_of!(XenconsInterface, out_prod));
            prod_idx.store(prod.wrapping_add(n as u32), Ordering::Release);
            let _ = events::send(self.port);
        }
        n
    }

    /// Writes all of `bytes`, yielding while the ring is full (like Linux's hvc driver).
    /// Gives up after `max_yields` yields without progress; returns bytes written.
    pub fn write_all(&self, bytes: &[u8], max_yields: u32) -> usize {
        let mut done = 0;
        let mut stalls = 0;
        while done < bytes.len() && stalls <= max_yields {
            let n = self.write_some(&bytes[done..]);
            if n == 0 {
                stalls += 1;
                crate::time::yield_now();
            } else {
                stalls = 0;
            }
            done += n;
        }
        done
    }

    /// Bytes of input waiting in `in[]`.
    pub fn input_available(&self) -> usize {
        let cons = self
            .idx(offset_of!(XenconsInterface, in_cons))
            .load(Ordering::Acquire);
        let prod = self
            .idx(offset_of!(XenconsInterface, in_prod))
            .load(Ordering::Acquire);
        (prod.wrapping_sub(cons) as usize).min(XENCONS_IN_SIZE)
    }

    /// Reads available input into `buf`, advances `in_cons`, notifies the backend.
    pub fn read(&self, buf: &mut [u8]) -> usize {
        let cons_idx = self.idx(offset_of!(XenconsInterface, in_cons));
        let cons = cons_idx.load(Ordering::Acquire);
        let prod = self
            .idx(offset_of!(XenconsInterface, in_prod))
            .load(Ordering::Acquire);
        let avail = (prod.wrapping_sub(cons) as usize).min(XENCONS_IN_SIZE);
        let n = avail.min(buf.len());
        let input = self.base + offset_of!(XenconsInterface, r#in) as u64;
        for (i, slot) in buf[..n].iter_mut().enumerate() {
            let at = cons.wrapping_add(i as u32) as usize & (XENCONS_IN_SIZE - 1);
            // SAFETY: `at` < 1024 stays inside `in[]` of the mapped ring page.
            *slot = unsafe { ((input + at as u64) as *const u8).read_volatile() };
        }
        if n > 0 {
            cons_idx.store(cons.wrapping_add(n as u32), Ordering::Release);
            let _ = events::send(self.port);
        }
        n
    }
}

/// The console ring used by `rprint!`, once [`set_console`] was called (VA, port).
static CONSOLE: AtomicU64 = AtomicU64::new(0);
static CONSOLE_PORT: AtomicU32 = AtomicU32::new(0);

/// Routes `rprint!`/`rprintln!` through `ring` (instead of `console_io`).
pub fn set_console(ring: &ConsoleRing) {
    CONSOLE_PORT.store(ring.port, Ordering::Relaxed);
    CONSOLE.store(ring.base, Ordering::Release);
}

/// The ring `rprint!` writes to, if any.
pub fn console() -> Option<ConsoleRing> {
    match CONSOLE.load(Ordering::Acquire) {
        0 => None,
        base => Some(ConsoleRing {
            base,
            port: CONSOLE_PORT.load(Ordering::Relaxed),
        }),
    }
}

/// A `fmt::Write` sink into the console ring (falls back to `console_io` without one).
pub struct RingWriter;

impl Write for RingWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match console() {
            Some(ring) if ring.write_all(s.as_bytes(), 1000) == s.len() => Ok(()),
            Some(_) => Err(fmt::Error),
            None => crate::console::Console.write_str(s),
        }
    }
}

#[doc(hidden)]
pub fn _rprint(args: fmt::Arguments) {
    let _ = RingWriter.write_fmt(args);
}

/// Prints through the console ring (see [`set_console`]).
#[macro_export]
macro_rules! rprint {
    ($($arg:tt)*) => ($crate::ring::_rprint(format_args!($($arg)*)));
}

/// Prints a line through the console ring (see [`set_console`]).
#[macro_export]
macro_rules! rprintln {
    () => ($crate::rprint!("\n"));
    ($($arg:tt)*) => ($crate::rprint!("{}\n", format_args!($($arg)*)));
}
