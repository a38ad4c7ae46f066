//! `XENFEAT_*` names and the kernel's supported/required feature sets from its notes.
//!
//! The FEATURES note (and the legacy `FEATURES=` key) is a `'|'`-separated list of feature
//! names without the `XENFEAT_` prefix; a leading `'!'` marks a feature the kernel requires.
//! Required features are also supported. The SUPPORTED_FEATURES note adds a numeric bitmap.
//! Only submap 0 exists (`XENFEAT_NR_SUBMAPS` = 1), so a set is one `u32`.
//!
//! The name table is a local copy of `xen/include/public/features.h` (pv-abi's `features`
//! module is being written separately; dedupe on merge). Unlike Xen's libelf, which knows only
//! seven of these names, every name is recognised; whether a required feature can actually be
//! offered is decided by [`XenFeatures::missing`] when the domain is built.

use super::error::ImageError;

/// `XENFEAT_*` names and bit numbers (`features.h`).
pub const XENFEAT_NAMES: [(&str, u32); 21] = [
    ("writable_page_tables", 0),
    ("writable_descriptor_tables", 1),
    ("auto_translated_physmap", 2),
    ("supervisor_mode_kernel", 3),
    ("pae_pgdir_above_4gb", 4),
    ("mmu_pt_update_preserve_ad", 5),
    ("highmem_assist", 6),
    ("gnttab_map_avail_bits", 7),
    ("hvm_callback_vector", 8),
    ("hvm_safe_pvclock", 9),
    ("hvm_pirqs", 10),
    ("dom0", 11),
    ("grant_map_identity", 12),
    ("memory_op_vnode_supported", 13),
    ("ARM_SMCCC_supported", 14),
    ("linux_rsdp_unrestricted", 15),
    ("not_direct_mapped", 16),
    ("direct_mapped", 17),
    ("runstate_phys_area", 18),
    ("vcpu_time_phys_area", 19),
    ("dm_msix_all_writes", 20),
];

/// The bit number of a `XENFEAT_*` name (without prefix), if known.
pub fn xenfeat_by_name(name: &[u8]) -> Option<u32> {
    XENFEAT_NAMES
        .iter()
        .find(|(known, _)| known.as_bytes() == name)
        .map(|&(_, bit)| bit)
}

/// Feature bitmaps (submap 0) a kernel declares. Invariant: `required ⊆ supported`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XenFeatures {
    /// Features the kernel can use.
    pub supported: u32,
    /// Features the kernel cannot run without.
    pub required: u32,
}

impl XenFeatures {
    /// Adds the features of a `"a|!b|c"` list.
    ///
    /// Unknown names are ignored, except an unknown *required* name, which fails with
    /// `UnknownRequiredFeature` (the kernel needs something we cannot even name). Empty
    /// entries are skipped. Post: on error `self` may hold the entries before the bad one.
    pub fn add_list(&mut self, list: &[u8]) -> Result<(), ImageError> {
        for entry in list.split(|&b| b == b'|').filter(|e| !e.is_empty()) {
            let (required, name) = match entry.split_first() {
                Some((b'!', name)) => (true, name),
                _ => (false, entry),
            };
            match (xenfeat_by_name(name), required) {
                (Some(bit), true) => {
                    self.supported |= 1 << bit;
                    self.required |= 1 << bit;
                }
                (Some(bit), false) => self.supported |= 1 << bit,
                (None, true) => return Err(ImageError::UnknownRequiredFeature),
                (None, false) => {}
            }
        }
        Ok(())
    }

    /// Adds the bitmap of a SUPPORTED_FEATURES note.
    pub fn add_supported(&mut self, bitmap: u32) {
        self.supported |= bitmap;
    }

    /// Required features not in `offered` (0 when the kernel can run).
    pub fn missing(&self, offered: u32) -> u32 {
        self.required & !offered
    }
}
