//! `hvtool tb-pages`: where a guest's exits spend QEMU's translation-block lookups.
//!
//! Under TCG a jump is chained straight to its target only when the target lies on the same
//! guest page as the block it leaves; a call, jump or fall-through into another page, and
//! every return, goes through a lookup helper instead. Which calls on a hot path cross a
//! page depends on where the linker puts page boundaries, so an unrelated change can slow a
//! hot path by 10–20 % with the same instructions run (see `hv/linker.ld`). This reads a
//! QEMU `-d exec,nochain` log (one line per block executed, chaining off so every block is
//! logged) and counts, from the guest's first hypercall on, the blocks executed per
//! hypervisor function and the transitions between blocks on different pages, by caller and
//! callee.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// Where the hypervisor's image lives (`hv/linker.ld`): addresses outside it are the guest's.
const HV_TEXT: std::ops::Range<u64> = 0xffff_82d0_4000_0000..0xffff_82d0_8000_0000;

/// Function symbols of an ELF image, sorted by address, names demangled.
pub struct Symbols {
    starts: Vec<u64>,
    names: Vec<String>,
}

impl Symbols {
    /// The functions of the ELF at `path`.
    pub fn from_elf(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let elf = object::File::parse(&*data).context("parsing the ELF")?;
        // Functions, and the entry code's assembly labels (no symbol type, in a code
        // section); not the linker script's window markers or local labels.
        let in_code = |s: &object::Symbol| {
            s.section_index()
                .and_then(|i| elf.section_by_index(i).ok())
                .is_some_and(|sec| sec.kind() == SectionKind::Text)
        };
        let mut funcs: Vec<(u64, String)> = elf
            .symbols()
            .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Unknown) && in_code(s))
            .filter_map(|s| Some((s.address(), s.name().ok()?.to_string())))
            .filter(|(_, n)| !n.starts_with("_hot") && !n.starts_with(".L") && !n.is_empty())
            .collect();
        funcs.sort();
        Ok(Self::new(funcs))
    }

    /// From `(address, mangled name)` pairs sorted by address.
    pub fn new(funcs: Vec<(u64, String)>) -> Self {
        let (starts, names) = funcs
            .into_iter()
            .map(|(a, n)| (a, format!("{:#}", rustc_demangle::demangle(&n))))
            .unzip();
        Self { starts, names }
    }

    /// The function holding `pc`: a name, `guest` outside the hypervisor, `?` before the
    /// first symbol.
    pub fn name_of(&self, pc: u64) -> &str {
        if !HV_TEXT.contains(&pc) {
            return "guest";
        }
        match self.starts.partition_point(|&s| s <= pc) {
            0 => "?",
            i => &self.names[i - 1],
        }
    }

    /// The address of the function named `name`.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.starts[i])
    }
}

/// The guest pc of one `-d exec` line: `Trace 0: 0x7f.. [cs_base/pc/flags/cflags] ...`.
pub fn exec_pc(line: &str) -> Option<u64> {
    let inside = line.split_once('[')?.1;
    let pc = inside.split('/').nth(1)?;
    u64::from_str_radix(pc, 16).ok()
}

/// What [`analyse`] counts.
#[derive(Debug, Default)]
pub struct Report {
    /// Blocks executed, per hypervisor function.
    pub blocks: Vec<(String, u64)>,
    /// Transitions between blocks on different pages, per (from, to) function.
    pub crossings: Vec<((String, String), u64)>,
    /// Transitions within one page.
    pub same_page: u64,
    /// Transitions between pages.
    pub cross_page: u64,
}

/// Counts over the block pcs in `pcs` from the first one equal to `start` on.
pub fn analyse(pcs: impl IntoIterator<Item = u64>, syms: &Symbols, start: u64) -> Report {
    let mut blocks: HashMap<u64, u64> = HashMap::new();
    let mut crossings: HashMap<(u64, u64), u64> = HashMap::new();
    let mut report = Report::default();
    let mut prev: Option<u64> = None;
    for pc in pcs {
        let Some(p) = prev else {
            if pc == start {
                prev = Some(pc);
                *blocks.entry(pc).or_default() += 1;
            }
            continue;
        };
        *blocks.entry(pc).or_default() += 1;
        if p >> 12 == pc >> 12 {
            report.same_page += 1;
        } else {
            report.cross_page += 1;
            *crossings.entry((p, pc)).or_default() += 1;
        }
        prev = Some(pc);
    }
    let mut by_fn: HashMap<&str, u64> = HashMap::new();
    for (pc, n) in blocks {
        if HV_TEXT.contains(&pc) {
            *by_fn.entry(syms.name_of(pc)).or_default() += n;
        }
    }
    let mut by_pair: HashMap<(&str, &str), u64> = HashMap::new();
    for ((a, b), n) in crossings {
        *by_pair
            .entry((syms.name_of(a), syms.name_of(b)))
            .or_default() += n;
    }
    report.blocks = sorted(by_fn.into_iter().map(|(k, v)| (k.to_string(), v)));
    report.crossings = sorted(
        by_pair
            .into_iter()
            .map(|((a, b), v)| ((a.to_string(), b.to_string()), v)),
    );
    report
}

fn sorted<K: Ord>(it: impl Iterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut v: Vec<_> = it.collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// [`analyse`] over the `-d exec` log at `log`, from the first block at `syscall_entry` (the
/// guest's first hypercall) on.
pub fn analyse_log(log: &Path, syms: &Symbols) -> Result<Report> {
    let start = syms
        .address_of("syscall_entry")
        .context("no syscall_entry symbol in the hypervisor")?;
    let f = std::fs::File::open(log).with_context(|| format!("opening {}", log.display()))?;
    let pcs = std::io::BufReader::new(f)
        .split(b'\n')
        .map_while(|l| l.ok())
        .filter_map(|l| exec_pc(&String::from_utf8_lossy(&l)));
    Ok(analyse(pcs, syms, start))
}

/// The report as text, `top` lines per table.
pub fn render(r: &Report, top: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "block transitions from the first hypercall on: {} within a page, {} between pages",
        r.same_page, r.cross_page
    );
    let _ = writeln!(s, "\nblocks executed, by hypervisor function:");
    for (f, n) in r.blocks.iter().take(top) {
        let _ = writeln!(s, "{n:>10}  {f}");
    }
    let _ = writeln!(
        s,
        "\ntransitions between pages (a TB lookup each), by caller -> callee:"
    );
    for ((a, b), n) in r.crossings.iter().take(top) {
        let _ = writeln!(s, "{n:>10}  {a} -> {b}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0xffff_82d0_4020_0000;

    fn syms() -> Symbols {
        Symbols::new(vec![
            (BASE, "syscall_entry".into()),
            (BASE + 0x100, "_ZN2hv8dispatch17h0123456789abcdefE".into()),
            (BASE + 0x1000, "_ZN2hv3far17h0123456789abcdefE".into()),
        ])
    }

    #[test]
    fn reads_the_pc_of_an_exec_line() {
        let line = "Trace 0: 0x7f9df4000400 [000f0000/ffff82d040221000/00000040/ff020200] ";
        assert_eq!(exec_pc(line), Some(0xffff_82d0_4022_1000));
        assert_eq!(exec_pc("Linking TBs 0x1 index 0 -> 0x2"), None);
    }

    #[test]
    fn names_demangled_and_guest_outside_the_image() {
        let s = syms();
        assert_eq!(s.name_of(BASE + 0x180), "hv::dispatch");
        assert_eq!(s.name_of(0xffff_ffff_8000_0000), "guest");
        assert_eq!(s.address_of("syscall_entry"), Some(BASE));
    }

    #[test]
    fn counts_from_the_start_block_and_splits_by_page() {
        let s = syms();
        let guest = 0xffff_ffff_8000_1000;
        // Before the first hypercall: ignored.
        let pcs = [
            BASE + 0x100,
            guest,
            BASE,
            BASE + 0x100,
            BASE + 0x1000,
            BASE + 0x120,
            guest,
        ];
        let r = analyse(pcs, &s, BASE);
        assert_eq!((r.same_page, r.cross_page), (1, 3));
        assert_eq!(
            r.blocks,
            [
                ("hv::dispatch".to_string(), 2),
                ("hv::far".to_string(), 1),
                ("syscall_entry".to_string(), 1)
            ]
        );
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            r.crossings,
            [
                (pair("hv::dispatch", "guest"), 1),
                (pair("hv::dispatch", "hv::far"), 1),
                (pair("hv::far", "hv::dispatch"), 1)
            ]
        );
        assert!(render(&r, 10).contains("hv::dispatch -> hv::far"));
    }
}
