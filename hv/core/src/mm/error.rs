//! The memory manager's error type; converted to a Xen errno only at the hypercall boundary.
//!
//! Each variant names *what* went wrong; [`MmError::errno`] gives the value Xen returns for
//! the same situation (`xen/arch/x86/mm.c`), e.g. `-EBUSY` when an L1 entry's target cannot
//! be referenced (Xen's `could_not_pin`), `-EINVAL` for most other validation failures.

use pv_abi::errno::*;

/// Why a memory-management request was refused. The state is unchanged when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmError {
    /// A frame number is `>= max_mfn`, or a frame or address is misaligned (`-EINVAL`).
    BadFrame,
    /// An L1 entry names a frame beyond RAM; Xen treats it as MMIO, which we never grant (`-EPERM`).
    NotRam,
    /// The frame is not owned by the domain (`-EINVAL`).
    NotOwner,
    /// An L1 entry's target cannot be referenced: free or foreign frame, or a writable mapping
    /// of a frame that has another type (Xen's `could_not_pin`, `-EBUSY`).
    CannotMap,
    /// The entry sets flags its level disallows (`-EINVAL`).
    BadFlags,
    /// The frame is in use with another type, or a linear-page-table rule is not met (`-EINVAL`).
    TypeConflict,
    /// The 2 MiB extent is held in the other spage type (Superpage vs Nosuper) (`-EINVAL`).
    SpageConflict,
    /// A PSE entry the superpage rules refuse: feature off, misaligned, extent not enabled or
    /// not the domain's (`-EINVAL`).
    SuperpageDenied,
    /// A reference, type or linear count would overflow (`-EINVAL`, as Xen for type counts).
    Overflow,
    /// The slot belongs to the hypervisor (L4 slots 256..=271) (`-EINVAL`).
    ReservedSlot,
    /// Non-write-back cache attributes on a hypervisor frame (`-EACCES`).
    CacheAttr,
    /// The frame is still referenced, typed or under a superpage mapping (`-EBUSY`).
    Busy,
    /// The frame is already pinned (`-EINVAL`).
    AlreadyPinned,
    /// The frame is not pinned (`-EINVAL`).
    NotPinned,
    /// Non-canonical or hypervisor virtual address, or the walk found an absent or PSE level
    /// where an L1 was required (`-EINVAL`).
    BadAddress,
    /// `translate`: the address is not mapped, or not writable when writing (`-EFAULT`).
    NotMapped,
    /// No such domain (`-ESRCH`).
    NoDomain,
    /// The domain already exists (`-EEXIST`).
    DomainExists,
    /// The allocation would exceed the domain's `max_pages` (`-ENOMEM`).
    OverQuota,
    /// A segment descriptor `check_descriptor` refuses, or a misaligned descriptor address
    /// (`-EINVAL`).
    BadDescriptor,
    /// Any other malformed request: bad order, id, level or frame kind (`-EINVAL`).
    Invalid,
}

impl MmError {
    /// The negative Xen errno for this error (e.g. `-22` for `-EINVAL`).
    pub fn errno(self) -> i32 {
        -match self {
            MmError::NotRam => EPERM,
            MmError::CannotMap | MmError::Busy => EBUSY,
            MmError::CacheAttr => EACCES,
            MmError::NotMapped => EFAULT,
            MmError::NoDomain => ESRCH,
            MmError::DomainExists => EEXIST,
            MmError::OverQuota => ENOMEM,
            MmError::BadFrame
            | MmError::NotOwner
            | MmError::BadFlags
            | MmError::TypeConflict
            | MmError::SpageConflict
            | MmError::SuperpageDenied
            | MmError::Overflow
            | MmError::ReservedSlot
            | MmError::AlreadyPinned
            | MmError::NotPinned
            | MmError::BadAddress
            | MmError::BadDescriptor
            | MmError::Invalid => EINVAL,
        }
    }
}

impl core::fmt::Display for MmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} ({})", self, self.errno())
    }
}
