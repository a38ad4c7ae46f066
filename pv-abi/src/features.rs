//! Feature bits (`xen/include/public/features.h`): what the hypervisor offers a guest,
//! reported through `XENVER_get_features` as 32-bit submaps (feature `n` is bit `n % 32` of
//! submap `n / 32`), and what a guest kernel claims in its ELF notes.
//!
//! The `XEN_ELFNOTE_FEATURES` note is a string of feature names (the `XENFEAT_` suffix,
//! lower-case as in [`FEATURE_NAMES`]) separated by `'|'`, a leading `'!'` marking a feature
//! the kernel *requires*; [`by_name`] maps a name to its bit. (Xen's own libelf only knows
//! seven of the names — writable_page_tables, writable_descriptor_tables,
//! auto_translated_physmap, supervisor_mode_kernel, pae_pgdir_above_4gb,
//! hvm_callback_vector, dom0 — ignoring other optional names and rejecting other required
//! ones.)
//!
//! Linux 6.1 PV panics at boot unless [`XENFEAT_MMU_PT_UPDATE_PRESERVE_AD`] and
//! [`XENFEAT_GNTTAB_MAP_AVAIL_BITS`] are reported. Constant names are Xen's, upper-cased.

/// Page tables may be written directly (translated guests; Xen does not report it to PV
/// guests even though Linux's note lists it as required).
pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
/// Descriptor tables may be written directly.
pub const XENFEAT_WRITABLE_DESCRIPTOR_TABLES: u32 = 1;
/// The hypervisor translates pseudo-physical to machine addresses (HVM/PVH).
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
/// The guest kernel runs in ring 0.
pub const XENFEAT_SUPERVISOR_MODE_KERNEL: u32 = 3;
/// PAE page directories may live above 4 GiB.
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
/// `MMU_PT_UPDATE_PRESERVE_AD` is supported.
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
/// `MMUEXT_CLEAR_PAGE` / `MMUEXT_COPY_PAGE` are supported.
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
/// `GNTTABOP_map_grant_ref` honours flags for the guest-available PTE bits.
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// HVM: the callback-vector upcall type is supported.
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
/// HVM: the pvclock algorithm is safe.
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
/// HVM: PIRQs are usable.
pub const XENFEAT_HVM_PIRQS: u32 = 10;
/// The domain can operate as dom0.
pub const XENFEAT_DOM0: u32 = 11;
/// Deprecated (commented out in current headers): grants are also mapped at pfn = mfn.
pub const XENFEAT_GRANT_MAP_IDENTITY: u32 = 12;
/// `XENMEMF_vnode` is accepted by memory ops.
pub const XENFEAT_MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
/// Arm: the SMC calling convention is supported.
pub const XENFEAT_ARM_SMCCC_SUPPORTED: u32 = 14;
/// x86/PVH: the ACPI RSDP may be anywhere.
pub const XENFEAT_LINUX_RSDP_UNRESTRICTED: u32 = 15;
/// The domain's gfns are not its mfns.
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;
/// The domain's gfns are its mfns (every 64-bit PV domain).
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;
/// `VCPUOP_register_runstate_phys_area` is supported.
pub const XENFEAT_RUNSTATE_PHYS_AREA: u32 = 18;
/// `VCPUOP_register_vcpu_time_phys_area` is supported.
pub const XENFEAT_VCPU_TIME_PHYS_AREA: u32 = 19;
/// All MSI-X vector-control writes reach the device model.
pub const XENFEAT_DM_MSIX_ALL_WRITES: u32 = 20;

/// Number of 32-bit feature submaps (`XENVER_get_features` accepts indexes below this).
pub const XENFEAT_NR_SUBMAPS: u32 = 1;

/// Every feature's ELF-note name with its bit number, in bit order.
pub const FEATURE_NAMES: &[(&str, u32)] = &[
    ("writable_page_tables", XENFEAT_WRITABLE_PAGE_TABLES),
    (
        "writable_descriptor_tables",
        XENFEAT_WRITABLE_DESCRIPTOR_TABLES,
    ),
    ("auto_translated_physmap", XENFEAT_AUTO_TRANSLATED_PHYSMAP),
    ("supervisor_mode_kernel", XENFEAT_SUPERVISOR_MODE_KERNEL),
    ("pae_pgdir_above_4gb", XENFEAT_PAE_PGDIR_ABOVE_4GB),
    (
        "mmu_pt_update_preserve_ad",
        XENFEAT_MMU_PT_UPDATE_PRESERVE_AD,
    ),
    ("highmem_assist", XENFEAT_HIGHMEM_ASSIST),
    ("gnttab_map_avail_bits", XENFEAT_GNTTAB_MAP_AVAIL_BITS),
    ("hvm_callback_vector", XENFEAT_HVM_CALLBACK_VECTOR),
    ("hvm_safe_pvclock", XENFEAT_HVM_SAFE_PVCLOCK),
    ("hvm_pirqs", XENFEAT_HVM_PIRQS),
    ("dom0", XENFEAT_DOM0),
    ("grant_map_identity", XENFEAT_GRANT_MAP_IDENTITY),
    (
        "memory_op_vnode_supported",
        XENFEAT_MEMORY_OP_VNODE_SUPPORTED,
    ),
    ("ARM_SMCCC_supported", XENFEAT_ARM_SMCCC_SUPPORTED),
    ("linux_rsdp_unrestricted", XENFEAT_LINUX_RSDP_UNRESTRICTED),
    ("not_direct_mapped", XENFEAT_NOT_DIRECT_MAPPED),
    ("direct_mapped", XENFEAT_DIRECT_MAPPED),
    ("runstate_phys_area", XENFEAT_RUNSTATE_PHYS_AREA),
    ("vcpu_time_phys_area", XENFEAT_VCPU_TIME_PHYS_AREA),
    ("dm_msix_all_writes", XENFEAT_DM_MSIX_ALL_WRITES),
];

/// The bit number of the feature called `name` in an ELF note (`"dom0"` → 11), or `None`.
/// Matching is exact (case-sensitive); strip a leading `'!'` first.
pub fn by_name(name: &str) -> Option<u32> {
    FEATURE_NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, bit)| *bit)
}

/// The ELF-note name of feature bit `feature`, or `None` if Xen defines no such bit.
pub fn name(feature: u32) -> Option<&'static str> {
    FEATURE_NAMES
        .iter()
        .find(|(_, bit)| *bit == feature)
        .map(|(known, _)| *known)
}

/// `(submap index, mask)` locating `feature` in the `XENVER_get_features` bitmap.
pub const fn submap_bit(feature: u32) -> (u32, u32) {
    (feature / 32, 1 << (feature % 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (index, (known, bit)) in FEATURE_NAMES.iter().enumerate() {
            assert_eq!(*bit as usize, index, "table is in bit order");
            assert_eq!(by_name(known), Some(*bit));
            assert_eq!(name(*bit), Some(*known));
        }
        assert_eq!(FEATURE_NAMES.len(), 21);
    }

    #[test]
    fn lookups() {
        assert_eq!(by_name("writable_page_tables"), Some(0));
        assert_eq!(by_name("pae_pgdir_above_4gb"), Some(4));
        assert_eq!(by_name("dom0"), Some(11));
        assert_eq!(by_name("!dom0"), None);
        assert_eq!(by_name("DOM0"), None);
        assert_eq!(by_name(""), None);
        assert_eq!(name(21), None);
    }

    #[test]
    fn every_feature_fits_the_submaps() {
        for (_, bit) in FEATURE_NAMES {
            assert!(submap_bit(*bit).0 < XENFEAT_NR_SUBMAPS);
        }
        assert_eq!(submap_bit(XENFEAT_GNTTAB_MAP_AVAIL_BITS), (0, 1 << 7));
        assert_eq!(submap_bit(33), (1, 2));
    }
}
