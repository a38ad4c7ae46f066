//! An independent safety scan used by the model test (deliberately not sharing code with
//! `check_invariants`).

use super::harness::*;
use crate::mm::pte::is_present;
use crate::mm::*;

/// An independent scan of every live table: no page-table/descriptor frame writable through
/// an L1 entry or a writable PSE entry; no entry reaching another domain's frame.
pub(super) fn safety_scan(w: &World, max_mfn: u64) {
    let is_table = |m: u64| {
        let f = w.frame(m);
        f.type_count() > 0 && f.page_type().conflicts_with_superpage()
    };
    for t in 0..max_mfn {
        let f = w.frame(t);
        let Some(level) = f.page_type().level().filter(|_| f.type_count() > 0) else {
            continue;
        };
        for slot in 0..ENTRIES_PER_TABLE {
            if level == PageLevel::L4 && (256..272).contains(&slot) {
                continue;
            }
            let e = w.peek(t, slot);
            if !is_present(e) {
                continue;
            }
            let target = (e & ADDR_MASK) >> 12;
            assert_eq!(
                w.frame(target).owner(),
                f.owner(),
                "{t}[{slot}] reaches a foreign frame"
            );
            let writable = e & RW != 0;
            match level {
                PageLevel::L1 if writable => {
                    assert!(!is_table(target), "{t}[{slot}] RW to a table")
                }
                PageLevel::L2 if writable && e & PSE != 0 => {
                    assert!(
                        (target..target + 512).all(|m| !is_table(m)),
                        "RW superpage over a table"
                    )
                }
                _ => {}
            }
        }
    }
}
