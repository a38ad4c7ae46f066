//! Physical memory map arithmetic: turning the boot loader's RAM regions and the ranges the
//! hypervisor must keep (its image, boot information, boot modules) into free ranges.
//!
//! All ranges are half-open `[start, end)` byte addresses.

use alloc::vec::Vec;

/// A half-open physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl Range {
    /// The range `[start, end)`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// Length in bytes (0 for an empty or inverted range).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the two ranges share a byte.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Range) -> bool {
        other.start >= self.start && other.end <= self.end
    }

    /// The largest page-aligned range inside this one (`page` a power of two).
    pub fn page_aligned_inside(&self, page: u64) -> Range {
        let start = self.start.saturating_add(page - 1) & !(page - 1);
        let end = self.end & !(page - 1);
        Range::new(start, end.max(start))
    }
}

/// `ram` minus every range of `reserved`, sorted, merged and with empty pieces dropped.
pub fn subtract(ram: &[Range], reserved: &[Range]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for r in ram.iter().filter(|r| !r.is_empty()) {
        let mut pieces = alloc::vec![*r];
        for cut in reserved.iter().filter(|c| !c.is_empty()) {
            pieces = pieces
                .into_iter()
                .flat_map(|p| {
                    if !p.overlaps(cut) {
                        return [Some(p), None];
                    }
                    let left = Range::new(p.start, cut.start.max(p.start));
                    let right = Range::new(cut.end.min(p.end), p.end);
                    [
                        (!left.is_empty()).then_some(left),
                        (!right.is_empty()).then_some(right),
                    ]
                })
                .flatten()
                .collect();
        }
        out.extend(pieces);
    }
    out.sort();
    let mut merged: Vec<Range> = Vec::new();
    for r in out {
        match merged.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Carves `size` bytes aligned to `align` out of the lowest free range that can hold them and
/// lies below `limit`; returns the carved range and updates `free`.
pub fn carve(free: &mut Vec<Range>, size: u64, align: u64, limit: u64) -> Option<Range> {
    let (idx, start) = free.iter().enumerate().find_map(|(i, r)| {
        let start = r.start.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        (end <= r.end && end <= limit).then_some((i, start))
    })?;
    let carved = Range::new(start, start + size);
    let r = free.remove(idx);
    let rest = subtract(&[r], &[carved]);
    for (k, piece) in rest.into_iter().enumerate() {
        free.insert(idx + k, piece);
    }
    Some(carved)
}

/// Finds `size` bytes aligned to `align`, inside one `ram` region, clear of every `reserved`
/// range and below `limit`, without allocating (used before the heap exists). Returns the
/// lowest such start address.
pub fn find_free(
    ram: &[Range],
    reserved: &[Range],
    size: u64,
    align: u64,
    limit: u64,
) -> Option<u64> {
    let candidates = ram
        .iter()
        .map(|r| r.start)
        .chain(reserved.iter().map(|r| r.end));
    let fits = |start: u64| {
        let Some(end) = start.checked_add(size) else {
            return false;
        };
        let want = Range::new(start, end);
        end <= limit
            && ram.iter().any(|r| r.contains(&want))
            && !reserved.iter().any(|r| r.overlaps(&want))
    };
    candidates
        .filter_map(|c| c.checked_add(align - 1).map(|c| c & !(align - 1)))
        .filter(|&c| fits(c))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subtract_cuts_holes_and_merges() {
        let ram = [
            Range::new(0, 100),
            Range::new(100, 200),
            Range::new(300, 400),
        ];
        let res = [Range::new(50, 120), Range::new(390, 500)];
        assert_eq!(
            subtract(&ram, &res),
            vec![
                Range::new(0, 50),
                Range::new(120, 200),
                Range::new(300, 390)
            ]
        );
    }

    #[test]
    fn carve_takes_aligned_low_block() {
        let mut free = vec![Range::new(0x1000, 0x3000), Range::new(0x10000, 0x40000)];
        let c = carve(&mut free, 0x8000, 0x10000, u64::MAX).unwrap();
        assert_eq!(c, Range::new(0x10000, 0x18000));
        assert_eq!(
            free,
            vec![Range::new(0x1000, 0x3000), Range::new(0x18000, 0x40000)]
        );
        assert!(carve(&mut free, 0x100000, 0x1000, u64::MAX).is_none());
    }

    #[test]
    fn find_free_skips_reserved() {
        let ram = [Range::new(0, 0x9f000), Range::new(0x10_0000, 0x800_0000)];
        let res = [Range::new(0, 0x10_0000), Range::new(0x20_0000, 0x30_0000)];
        assert_eq!(
            find_free(&ram, &res, 0x10_0000, 0x10_0000, u64::MAX),
            Some(0x10_0000)
        );
        assert_eq!(
            find_free(&ram, &res, 0x20_0000, 0x10_0000, u64::MAX),
            Some(0x30_0000)
        );
        assert_eq!(find_free(&ram, &res, 0x800_0000, 0x1000, u64::MAX), None);
        assert_eq!(find_free(&ram, &res, 0x10_0000, 0x1000, 0x18_0000), None);
    }

    #[test]
    fn page_aligned_inside_shrinks() {
        assert_eq!(
            Range::new(1, 0x2001).page_aligned_inside(0x1000),
            Range::new(0x1000, 0x2000)
        );
        assert!(Range::new(1, 0xfff).page_aligned_inside(0x1000).is_empty());
    }

    proptest! {
        #[test]
        fn subtract_is_exact(
            ram in prop::collection::vec((0u64..1000, 0u64..200), 0..6),
            res in prop::collection::vec((0u64..1000, 0u64..200), 0..6),
        ) {
            let ram: Vec<Range> = ram.into_iter().map(|(s, l)| Range::new(s, s + l)).collect();
            let res: Vec<Range> = res.into_iter().map(|(s, l)| Range::new(s, s + l)).collect();
            let free = subtract(&ram, &res);
            for b in 0u64..1200 {
                let in_ram = ram.iter().any(|r| r.start <= b && b < r.end);
                let in_res = res.iter().any(|r| r.start <= b && b < r.end);
                let in_free = free.iter().any(|r| r.start <= b && b < r.end);
                prop_assert_eq!(in_free, in_ram && !in_res);
            }
            for w in free.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
        }
    }
}
