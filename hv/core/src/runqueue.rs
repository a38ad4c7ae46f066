//! A fair run queue: the runnable vCPUs of one physical CPU ordered by virtual run time.
//!
//! Each entity accumulates `vruntime` = time it ran × [`NICE_0_WEIGHT`] / its weight. The CPU
//! goes to the waiting entity with the smallest `vruntime`; the running one keeps it for at
//! most one [`RunQueue::slice_ns`] while others wait. An entity that wakes after sleeping
//! starts at no less than `min_vruntime − slice`, so sleeping earns at most one slice of
//! credit and cannot starve the others afterwards.
//!
//! ```text
//!   waiting (BTreeSet by (vruntime, seq, id))     running
//!   [ (40ms,a) (41ms,b) (90ms,c) ] ──pick_next──▶ a   ── put_prev(ran) ──▶ back in, +ran
//!          ▲                                          ── block ──▶ out (keeps its vruntime)
//!          └── wake(c): vruntime = max(own, min_vruntime − slice)
//! ```
//!
//! Pure bookkeeping: the caller says who ran for how long; no clocks or hardware here.

use alloc::collections::{BTreeMap, BTreeSet};

/// Weight of an ordinary entity.
pub const NICE_0_WEIGHT: u64 = 1024;

/// Default time slice while others wait (Xen's credit2 default rate limit is 1 ms, its
/// credit scheduler's slice 30 ms; 10 ms keeps consoles of many guests responsive).
pub const DEFAULT_SLICE_NS: u64 = 10_000_000;

#[derive(Clone, Copy, Debug)]
struct Entity {
    vruntime: u64,
    weight: u64,
    /// Tie-breaker: the order entities (re)joined the queue.
    seq: u64,
    queued: bool,
}

/// The run queue of one physical CPU over entity names `K` (e.g. `(domain, vcpu)`).
#[derive(Debug)]
pub struct RunQueue<K: Ord + Copy> {
    entities: BTreeMap<K, Entity>,
    waiting: BTreeSet<(u64, u64, K)>,
    min_vruntime: u64,
    next_seq: u64,
    slice_ns: u64,
}

impl<K: Ord + Copy> Default for RunQueue<K> {
    fn default() -> Self {
        Self::new(DEFAULT_SLICE_NS)
    }
}

impl<K: Ord + Copy> RunQueue<K> {
    /// An empty queue with time slice `slice_ns` (at least 1 ns).
    pub fn new(slice_ns: u64) -> Self {
        Self {
            entities: BTreeMap::new(),
            waiting: BTreeSet::new(),
            min_vruntime: 0,
            next_seq: 0,
            slice_ns: slice_ns.max(1),
        }
    }

    /// The time slice.
    pub fn slice_ns(&self) -> u64 {
        self.slice_ns
    }

    /// Makes `k` known with `weight` (clamped to 1..=2^20), not queued, starting at the
    /// current `min_vruntime`. Re-adding a known entity only changes its weight.
    pub fn add(&mut self, k: K, weight: u64) {
        let weight = weight.clamp(1, 1 << 20);
        let min = self.min_vruntime;
        self.entities
            .entry(k)
            .and_modify(|e| e.weight = weight)
            .or_insert(Entity {
                vruntime: min,
                weight,
                seq: 0,
                queued: false,
            });
    }

    /// Forgets `k` (destroyed): out of the queue and the table.
    pub fn remove(&mut self, k: K) {
        if let Some(e) = self.entities.remove(&k) {
            if e.queued {
                self.waiting.remove(&(e.vruntime, e.seq, k));
            }
        }
    }

    /// Whether any entity waits for the CPU.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Number of entities waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Number of entities known (added and not removed), waiting or not: the queue's load
    /// for [`least_loaded`].
    pub fn members(&self) -> usize {
        self.entities.len()
    }

    /// Whether `k` is waiting in the queue.
    pub fn is_queued(&self, k: K) -> bool {
        self.entities.get(&k).is_some_and(|e| e.queued)
    }

    /// `k`'s virtual run time, if known.
    pub fn vruntime(&self, k: K) -> Option<u64> {
        self.entities.get(&k).map(|e| e.vruntime)
    }

    fn enqueue(&mut self, k: K) {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entities.get_mut(&k) {
            if !e.queued {
                e.queued = true;
                e.seq = seq;
                self.waiting.insert((e.vruntime, seq, k));
            }
        }
    }

    /// `k` became runnable after sleeping (or was just added): it joins the queue with at
    /// most one slice of credit. Returns whether it should preempt `running`: its vruntime
    /// is more than half a slice below the running entity's.
    pub fn wake(&mut self, k: K, running: Option<K>) -> bool {
        let floor = self.min_vruntime.saturating_sub(self.slice_ns);
        let Some(e) = self.entities.get_mut(&k) else {
            return false;
        };
        if e.queued || running == Some(k) {
            return false;
        }
        e.vruntime = e.vruntime.max(floor);
        let v = e.vruntime;
        self.enqueue(k);
        running
            .and_then(|r| self.entities.get(&r))
            .is_some_and(|r| v + self.slice_ns / 2 < r.vruntime)
    }

    /// The running entity `k` ran for `ran_ns`: charge it. If `still_runnable`, it waits
    /// in the queue again; otherwise (blocked, paused) it leaves it.
    pub fn put_prev(&mut self, k: K, ran_ns: u64, still_runnable: bool) {
        if let Some(e) = self.entities.get_mut(&k) {
            let delta = ran_ns.saturating_mul(NICE_0_WEIGHT) / e.weight;
            e.vruntime = e.vruntime.saturating_add(delta);
        }
        self.update_min(Some(k));
        if still_runnable {
            self.enqueue(k);
        }
    }

    /// Takes the waiting entity with the smallest vruntime off the queue: it runs next.
    pub fn pick_next(&mut self) -> Option<K> {
        let first = *self.waiting.iter().next()?;
        self.waiting.remove(&first);
        let k = first.2;
        if let Some(e) = self.entities.get_mut(&k) {
            e.queued = false;
        }
        self.update_min(Some(k));
        Some(k)
    }

    /// Whether `running`, which has run `ran_ns` of its turn, should give way now: its slice
    /// is used up and someone waits.
    pub fn should_preempt(&self, ran_ns: u64) -> bool {
        !self.waiting.is_empty() && ran_ns >= self.slice_ns
    }

    /// `min_vruntime` only moves forward: the smallest of the running entity and the
    /// waiting ones.
    fn update_min(&mut self, running: Option<K>) {
        let mut m = self.waiting.iter().next().map(|w| w.0);
        if let Some(r) = running.and_then(|r| self.entities.get(&r)) {
            m = Some(m.map_or(r.vruntime, |w| w.min(r.vruntime)));
        }
        if let Some(m) = m {
            self.min_vruntime = self.min_vruntime.max(m);
        }
    }
}

/// Which of several per-CPU run queues, with `loads` entities each (see
/// [`RunQueue::members`]), a new entity joins: the least loaded, the lowest index on a tie
/// (0 when `loads` is empty).
pub fn least_loaded(loads: &[usize]) -> usize {
    loads
        .iter()
        .enumerate()
        .min_by_key(|&(i, &load)| (load, i))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn least_loaded_picks_the_emptiest_lowest_first() {
        assert_eq!(least_loaded(&[]), 0);
        assert_eq!(least_loaded(&[3]), 0);
        assert_eq!(least_loaded(&[2, 1, 1, 5]), 1);
        assert_eq!(least_loaded(&[0, 0]), 0);
        assert_eq!(least_loaded(&[4, 4, 3]), 2);
    }

    #[test]
    fn members_counts_known_entities_blocked_or_not() {
        let mut q = RunQueue::<u32>::default();
        q.add(1, NICE_0_WEIGHT);
        q.add(2, NICE_0_WEIGHT);
        q.add(2, 2 * NICE_0_WEIGHT);
        q.wake(1, None);
        assert_eq!((q.members(), q.len()), (2, 1));
        q.remove(1);
        assert_eq!((q.members(), q.len()), (1, 0));
    }

    proptest! {
        /// Placing entities one by one on the least loaded queue keeps the queues balanced.
        #[test]
        fn placement_stays_balanced(cpus in 1usize..8, n in 0usize..64) {
            let mut queues: alloc::vec::Vec<RunQueue<usize>> =
                (0..cpus).map(|_| RunQueue::default()).collect();
            for k in 0..n {
                let loads: alloc::vec::Vec<usize> = queues.iter().map(|q| q.members()).collect();
                queues[least_loaded(&loads)].add(k, NICE_0_WEIGHT);
            }
            let loads: alloc::vec::Vec<usize> = queues.iter().map(|q| q.members()).collect();
            let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            prop_assert!(max - min <= 1);
            prop_assert_eq!(loads.iter().sum::<usize>(), n);
            // Lower-numbered CPUs fill first.
            prop_assert!(loads.windows(2).all(|w| w[0] >= w[1]));
        }
    }

    const MS: u64 = 1_000_000;

    /// Runs the queue for `total` ns: every pick runs until its slice ends (spinners) or
    /// for `burst` (sleepers, who then block and wake at the next pick).
    fn simulate(q: &mut RunQueue<u32>, spinners: &[u32], total: u64) -> BTreeMap<u32, u64> {
        let mut got = BTreeMap::new();
        let mut t = 0;
        while t < total {
            let Some(k) = q.pick_next() else { break };
            let ran = q.slice_ns();
            *got.entry(k).or_insert(0) += ran;
            t += ran;
            q.put_prev(k, ran, spinners.contains(&k));
        }
        got
    }

    #[test]
    fn two_spinners_share_evenly_and_alternate() {
        let mut q = RunQueue::new(10 * MS);
        for k in [1, 2] {
            q.add(k, NICE_0_WEIGHT);
            q.wake(k, None);
        }
        let mut order = Vec::new();
        for _ in 0..6 {
            let k = q.pick_next().unwrap();
            order.push(k);
            q.put_prev(k, 10 * MS, true);
        }
        assert_eq!(order, vec![1, 2, 1, 2, 1, 2]);
        let got = simulate(&mut q, &[1, 2], 1000 * MS);
        assert_eq!(got[&1], got[&2]);
    }

    #[test]
    fn weights_share_in_proportion() {
        let mut q = RunQueue::new(MS);
        q.add(1, 2048);
        q.add(2, 1024);
        q.wake(1, None);
        q.wake(2, None);
        let got = simulate(&mut q, &[1, 2], 300 * MS);
        let (a, b) = (got[&1], got[&2]);
        assert!((a as f64 / b as f64 - 2.0).abs() < 0.05, "{a} vs {b}");
    }

    #[test]
    fn blocked_entities_are_never_picked_and_a_long_sleeper_gets_one_slice_of_credit() {
        let mut q = RunQueue::new(10 * MS);
        for k in [1, 2, 3] {
            q.add(k, NICE_0_WEIGHT);
        }
        q.wake(1, None);
        q.wake(2, None);
        // 3 sleeps while 1 and 2 run for a second.
        let got = simulate(&mut q, &[1, 2], 1000 * MS);
        assert!(!got.contains_key(&3));
        let v1 = q.vruntime(1).unwrap();
        // 3 wakes: credited at most one slice below the others, not a second.
        q.wake(3, None);
        let v3 = q.vruntime(3).unwrap();
        assert!(
            v3 + 10 * MS >= v1.min(q.vruntime(2).unwrap()),
            "{v3} vs {v1}"
        );
        // It runs first, then the three share: 3 cannot monopolise the CPU.
        assert_eq!(q.pick_next(), Some(3));
        q.put_prev(3, 10 * MS, true);
        let got = simulate(&mut q, &[1, 2, 3], 300 * MS);
        let max = got.values().max().unwrap();
        let min = got.values().min().unwrap();
        assert!(max - min <= 20 * MS, "{got:?}");
    }

    #[test]
    fn wake_preempts_only_a_running_entity_well_ahead() {
        let mut q = RunQueue::new(10 * MS);
        q.add(1, NICE_0_WEIGHT);
        q.add(2, NICE_0_WEIGHT);
        q.wake(1, None);
        let r = q.pick_next().unwrap();
        q.put_prev(r, 50 * MS, false);
        // 1 blocked having run 50 ms; it becomes runnable and runs again.
        q.wake(1, None);
        assert_eq!(q.pick_next(), Some(1));
        // 2 wakes while 1 runs: 2 is far behind in vruntime terms -> preempt.
        assert!(q.wake(2, Some(1)));
        // Waking twice, or waking the running one, changes nothing.
        assert!(!q.wake(2, Some(1)));
        assert!(!q.wake(1, Some(1)));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn should_preempt_needs_a_waiter_and_a_used_slice() {
        let mut q = RunQueue::new(10 * MS);
        q.add(1, NICE_0_WEIGHT);
        assert!(!q.should_preempt(100 * MS));
        q.wake(1, Some(0));
        assert!(!q.should_preempt(9 * MS));
        assert!(q.should_preempt(10 * MS));
    }

    #[test]
    fn remove_forgets_queued_and_unknown_keys() {
        let mut q = RunQueue::new(MS);
        q.add(1, NICE_0_WEIGHT);
        q.wake(1, None);
        q.remove(1);
        q.remove(9);
        assert!(q.is_empty());
        assert_eq!(q.pick_next(), None);
        assert!(!q.wake(1, None));
    }

    proptest! {
        /// Any mix of wake / run / block / remove keeps the queue consistent: every
        /// waiting entry is a known, queued entity at its recorded vruntime, nobody is
        /// queued twice, the running one is not queued, and min_vruntime never goes back.
        #[test]
        fn random_operations_keep_the_queue_consistent(
            ops in prop::collection::vec((0u8..5, 0u32..6, 0u64..30_000_000), 1..300)
        ) {
            let mut q = RunQueue::new(5 * MS);
            let mut running: Option<u32> = None;
            let mut last_min = 0;
            for (op, k, ns) in ops {
                match op {
                    0 => q.add(k, 512 + u64::from(k) * 256),
                    1 => { q.wake(k, running); }
                    2 => if let Some(r) = running.take() { q.put_prev(r, ns, ns % 2 == 0) },
                    3 => if running.is_none() { running = q.pick_next() },
                    _ => { q.remove(k); if running == Some(k) { running = None } }
                }
                for &(v, seq, key) in &q.waiting {
                    let e = q.entities.get(&key).expect("waiting entity is known");
                    prop_assert!(e.queued);
                    prop_assert_eq!((e.vruntime, e.seq), (v, seq));
                }
                let queued = q.entities.values().filter(|e| e.queued).count();
                prop_assert_eq!(queued, q.waiting.len());
                if let Some(r) = running { prop_assert!(!q.is_queued(r)); }
                prop_assert!(q.min_vruntime >= last_min);
                last_min = q.min_vruntime;
            }
        }
    }
}
