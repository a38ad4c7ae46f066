//! The PV console ring page, mirroring `xen/include/public/io/console.h`.
//!
//! One page shared by a guest (frontend) and its console backend, holding two byte rings with
//! free-running `u32` indices. A producer writes bytes at `prod & (size-1)` and then advances
//! `prod`; a consumer reads at `cons & (size-1)` and then advances `cons`. The amount of data is
//! `prod - cons` computed with wrapping arithmetic, and is never more than the ring size.
//!
//! ```text
//!   offset  size  field
//!   0       1024  in[]      backend -> guest (keyboard input)
//!   1024    2048  out[]     guest -> backend (console output)
//!   3072    4     in_cons   advanced by the guest
//!   3076    4     in_prod   advanced by the backend
//!   3080    4     out_cons  advanced by the backend
//!   3084    4     out_prod  advanced by the guest
//!   3088    1     connection  XENCONSOLE_CONNECTED (0) / _DISCONNECTED (1)
//!   3089    3     padding
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of the `in` ring (backend to guest), a power of two.
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of the `out` ring (guest to backend), a power of two.
pub const XENCONS_OUT_SIZE: usize = 2048;

/// `XENCONSOLE_CONNECTED`: the backend services the ring.
pub const XENCONSOLE_CONNECTED: u8 = 0;
/// `XENCONSOLE_DISCONNECTED`: the backend does not (yet) service the ring.
pub const XENCONSOLE_DISCONNECTED: u8 = 1;

/// `struct xencons_interface` (3092 B): the console ring page. Indices are `XENCONS_RING_IDX`
/// (`u32`), free-running; only their masked value is an array index.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XenconsInterface {
    /// `in[]`: bytes for the guest to read.
    pub r#in: [u8; XENCONS_IN_SIZE],
    /// `out[]`: bytes the guest wrote.
    pub out: [u8; XENCONS_OUT_SIZE],
    /// Guest's read index into `in`.
    pub in_cons: u32,
    /// Backend's write index into `in`.
    pub in_prod: u32,
    /// Backend's read index into `out`.
    pub out_cons: u32,
    /// Guest's write index into `out`.
    pub out_prod: u32,
    /// `XENCONSOLE_CONNECTED` or `XENCONSOLE_DISCONNECTED`.
    pub connection: u8,
    /// Padding (the C compiler's, made explicit).
    pub _pad0: [u8; 3],
}
crate::abi_layout!(XenconsInterface, 3092, r#in @ 0, out @ 1024, in_cons @ 3072,
    in_prod @ 3076, out_cons @ 3080, out_prod @ 3084, connection @ 3088, _pad0 @ 3089);

/// `MASK_XENCONS_IDX(idx, in)`: the array index of free-running index `idx` in `in[]`.
pub const fn mask_xencons_in_idx(idx: u32) -> usize {
    idx as usize & (XENCONS_IN_SIZE - 1)
}

/// `MASK_XENCONS_IDX(idx, out)`: the array index of free-running index `idx` in `out[]`.
pub const fn mask_xencons_out_idx(idx: u32) -> usize {
    idx as usize & (XENCONS_OUT_SIZE - 1)
}
