//! PV guest runtime (stub).
#![no_std]
