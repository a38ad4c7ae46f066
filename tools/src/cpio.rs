//! A `newc` cpio archive writer (the format Linux unpacks as its initramfs): directories,
//! regular files, symlinks and device nodes, with the `TRAILER!!!` end marker.
//!
//! ```text
//!  "070701" ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
//!  namesize check   (13 fields of 8 hex digits)  name NUL  pad to 4  data  pad to 4
//! ```

/// File type bits of `mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// An archive being written.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    next_ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            self.next_ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    /// A directory (`perm` like 0o755).
    pub fn dir(&mut self, name: &str, perm: u32) {
        self.entry(name, S_IFDIR | perm, (0, 0), &[]);
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), data);
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    /// A character device node.
    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, (major, minor), &[]);
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn system_cpio_lists_what_was_written() {
        let mut c = Cpio::new();
        c.dir("bin", 0o755);
        c.file("bin/hello", 0o755, b"#!/bin/sh\necho hi\n");
        c.symlink("bin/sh", "busybox");
        c.char_device("dev/console", 0o600, 5, 1);
        let archive = c.finish();
        assert_eq!(archive.len() % 4, 0);
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cpio (the archiver) is needed for this test");
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = child.wait_with_output().unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "cpio rejected the archive: {listing}");
        assert!(listing.contains("bin/hello"), "{listing}");
        assert!(listing.contains("bin/sh -> busybox"), "{listing}");
        assert!(listing
            .lines()
            .any(|l| l.starts_with('c') && l.contains("dev/console")));
        assert!(listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.contains(" 18 ")));
    }
}
