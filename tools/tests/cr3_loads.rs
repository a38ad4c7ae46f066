//! Every CR3 load after boot goes through `cpu::write_cr3`, which keeps the shadow that
//! `cpu::loaded_cr3` reports (guest copies trust it instead of reading CR3 on each access).
//! A CR3 write anywhere else in the hypervisor's sources would make the shadow lie; the only
//! other one allowed is the 32-bit boot code's, before the shadow is in use.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("reading hv/src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("reading a source file");
            out.push((path.display().to_string(), text));
        }
    }
}

/// The lines that load CR3, in Intel (`mov cr3, x`) or AT&T (`mov x, %cr3`) syntax.
fn cr3_writes(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or("").to_lowercase())
        .filter(|l| {
            let l = l.replace(' ', "");
            l.contains("movcr3,") || l.contains(",%cr3")
        })
        .collect()
}

#[test]
fn only_write_cr3_and_the_boot_code_load_cr3() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hv/src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "hv/src not found at {}", root.display());
    let mut offenders = Vec::new();
    for (path, text) in &files {
        let writes = cr3_writes(text);
        let allowed = if path.ends_with("arch/cpu.rs") || path.ends_with("arch/boot.rs") {
            1
        } else {
            0
        };
        if writes.len() > allowed {
            offenders.push(format!("{path}: {writes:?}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "CR3 loads outside cpu::write_cr3: {offenders:#?}"
    );
}

#[test]
fn the_rule_sees_both_syntaxes() {
    assert_eq!(cr3_writes("    asm!(\"mov cr3, {}\", in(reg) v)").len(), 1);
    assert_eq!(cr3_writes("    mov %rax, %cr3").len(), 1);
    assert_eq!(cr3_writes("    mov %cr3, %rax").len(), 0);
    assert_eq!(cr3_writes("    asm!(\"mov {}, cr3\", out(reg) v)").len(), 0);
    assert_eq!(cr3_writes("    // mov %rax, %cr3").len(), 0);
}
