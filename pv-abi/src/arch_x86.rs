//! `arch_x86` — (stub; filled in by the owner of this file).
