//! Where the heap starts, so that its first pages share no software-TLB set with the
//! hypervisor image's hot pages.
//!
//! Under QEMU's TCG every page a memory access touches needs an entry in a direct-mapped
//! software TLB that shrinks to 64 entries when few pages are in use, indexed by the
//! virtual page number's low bits (its *colour*). Two pages of one colour that an exit
//! touches in turn evict each other on every exit: measured as 1–2 victim-TLB refills per
//! round on the exception bounce and hypercall paths, and ~20 % of a 512-entry
//! `mmu_update` batch. The image and the heap are both 2 MiB-aligned and both mapped at
//! their physical address plus a 2 MiB-aligned base, so heap page *k* and image page *k*
//! share a colour: the entry code at the start of the text and the domain and vCPU objects
//! allocated first at the start of the heap collide by construction. Starting the heap a few
//! pages in, at a colour the image's hot pages leave free, removes that collision for any
//! TLB size from 64 entries up.
//!
//! How much it buys depends on the host: on a later machine of the same type, moving every
//! exit-hot heap object (domain, vCPUs, trap table, MMU state, event channels) to free colours
//! cut the main-TLB misses inside `bench_hotpaths` from 4,126 to 345 and moved no figure beyond
//! noise there. What did move them was where page boundaries fall in the hot call chains
//! (`hv/linker.ld`, `just tb-pages`).

/// The colours of the smallest software TLB (64 entries).
pub const COLOURS: u64 = 64;

/// How many pages at the start of the heap hold the objects every exit touches (the
/// hypervisor's per-domain and per-vCPU state is allocated first, at boot).
pub const HOT_HEAP_PAGES: u64 = 8;

/// The number of pages to skip at the start of a heap whose first page has the virtual page
/// number `heap_first_vpn`, so that its first [`HOT_HEAP_PAGES`] pages collide with as few
/// of `hot_vpns` (the image's hot pages, by virtual page number) as possible modulo
/// [`COLOURS`]; ties go to the smallest skip. The result is below [`COLOURS`].
pub fn heap_skip(heap_first_vpn: u64, hot_vpns: &[u64]) -> u64 {
    let mut taken = [0u32; COLOURS as usize];
    for vpn in hot_vpns {
        taken[(vpn % COLOURS) as usize] += 1;
    }
    let collisions = |skip: u64| -> u32 {
        (0..HOT_HEAP_PAGES)
            .map(|k| taken[((heap_first_vpn + skip + k) % COLOURS) as usize])
            .sum()
    };
    (0..COLOURS)
        .min_by_key(|&skip| collisions(skip))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours_of(first: u64, skip: u64) -> impl Iterator<Item = u64> {
        (0..HOT_HEAP_PAGES).map(move |k| (first + skip + k) % COLOURS)
    }

    #[test]
    fn no_hot_pages_no_skip() {
        assert_eq!(heap_skip(0x600, &[]), 0);
    }

    #[test]
    fn skips_past_the_hot_text_at_the_same_offset() {
        // Image text at 0x201.., heap at 0x600..: pages 0x201..0x215 hot.
        let hot: Vec<u64> = (0x201..0x215).collect();
        let skip = heap_skip(0x600, &hot);
        assert!(skip < COLOURS);
        for c in colours_of(0x600, skip) {
            assert!(
                !hot.iter().any(|h| h % COLOURS == c),
                "colour {c:#x} collides"
            );
        }
    }

    #[test]
    fn finds_the_only_free_window() {
        // Every colour hot except 0x30..0x38: the heap must start at colour 0x30.
        let hot: Vec<u64> = (0..COLOURS).filter(|c| !(0x30..0x38).contains(c)).collect();
        let skip = heap_skip(0x600, &hot);
        assert_eq!((0x600 + skip) % COLOURS, 0x30);
    }

    #[test]
    fn minimises_when_nothing_is_free() {
        // All colours hot once, colour 5..13 twice: any window of 8 costs at least 8; the
        // best avoid the doubled ones.
        let mut hot: Vec<u64> = (0..COLOURS).collect();
        hot.extend(5..13);
        let skip = heap_skip(0, &hot);
        let cost: usize = colours_of(0, skip)
            .map(|c| hot.iter().filter(|h| *h % COLOURS == c).count())
            .sum();
        assert_eq!(cost, HOT_HEAP_PAGES as usize);
    }
}
