//! Guest memory by guest virtual address — the one way the hypervisor reads hypercall
//! arguments and writes results.
//!
//! Two ways, one meaning. When the address space is the one loaded in CR3 and the memory
//! manager says the hardware walk reaches exactly what the software walk allows
//! (`Mm::copy_through_mmu_ok`: the range in guest L4 slots, no L4 linear entries, no TLB
//! flush pending), the copy goes through the hardware MMU (`arch::guest_copy`, Xen's way: no
//! page walk in software). Otherwise — or when that copy faults (a stale or absent
//! translation) — every page is looked up by walking the guest's page tables in software
//! (`Mm::translate`: present and USER at every level, writable for writes, 4 KiB or 2 MiB
//! leaves) and copied through the direct map with volatile accesses. A missing or read-only
//! mapping is an error the hypercall turns into `-EFAULT`; nothing here can panic, a fault in
//! the hardware copy is caught, and no Rust reference into guest memory is ever formed.

use hv_core::mm::{Mfn, Mm};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::arch::{guest_copy, phys};
use crate::memory::DirectMapMemory;

/// A guest address that could not be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestFault {
    /// The faulting guest virtual address.
    pub va: u64,
    /// Whether a write was attempted.
    pub write: bool,
}

/// Bytes accessed by one call are bounded to keep hypercalls short.
pub const MAX_COPY: usize = 1 << 20;

/// A guest address space: the root L4 the guest is running on.
pub struct GuestMemory<'a> {
    mm: &'a Mm<'static>,
    root: Mfn,
}

impl<'a> GuestMemory<'a> {
    /// The address space rooted at `root` (a validated L4).
    pub fn new(mm: &'a Mm<'static>, root: Mfn) -> Self {
        Self { mm, root }
    }

    /// Whether `[va, va + len)` may be copied through the hardware MMU.
    fn through_mmu(&self, va: u64, len: usize) -> bool {
        guest_copy::loaded_root() == self.root.0
            && self.mm.copy_through_mmu_ok(self.root, va, len as u64)
    }

    fn each_page(
        &self,
        va: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(u64, usize, usize),
    ) -> Result<(), GuestFault> {
        if len > MAX_COPY {
            return Err(GuestFault { va, write });
        }
        let mut done = 0usize;
        while done < len {
            let cur = va
                .checked_add(done as u64)
                .ok_or(GuestFault { va, write })?;
            let ma = self
                .mm
                .translate(self.root, cur, write, &DirectMapMemory)
                .map_err(|_| GuestFault { va: cur, write })?;
            let in_page = (4096 - (cur & 0xFFF)) as usize;
            let n = in_page.min(len - done);
            f(ma, done, n);
            done += n;
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from guest address `va`.
    #[inline]
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
        let len = buf.len();
        if len <= MAX_COPY && self.through_mmu(va, len) && guest_copy::read(va, buf).is_ok() {
            return Ok(());
        }
        self.read_walked(va, buf)
    }

    /// [`Self::read`] by software walk (out of line: the hardware copy is the hot path).
    #[inline(never)]
    fn read_walked(&self, va: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
        self.each_page(va, buf.len(), false, |ma, off, n| {
            phys::read_bytes(ma, &mut buf[off..off + n])
        })
    }

    /// Copies `data` to guest address `va` (the mapping must be writable).
    ///
    /// The guest's own writable L1 entry is the reference here: the hardware copy, like
    /// `translate(write)`, requires a live RW mapping at every level of the tables the vCPU
    /// runs on, which holds the frame Writable, and nothing changes those tables during the
    /// copy (one CPU, interrupts masked).
    #[allow(clippy::disallowed_methods)]
    #[inline]
    pub fn write(&self, va: u64, data: &[u8]) -> Result<(), GuestFault> {
        let len = data.len();
        if len <= MAX_COPY && self.through_mmu(va, len) && guest_copy::write(va, data).is_ok() {
            return Ok(());
        }
        self.write_walked(va, data)
    }

    /// [`Self::write`] by software walk (out of line: the hardware copy is the hot path).
    #[allow(clippy::disallowed_methods)]
    #[inline(never)]
    fn write_walked(&self, va: u64, data: &[u8]) -> Result<(), GuestFault> {
        self.each_page(va, data.len(), true, |ma, off, n| {
            phys::write_bytes(ma, &data[off..off + n])
        })
    }

    /// Reads one ABI structure.
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, va: u64) -> Result<T, GuestFault> {
        let len = core::mem::size_of::<T>();
        if len <= MAX_COPY && self.through_mmu(va, len) {
            if let Ok(t) = guest_copy::read_obj::<T>(va) {
                return Ok(t);
            }
        }
        let mut t = T::new_zeroed();
        self.read_walked(va, t.as_mut_bytes())?;
        Ok(t)
    }

    /// Writes one ABI structure.
    pub fn write_obj<T: IntoBytes + Immutable>(
        &self,
        va: u64,
        value: &T,
    ) -> Result<(), GuestFault> {
        self.write(va, value.as_bytes())
    }

    /// Reads element `index` of an array of `T` at `va`.
    pub fn read_elem<T: FromBytes + IntoBytes>(
        &self,
        va: u64,
        index: u64,
    ) -> Result<T, GuestFault> {
        let off = index
            .checked_mul(core::mem::size_of::<T>() as u64)
            .ok_or(GuestFault { va, write: false })?;
        let at = va.checked_add(off).ok_or(GuestFault { va, write: false })?;
        self.read_obj(at)
    }

    /// Writes element `index` of an array of `T` at `va`.
    pub fn write_elem<T: IntoBytes + Immutable>(
        &self,
        va: u64,
        index: u64,
        value: &T,
    ) -> Result<(), GuestFault> {
        let off = index
            .checked_mul(core::mem::size_of::<T>() as u64)
            .ok_or(GuestFault { va, write: true })?;
        let at = va.checked_add(off).ok_or(GuestFault { va, write: true })?;
        self.write_obj(at, value)
    }
}
