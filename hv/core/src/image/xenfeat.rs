//! `XENFEAT_*` names and the kernel's supported/required feature sets from its notes.
//!
//! The FEATURES note (and the legacy `FEATURES=` key) is a `'|'`-separated list of feature
//! names without the `XENFEAT_` prefix; a leading `'!'` marks a feature the kernel requires.
//! Required features are also supported. The SUPPORTED_FEATURES note adds a numeric bitmap.
//! Only submap 0 exists (`XENFEAT_NR_SUBMAPS` = 1), so a set is one `u32`.
//!
//! Names come from `pv_abi::features`. Unlike Xen's libelf, which knows only seven of these
//! names, every name is recognised; whether a required feature can actually be
//! offered is decided by [`XenFeatures::missing`] when the domain is built.

use super::error::ImageError;

/// The bit number of a `XENFEAT_*` name (without prefix), if known.
pub fn xenfeat_by_name(name: &[u8]) -> Option<u32> {
    core::str::from_utf8(name)
        .ok()
        .and_then(pv_abi::features::by_name)
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
