//! Host tests of the memory manager: per-rule unit tests, known attacks (XSA-148, XSA-167),
//! allocation and teardown, and a proptest against a reference model.

mod harness;

mod alloc;
mod attacks;
mod continuation;
mod counts;
mod grant;
mod held;
mod hugepages;
mod l1_rules;
mod model;
mod model_ops;
mod model_step;
mod ops;
mod pde_rules;
mod ptwr;
mod safety;
mod segdesc;
mod superpage;
mod tlb;
mod walk;
