//! `xs_wire` — (stub; filled in by the owner of this file).
