//! Serial input with more than one listener: three Ctrl-A in a row move the input focus to
//! the next domain and, after the last, to the hypervisor's own debug keys (Xen's
//! `conswitch`). One or two Ctrl-A followed by anything else are passed on as typed.
//!
//! ```text
//!  focus: d1 ──3×^A──▶ d2 ──3×^A──▶ … ──3×^A──▶ hypervisor ──3×^A──▶ d1
//! ```
//!
//! Debug keys while the hypervisor has the focus:
//!
//! | keys | action |
//! |---|---|
//! | `h` | list the keys |
//! | `l` | list the domains (id, name, state, memory, superpages, CPU time) |
//! | `d` *id* Enter | destroy domain *id* |
//!
//! Pure: bytes in, [`Input`] out; the caller owns the domains and the serial port.

/// Ctrl-A.
pub const SWITCH_CHAR: u8 = 0x01;
/// How many in a row switch the focus.
pub const SWITCH_COUNT: u8 = 3;

/// What a typed byte amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A byte for whoever has the focus (a held-back Ctrl-A is given back this way too).
    Byte(u8),
    /// Move the focus on.
    Switch,
}

/// Counts Ctrl-As; see the module doc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Switcher {
    held: u8,
}

impl Switcher {
    /// Feeds one typed byte; `out` receives what it amounts to, in order (at most three).
    pub fn feed(&mut self, b: u8, out: &mut impl FnMut(Input)) {
        if b == SWITCH_CHAR {
            self.held += 1;
            if self.held == SWITCH_COUNT {
                self.held = 0;
                out(Input::Switch);
            }
            return;
        }
        for _ in 0..core::mem::take(&mut self.held) {
            out(Input::Byte(SWITCH_CHAR));
        }
        out(Input::Byte(b));
    }
}

/// A debug-key command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugCommand {
    /// Print the key list.
    Help,
    /// List the domains.
    List,
    /// Print every live domain's hypervisor profile.
    Profile,
    /// Print every live domain's MMU counters (`MMSTAT` lines).
    MmStats,
    /// Destroy this domain.
    Destroy(u16),
    /// A key or a number that means nothing: print the key list.
    Unknown,
}

/// Reads debug keys; `d` collects digits up to Enter.
#[derive(Clone, Copy, Debug, Default)]
pub struct DebugKeys {
    /// `Some(id so far)` while a `d` command is being typed.
    destroy: Option<Option<u16>>,
}

impl DebugKeys {
    /// Feeds one byte; returns a command when one is complete.
    pub fn feed(&mut self, b: u8) -> Option<DebugCommand> {
        if let Some(id) = self.destroy {
            return match b {
                b'0'..=b'9' => {
                    // Too large a number names no domain; saturating keeps it that way.
                    let digit = u16::from(b - b'0');
                    let next = id.unwrap_or(0).saturating_mul(10).saturating_add(digit);
                    self.destroy = Some(Some(next));
                    None
                }
                b'\r' | b'\n' => {
                    self.destroy = None;
                    Some(id.map_or(DebugCommand::Unknown, DebugCommand::Destroy))
                }
                b' ' => None,
                _ => {
                    self.destroy = None;
                    Some(DebugCommand::Unknown)
                }
            };
        }
        match b {
            b'h' | b'?' => Some(DebugCommand::Help),
            b'l' => Some(DebugCommand::List),
            b'c' => Some(DebugCommand::Profile),
            b'm' => Some(DebugCommand::MmStats),
            b'd' => {
                self.destroy = Some(None);
                None
            }
            b'\r' | b'\n' | b' ' => None,
            _ => Some(DebugCommand::Unknown),
        }
    }
}

/// The key list shown for `h`.
pub const HELP: &str =
    "debug keys: h = this list, l = list domains, c = hypervisor profiles, m = MMU counters, d ID Enter = destroy domain ID; 3 x Ctrl-A = next console";

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn feed_all(bytes: &[u8]) -> Vec<Input> {
        let mut s = Switcher::default();
        let mut out = Vec::new();
        for &b in bytes {
            s.feed(b, &mut |i| out.push(i));
        }
        out
    }

    #[test]
    fn three_ctrl_a_switch_fewer_pass_through() {
        use Input::*;
        assert_eq!(feed_all(b"ab"), [Byte(b'a'), Byte(b'b')]);
        assert_eq!(feed_all(&[1, 1, 1]), [Switch]);
        assert_eq!(
            feed_all(&[1, 1, 1, 1, 1, 1, b'x']),
            [Switch, Switch, Byte(b'x')]
        );
        assert_eq!(feed_all(&[1, b'x']), [Byte(1), Byte(b'x')]);
        assert_eq!(feed_all(&[1, 1, b'x', 1]), [Byte(1), Byte(1), Byte(b'x')]);
        // Held Ctrl-As are not lost if a switch follows them later.
        assert_eq!(
            feed_all(&[1, 1, 1, 1, 1, b'q']),
            [Switch, Byte(1), Byte(1), Byte(b'q')]
        );
    }

    fn keys(bytes: &[u8]) -> Vec<DebugCommand> {
        let mut k = DebugKeys::default();
        bytes.iter().filter_map(|&b| k.feed(b)).collect()
    }

    #[test]
    fn debug_keys() {
        use DebugCommand::*;
        assert_eq!(keys(b"h l ? c m"), [Help, List, Help, Profile, MmStats]);
        assert_eq!(keys(b"d12\r"), [Destroy(12)]);
        assert_eq!(keys(b"d 3\n"), [Destroy(3)]);
        assert_eq!(keys(b"d\r"), [Unknown]);
        assert_eq!(keys(b"dx"), [Unknown]);
        assert_eq!(keys(b"d99999999\rl"), [Destroy(u16::MAX), List]);
        assert_eq!(keys(b"z"), [Unknown]);
    }
}
