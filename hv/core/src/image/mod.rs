//! Building a 64-bit PV guest's start of day from its kernel image, the way Xen's toolstack
//! does: parse the ELF and its Xen notes, plan the segment copies, lay out the initial
//! pseudo-physical/virtual region, and produce the bootstrap page tables, start_info, the boot
//! vCPU state and the hypercall page. Everything is pure and bounds-checked: any input bytes
//! give a value or an error, never a panic.
//!
//! ```text
//!  bytes --ElfFile::parse--> ElfFile --XenNotes::parse--> XenNotes --LoadPlan::new--> LoadPlan
//!        (GuestImage::parse does all three)          GuestImage::placement()
//!                                                          |
//!  nr_pages, ramdisk_len --> StartOfDayLayout::new(placement, ..) --> StartOfDayLayout
//!     --> for_each_bootstrap_pte(layout, pfn->mfn, emit)   page-table entries to write
//!     --> StartInfoValues::new(layout, platform, cmdline)  the start_info page
//!     --> BootVcpuState::new(layout, entry, l4_mfn)        the boot registers
//!  fill_hypercall_page(page)  if notes.hypercall_page is set
//! ```
//!
//! | module           | concern                                                       |
//! |------------------|---------------------------------------------------------------|
//! | `elf`, `elf_note`| ELF64 x86-64 headers, sections, note iteration                |
//! | `notes`, `legacy`, `xenfeat`, `note_string` | Xen notes / `__xen_guest` → `XenNotes` |
//! | `segments`       | the load plan (load by `p_paddr`) and its checks              |
//! | `mapping`, `layout`, `layout_build` | the start-of-day layout                    |
//! | `pagetables`     | bootstrap page-table contents                                 |
//! | `start_info`, `boot_vcpu`, `hypercall_page` | start_info, registers, stubs       |
//! | `bzimage`        | locating the compressed ELF inside a Linux bzImage            |
//! | `decompress`     | XZ (+BCJ) / gzip / zstd payload into caller-provided buffers  |
//! | `xz_single`      | Linux-layout XZ decoded in one call, the output as dictionary  |
//! | `in_place`       | using the decompressed file's frames as the kernel's frames    |

pub mod boot_vcpu;
pub mod bzimage;
pub mod crc32;
pub mod decompress;
pub mod elf;
pub mod elf_note;
pub mod error;
pub mod hypercall_page;
pub mod in_place;
pub mod layout;
mod layout_build;
mod legacy;
pub mod mapping;
pub mod note_string;
pub mod notes;
pub mod pagetables;
pub mod segments;
pub mod start_info;
pub mod xenfeat;
pub mod xz_single;

#[cfg(test)]
mod tests;

pub use boot_vcpu::BootVcpuState;
pub use bzimage::{bzimage_payload, is_bzimage, BzImageError, BzImagePayload, Compression};
pub use decompress::{decompress, dictionary_size, stated_size, DecompressError};
pub use elf::{ElfError, ElfFile};
pub use error::ImageError;
pub use hypercall_page::fill_hypercall_page;
pub use layout::{
    FrameRange, KernelPlacement, LayoutError, P2mPlacement, RamdiskPlacement, StartOfDayLayout,
};
pub use notes::{NoteSource, XenNotes};
pub use pagetables::{bootstrap_page_table_writes, for_each_bootstrap_pte, PageTableWrite};
pub use segments::{LoadPlan, LoadSegment};
pub use start_info::{start_info, PlatformStartInfo};

/// A checked Xen PV kernel image: the ELF file, its Xen notes and its load plan.
#[derive(Clone, Debug)]
pub struct GuestImage<'a> {
    elf: ElfFile<'a>,
    notes: XenNotes,
    load_plan: LoadPlan,
}

impl<'a> GuestImage<'a> {
    /// Parses and checks an ELF kernel image.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ImageError> {
        let elf = ElfFile::parse(bytes)?;
        let notes = XenNotes::parse(&elf)?;
        let load_plan = LoadPlan::new(&elf, &notes)?;
        Ok(Self {
            elf,
            notes,
            load_plan,
        })
    }

    /// The ELF file.
    pub fn elf(&self) -> &ElfFile<'a> {
        &self.elf
    }

    /// The Xen notes, defaults applied.
    pub fn notes(&self) -> &XenNotes {
        &self.notes
    }

    /// The segments to copy.
    pub fn load_plan(&self) -> &LoadPlan {
        &self.load_plan
    }

    /// What the layout needs to know about the kernel.
    pub fn placement(&self) -> KernelPlacement {
        KernelPlacement {
            virt_base: self.notes.virt_base,
            virt_kstart: self.load_plan.virt_kstart(),
            virt_kend: self.load_plan.virt_kend(),
            init_p2m: self.notes.init_p2m,
            mod_start_pfn: self.notes.mod_start_pfn,
        }
    }

    /// Pfn of the page to fill with hypercall stubs, if the kernel asked for one.
    pub fn hypercall_page_pfn(&self) -> Option<u64> {
        // `LoadPlan::new` checked virt_base <= virt_kstart <= page < virt_kend.
        let va = self.notes.hypercall_page?;
        Some(va.checked_sub(self.notes.virt_base)? >> 12)
    }
}
