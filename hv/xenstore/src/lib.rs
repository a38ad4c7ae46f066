//! `xenstore` — (stub; filled in by the owner of this crate).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
extern crate alloc;
