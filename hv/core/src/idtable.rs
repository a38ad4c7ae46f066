//! A table of values keyed by a 16-bit id (Xen's `domid_t`), indexed directly by the id.
//!
//! The hypervisor looks up the running domain by id on every guest exit (several times on
//! some paths); here a lookup is one bounds check and one slot test instead of a B-tree
//! search. Iteration is in increasing id order, as with a `BTreeMap`, and the method names
//! follow `BTreeMap`'s so call sites read the same.
//!
//! ```text
//!   slots: [ None, Some(d1), None, Some(d3) ]   get(&3) ─▶ slots[3]
//!           0      1         2     3            get(&9) ─▶ out of range ─▶ None
//! ```
//!
//! Memory: one pointer per id up to the largest one inserted (at most 2^16 · 8 bytes = 512
//! KiB); ids come from the toolstack, never from a guest — a guest-named id only reads.

use alloc::boxed::Box;
use alloc::vec::Vec;

/// Values of type `T` keyed by `u16` ids.
pub struct IdTable<T> {
    slots: Vec<Option<Box<T>>>,
    len: usize,
}

impl<T> Default for IdTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IdTable<T> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            len: 0,
        }
    }

    /// The value under `id`.
    #[inline]
    pub fn get(&self, id: &u16) -> Option<&T> {
        self.slots.get(usize::from(*id))?.as_deref()
    }

    /// The value under `id`, mutably.
    #[inline]
    pub fn get_mut(&mut self, id: &u16) -> Option<&mut T> {
        self.slots.get_mut(usize::from(*id))?.as_deref_mut()
    }

    /// Whether `id` has a value.
    pub fn contains_key(&self, id: &u16) -> bool {
        self.get(id).is_some()
    }

    /// Puts `value` under `id`; returns the value it replaced.
    pub fn insert(&mut self, id: u16, value: T) -> Option<T> {
        let i = usize::from(id);
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let old = self.slots[i].replace(Box::new(value)).map(|b| *b);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Takes the value under `id` out.
    pub fn remove(&mut self, id: &u16) -> Option<T> {
        let old = self.slots.get_mut(usize::from(*id))?.take().map(|b| *b);
        if old.is_some() {
            self.len -= 1;
            // Trailing empty slots go, so the table shrinks back when high ids die.
            while self.slots.last().is_some_and(|s| s.is_none()) {
                self.slots.pop();
            }
        }
        old
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(id, value)` pairs in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i as u16, s.as_deref()?)))
    }

    /// The ids in increasing order.
    pub fn keys(&self) -> impl Iterator<Item = u16> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// The values in increasing id order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.iter().map(|(_, v)| v)
    }

    /// The values in increasing id order, mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter_map(|s| s.as_deref_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use proptest::prelude::*;

    #[test]
    fn insert_get_remove() {
        let mut t = IdTable::new();
        assert!(t.is_empty() && t.get(&0).is_none() && t.get(&u16::MAX).is_none());
        assert_eq!(t.insert(3, "a"), None);
        assert_eq!(t.insert(3, "b"), Some("a"));
        assert_eq!(
            (t.len(), t.get(&3), t.get(&2), t.get(&4)),
            (1, Some(&"b"), None, None)
        );
        assert_eq!(t.insert(u16::MAX, "z"), None);
        assert_eq!(t.keys().collect::<Vec<_>>(), [3, u16::MAX]);
        assert_eq!(t.remove(&u16::MAX), Some("z"));
        assert_eq!(t.slots.len(), 4, "trailing empty slots are dropped");
        assert_eq!(t.remove(&3), Some("b"));
        assert_eq!(t.remove(&3), None);
        assert!(t.is_empty() && t.slots.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Bump(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Small ids so that operations collide; now and then a large one.
        let id = prop_oneof![4 => 0u16..16, 1 => any::<u16>()];
        prop_oneof![
            (id.clone(), any::<u32>()).prop_map(|(i, v)| Op::Insert(i, v)),
            id.clone().prop_map(Op::Remove),
            id.prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// The table behaves as a `BTreeMap<u16, _>` does, iteration order included.
        #[test]
        fn matches_a_btreemap(ops in proptest::collection::vec(op(), 0..64)) {
            let mut t = IdTable::new();
            let mut m = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(i, v) => prop_assert_eq!(t.insert(i, v), m.insert(i, v)),
                    Op::Remove(i) => prop_assert_eq!(t.remove(&i), m.remove(&i)),
                    Op::Bump(i) => {
                        if let Some(v) = t.get_mut(&i) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = m.get_mut(&i) {
                            *v = v.wrapping_add(1);
                        }
                    }
                }
                prop_assert_eq!(t.len(), m.len());
                prop_assert_eq!(t.is_empty(), m.is_empty());
                for i in [0u16, 1, 7, 15, u16::MAX] {
                    prop_assert_eq!(t.get(&i), m.get(&i));
                    prop_assert_eq!(t.contains_key(&i), m.contains_key(&i));
                }
                let pairs: Vec<(u16, u32)> = t.iter().map(|(i, v)| (i, *v)).collect();
                let want: Vec<(u16, u32)> = m.iter().map(|(i, v)| (*i, *v)).collect();
                prop_assert_eq!(pairs, want);
            }
        }
    }
}
