//! Choosing a domain id for a new domain (a restart builds its domain again under a fresh id).
//!
//! Usable ids are `1 .. DOMID_FIRST_RESERVED` (0x7FF0): 0 is the hypervisor's own in our
//! console and logs, and 0x7FF0 upwards are Xen's reserved ids (`DOMID_SELF`, `DOMID_IO`, …),
//! which a guest names in hypercalls and must never find on a real domain. The search starts
//! at `next` and wraps around; an id still in use (a live or preserved domain) is skipped.

use pv_abi::xen::DOMID_FIRST_RESERVED;

/// The first usable id at or after `next` (wrapping within the usable range) that
/// `in_use` does not claim, or `None` when every usable id is taken.
pub fn next_free(next: u16, in_use: impl Fn(u16) -> bool) -> Option<u16> {
    let span = DOMID_FIRST_RESERVED - 1; // ids 1..=0x7FEF
    let start = if (1..DOMID_FIRST_RESERVED).contains(&next) {
        next
    } else {
        1
    };
    (0..span)
        .map(|k| 1 + (start - 1 + k) % span)
        .find(|&id| !in_use(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_next_when_free() {
        assert_eq!(next_free(5, |_| false), Some(5));
    }

    #[test]
    fn skips_ids_in_use() {
        assert_eq!(next_free(2, |id| id == 2 || id == 3), Some(4));
    }

    #[test]
    fn never_gives_zero_or_a_reserved_id_and_wraps() {
        assert_eq!(next_free(DOMID_FIRST_RESERVED - 1, |_| false), Some(0x7FEF));
        assert_eq!(next_free(DOMID_FIRST_RESERVED, |_| false), Some(1));
        assert_eq!(next_free(0xFFFF, |_| false), Some(1));
        assert_eq!(next_free(0, |_| false), Some(1));
        assert_eq!(next_free(0x7FEF, |id| id == 0x7FEF), Some(1));
    }

    #[test]
    fn none_when_all_taken() {
        assert_eq!(next_free(1, |_| true), None);
    }
}
