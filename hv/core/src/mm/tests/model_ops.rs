//! The model test's operations and their random strategy.

use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
pub(super) enum Entry {
    Ro,
    Rw,
    PseRo,
    PseRw,
    Bad,
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    Assign {
        d: usize,
        big: bool,
    },
    Release {
        d: usize,
        pick: usize,
    },
    Exchange {
        d: usize,
        pick: usize,
        big: bool,
        fail: bool,
    },
    Hold {
        d: usize,
        pick: usize,
    },
    Unhold {
        d: usize,
        pick: usize,
    },
    HvWrite {
        d: usize,
        pick: usize,
        val: u64,
    },
    Write {
        d: usize,
        live: bool,
        table: usize,
        slot: usize,
        target: usize,
        foreign: bool,
        kind: Entry,
    },
    Va {
        d: usize,
        va: [usize; 4],
        target: usize,
        kind: Entry,
    },
    Clear {
        d: usize,
        table: usize,
        slot: usize,
    },
    Raw {
        d: usize,
        table: usize,
        slot: usize,
        val: u64,
    },
    Pin {
        d: usize,
        pick: usize,
        level: usize,
    },
    Unpin {
        d: usize,
        pick: usize,
    },
    Base {
        d: usize,
        vcpu: u32,
        user: bool,
        pick: Option<usize>,
    },
    Destroy {
        d: usize,
    },
    SegDesc {
        d: usize,
        pick: usize,
        get: bool,
    },
    Share {
        d: usize,
    },
    Unshare {
        d: usize,
        pick: usize,
    },
    Copy {
        d: usize,
        dst: usize,
        src: usize,
        clear: bool,
    },
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let d = 0..2usize;
    let pick = 0..64usize;
    let entry = prop_oneof![
        Just(Entry::Ro),
        Just(Entry::Rw),
        Just(Entry::PseRo),
        Just(Entry::PseRw),
        Just(Entry::Bad)
    ];
    prop_oneof![
        3 => (d.clone(), any::<bool>()).prop_map(|(d, big)| Op::Assign { d, big }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Release { d, pick }),
        1 => (d.clone(), pick.clone(), prop::bool::weighted(0.2), any::<bool>())
            .prop_map(|(d, pick, big, fail)| Op::Exchange { d, pick, big, fail }),
        2 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Hold { d, pick }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Unhold { d, pick }),
        1 => (d.clone(), pick.clone(), any::<u64>()).prop_map(|(d, pick, val)| Op::HvWrite { d, pick, val }),
        10 => (d.clone(), any::<bool>(), pick.clone(), 0..4usize, pick.clone(), prop::bool::weighted(0.1), entry.clone())
            .prop_map(|(d, live, table, slot, target, foreign, kind)| Op::Write {
                d, live, table, slot, target, foreign, kind
            }),
        2 => (d.clone(), [0..3usize, 0..3usize, 0..3usize, 0..3usize], pick.clone(), entry)
            .prop_map(|(d, va, target, kind)| Op::Va { d, va, target, kind }),
        2 => (d.clone(), pick.clone(), 0..4usize).prop_map(|(d, table, slot)| Op::Clear { d, table, slot }),
        1 => (d.clone(), pick.clone(), prop_oneof![0..4usize, Just(256usize)], any::<u64>())
            .prop_map(|(d, table, slot, val)| Op::Raw { d, table, slot, val }),
        4 => (d.clone(), pick.clone(), 0..4usize).prop_map(|(d, pick, level)| Op::Pin { d, pick, level }),
        2 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Unpin { d, pick }),
        2 => (d.clone(), 0..2u32, any::<bool>(), prop::option::weighted(0.8, pick.clone()))
            .prop_map(|(d, vcpu, user, pick)| Op::Base { d, vcpu, user, pick }),
        1 => d.clone().prop_map(|d| Op::Destroy { d }),
        1 => (d.clone(), pick.clone(), any::<bool>()).prop_map(|(d, pick, get)| Op::SegDesc { d, pick, get }),
        1 => d.clone().prop_map(|d| Op::Share { d }),
        1 => (d.clone(), pick.clone()).prop_map(|(d, pick)| Op::Unshare { d, pick }),
        1 => (d, pick.clone(), pick, any::<bool>()).prop_map(|(d, dst, src, clear)| Op::Copy { d, dst, src, clear }),
    ]
}
