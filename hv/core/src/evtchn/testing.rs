//! Test doubles: an in-memory `shared_info` and a set of them keyed by domain.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::delivery::{EventBits, SharedInfoPages};
use super::types::{DomId, Port, VcpuId};

/// The event bits of one domain, as plain memory.
#[derive(Clone, Debug)]
pub struct FakeSharedInfo {
    pub pending_words: [u64; 64],
    pub mask_words: [u64; 64],
    pub sel: Vec<u64>,
    pub upcall: Vec<bool>,
}

impl FakeSharedInfo {
    pub fn new(nr_vcpus: usize) -> Self {
        Self {
            pending_words: [0; 64],
            mask_words: [0; 64],
            sel: vec![0; nr_vcpus],
            upcall: vec![false; nr_vcpus],
        }
    }

    fn bit(words: &[u64; 64], port: u32) -> bool {
        words[(port / 64) as usize] & (1 << (port % 64)) != 0
    }

    fn put(words: &mut [u64; 64], port: u32, value: bool) -> bool {
        let old = Self::bit(words, port);
        let word = &mut words[(port / 64) as usize];
        if value {
            *word |= 1 << (port % 64);
        } else {
            *word &= !(1 << (port % 64));
        }
        old
    }

    pub fn pending(&self, port: u32) -> bool {
        Self::bit(&self.pending_words, port)
    }

    pub fn masked(&self, port: u32) -> bool {
        Self::bit(&self.mask_words, port)
    }

    pub fn set_pending(&mut self, port: u32, value: bool) {
        Self::put(&mut self.pending_words, port, value);
    }

    pub fn set_mask(&mut self, port: u32, value: bool) {
        Self::put(&mut self.mask_words, port, value);
    }
}

impl EventBits for FakeSharedInfo {
    fn test_and_set_pending(&mut self, port: Port) -> bool {
        Self::put(&mut self.pending_words, port.0, true)
    }
    fn clear_pending(&mut self, port: Port) {
        Self::put(&mut self.pending_words, port.0, false);
    }
    fn test_pending(&self, port: Port) -> bool {
        self.pending(port.0)
    }
    fn test_mask(&self, port: Port) -> bool {
        self.masked(port.0)
    }
    fn test_and_clear_mask(&mut self, port: Port) -> bool {
        Self::put(&mut self.mask_words, port.0, false)
    }
    fn test_and_set_pending_sel(&mut self, vcpu: VcpuId, word: u32) -> bool {
        let sel = &mut self.sel[vcpu.0 as usize];
        let old = *sel & (1 << word) != 0;
        *sel |= 1 << word;
        old
    }
    fn test_and_set_upcall_pending(&mut self, vcpu: VcpuId) -> bool {
        core::mem::replace(&mut self.upcall[vcpu.0 as usize], true)
    }
}

/// `shared_info` pages of several domains.
#[derive(Clone, Debug, Default)]
pub struct FakePages {
    pub pages: BTreeMap<DomId, FakeSharedInfo>,
}

impl FakePages {
    pub fn with(doms: &[(u16, usize)]) -> Self {
        let pages = doms
            .iter()
            .map(|&(d, n)| (DomId(d), FakeSharedInfo::new(n)))
            .collect();
        Self { pages }
    }

    pub fn get(&self, dom: u16) -> &FakeSharedInfo {
        &self.pages[&DomId(dom)]
    }

    pub fn get_mut(&mut self, dom: u16) -> &mut FakeSharedInfo {
        self.pages.get_mut(&DomId(dom)).expect("test domain")
    }
}

impl SharedInfoPages for FakePages {
    type Bits<'a> = &'a mut FakeSharedInfo;

    fn event_bits(&mut self, dom: DomId) -> Option<Self::Bits<'_>> {
        self.pages.get_mut(&dom)
    }
}
