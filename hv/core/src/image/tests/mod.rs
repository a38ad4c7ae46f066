//! Tests of the image module: synthetic kernels built in `builder`, one file per concern.

mod builder;
mod bzimage;
mod decompress;
mod elf;
mod fuzz;
mod layout;
mod notes;
mod pagetables;
mod segments;
mod start_info;
mod walk;
