//! Access to machine memory through the direct map.
//!
//! All of RAM is mapped at [`DIRECTMAP_BASE`] (L4 slot 262, Xen's `DIRECTMAP_VIRT_START`), so
//! machine address `ma` is at virtual `DIRECTMAP_BASE + ma`. Until `paging::init` runs only the
//! first 4 GiB are mapped (by the boot tables).
//!
//! Soundness: these functions are safe because they never touch memory that Rust code reaches
//! through references. The hypervisor registers every such range (its image, its heap, the
//! frame table…) with [`protect`], and every access checks that it stays clear of them and
//! inside the mapped limit (a bitmap of the pages protected ranges touch lets
//! accesses elsewhere skip the range loop); a violation is a hypervisor bug and panics (the machine stops with
//! a report). All accesses are volatile: the memory may be shared with a guest.

use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Virtual base of the direct map of machine memory.
pub const DIRECTMAP_BASE: u64 = 0xFFFF_8300_0000_0000;
/// Size of the direct-map window (L4 slots 262–271, 5 TiB).
pub const DIRECTMAP_SIZE: u64 = 5 << 40;

const MAX_PROTECTED: usize = 16;

static MAPPED_LIMIT: AtomicU64 = AtomicU64::new(4 << 30);
static PROTECTED: [(AtomicU64, AtomicU64); MAX_PROTECTED] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_PROTECTED];
static NR_PROTECTED: AtomicUsize = AtomicUsize::new(0);

/// Machine memory covered by the page map below: the first 16 GiB (beyond it every access
/// takes the exact check).
const COARSE_LIMIT: u64 = 16 << 30;
/// Granule of the page map: 4 KiB.
const COARSE_SHIFT: u32 = 12;
/// One bit per 4 KiB page below [`COARSE_LIMIT`] (512 KiB): set if a protected range touches
/// it. Accesses that stay in clear pages (guest frames, shared pages) skip the range loop.
static COARSE: [AtomicU64; (COARSE_LIMIT >> COARSE_SHIFT) as usize / 64] =
    [const { AtomicU64::new(0) }; (COARSE_LIMIT >> COARSE_SHIFT) as usize / 64];

/// Where the page map lives: its first pages (the low 512 MiB of machine memory, where a
/// small machine's guest frames are) are read on every guest-memory access.
pub fn coarse_map_address() -> u64 {
    COARSE.as_ptr() as u64
}

/// Sets the coarse bits of every region `[start, end)` touches (or all of them beyond the
/// coarse limit, which then always takes the exact check).
fn mark_coarse(start: u64, end: u64) {
    if start >= end {
        return;
    }
    let first = start >> COARSE_SHIFT;
    let last = ((end - 1) >> COARSE_SHIFT).min((COARSE_LIMIT >> COARSE_SHIFT) - 1);
    for region in first..=last {
        COARSE[(region / 64) as usize].fetch_or(1 << (region % 64), Ordering::SeqCst);
    }
}

/// Whether `[ma, end)` lies in regions no protected range touches (below the coarse limit).
fn coarse_clear(ma: u64, end: u64) -> bool {
    if end > COARSE_LIMIT || ma >= end {
        return false;
    }
    let (first, last) = (ma >> COARSE_SHIFT, (end - 1) >> COARSE_SHIFT);
    (first..=last).all(|region| {
        COARSE[(region / 64) as usize].load(Ordering::Relaxed) & (1 << (region % 64)) == 0
    })
}

/// Clears the coarse bits of the pages `[start, end)` touches that no range still in the
/// registry touches (after that range was removed). Only the removed range's own pages can
/// change, and a bit still needed is never cleared, even for a moment.
fn clear_coarse(start: u64, end: u64) {
    if start >= end || start >= COARSE_LIMIT {
        return;
    }
    let n = NR_PROTECTED.load(Ordering::SeqCst).min(MAX_PROTECTED);
    let first = start >> COARSE_SHIFT;
    let last = ((end - 1) >> COARSE_SHIFT).min((COARSE_LIMIT >> COARSE_SHIFT) - 1);
    for region in first..=last {
        let (page_start, page_end) = (region << COARSE_SHIFT, (region + 1) << COARSE_SHIFT);
        let still_protected = PROTECTED[..n].iter().any(|(s, e)| {
            let (s, e) = (s.load(Ordering::SeqCst), e.load(Ordering::SeqCst));
            s < e && s < page_end && e > page_start
        });
        if !still_protected {
            COARSE[(region / 64) as usize].fetch_and(!(1 << (region % 64)), Ordering::SeqCst);
        }
    }
}

/// Declares `[start, end)` as hypervisor-private: later `phys` accesses to it panic.
/// Returns the registry slot (for [`unprotect`]).
pub fn protect(start: u64, end: u64) -> usize {
    // Coarse bits first: a concurrent check must never see the range unprotected.
    mark_coarse(start, end);
    // Reuse a cleared slot first.
    let n = NR_PROTECTED.load(Ordering::SeqCst);
    for (i, (s, e)) in PROTECTED[..n].iter().enumerate() {
        if s.load(Ordering::SeqCst) == 0 && e.load(Ordering::SeqCst) == 0 {
            s.store(start, Ordering::SeqCst);
            e.store(end, Ordering::SeqCst);
            return i;
        }
    }
    let i = NR_PROTECTED.fetch_add(1, Ordering::SeqCst);
    assert!(i < MAX_PROTECTED, "too many protected physical ranges");
    PROTECTED[i].0.store(start, Ordering::SeqCst);
    PROTECTED[i].1.store(end, Ordering::SeqCst);
    i
}

/// Clears registry slot `slot` (the range becomes ordinary machine memory again).
fn unprotect(slot: usize) {
    let start = PROTECTED[slot].0.swap(0, Ordering::SeqCst);
    let end = PROTECTED[slot].1.swap(0, Ordering::SeqCst);
    clear_coarse(start, end);
}

/// Read-only view of a range of machine memory that nothing else writes, such as a boot
/// module: while the view lives, the range is protected from `phys` writes and reads.
pub struct BorrowedBytes {
    bytes: &'static [u8],
    slot: usize,
}

impl BorrowedBytes {
    /// Borrows `[start, end)`.
    ///
    /// # Safety
    /// Nothing may write the range while the view lives: it must be memory the hypervisor
    /// reserved (not in the frame allocator, not shared with a guest).
    pub unsafe fn new(start: u64, end: u64) -> Self {
        let len = (end - start) as usize;
        let p = checked(start, len);
        let slot = protect(start, end);
        // SAFETY: direct-mapped, reserved, and protected against `phys` writes until drop.
        let bytes = unsafe { core::slice::from_raw_parts(p, len) };
        Self { bytes, slot }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }
}

impl Drop for BorrowedBytes {
    fn drop(&mut self) {
        unprotect(self.slot);
    }
}

/// Writable view of machine frames the hypervisor took from the frame allocator for its own
/// temporary use (a decompressed kernel, a dictionary): while the view lives, the range is
/// protected from `phys` accesses, so the slice is the only way to reach it. Made by
/// [`take_scratch`], given back by [`release_scratch`].
pub struct ScratchBytes {
    bytes: &'static mut [u8],
    slot: usize,
    mfn: u64,
    pages: u64,
}

impl ScratchBytes {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

impl Drop for ScratchBytes {
    /// Ends the protection (the frames stay out of the allocator unless [`release_scratch`]
    /// was used).
    fn drop(&mut self) {
        unprotect(self.slot);
    }
}

/// Takes `len` bytes of machine-contiguous frames (contents undefined) from `frames`, or
/// `None` when no block that large is free. The unused tail of the power-of-two block goes
/// back to the allocator at once.
pub fn take_scratch(
    frames: &mut hv_core::buddy::BuddyAllocator,
    len: usize,
) -> Option<ScratchBytes> {
    let pages = (len as u64).div_ceil(4096).max(1);
    let order = pages.next_power_of_two().trailing_zeros();
    let mfn = frames.alloc(order)?;
    let _ = frames.add_range(mfn + pages, mfn + (1 << order));
    let start = mfn * 4096;
    let p = checked(start, len);
    let slot = protect(start, start + pages * 4096);
    // SAFETY: the frames were just taken from the allocator, so nothing else owns them until
    // `release_scratch` returns them, which consumes this view; they are direct-mapped
    // (`checked`) and protected against `phys` accesses meanwhile.
    let bytes = unsafe { core::slice::from_raw_parts_mut(p, len) };
    Some(ScratchBytes {
        bytes,
        slot,
        mfn,
        pages,
    })
}

/// Ends the view and gives its frames back to `frames`.
pub fn release_scratch(frames: &mut hv_core::buddy::BuddyAllocator, scratch: ScratchBytes) {
    let (mfn, pages) = (scratch.mfn, scratch.pages);
    drop(scratch);
    let _ = frames.add_range(mfn, mfn + pages);
}

/// Ends the view and keeps the pages `keep` names (`(first page, pages)` runs in page order,
/// inside the view) out of the allocator, for the caller to give to a domain (a kernel loaded
/// where it was decompressed); every other page goes back to `frames`. Returns the view's
/// first frame.
pub fn adopt_scratch(
    frames: &mut hv_core::buddy::BuddyAllocator,
    scratch: ScratchBytes,
    keep: impl Iterator<Item = (u64, u64)>,
) -> u64 {
    let (mfn, pages) = (scratch.mfn, scratch.pages);
    drop(scratch);
    let mut at = 0;
    for (first, n) in keep {
        let (first, end) = (first.clamp(at, pages), (first + n).clamp(at, pages));
        if at < first {
            let _ = frames.add_range(mfn + at, mfn + first);
        }
        at = end;
    }
    if at < pages {
        let _ = frames.add_range(mfn + at, mfn + pages);
    }
    mfn
}

/// Records how much of machine memory the direct map covers.
pub fn set_mapped_limit(limit: u64) {
    MAPPED_LIMIT.store(limit.min(DIRECTMAP_SIZE), Ordering::SeqCst);
}

/// The end of the direct-mapped machine memory.
pub fn mapped_limit() -> u64 {
    MAPPED_LIMIT.load(Ordering::Relaxed)
}

/// [`checked`] for one aligned 8-byte word (page-table entries, shared-page fields): the
/// common case — below the page map's limit, in a page no protected range touches — is
/// decided with one bit test; everything else takes the full check.
#[inline(always)]
fn checked_word(ma: u64) -> *mut u8 {
    let page = ma >> COARSE_SHIFT;
    if ma < COARSE_LIMIT
        && ma + 8 <= mapped_limit()
        && COARSE[(page / 64) as usize].load(Ordering::Relaxed) & (1 << (page % 64)) == 0
    {
        return (DIRECTMAP_BASE + ma) as *mut u8;
    }
    checked(ma, 8)
}

/// Checks an access of `len` bytes at `ma` and returns its direct-map pointer.
fn checked(ma: u64, len: usize) -> *mut u8 {
    let end = ma.checked_add(len as u64).expect("phys access wraps");
    assert!(
        end <= mapped_limit(),
        "phys access {ma:#x}+{len:#x} beyond the direct map"
    );
    if coarse_clear(ma, end) {
        return (DIRECTMAP_BASE + ma) as *mut u8;
    }
    let n = NR_PROTECTED.load(Ordering::Relaxed).min(MAX_PROTECTED);
    for (s, e) in &PROTECTED[..n] {
        let (s, e) = (s.load(Ordering::Relaxed), e.load(Ordering::Relaxed));
        assert!(
            end <= s || ma >= e,
            "phys access {ma:#x}+{len:#x} hits hypervisor memory"
        );
    }
    (DIRECTMAP_BASE + ma) as *mut u8
}

/// Reads the 8-byte-aligned u64 at machine address `ma`.
pub fn read_u64(ma: u64) -> u64 {
    assert_eq!(ma % 8, 0, "unaligned u64 access");
    let p = checked_word(ma) as *const u64;
    // SAFETY: `checked` guarantees the address is direct-mapped and not Rust-owned memory.
    unsafe { ptr::read_volatile(p) }
}

/// Writes the 8-byte-aligned u64 at machine address `ma`.
pub fn write_u64(ma: u64, value: u64) {
    assert_eq!(ma % 8, 0, "unaligned u64 access");
    let p = checked_word(ma) as *mut u64;
    // SAFETY: as for `read_u64`.
    unsafe { ptr::write_volatile(p, value) }
}

/// One 4 KiB machine frame checked once (direct-mapped, clear of every protected range) for
/// word accesses that then skip the per-access check: the `vcpu_info` and shared_info words
/// read or written on every return to a guest.
///
/// Sound as long as the frame never becomes hypervisor-private while the view lives: the
/// ranges [`protect`] registers are the hypervisor's own (its image, heap, boot modules,
/// scratch frames taken from the allocator), and the only holder of a view is a
/// `GuestPage`, whose frame is a domain's and held (general reference) until it is released
/// together with the view, so it can be none of them.
#[derive(Debug)]
pub struct MappedPage {
    va: u64,
}

impl MappedPage {
    /// Checks the page at machine address `ma` (page-aligned) once.
    pub fn new(ma: u64) -> Self {
        assert_eq!(ma % 4096, 0, "unaligned page");
        Self {
            va: checked(ma, 4096) as u64,
        }
    }

    /// The word at `offset` if it is aligned and inside the page.
    #[inline(always)]
    fn word(&self, offset: usize) -> Option<*const AtomicU64> {
        // Aligned and at most 4096 - 8 is exactly: no bit outside bits 3..=11. One test
        // (a word offset masked into the page by its caller folds it away entirely).
        (offset & !(4096 - 8) == 0).then_some((self.va + offset as u64) as *const AtomicU64)
    }

    /// Reads the u64 at `offset` (0 if misaligned or outside).
    #[inline(always)]
    pub fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: inside the checked page, aligned (volatile: the guest shares the page).
        self.word(offset)
            .map_or(0, |p| unsafe { ptr::read_volatile(p as *const u64) })
    }

    /// Writes the u64 at `offset` (dropped if misaligned or outside).
    #[inline(always)]
    pub fn write_u64(&self, offset: usize, value: u64) {
        if let Some(p) = self.word(offset) {
            // SAFETY: as for `read_u64`.
            unsafe { ptr::write_volatile(p as *mut u64, value) };
        }
    }

    /// Writes the byte at `offset` (dropped if outside), a plain store: for a byte only the
    /// hypervisor and the vCPU it works for write (`evtchn_upcall_mask`), where a locked
    /// read-modify-write of the whole word would cost a slow path under emulation.
    #[inline(always)]
    pub fn write_u8(&self, offset: usize, value: u8) {
        if offset < 4096 {
            // SAFETY: inside the checked page (volatile: the guest shares the page).
            unsafe { ptr::write_volatile((self.va + offset as u64) as *mut u8, value) };
        }
    }

    /// Atomically ORs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[inline(always)]
    pub fn fetch_or_u64(&self, offset: usize, bits: u64) -> u64 {
        // SAFETY: inside the checked page, aligned; AtomicU64 has u64's layout.
        self.word(offset)
            .map_or(0, |p| unsafe { &*p }.fetch_or(bits, Ordering::SeqCst))
    }

    /// Atomically ANDs `bits` into the u64 at `offset`; the old value (0 if outside).
    #[inline(always)]
    pub fn fetch_and_u64(&self, offset: usize, bits: u64) -> u64 {
        // SAFETY: as for `read_u64`.
        self.word(offset)
            .map_or(0, |p| unsafe { &*p }.fetch_and(bits, Ordering::SeqCst))
    }

    /// Atomic compare-and-exchange of the u64 at `offset` (`Err(0)` if outside).
    #[inline(always)]
    pub fn cmpxchg_u64(&self, offset: usize, old: u64, new: u64) -> Result<u64, u64> {
        self.word(offset).map_or(Err(0), |p| {
            // SAFETY: as for `read_u64`.
            unsafe { &*p }.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
        })
    }
}

/// `rep movsb` from `src` to `dst`: one instruction, never elided or split by the compiler
/// (the accesses behave like volatile ones), and fast under emulation.
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes, and the ranges must not overlap.
unsafe fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: per the caller's contract; DF is clear in the hypervisor (cld on entry).
    unsafe {
        if (dst as usize | src as usize | len).is_multiple_of(64) {
            let (d, s) = (dst as *mut u64, src as *const u64);
            for i in (0..len / 8).step_by(8) {
                for k in 0..8 {
                    ptr::write_volatile(d.add(i + k), ptr::read_volatile(s.add(i + k)));
                }
            }
        } else if (dst as usize | src as usize | len).is_multiple_of(8) {
            core::arch::asm!("rep movsq", inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") len / 8 => _,
                options(nostack, preserves_flags));
        } else {
            core::arch::asm!("rep movsb", inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") len => _,
                options(nostack, preserves_flags));
        }
    }
}

/// Copies `buf.len()` bytes from machine address `ma` into `buf`.
pub fn read_bytes(ma: u64, buf: &mut [u8]) {
    let p = checked(ma, buf.len());
    // SAFETY: the source is in the direct map and not Rust-owned (`checked`); `buf` is ours.
    unsafe { copy_bytes(buf.as_mut_ptr(), p, buf.len()) };
}

/// Copies `data` to machine address `ma`.
pub fn write_bytes(ma: u64, data: &[u8]) {
    let p = checked(ma, data.len());
    // SAFETY: as for `read_bytes`, in the other direction.
    unsafe { copy_bytes(p, data.as_ptr(), data.len()) };
}

/// Fills `len` bytes at `ma` with `byte`.
pub fn fill(ma: u64, len: usize, byte: u8) {
    let p = checked(ma, len);
    // SAFETY: the range is in the direct map and not Rust-owned (`checked`).
    unsafe {
        core::arch::asm!("rep stosb", inout("rdi") p => _, inout("rcx") len => _, in("al") byte,
            options(nostack, preserves_flags));
    }
}

/// Fills `len` bytes at `ma` with zero.
pub fn zero(ma: u64, len: usize) {
    let p = checked(ma, len);
    // SAFETY: the range is in the direct map and not Rust-owned (`checked`).
    unsafe {
        if ma.is_multiple_of(64) && len.is_multiple_of(64) {
            let q = p as *mut u64;
            for i in (0..len / 8).step_by(8) {
                for k in 0..8 {
                    ptr::write_volatile(q.add(i + k), 0);
                }
            }
        } else if ma.is_multiple_of(8) && len.is_multiple_of(8) {
            core::arch::asm!("rep stosq", inout("rdi") p => _, inout("rcx") len / 8 => _, in("rax") 0u64,
                options(nostack, preserves_flags));
        } else {
            core::arch::asm!("rep stosb", inout("rdi") p => _, inout("rcx") len => _, in("al") 0u8,
                options(nostack, preserves_flags));
        }
    }
}

/// Makes the whole frames at `[ma, ma + len)` read as zero, writing only frames that do not
/// already: a frame nothing has written since power-on is left untouched. Under emulation
/// (QEMU) the first *write* to a page of guest RAM costs the host a page allocation, so not
/// writing frames that are already zero keeps building a large domain fast; reading them
/// maps the host's shared zero page, which is cheap.
///
/// The check ORs 64 8-byte loads (512 bytes) between two looks at the result: under TCG each
/// look ends a translation block, and 64 per look took 17 % fewer cycles per clean frame than
/// 8 per look (1649 against 1989, same boot). 16-byte SSE2 loads (10958 against 4974 on a
/// loaded machine) and `repe scasq` (6974) were slower than 8-byte loads.
pub fn scrub(ma: u64, len: usize) {
    assert!(
        ma.is_multiple_of(4096) && len.is_multiple_of(4096),
        "scrub whole frames"
    );
    let p = checked(ma, len) as *const u64;
    for frame in 0..len / 4096 {
        // SAFETY: `checked` covers the range; the frames are not Rust-owned.
        let dirty = unsafe {
            let f = p.add(frame * 512);
            // One test per 512 bytes: under TCG the loads are the cost, and a branch per
            // 64 bytes added a third to the instructions run.
            let mut any = 0u64;
            for i in (0..512).step_by(64) {
                for k in 0..64 {
                    any |= ptr::read_volatile(f.add(i + k));
                }
                if any != 0 {
                    break;
                }
            }
            any != 0
        };
        if dirty {
            zero(ma + frame as u64 * 4096, 4096);
        }
    }
}

/// Copies one 4 KiB frame.
pub fn copy_frame(dst_ma: u64, src_ma: u64) {
    let d = checked(dst_ma, 4096);
    let s = checked(src_ma, 4096);
    if d != s {
        // SAFETY: both frames are in range and distinct, so they do not overlap.
        unsafe { copy_bytes(d, s, 4096) };
    }
}

/// Returns a `'static` mutable slice over hypervisor-private memory at `ma`, and protects it.
///
/// # Safety
/// `[ma, ma + len * size_of::<T>())` must be RAM reserved for this purpose alone (taken from
/// the frame allocator and never freed), zero-initialised or otherwise valid for `T`, and
/// suitably aligned. It is protected from later `phys` accesses by this call.
pub unsafe fn claim_slice<T>(ma: u64, len: usize) -> &'static mut [T] {
    let bytes = len * core::mem::size_of::<T>();
    let p = checked(ma, bytes) as *mut T;
    assert_eq!(p as usize % core::mem::align_of::<T>(), 0);
    let _ = protect(ma, ma + bytes as u64);
    // SAFETY: the caller guarantees exclusive, valid, aligned memory; now protected.
    unsafe { core::slice::from_raw_parts_mut(p, len) }
}

/// Types for which the all-zero byte pattern is a valid value.
///
/// # Safety
/// Implementors must be plain data whose every field accepts zero bytes.
pub unsafe trait ZeroValid {}

// SAFETY: `FrameInfo` is `#[repr(C)]` integers; all-zero is documented as the free frame.
unsafe impl ZeroValid for hv_core::mm::FrameInfo {}
// SAFETY: `SpageInfo` is `#[repr(C)]` integers; all-zero is documented as the unused extent.
unsafe impl ZeroValid for hv_core::mm::SpageInfo {}

/// Allocates a zeroed, never-freed table of `len` `T`s from `frames` and returns it as a
/// `'static` slice (protected from `phys` accesses).
pub fn alloc_static_table<T: ZeroValid>(
    frames: &mut hv_core::buddy::BuddyAllocator,
    len: usize,
) -> &'static mut [T] {
    let bytes = (len * core::mem::size_of::<T>()).max(1) as u64;
    let pages = bytes.div_ceil(4096);
    let order = pages.next_power_of_two().trailing_zeros();
    let mfn = frames
        .alloc(order)
        .expect("no contiguous memory for a hypervisor table");
    let ma = mfn * 4096;
    // Frames already zero are only read: at boot most are, and under emulation writing them
    // would first make the host allocate them.
    scrub(ma, (pages * 4096) as usize);
    // SAFETY: the block was just taken from the allocator (nobody else owns it) and is never
    // freed; it is page-aligned, zeroed, and zero is a valid `T` (`ZeroValid`).
    unsafe { claim_slice::<T>(ma, len) }
}

/// A read-only view of a boot module the loader placed in reserved memory.
pub fn module_bytes(range: hv_core::memmap::Range) -> BorrowedBytes {
    // SAFETY: boot modules lie in memory `mem::init` reserved (never in the frame allocator)
    // and nothing writes them until they are released after the domains are built, which
    // happens after this view is dropped; modules of domains that restart are never
    // released, so a view made for a rebuild reads them intact.
    unsafe { BorrowedBytes::new(range.start, range.end) }
}
