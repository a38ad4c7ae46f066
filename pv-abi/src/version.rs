//! `xen_version` (`xen/include/public/version.h`): version, build and feature queries.
//!
//! Prototype: `xen_version(cmd, arg)`. Every sub-operation returns 0 on success except
//! [`XENVER_VERSION`] and [`XENVER_PAGESIZE`] (which return their value) and the `*2`
//! variants (which return a length). Linux also calls `xen_version(XENVER_version, NULL)`
//! as a cheap hypercall to force pending events to be delivered. Constant names are Xen's,
//! upper-cased.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Returns `(major << 16) | minor`. `arg` is NULL.
pub const XENVER_VERSION: u32 = 0;
/// Writes the extra version string (`char[16]`, e.g. `".0"`) to `arg`.
pub const XENVER_EXTRAVERSION: u32 = 1;
/// Writes a [`XenCompileInfo`] to `arg`.
pub const XENVER_COMPILE_INFO: u32 = 2;
/// Writes the capabilities string (`char[1024]`, e.g. `"xen-3.0-x86_64 "`) to `arg`.
pub const XENVER_CAPABILITIES: u32 = 3;
/// Writes the changeset string (`char[64]`) to `arg`.
pub const XENVER_CHANGESET: u32 = 4;
/// Writes a [`XenPlatformParameters`] to `arg`.
pub const XENVER_PLATFORM_PARAMETERS: u32 = 5;
/// Reads/writes a [`XenFeatureInfo`] at `arg`.
pub const XENVER_GET_FEATURES: u32 = 6;
/// Returns the host page size. `arg` is NULL.
pub const XENVER_PAGESIZE: u32 = 7;
/// Writes the 16-byte domain handle (UUID) to `arg`.
pub const XENVER_GUEST_HANDLE: u32 = 8;
/// Writes Xen's command line (`char[1024]`) to `arg`.
pub const XENVER_COMMANDLINE: u32 = 9;
/// Build id into a `xen_varbuf` (returns its length).
pub const XENVER_BUILD_ID: u32 = 10;
/// Untruncated extra version into a `xen_varbuf`.
pub const XENVER_EXTRAVERSION2: u32 = 11;
/// Untruncated capabilities into a `xen_varbuf`.
pub const XENVER_CAPABILITIES2: u32 = 12;
/// Untruncated changeset into a `xen_varbuf`.
pub const XENVER_CHANGESET2: u32 = 13;
/// Untruncated command line into a `xen_varbuf`.
pub const XENVER_COMMANDLINE2: u32 = 14;

/// Size of the `XENVER_extraversion` buffer (`xen_extraversion_t`).
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// Size of the `XENVER_capabilities` buffer (`xen_capabilities_info_t`).
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// Size of the `XENVER_changeset` buffer (`xen_changeset_info_t`).
pub const XEN_CHANGESET_INFO_LEN: usize = 64;
/// Size of the `XENVER_commandline` buffer (`xen_commandline_t`).
pub const XEN_COMMANDLINE_LEN: usize = 1024;
/// Size of the `XENVER_guest_handle` buffer (`xen_domain_handle_t`).
pub const XEN_DOMAIN_HANDLE_LEN: usize = 16;

/// The [`XENVER_VERSION`] return value for `major.minor`.
pub const fn version_number(major: u16, minor: u16) -> u32 {
    (major as u32) << 16 | minor as u32
}

/// Result of `XENVER_compile_info` (`struct xen_compile_info`, `version.h`; 144 bytes).
/// Each field is a NUL-padded (and possibly truncated) string.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenCompileInfo {
    /// Compiler identification.
    pub compiler: [u8; 64],
    /// User who built Xen.
    pub compile_by: [u8; 16],
    /// Domain of the build host.
    pub compile_domain: [u8; 32],
    /// Build date.
    pub compile_date: [u8; 32],
}
crate::abi_layout!(XenCompileInfo, 144,
    compiler @ 0, compile_by @ 64, compile_domain @ 80, compile_date @ 112);

/// Result of `XENVER_platform_parameters` (`struct xen_platform_parameters`, `version.h`;
/// 8 bytes). For 64-bit PV this reports `HYPERVISOR_VIRT_START`; guests do not depend on it.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenPlatformParameters {
    /// Start of the hypervisor's virtual range.
    pub virt_start: u64,
}
crate::abi_layout!(XenPlatformParameters, 8, virt_start @ 0);

/// Argument of `XENVER_get_features` (`struct xen_feature_info`, `version.h`; 8 bytes).
///
/// IN `submap_idx`: which 32-bit word of the feature bitmap; OUT `submap`: its bits
/// (`XENFEAT_*` number `n` is bit `n % 32` of word `n / 32`). Xen answers `-EINVAL` for
/// an index at or past `XENFEAT_NR_SUBMAPS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenFeatureInfo {
    /// IN: index of the 32-bit word requested.
    pub submap_idx: u32,
    /// OUT: the word.
    pub submap: u32,
}
crate::abi_layout!(XenFeatureInfo, 8, submap_idx @ 0, submap @ 4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_encoding() {
        assert_eq!(version_number(4, 22), 0x0004_0016);
        assert_eq!(version_number(u16::MAX, u16::MAX), u32::MAX);
    }
}
