//! `tools/setup.sh` on a fresh machine: without Rust it says what is missing and how to get
//! it (before touching anything), and the backports entry it writes uses the Debian mirror the
//! machine already has (`--print-mirror` shows which, from `APT_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    tools::artifacts::workspace_root().join("tools/setup.sh")
}

fn temp_dir(name: &str) -> PathBuf {
    let d =
        tools::artifacts::scratch_dir().join(format!("setup-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sources.list.d")).expect("creating a temp dir");
    d
}

fn print_mirror(apt_dir: &Path) -> String {
    let o = Command::new("bash")
        .arg(script())
        .arg("--print-mirror")
        .env("APT_DIR", apt_dir)
        .output()
        .expect("running setup.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn the_mirror_comes_from_the_deb822_sources() {
    let d = temp_dir("deb822");
    std::fs::write(
        d.join("sources.list.d/debian.sources"),
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\
         Components: main\n\nTypes: deb\n# a comment\nURIs: http://mirror.example/debian\n\
         Suites: bookworm bookworm-updates\nComponents: main\n",
    )
    .unwrap();
    assert_eq!(print_mirror(&d), "http://mirror.example/debian");
}

#[test]
fn the_mirror_comes_from_a_one_line_sources_list() {
    let d = temp_dir("oneline");
    std::fs::write(
        d.join("sources.list"),
        "deb http://security.example/ bookworm-security main\n\
         deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://ftp.example.org/debian bookworm main contrib\n",
    )
    .unwrap();
    assert_eq!(print_mirror(&d), "https://ftp.example.org/debian");
}

#[test]
fn without_debian_sources_the_mirror_is_deb_debian_org() {
    let d = temp_dir("none");
    assert_eq!(print_mirror(&d), "http://deb.debian.org/debian");
}

#[test]
fn without_rust_it_says_how_to_get_it_and_changes_nothing() {
    // A PATH with the basic tools the script needs but no rustup, cargo, apt-get or sudo.
    let d = temp_dir("norust");
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["dirname", "id", "sed", "awk", "head", "grep", "bash"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found"));
        std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
    }
    let o: Output = Command::new(bin.join("bash"))
        .arg(script())
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", &d)
        .env("APT_DIR", &d)
        .output()
        .expect("running setup.sh");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("Rust is not installed"), "{err}");
    assert!(err.contains("https://sh.rustup.rs"), "{err}");
    assert!(!err.contains("command not found"), "{err}");
    assert!(!d.join("sources.list.d/bookworm-backports.sources").exists());
}
