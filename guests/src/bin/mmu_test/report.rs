//! Verdicts: each case collects its probes ("what: got X, want Y") in a [`Detail`] and ends in
//! one line `mmu_test: <case>: PASS|FAIL (<detail>)`.

use core::fmt::{self, Write};

use guests::println;
use pv_abi::errno::name_of_return;

/// Guest-side failures (not hypervisor errnos), reported as return codes below this.
pub const GUEST_ERROR: i64 = -10_000;
/// The frame pool ran dry.
pub const NO_FRAMES: i64 = GUEST_ERROR - 1;
/// A window address was unusable or a table on the way was missing.
pub const BAD_ADDRESS: i64 = GUEST_ERROR - 2;

/// A hypercall return value, printed with its errno name (`-22 EINVAL`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rc(pub i64);

impl fmt::Display for Rc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, name_of_return(self.0)) {
            (NO_FRAMES, _) => f.write_str("guest: pool empty"),
            (BAD_ADDRESS, _) => f.write_str("guest: bad window address"),
            (rc, Some(name)) => write!(f, "{rc} {name}"),
            (rc, None) => write!(f, "{rc}"),
        }
    }
}

/// The detail text of one case and whether every probe matched. A case passes only if at
/// least one probe ran (`expect` or `check`) and all of them matched.
pub struct Detail {
    buf: [u8; 900],
    len: usize,
    ok: bool,
    probes: u32,
}

impl Write for Detail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl Detail {
    /// An empty detail: it fails until a probe has run.
    pub fn new() -> Detail {
        Detail {
            buf: [0; 900],
            len: 0,
            ok: true,
            probes: 0,
        }
    }

    fn sep(&mut self) {
        if self.len > 0 {
            let _ = self.write_str("; ");
        }
    }

    /// Records a hypercall result `got` against the expected `want`.
    pub fn expect(&mut self, what: &str, got: i64, want: i64) -> bool {
        self.sep();
        let pass = got == want;
        self.probes += 1;
        if pass {
            let _ = write!(self, "{what}: {}", Rc(got));
        } else {
            let _ = write!(self, "{what}: got {}, want {}", Rc(got), Rc(want));
        }
        self.ok &= pass;
        pass
    }

    /// Records a plain condition.
    pub fn check(&mut self, what: &str, cond: bool) -> bool {
        self.sep();
        let _ = write!(self, "{what}: {}", if cond { "yes" } else { "NO" });
        self.probes += 1;
        self.ok &= cond;
        cond
    }

    /// Adds free text.
    pub fn note(&mut self, args: fmt::Arguments) {
        self.sep();
        let _ = self.write_fmt(args);
    }

    /// Fails the case with a reason.
    pub fn fail(&mut self, args: fmt::Arguments) {
        self.note(args);
        self.ok = false;
    }

    /// Whether at least one probe ran and every probe matched.
    pub fn ok(&self) -> bool {
        self.ok && self.probes > 0
    }

    fn text(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<detail not utf-8>")
    }
}

/// Counts and prints verdicts.
pub struct Report {
    run: u32,
    passed: u32,
}

impl Report {
    /// No verdicts yet.
    pub fn new() -> Report {
        Report { run: 0, passed: 0 }
    }

    /// Prints `mmu_test: <case>: PASS|FAIL (<detail>)`.
    pub fn verdict(&mut self, case: &str, detail: Detail) {
        self.run += 1;
        if detail.ok() {
            self.passed += 1;
        }
        let word = if detail.ok() { "PASS" } else { "FAIL" };
        let none = if detail.probes == 0 {
            "no check ran; "
        } else {
            ""
        };
        println!("mmu_test: {case}: {word} ({none}{})", detail.text());
    }

    /// Prints `mmu_test: N/M passed`; whether all passed.
    pub fn summary(&self) -> bool {
        println!("mmu_test: {}/{} passed", self.passed, self.run);
        self.passed == self.run
    }
}
