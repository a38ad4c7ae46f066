//! Where a guest's time goes in the hypervisor: per-domain counts and TSC cycles per kind of
//! work (each hypercall, page-table write emulation, privileged-op emulation, exceptions
//! bounced by vector, event upcalls, interrupts, the return path).
//!
//! Always on, so nothing here allocates: a [`Profile`] is a fixed array, and the [`Clock`]
//! attributes time between checkpoints (`rdtsc` readings the caller takes) to whichever kind
//! is current. Time is *exclusive*: a multicall's own slot holds only its overhead, the calls
//! it runs are charged to their own slots.
//!
//! ```text
//!  exit ──switch(d, Other)──► classify(Hypercall n) ─────────────► stop  (resume guest)
//!              [cycles of the handler, scheduling and return → Hypercall n]
//! ```
//! A kind's count goes up once per segment that was *classified* as it (the last
//! classification of a segment wins: a #GP that is not an emulable instruction ends up as a
//! bounced #GP, counted once).

use pv_abi::xen::hypercall as nr;

/// Hypercall slots (numbers 0..64; larger numbers share [`Kind::Other`]).
const HYPERCALLS: usize = 64;
/// Exception vectors bounced to the guest.
const VECTORS: usize = 32;
/// `mmuext_op` commands (0..=20; larger share [`Kind::Other`]).
const MMUEXT_CMDS: usize = 21;

/// A kind of hypervisor work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Hypercall `n` (from a multicall too).
    Hypercall(u8),
    /// A guest-kernel write to a read-only L1 page table, emulated.
    PtwrL1,
    /// A guest-kernel write to a read-only L2 page table, emulated.
    PtwrL2,
    /// A privileged instruction emulated on #GP.
    PrivOp,
    /// CPUID behind the forced-emulation prefix, on #UD.
    Cpuid,
    /// Exception `vector` (< 32) bounced to the guest.
    Bounce(u8),
    /// One `mmuext_op` item with command `cmd` (its time split out of `mmuext_op`).
    Mmuext(u8),
    /// `int $n` (n ≥ 32) the guest's trap table allows, bounced.
    SoftInt,
    /// A system call from guest user mode, bounced to the guest kernel.
    Syscall,
    /// An event upcall delivered.
    Upcall,
    /// The LAPIC timer interrupt (guest timers, console, toolstack).
    Timer,
    /// Any other interrupt (serial, spurious, unexpected).
    Interrupt,
    /// Not classified.
    Other,
}

/// Slots after the hypercalls and bounced vectors.
const FIXED: [Kind; 10] = [
    Kind::PtwrL1,
    Kind::PtwrL2,
    Kind::PrivOp,
    Kind::Cpuid,
    Kind::SoftInt,
    Kind::Syscall,
    Kind::Upcall,
    Kind::Timer,
    Kind::Interrupt,
    Kind::Other,
];

/// Number of slots in a [`Profile`].
pub const SLOTS: usize = HYPERCALLS + VECTORS + MMUEXT_CMDS + FIXED.len();

impl Kind {
    /// Hypercall `number`'s kind.
    pub fn hypercall(number: u64) -> Kind {
        match u8::try_from(number) {
            Ok(n) if usize::from(n) < HYPERCALLS => Kind::Hypercall(n),
            _ => Kind::Other,
        }
    }

    /// Its slot.
    pub fn index(self) -> usize {
        match self {
            Kind::Hypercall(n) if usize::from(n) < HYPERCALLS => usize::from(n),
            Kind::Bounce(v) if usize::from(v) < VECTORS => HYPERCALLS + usize::from(v),
            Kind::Mmuext(c) if usize::from(c) < MMUEXT_CMDS => {
                HYPERCALLS + VECTORS + usize::from(c)
            }
            Kind::Hypercall(_) | Kind::Bounce(_) | Kind::Mmuext(_) => Kind::Other.index(),
            k => {
                let i = FIXED
                    .iter()
                    .position(|&f| f == k)
                    .unwrap_or(FIXED.len() - 1);
                HYPERCALLS + VECTORS + MMUEXT_CMDS + i
            }
        }
    }

    /// The kind of slot `i` (`i < SLOTS`).
    pub fn from_index(i: usize) -> Kind {
        if i < HYPERCALLS {
            Kind::Hypercall(i as u8)
        } else if i < HYPERCALLS + VECTORS {
            Kind::Bounce((i - HYPERCALLS) as u8)
        } else if i < HYPERCALLS + VECTORS + MMUEXT_CMDS {
            Kind::Mmuext((i - HYPERCALLS - VECTORS) as u8)
        } else {
            FIXED
                .get(i - HYPERCALLS - VECTORS - MMUEXT_CMDS)
                .copied()
                .unwrap_or(Kind::Other)
        }
    }
}

impl core::fmt::Display for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Kind::Hypercall(n) => f.write_str(nr::name(u64::from(n))),
            Kind::Bounce(v) => write!(f, "bounce #{}", exception_mnemonic(v)),
            Kind::Mmuext(c) => write!(f, "mmuext {}", mmuext_name(c)),
            Kind::PtwrL1 => f.write_str("ptwr L1"),
            Kind::PtwrL2 => f.write_str("ptwr L2"),
            Kind::PrivOp => f.write_str("priv-op emulation"),
            Kind::Cpuid => f.write_str("cpuid emulation"),
            Kind::SoftInt => f.write_str("bounce int $n"),
            Kind::Syscall => f.write_str("bounce syscall"),
            Kind::Upcall => f.write_str("event upcall"),
            Kind::Timer => f.write_str("timer interrupt"),
            Kind::Interrupt => f.write_str("other interrupt"),
            Kind::Other => f.write_str("other"),
        }
    }
}

/// `mmuext_op` command names, shortened.
fn mmuext_name(c: u8) -> &'static str {
    const NAMES: [&str; MMUEXT_CMDS] = [
        "pin_l1",
        "pin_l2",
        "pin_l3",
        "pin_l4",
        "unpin",
        "new_baseptr",
        "tlb_flush_local",
        "invlpg_local",
        "tlb_flush_multi",
        "invlpg_multi",
        "tlb_flush_all",
        "invlpg_all",
        "flush_cache",
        "set_ldt",
        "14",
        "new_user_baseptr",
        "clear_page",
        "copy_page",
        "flush_cache_global",
        "mark_super",
        "unmark_super",
    ];
    NAMES.get(usize::from(c)).copied().unwrap_or("unknown")
}

/// `DE`, `PF`, …; the number for reserved vectors.
fn exception_mnemonic(v: u8) -> &'static str {
    const NAMES: [&str; 20] = [
        "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "9", "TS", "NP", "SS", "GP", "PF",
        "15", "MF", "AC", "MC", "XM",
    ];
    NAMES.get(usize::from(v)).copied().unwrap_or("exception")
}

/// Counts of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Times it happened.
    pub count: u64,
    /// TSC cycles spent on it.
    pub cycles: u64,
    /// Batch items (mmu_update, mmuext_op entries; update_va_mapping: 1 each).
    pub items: u64,
}

/// A domain's profile.
#[derive(Clone, Debug)]
pub struct Profile {
    slots: [Slot; SLOTS],
    /// Guest exits (each entry into the hypervisor from the guest).
    pub exits: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            slots: [Slot::default(); SLOTS],
            exits: 0,
        }
    }
}

impl Profile {
    /// Adds a segment of `cycles` to `kind`, counting one occurrence if `counted`.
    pub fn charge(&mut self, kind: Kind, cycles: u64, counted: bool) {
        let s = &mut self.slots[kind.index()];
        s.cycles = s.cycles.wrapping_add(cycles);
        s.count += u64::from(counted);
    }

    /// Adds `n` batch items to `kind`.
    pub fn add_items(&mut self, kind: Kind, n: u64) {
        let s = &mut self.slots[kind.index()];
        s.items = s.items.saturating_add(n);
    }

    /// The counts of `kind`.
    pub fn get(&self, kind: Kind) -> Slot {
        self.slots[kind.index()]
    }

    /// Cycles of all kinds.
    pub fn total_cycles(&self) -> u64 {
        self.slots
            .iter()
            .fold(0u64, |a, s| a.wrapping_add(s.cycles))
    }

    /// The `N` kinds with the most cycles (then counts), busiest first; unused slots left out.
    pub fn top<const N: usize>(&self) -> ([(Kind, Slot); N], usize) {
        let mut out = [(Kind::Other, Slot::default()); N];
        let mut n = 0;
        for (i, s) in self.slots.iter().enumerate() {
            if s.count == 0 && s.cycles == 0 {
                continue;
            }
            let key = |s: &Slot| (s.cycles, s.count);
            // Insertion into the sorted prefix; the smallest falls off the end.
            let mut pos = n;
            while pos > 0 && key(&out[pos - 1].1) < key(s) {
                pos -= 1;
            }
            if pos >= N {
                continue;
            }
            let end = if n < N { n } else { N - 1 };
            out.copy_within(pos..end, pos + 1);
            out[pos] = (Kind::from_index(i), *s);
            n = (n + 1).min(N);
        }
        (out, n)
    }

    /// Writes the table (at most `rows` kinds plus a header and a rest line), one line per
    /// call of `line`.
    pub fn report(&self, rows: usize, mut line: impl FnMut(core::fmt::Arguments)) {
        let total = self.total_cycles();
        let (top, n) = self.top::<32>();
        let n = n.min(rows);
        line(format_args!(
            "{} exits, {} Mcycles in the hypervisor ({} cycles/exit)",
            self.exits,
            total / 1_000_000,
            total.checked_div(self.exits).unwrap_or(0)
        ));
        line(format_args!(
            "  {:<24} {:>10} {:>10} {:>6} {:>9} {:>10}",
            "kind", "count", "Mcycles", "%", "avg", "items"
        ));
        let mut shown = 0u64;
        for (kind, s) in &top[..n] {
            shown = shown.wrapping_add(s.cycles);
            let pct10 = (u128::from(s.cycles) * 1000)
                .checked_div(u128::from(total))
                .unwrap_or(0);
            line(format_args!(
                "  {:<24} {:>10} {:>10} {:>4}.{} {:>9} {:>10}",
                alloc::format!("{kind}"),
                s.count,
                s.cycles / 1_000_000,
                pct10 / 10,
                pct10 % 10,
                s.cycles.checked_div(s.count).unwrap_or(0),
                if s.items != 0 {
                    alloc::format!("{}", s.items)
                } else {
                    alloc::string::String::new()
                }
            ));
        }
        let rest = total.wrapping_sub(shown);
        if rest != 0 {
            line(format_args!("  (rest) {} Mcycles", rest / 1_000_000));
        }
    }
}

/// Who is being charged between checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Running<D> {
    dom: D,
    kind: Kind,
    counted: bool,
    since: u64,
}

/// A finished segment: charge `cycles` to `dom`'s `kind` (one occurrence if `counted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<D> {
    /// The domain charged.
    pub dom: D,
    /// The kind.
    pub kind: Kind,
    /// TSC cycles.
    pub cycles: u64,
    /// Whether it counts as one occurrence.
    pub counted: bool,
}

/// Attributes time between TSC checkpoints to a (domain, kind).
#[derive(Clone, Copy, Debug)]
pub struct Clock<D> {
    running: Option<Running<D>>,
}

impl<D> Default for Clock<D> {
    fn default() -> Self {
        Clock { running: None }
    }
}

impl<D: Copy> Clock<D> {
    /// Whether a segment is open.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Relabels the open segment as `kind`, counted (no time reading needed).
    pub fn classify(&mut self, kind: Kind) {
        if let Some(r) = &mut self.running {
            r.kind = kind;
            r.counted = true;
        }
    }

    /// Ends the open segment (if any) at `now` and opens one for `dom`'s `kind`; `counted`
    /// says whether the new segment is a new occurrence (false when resuming an outer kind).
    pub fn switch(&mut self, dom: D, kind: Kind, counted: bool, now: u64) -> Option<Segment<D>> {
        let done = self.stop(now);
        self.running = Some(Running {
            dom,
            kind,
            counted,
            since: now,
        });
        done
    }

    /// Ends the open segment at `now`.
    pub fn stop(&mut self, now: u64) -> Option<Segment<D>> {
        let r = self.running.take()?;
        Some(Segment {
            dom: r.dom,
            kind: r.kind,
            cycles: now.saturating_sub(r.since),
            counted: r.counted,
        })
    }

    /// The open segment's domain and kind.
    pub fn current(&self) -> Option<(D, Kind)> {
        self.running.map(|r| (r.dom, r.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    #[test]
    fn slots_round_trip() {
        for i in 0..SLOTS {
            assert_eq!(Kind::from_index(i).index(), i, "slot {i}");
        }
        assert_eq!(Kind::hypercall(1000), Kind::Other);
        assert_eq!(Kind::Bounce(40).index(), Kind::Other.index());
        assert_eq!(format!("{}", Kind::hypercall(nr::MMU_UPDATE)), "mmu_update");
        assert_eq!(format!("{}", Kind::Bounce(14)), "bounce #PF");
        assert_eq!(format!("{}", Kind::Mmuext(15)), "mmuext new_user_baseptr");
        assert_eq!(Kind::Mmuext(21).index(), Kind::Other.index());
    }

    /// An exit: a hypercall handled, with an upcall delivered on the way back; a
    /// multicall's inner call split out; the last classification wins and counts once.
    #[test]
    fn clock_attributes_segments() {
        let mut p = Profile::default();
        let mut c: Clock<u16> = Clock::default();
        let apply = |s: Option<Segment<u16>>, p: &mut Profile| {
            if let Some(s) = s {
                assert_eq!(s.dom, 1);
                p.charge(s.kind, s.cycles, s.counted);
            }
        };
        // Exit 1: xen_version for 100 + 30 cycles around an upcall of 20.
        assert!(c.switch(1, Kind::Other, false, 1000).is_none());
        c.classify(Kind::Hypercall(17));
        apply(c.switch(1, Kind::Upcall, true, 1100), &mut p);
        apply(c.switch(1, Kind::Hypercall(17), false, 1120), &mut p);
        apply(c.stop(1150), &mut p);
        // Exit 2: a multicall (10 + 5 own cycles) running an mmu_update of 50.
        c.switch(1, Kind::Other, false, 2000);
        c.classify(Kind::Hypercall(13));
        apply(c.switch(1, Kind::Hypercall(1), true, 2010), &mut p);
        apply(c.switch(1, Kind::Hypercall(13), false, 2060), &mut p);
        apply(c.stop(2065), &mut p);
        // Exit 3: a #GP tried as a privileged op, then bounced: one bounce, no priv op.
        c.switch(1, Kind::Other, false, 3000);
        c.classify(Kind::PrivOp);
        c.classify(Kind::Bounce(13));
        apply(c.stop(3300), &mut p);
        assert!(!c.is_running());
        let s = |k| {
            let s: Slot = p.get(k);
            (s.count, s.cycles)
        };
        assert_eq!(s(Kind::Hypercall(17)), (1, 130));
        assert_eq!(s(Kind::Hypercall(13)), (1, 15));
        assert_eq!(s(Kind::Hypercall(1)), (1, 50));
        assert_eq!(s(Kind::Upcall), (1, 20));
        assert_eq!(s(Kind::Bounce(13)), (1, 300));
        assert_eq!(s(Kind::PrivOp), (0, 0));
        assert_eq!(p.total_cycles(), 130 + 15 + 50 + 20 + 300);
    }

    #[test]
    fn top_is_sorted_and_bounded() {
        let mut p = Profile::default();
        for (n, cycles) in [(1u8, 5u64), (2, 50), (3, 7), (4, 500), (5, 1)] {
            p.charge(Kind::Hypercall(n), cycles, true);
        }
        let (top, n) = p.top::<3>();
        assert_eq!(n, 3);
        let order: Vec<Kind> = top.iter().map(|t| t.0).collect();
        assert_eq!(
            order,
            [Kind::Hypercall(4), Kind::Hypercall(2), Kind::Hypercall(3)]
        );
        let (_, n) = Profile::default().top::<3>();
        assert_eq!(n, 0);
    }

    #[test]
    fn report_lines() {
        let mut p = Profile {
            exits: 4,
            ..Profile::default()
        };
        p.charge(Kind::PtwrL1, 3_000_000, true);
        p.charge(Kind::PtwrL1, 1_000_000, true);
        p.charge(Kind::hypercall(nr::MMU_UPDATE), 4_000_000, true);
        p.add_items(Kind::hypercall(nr::MMU_UPDATE), 9);
        p.charge(Kind::Upcall, 2_000_000, true);
        let mut out = Vec::new();
        p.report(2, |a| out.push(alloc::format!("{a}")));
        assert_eq!(out.len(), 5, "{out:#?}");
        assert!(out[0].starts_with("4 exits, 10 Mcycles"), "{}", out[0]);
        let row: Vec<&str> = out[2].split_whitespace().collect();
        assert_eq!(row, ["ptwr", "L1", "2", "4", "40.0", "2000000"]);
        assert!(out[3].contains("mmu_update") && out[3].trim_end().ends_with(" 9"));
        assert_eq!(out[4].trim(), String::from("(rest) 2 Mcycles"));
    }
}
