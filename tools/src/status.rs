//! `hvtool`'s exit statuses: one per way a run can end, so a script (or CI) can tell a guest
//! that crashed from a kernel the hypervisor refused, from QEMU failing to start, from a
//! mistyped option. The table printed by `hvtool --help` and shown in the README is
//! [`Status::table`].

use crate::qemu::Outcome;

/// How `hvtool` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The guest powered off (or a benchmark finished).
    Poweroff,
    /// `hvtool` itself failed (building, writing files); its message says why.
    ToolError,
    /// Bad arguments: an unknown option or guest, a file that does not exist, a number out
    /// of range.
    Usage,
    /// The guest asked for a reboot.
    Reboot,
    /// The guest crashed.
    Crash,
    /// The hypervisor refused the guest: the image is not a loadable PV kernel, or it does
    /// not fit the configuration (memory size).
    Refused,
    /// The hypervisor failed (panic, exception, triple fault).
    HypervisorFailure,
    /// QEMU did not run the machine: it refused its options (e.g. too much memory for the
    /// host) or ended in an unexpected way.
    QemuFailure,
    /// The time-out (`--timeout`) expired.
    Timeout,
}

impl Status {
    /// Every status, in table order.
    pub const ALL: [Status; 9] = [
        Status::Poweroff,
        Status::ToolError,
        Status::Usage,
        Status::Reboot,
        Status::Crash,
        Status::Refused,
        Status::HypervisorFailure,
        Status::QemuFailure,
        Status::Timeout,
    ];

    /// The process exit status.
    pub fn code(self) -> i32 {
        match self {
            Status::Poweroff => 0,
            Status::ToolError => 1,
            Status::Usage => 2,
            Status::Reboot => 3,
            Status::Crash => 4,
            Status::Refused => 5,
            Status::HypervisorFailure => 6,
            Status::QemuFailure => 7,
            Status::Timeout => 124,
        }
    }

    /// One line for the table.
    pub fn meaning(self) -> &'static str {
        match self {
            Status::Poweroff => "the guest powered off",
            Status::ToolError => "hvtool failed (build error, I/O error)",
            Status::Usage => "usage error (bad option, unknown guest, missing file)",
            Status::Reboot => "the guest asked for a reboot",
            Status::Crash => "the guest crashed",
            Status::Refused => "the hypervisor refused the kernel or its configuration",
            Status::HypervisorFailure => "the hypervisor failed",
            Status::QemuFailure => "QEMU failed (could not start, or ended unexpectedly)",
            Status::Timeout => "timed out (--timeout)",
        }
    }

    /// The table of every status, one `  CODE  meaning` line each.
    pub fn table() -> String {
        Status::ALL
            .iter()
            .map(|s| format!("  {:>3}  {}\n", s.code(), s.meaning()))
            .collect()
    }
}

impl From<Outcome> for Status {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Poweroff | Outcome::Stopped => Status::Poweroff,
            Outcome::Reboot => Status::Reboot,
            Outcome::Crash => Status::Crash,
            Outcome::Refused => Status::Refused,
            Outcome::HypervisorFailure | Outcome::MachineReset => Status::HypervisorFailure,
            Outcome::QemuFailure | Outcome::Other(_) => Status::QemuFailure,
            Outcome::Timeout => Status::Timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_code() {
        let mut codes: Vec<i32> = Status::ALL.iter().map(|s| s.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Status::ALL.len());
    }

    #[test]
    fn qemu_statuses_decode_to_distinct_outcomes() {
        // isa-debug-exit statuses (hv/src/arch/exit.rs) and QEMU's own.
        let cases = [
            (Some(5), Outcome::Poweroff, Status::Poweroff),
            (Some(3), Outcome::Reboot, Status::Reboot),
            (Some(7), Outcome::Crash, Status::Crash),
            (Some(9), Outcome::Refused, Status::Refused),
            (
                Some(253),
                Outcome::HypervisorFailure,
                Status::HypervisorFailure,
            ),
            (Some(0), Outcome::MachineReset, Status::HypervisorFailure),
            (Some(1), Outcome::QemuFailure, Status::QemuFailure),
            (Some(42), Outcome::Other(42), Status::QemuFailure),
            (None, Outcome::Other(-1), Status::QemuFailure),
        ];
        for (code, outcome, status) in cases {
            assert_eq!(Outcome::from_status(code), outcome, "QEMU status {code:?}");
            assert_eq!(Status::from(outcome), status, "{outcome:?}");
        }
    }

    #[test]
    fn the_readme_documents_every_status() {
        let readme = std::fs::read_to_string(crate::artifacts::workspace_root().join("README.md"))
            .expect("README.md");
        for s in Status::ALL {
            let row = format!("| {} | {} |", s.code(), s.meaning());
            assert!(readme.contains(&row), "README lacks the row {row:?}");
        }
    }
}
