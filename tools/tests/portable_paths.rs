//! The repository names no path that exists only on a development machine (a home directory,
//! a scratch tree): sources, scripts and documents must make sense on a fresh clone.

use std::path::Path;

/// Directory prefixes that only exist on someone's machine (spelled in pieces so this file
/// does not match itself).
fn machine_prefixes() -> Vec<String> {
    ["root", "home", "work", "Users"]
        .iter()
        .map(|d| format!("/{d}/"))
        .collect()
}

fn scan(dir: &Path, prefixes: &[String], hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir)
        .expect("reading a directory")
        .flatten()
    {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "target" || name.starts_with('.') && name != ".ci" {
            continue; // build output, git's files
        }
        if path.is_dir() {
            scan(&path, prefixes, hits);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text
        };
        for (n, line) in text.lines().enumerate() {
            if prefixes.iter().any(|p| line.contains(p.as_str())) {
                hits.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
}

#[test]
fn no_development_machine_paths_in_the_repository() {
    let mut hits = Vec::new();
    scan(
        &tools::artifacts::workspace_root(),
        &machine_prefixes(),
        &mut hits,
    );
    assert!(
        hits.is_empty(),
        "machine-specific paths:\n{}",
        hits.join("\n")
    );
}
