//! The Xen public ABI for 64-bit PV guests: `#[repr(C)]` structures and constants mirroring
//! Xen's public headers (`xen/include/public/...`). Each item documents its contract and the
//! header it comes from; every structure carries compile-time size and offset asserts.
//!
//! This crate is data plus contracts only: no behaviour, no `unsafe`. It is shared by the
//! hypervisor (`hv`), its pure core (`hv-core`), our PV guests (`guests`) and host tools.
//!
//! Conventions: every structure that crosses the guest boundary is `#[repr(C)]`, has explicit
//! padding fields (no implicit padding) and derives `zerocopy`'s `FromBytes`, `IntoBytes`,
//! `Immutable` and `KnownLayout`, so the hypervisor copies it in and out of guest memory without
//! `unsafe` and without ever forming a reference into guest memory.
#![no_std]
#![forbid(unsafe_code)]

pub use zerocopy;

/// Compile-time assert of a structure's size and of field offsets.
///
/// `abi_layout!(StartInfo, 1168, magic @ 0, nr_pages @ 32);`
#[macro_export]
macro_rules! abi_layout {
    ($ty:ty, $size:expr $(, $field:ident @ $off:expr)* $(,)?) => {
        const _: () = assert!(::core::mem::size_of::<$ty>() == $size);
        $(const _: () = assert!(::core::mem::offset_of!($ty, $field) == $off);)*
    };
}

pub mod arch_x86;
pub mod callback;
pub mod elfnote;
pub mod errno;
pub mod event_channel;
pub mod features;
pub mod grant_table;
pub mod io;
pub mod memory;
pub mod physdev;
pub mod sched;
pub mod vcpu;
pub mod version;
pub mod xen;
