//! `callback_op` (`xen/include/public/callback.h`): registering the guest entry points the
//! hypervisor bounces to (event upcall, failsafe, `syscall` from guest user mode, NMI).
//!
//! Prototype: `callback_op(cmd, arg)` with `cmd` a `CALLBACKOP_*` and `arg` the guest address
//! of a [`CallbackRegister`] or [`CallbackUnregister`]. Constant names are Xen's, upper-cased.

use crate::arch_x86::XenCallback;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `callback_op` command: register a callback; `arg` → [`CallbackRegister`].
pub const CALLBACKOP_REGISTER: u32 = 0;
/// `callback_op` command: unregister a callback; `arg` → [`CallbackUnregister`]. Callbacks
/// that cannot be unregistered (event, failsafe) give `-EINVAL`.
pub const CALLBACKOP_UNREGISTER: u32 = 1;

/// Callback type: event-channel upcall. Delivery always masks events.
pub const CALLBACKTYPE_EVENT: u16 = 0;
/// Callback type: failsafe, entered when Xen cannot restore the guest's segment state.
pub const CALLBACKTYPE_FAILSAFE: u16 = 1;
/// Callback type: `syscall` executed by a 64-bit guest application.
pub const CALLBACKTYPE_SYSCALL: u16 = 2;
/// Callback type: x86-32 only, deprecated.
pub const CALLBACKTYPE_SYSENTER_DEPRECATED: u16 = 3;
/// Callback type: NMI delivery. Delivery always masks events.
pub const CALLBACKTYPE_NMI: u16 = 4;
/// Callback type: `sysenter` by 32-bit guest applications (Intel).
pub const CALLBACKTYPE_SYSENTER: u16 = 5;
/// Callback type: `syscall` by 32-bit guest applications (AMD).
pub const CALLBACKTYPE_SYSCALL32: u16 = 7;

/// [`CallbackRegister::flags`]: mask events (set `evtchn_upcall_mask`) when entering the
/// callback. Ignored for event and NMI callbacks, which always mask.
pub const CALLBACKF_MASK_EVENTS: u16 = 1 << 0;

/// Argument of `CALLBACKOP_register` (`struct callback_register`, `callback.h`; 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CallbackRegister {
    /// A `CALLBACKTYPE_*`.
    pub r#type: u16,
    /// `CALLBACKF_*` flags.
    pub flags: u16,
    /// Padding (implicit in C).
    pub pad0: u32,
    /// Entry point (guest virtual address).
    pub address: XenCallback,
}
crate::abi_layout!(CallbackRegister, 16, r#type @ 0, flags @ 2, pad0 @ 4, address @ 8);

/// Argument of `CALLBACKOP_unregister` (`struct callback_unregister`, `callback.h`; 4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CallbackUnregister {
    /// A `CALLBACKTYPE_*`.
    pub r#type: u16,
    /// Unused.
    pub unused: u16,
}
crate::abi_layout!(CallbackUnregister, 4, r#type @ 0, unused @ 2);
