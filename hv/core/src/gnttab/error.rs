//! The grant-table layer's error type. Operations that report per-item results in a `status`
//! field (`setup_table`, `query_size`, `map_grant_ref`, `unmap_grant_ref`) use
//! [`GnttabError::to_gntst`]; those that return a value (`set_version`, `get_version`) use
//! [`GnttabError::to_errno`].

use pv_abi::errno::*;

use pv_abi::grant_table::{
    GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_BAD_HANDLE, GNTST_GENERAL_ERROR, GNTST_NO_SPACE,
    GNTST_PERMISSION_DENIED,
};

/// Why a grant-table operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GnttabError {
    /// The named domain has no grant table (`GNTST_bad_domain`, `-ESRCH`).
    NoSuchDomain,
    /// The caller may not act on another domain's table (`GNTST_permission_denied`, `-EPERM`).
    NotPermitted,
    /// More frames than the domain's maximum (`GNTST_general_error`, `-EINVAL`).
    TooManyFrames,
    /// The platform had no frame to give (`GNTST_general_error`, `-ENOMEM`).
    OutOfMemory,
    /// A version other than 1 or 2 (`-EINVAL`).
    BadVersion,
    /// Version 2 asked for; only version 1 is offered (`-ENOSYS`, what Xen returns when v2 is
    /// disabled: "behave as before set_version was introduced").
    VersionUnsupported,
    /// Grant reference beyond the granter's table (`GNTST_bad_gntref`).
    BadGrantRef,
    /// Map flags ask for neither a host nor a device mapping (`GNTST_bad_gntref`).
    BadMapFlags,
    /// The entry does not grant this access: wrong type or domain, write to a read-only grant,
    /// pinned by another domain, pin count full, or an entry the guest keeps changing
    /// (`GNTST_general_error`).
    AccessDenied,
    /// Unknown mapping handle (`GNTST_bad_handle`).
    BadHandle,
    /// The mapping domain has no free handle (`GNTST_no_space`).
    NoHandleSpace,
    /// `create_domain` for a domain that already has a table (`-EEXIST`).
    DomainExists,
    /// `create_domain` with a maximum of 0 frames or above the limit (`-EINVAL`).
    BadMaxFrames,
}

impl GnttabError {
    /// The `GNTST_*` status code for this error.
    pub fn to_gntst(self) -> i16 {
        match self {
            GnttabError::NoSuchDomain => GNTST_BAD_DOMAIN,
            GnttabError::NotPermitted => GNTST_PERMISSION_DENIED,
            GnttabError::BadGrantRef | GnttabError::BadMapFlags => GNTST_BAD_GNTREF,
            GnttabError::BadHandle => GNTST_BAD_HANDLE,
            GnttabError::NoHandleSpace => GNTST_NO_SPACE,
            GnttabError::TooManyFrames
            | GnttabError::OutOfMemory
            | GnttabError::BadVersion
            | GnttabError::VersionUnsupported
            | GnttabError::AccessDenied
            | GnttabError::DomainExists
            | GnttabError::BadMaxFrames => GNTST_GENERAL_ERROR,
        }
    }

    /// The negative Xen errno for this error.
    pub fn to_errno(self) -> i32 {
        let positive = match self {
            GnttabError::NoSuchDomain => ESRCH,
            GnttabError::NotPermitted => EPERM,
            GnttabError::OutOfMemory => ENOMEM,
            GnttabError::VersionUnsupported => ENOSYS,
            GnttabError::DomainExists => EEXIST,
            GnttabError::TooManyFrames
            | GnttabError::BadVersion
            | GnttabError::BadGrantRef
            | GnttabError::BadMapFlags
            | GnttabError::AccessDenied
            | GnttabError::BadHandle
            | GnttabError::NoHandleSpace
            | GnttabError::BadMaxFrames => EINVAL,
        };
        -positive
    }
}
