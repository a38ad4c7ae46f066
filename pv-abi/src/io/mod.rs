//! Shared-ring interfaces (`xen/include/public/io/`).
pub mod console;
pub mod xs_wire;
