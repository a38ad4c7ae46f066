//! `pse-staged` (issue 9): CPUID shows PSE to a domain built with superpages only after its
//! first `VCPUOP_register_vcpu_info` (Linux must build its direct map with 4 KiB entries
//! before it sees PSE); a domain without superpages never sees it.
//!
//! ```text
//!  start (no vcpu_info registered yet)      leaf 1 EDX.PSE = 0 in both domains
//!  superpages: held-frame-no-rw-superpage registered one; otherwise register one here
//!  after                                    leaf 1 EDX.PSE = 1 with superpages, else 0
//! ```

use guests::sse;

use crate::env::Env;
use crate::report::{Detail, Report};

/// CPUID leaf 1 EDX: page size extension.
const PSE_BIT: u32 = 1 << 3;
/// Window scratch page for the vcpu_info of a domain without superpages.
const SCRATCH: u64 = 21;

/// Whether CPUID leaf 1 shows PSE now (`None`: CPUID was not emulated).
pub fn shown() -> Option<bool> {
    sse::cpuid_forced(1, 0).map(|[_, _, _, edx]| edx & PSE_BIT != 0)
}

/// The verdict; `before` is [`shown`] as read before any vcpu_info was registered.
pub fn staged(env: &mut Env, report: &mut Report, before: Option<bool>) {
    let mut d = Detail::new();
    d.check(
        "PSE hidden before register_vcpu_info",
        before == Some(false),
    );
    if !env.superpages {
        let frame = env.table_frame().unwrap_or(0);
        let (mapped, rc) = env.register_vcpu_info_at(frame, SCRATCH);
        d.expect("map a frame for vcpu_info", mapped, 0);
        d.expect("register vcpu_info", rc, 0);
    }
    d.check(
        if env.superpages {
            "PSE shown after register_vcpu_info"
        } else {
            "PSE still hidden without superpages"
        },
        shown() == Some(env.superpages),
    );
    report.verdict("pse-staged", d);
}
