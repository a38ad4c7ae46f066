//! Host tooling (stub).
