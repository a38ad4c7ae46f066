//! Guest memory by guest virtual address — the one way the hypervisor reads hypercall
//! arguments and writes results.
//!
//! Every access walks the guest's page tables in software (`Mm::translate`: present at every
//! level, writable for writes, 4 KiB or 2 MiB leaves), then copies through the direct map with
//! volatile accesses. A missing or read-only mapping is an error the hypercall turns into
//! `-EFAULT`; nothing here can fault or panic, and no Rust reference into guest memory is ever
//! formed.

use hv_core::mm::{Mfn, Mm};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::arch::phys;
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
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), GuestFault> {
        let len = buf.len();
        self.each_page(va, len, false, |ma, off, n| {
            phys::read_bytes(ma, &mut buf[off..off + n])
        })
    }

    /// Copies `data` to guest address `va` (the mapping must be writable).
    ///
    /// The guest's own writable L1 entry is the reference here: `translate(write)` requires a
    /// live RW mapping in the tables the vCPU runs on, which holds the frame Writable, and
    /// nothing changes those tables during the copy (one CPU, interrupts masked).
    #[allow(clippy::disallowed_methods)]
    pub fn write(&self, va: u64, data: &[u8]) -> Result<(), GuestFault> {
        self.each_page(va, data.len(), true, |ma, off, n| {
            phys::write_bytes(ma, &data[off..off + n])
        })
    }

    /// Reads one ABI structure.
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, va: u64) -> Result<T, GuestFault> {
        let mut t = T::new_zeroed();
        self.read(va, t.as_mut_bytes())?;
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
