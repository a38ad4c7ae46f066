//! `xenstore` — a small xenstore server for the hypervisor, pure and host-tested.
//!
//! The hypervisor has no dom0: it is the toolstack and runs xenstore itself. This crate is
//! the whole server minus hardware. The platform hands it a guest's ring page behind
//! [`RingPage`] and gets back whom to notify ([`ServiceOutcome`]); it manages the store
//! through the privileged toolstack API on [`Store`].
//!
//! ```text
//!   guest ring page --RingPage--> ring::service --> input (reassembly) --> ops (per type)
//!                                      ^                                      |
//!                                      |                        update (checked node ops)
//!                                      |                                      |
//!                                 output queue <-- watch events <--  view (tree | transaction)
//!   hypervisor --toolstack / domains API----------------------------------^
//! ```
//!
//! Semantics follow xenstored (`tools/xenstored/` in Xen) and `docs/misc/xenstore.txt`;
//! deviations are documented where they occur. Quotas ([`Limits`]) bound every guest's
//! memory use; no input can make the crate panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
extern crate alloc;

mod connection;
pub mod domains;
mod domid;
mod error;
mod input;
mod invariants;
mod limits;
pub mod message;
mod node;
mod ops;
mod output;
pub mod path;
mod perms;
pub mod ring;
pub mod special;
mod store;
mod toolstack;
mod transaction;
pub mod tree;
mod update;
mod view;
mod watch;

pub use connection::ConnectionState;
pub use domid::DomId;
pub use error::{ProtocolError, XsError};
pub use limits::Limits;
pub use node::Node;
pub use perms::{Access, NodePerms, Perm, PermEntry};
pub use ring::{RingPage, ServiceOutcome};
pub use store::{ConnectionStatus, Store};
pub use watch::WatchEvent;
