//! Loading a decompressed kernel where it already lies: instead of copying every segment out
//! of the decompressed ELF file into fresh domain frames, the file's own frames become the
//! kernel's frames ("map the decompressed frames instead of copying").
//!
//! A frame can serve as a segment's frame when the segment's destination and its file offset
//! lie at the same place within a page: then the file pages holding the segment, in order,
//! are its destination pages. Linux's `vmlinux` aligns every segment so (page- or 2 MiB-
//! aligned offsets and addresses), though not with one common distance (the per-CPU segment
//! and the init segment sit closer in the file than in memory), so each segment gets its own
//! run of pages:
//!
//! ```text
//!  file pages  [hdr][ seg A ......... ][gap][ seg B ][percpu][ seg C ........ ][trailer]
//!                      |  run A              | run B   | run P    | run C
//!  pfns        [ .. fresh .. ][ seg A ......... ][fresh][ seg B ][percpu][fresh][ seg C ]
//!  zero        the bytes of a run's first and last page outside its segment
//!  released    file pages no run takes (headers, gaps, trailer) go back to the allocator
//! ```
//!
//! Frames of the kernel's range that no run provides (gaps, bss past the file bytes) are the
//! domain's ordinary zeroed frames. The plan is refused (`None`, and the caller copies as
//! usual) unless every segment with file bytes allows a run, no file page serves two runs and
//! no pfn gets two frames.

use alloc::vec::Vec;

use super::segments::{LoadSegment, PAGE_SIZE};

/// File pages that become consecutive pfns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    /// First file page (file offset / 4 KiB).
    pub file_page: u64,
    /// The pfn it becomes.
    pub pfn: u64,
    /// Pages.
    pub pages: u64,
}

/// How to turn the decompressed file's frames into the kernel's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InPlacePlan {
    /// The runs, in file order (disjoint in file pages and in pfns).
    pub runs: Vec<PageRun>,
    /// File byte ranges `[start, end)` inside the runs' pages to zero.
    pub zero: Vec<(u64, u64)>,
}

/// Plans loading `segments` (destinations relative to `virt_base`) in place from a file of
/// `file_len` bytes, for a kernel whose frames end at pfn `kernel_end_pfn`; `None` when the
/// segments do not allow it.
pub fn plan_in_place(
    segments: &[LoadSegment],
    virt_base: u64,
    file_len: u64,
    kernel_end_pfn: u64,
) -> Option<InPlacePlan> {
    let mut runs = Vec::new();
    let mut zero = Vec::new();
    for s in segments.iter().filter(|s| s.file_size > 0) {
        let dest = s.dest_va.checked_sub(virt_base)?;
        let end = s.file_offset.checked_add(s.file_size)?;
        if dest % PAGE_SIZE != s.file_offset % PAGE_SIZE || end > file_len {
            return None;
        }
        let file_page = s.file_offset / PAGE_SIZE;
        let pages = end.div_ceil(PAGE_SIZE) - file_page;
        let pfn = dest / PAGE_SIZE;
        if pfn.checked_add(pages)? > kernel_end_pfn {
            return None;
        }
        runs.push(PageRun {
            file_page,
            pfn,
            pages,
        });
        let (first, last) = (file_page * PAGE_SIZE, (file_page + pages) * PAGE_SIZE);
        if first < s.file_offset {
            zero.push((first, s.file_offset));
        }
        if end < last {
            zero.push((end, last));
        }
    }
    if runs.is_empty() {
        return None;
    }
    let disjoint = |key: fn(&PageRun) -> u64, runs: &mut Vec<PageRun>| {
        runs.sort_unstable_by_key(key);
        runs.windows(2)
            .all(|w| key(&w[0]) + w[0].pages <= key(&w[1]))
    };
    if !disjoint(|r| r.pfn, &mut runs) || !disjoint(|r| r.file_page, &mut runs) {
        return None;
    }
    Some(InPlacePlan { runs, zero })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: u64 = 0xffff_ffff_8000_0000;

    fn seg(dest_off: u64, file_offset: u64, file_size: u64, mem_size: u64) -> LoadSegment {
        LoadSegment {
            dest_va: BASE + dest_off,
            file_offset,
            file_size,
            mem_size,
        }
    }

    /// Debian 6.1's `vmlinux` program headers (paddr-loaded, virt_base 0xffffffff80000000).
    fn debian_61() -> Vec<LoadSegment> {
        vec![
            seg(0x100_0000, 0x20_0000, 0x18e_acdc, 0x18e_acdc),
            seg(0x2a0_0000, 0x1c0_0000, 0x64_4000, 0x64_4000),
            seg(0x304_4000, 0x240_0000, 0x3_5000, 0x3_5000),
            seg(0x307_9000, 0x247_9000, 0x198_7000, 0x198_7000),
        ]
    }

    /// What copying each segment's file bytes into zeroed frames gives (the builder's copy
    /// path), for pseudo-physical bytes `[0, len)`.
    fn copy_loaded(segments: &[LoadSegment], file: &[u8], len: u64) -> Vec<u8> {
        let mut mem = vec![0u8; len as usize];
        for s in segments {
            let dest = (s.dest_va - BASE) as usize;
            let src = &file[s.file_offset as usize..(s.file_offset + s.file_size) as usize];
            mem[dest..dest + src.len()].copy_from_slice(src);
        }
        mem
    }

    /// What the plan gives: the file's pages (undefined tail past the file, zeroing applied)
    /// at the runs' pfns, zeroed frames elsewhere.
    fn in_place_loaded(plan: &InPlacePlan, file: &[u8], len: u64) -> Vec<u8> {
        let mut f = file.to_vec();
        f.resize(file.len().next_multiple_of(PAGE_SIZE as usize), 0xa5);
        for &(a, b) in &plan.zero {
            f[a as usize..b as usize].fill(0);
        }
        let mut mem = vec![0u8; len as usize];
        for r in &plan.runs {
            let (src, dst, n) = (
                (r.file_page * PAGE_SIZE) as usize,
                (r.pfn * PAGE_SIZE) as usize,
                (r.pages * PAGE_SIZE) as usize,
            );
            mem[dst..dst + n].copy_from_slice(&f[src..src + n]);
        }
        mem
    }

    #[test]
    fn debian_kernel_is_four_runs_and_one_partial_page() {
        let plan = plan_in_place(&debian_61(), BASE, 0x3ed_a0b4, 0x4a00).expect("in place");
        let run = |file_page, pfn, pages| PageRun {
            file_page,
            pfn,
            pages,
        };
        assert_eq!(
            plan.runs,
            vec![
                run(0x200, 0x1000, 0x18eb),
                run(0x1c00, 0x2a00, 0x644),
                run(0x2400, 0x3044, 0x35),
                run(0x2479, 0x3079, 0x1987),
            ]
        );
        assert_eq!(plan.zero, vec![(0x1ae_acdc, 0x1ae_b000)]);
        let file: Vec<u8> = (0..0x3ed_a0b4u64).map(|i| (i % 251) as u8 | 1).collect();
        let len = 0x4a00 * PAGE_SIZE;
        assert!(in_place_loaded(&plan, &file, len) == copy_loaded(&debian_61(), &file, len));
    }

    #[test]
    fn refused_when_a_page_or_pfn_would_serve_twice() {
        // Two segments sharing a file page but going to different places.
        let shared_page = [
            seg(0x1000, 0x1000, 0x800, 0x800),
            seg(0x5800, 0x1800, 0x800, 0x800),
        ];
        assert_eq!(plan_in_place(&shared_page, BASE, 0x2000, 8), None);
        // Two segments from different file pages into the same destination page.
        let shared_pfn = [
            seg(0x1000, 0x1000, 0x800, 0x800),
            seg(0x1800, 0x3800, 0x800, 0x800),
        ];
        assert_eq!(plan_in_place(&shared_pfn, BASE, 0x4000, 8), None);
    }

    #[test]
    fn refused_when_offsets_differ_within_the_page_or_exceed_the_kernel() {
        let unaligned = [seg(0x1800, 0x1000, 0x100, 0x100)];
        assert_eq!(plan_in_place(&unaligned, BASE, 0x2000, 4), None);
        let beyond = [seg(0x1000, 0, 0x3000, 0x3000)];
        assert_eq!(plan_in_place(&beyond, BASE, 0x3000, 3), None);
        assert!(plan_in_place(&beyond, BASE, 0x3000, 4).is_some());
        let past_file = [seg(0x1000, 0x1000, 0x2000, 0x2000)];
        assert_eq!(plan_in_place(&past_file, BASE, 0x2fff, 8), None);
    }

    proptest! {
        /// Wherever the planner accepts, the kernel's frames hold exactly what copying each
        /// segment into zeroed frames would give; page-separated segments are accepted.
        #[test]
        fn in_place_equals_copying(
            parts in proptest::collection::vec(
                (0u64..3, 0u64..0x300, 1u64..0x2400, 0u64..0x1800, 0u64..6, 0u64..3), 1..5),
            seed in any::<u8>(),
        ) {
            // Segments one after another in the file; each goes `shift` pages (plus `skew`
            // bytes, which breaks the page match) further into memory.
            let mut segs = Vec::new();
            let mut file_at = 0x1000u64; // headers first
            for &(gap_pages, start, len, bss, shift, skew) in &parts {
                file_at = (file_at + gap_pages * PAGE_SIZE).next_multiple_of(PAGE_SIZE) + start;
                let dest = file_at + shift * PAGE_SIZE + skew * 0x10;
                segs.push(seg(dest, file_at, len, len + bss));
                file_at += len;
            }
            let file_len = file_at + 0x123;
            let file: Vec<u8> = (0..file_len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
                .collect();
            let kend = segs.iter().map(|s| s.dest_va - BASE + s.mem_size).max().unwrap();
            let kernel_end_pfn = kend.div_ceil(PAGE_SIZE);
            let len = kernel_end_pfn * PAGE_SIZE;
            match plan_in_place(&segs, BASE, file_len, kernel_end_pfn) {
                Some(plan) => prop_assert!(
                    in_place_loaded(&plan, &file, len) == copy_loaded(&segs, &file, len)
                ),
                None => prop_assert!(
                    parts.iter().any(|p| p.5 != 0) || parts.iter().any(|p| p.4 != parts[0].4),
                    "same page shift for all, no skew: always accepted"
                ),
            }
        }
    }
}
