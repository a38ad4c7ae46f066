//! The PIT's channel 2 and the port-0x61 gate, as Xen emulates them for PV guests
//! (`pv_pit_handler`): Linux's `quick_pit_calibrate` and `pit_calibrate_tsc` program channel 2
//! and poll it; with all-ones reads the first loop would spin through 100,000 emulated `in`s
//! before giving up. Only ports 0x42, 0x43 and 0x61 are modelled; time is the hypervisor's
//! system time in ns, passed in by the caller.
//!
//! ```text
//!  0x43 write  SC(7:6)=2 RW(5:4) M(3:1) BCD(0): set the mode; RW=0 latches the count;
//!              SC=3 read-back: bit 3 (counter 2) with bit 5 clear latches the count
//!  0x42 r/w    count: LSB, MSB, or LSB then MSB (RW=3), flip-flop per direction
//!  0x61        bit 0 gate (write/read), bit 1 speaker (write/read), bit 4 refresh toggle,
//!              bit 5 OUT2 (read)
//!  counting    1,193,182 Hz while the gate is high; mode 0: reload → 0 then wraps, OUT
//!              high from terminal count; modes 2/3: periodic (OUT: 3 = square wave)
//! ```

/// PIT input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Channel 2's counter port.
pub const PORT_COUNTER2: u16 = 0x42;
/// The mode/command port.
pub const PORT_COMMAND: u16 = 0x43;
/// The NMI status and control port (speaker gate).
pub const PORT_SPEAKER: u16 = 0x61;

/// Whether `port` is one of the ports this model handles.
pub fn is_pit_port(port: u16) -> bool {
    matches!(port, PORT_COUNTER2 | PORT_COMMAND | PORT_SPEAKER)
}

/// Channel 2 and the gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pit2 {
    /// Access mode (1 LSB, 2 MSB, 3 LSB then MSB); 0 until programmed.
    access: u8,
    /// Counting mode 0..=5.
    mode: u8,
    /// The count loaded (0 = 65536).
    reload: u16,
    /// Whether a count was loaded since the mode was set.
    loaded: bool,
    /// The LSB written first in access mode 3.
    pending_lsb: Option<u8>,
    /// Whether the next access-mode-3 read returns the MSB.
    read_msb_next: bool,
    /// A latched count, if any.
    latched: Option<u16>,
    /// Ticks counted before the current run (gate-low pauses).
    ticks_before: u64,
    /// System time (ns) the current run started, while the gate is high and a count is loaded.
    running_since: Option<u64>,
    /// Port 0x61 bits 0 (gate) and 1 (speaker data).
    control: u8,
}

fn ticks(ns: u64) -> u64 {
    // u128: no overflow for any u64 ns.
    (u128::from(ns) * u128::from(PIT_HZ) / 1_000_000_000) as u64
}

impl Pit2 {
    fn gate(&self) -> bool {
        self.control & 1 != 0
    }

    fn elapsed(&self, now: u64) -> u64 {
        let run = self
            .running_since
            .map_or(0, |since| ticks(now.saturating_sub(since)));
        self.ticks_before.saturating_add(run)
    }

    fn period(&self) -> u64 {
        if self.reload == 0 {
            0x1_0000
        } else {
            u64::from(self.reload)
        }
    }

    /// The counter's value at `now`.
    pub fn count(&self, now: u64) -> u16 {
        if !self.loaded {
            return 0;
        }
        let t = self.elapsed(now);
        let period = self.period();
        let value = match self.mode {
            2 | 3 | 6 | 7 => period - t % period,
            // Mode 0 (and the one-shots): down from the reload, then wrapping.
            _ => period.wrapping_sub(t) & 0xFFFF,
        };
        value as u16
    }

    /// OUT2 at `now`.
    pub fn out(&self, now: u64) -> bool {
        if !self.loaded {
            return false;
        }
        let t = self.elapsed(now);
        let period = self.period();
        match self.mode {
            2 | 6 => t % period != period - 1,
            3 | 7 => t % period < period.div_ceil(2),
            _ => t >= period,
        }
    }

    fn start(&mut self, now: u64) {
        self.loaded = true;
        self.ticks_before = 0;
        self.running_since = self.gate().then_some(now);
    }

    /// A one-byte read of `port` at `now`.
    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        match port {
            PORT_SPEAKER => {
                let refresh = (now / 15_000) & 1 == 1;
                (self.control & 3)
                    | if refresh { 1 << 4 } else { 0 }
                    | if self.out(now) { 1 << 5 } else { 0 }
            }
            PORT_COUNTER2 => {
                let value = self.latched.unwrap_or_else(|| self.count(now));
                let [lsb, msb] = value.to_le_bytes();
                match self.access {
                    2 => {
                        self.latched = None;
                        msb
                    }
                    3 => {
                        let msb_now = self.read_msb_next;
                        self.read_msb_next = !msb_now;
                        if msb_now {
                            self.latched = None;
                            msb
                        } else {
                            lsb
                        }
                    }
                    _ => {
                        self.latched = None;
                        lsb
                    }
                }
            }
            _ => 0xFF,
        }
    }

    /// A one-byte write of `value` to `port` at `now`.
    pub fn write(&mut self, port: u16, value: u8, now: u64) {
        match port {
            PORT_SPEAKER => {
                let was = self.gate();
                self.control = value & 3;
                match (was, self.gate()) {
                    (false, true) if self.loaded => {
                        // Modes 1, 2, 3, 5 restart on a rising gate; mode 0 resumes.
                        if matches!(self.mode, 0 | 4) {
                            self.running_since = Some(now);
                        } else {
                            self.start(now);
                        }
                    }
                    (true, false) => {
                        self.ticks_before = self.elapsed(now);
                        self.running_since = None;
                    }
                    _ => {}
                }
            }
            PORT_COMMAND => self.command(value, now),
            PORT_COUNTER2 => match self.access {
                1 => {
                    self.reload = u16::from(value);
                    self.start(now);
                }
                2 => {
                    self.reload = u16::from(value) << 8;
                    self.start(now);
                }
                3 => match self.pending_lsb.take() {
                    None => self.pending_lsb = Some(value),
                    Some(lsb) => {
                        self.reload = u16::from_le_bytes([lsb, value]);
                        self.start(now);
                    }
                },
                _ => {}
            },
            _ => {}
        }
    }

    fn command(&mut self, value: u8, now: u64) {
        let channel = value >> 6;
        let access = (value >> 4) & 3;
        match channel {
            2 if access == 0 => {
                self.latched.get_or_insert(self.count(now));
            }
            2 => {
                self.access = access;
                self.mode = (value >> 1) & 7;
                self.loaded = false;
                self.running_since = None;
                self.ticks_before = 0;
                self.pending_lsb = None;
                self.read_msb_next = false;
                self.latched = None;
            }
            // Read-back: bit 5 clear = latch count, bit 3 = counter 2.
            3 if value & (1 << 5) == 0 && value & (1 << 3) != 0 => {
                self.latched.get_or_insert(self.count(now));
            }
            _ => {}
        }
    }
}

/// An allowed `in` of `size` bytes from `port` in a domain that holds no port (Xen's
/// `guest_io_read`): byte by byte, the PIT ports from the model, every other byte all ones.
pub fn guest_port_read(pit: &mut Pit2, port: u16, size: u8, now: u64) -> u32 {
    let mut value = 0u32;
    for i in 0..u16::from(size.min(4)) {
        let p = port.wrapping_add(i);
        let byte = if is_pit_port(p) {
            pit.read(p, now)
        } else {
            0xFF
        };
        value |= u32::from(byte) << (8 * i);
    }
    value
}

/// An allowed `out` (Xen's `guest_io_write`): PIT bytes go to the model, the rest is dropped.
pub fn guest_port_write(pit: &mut Pit2, port: u16, size: u8, value: u32, now: u64) {
    for i in 0..u16::from(size.min(4)) {
        let p = port.wrapping_add(i);
        if is_pit_port(p) {
            pit.write(p, (value >> (8 * i)) as u8, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ns for `n` PIT ticks (rounded up so `ticks(ns_for(n)) == n`).
    fn ns_for(n: u64) -> u64 {
        (n * 1_000_000_000).div_ceil(PIT_HZ)
    }

    /// Linux's sequence: gate high, speaker off; 0xb0 (ch 2, LSB+MSB, mode 0); 0xffff.
    fn programmed(now: u64) -> Pit2 {
        let mut p = Pit2::default();
        let v = p.read(PORT_SPEAKER, now);
        p.write(PORT_SPEAKER, (v & !2) | 1, now);
        p.write(PORT_COMMAND, 0xb0, now);
        p.write(PORT_COUNTER2, 0xff, now);
        p.write(PORT_COUNTER2, 0xff, now);
        p
    }

    fn read16(p: &mut Pit2, now: u64) -> u16 {
        let lsb = p.read(PORT_COUNTER2, now);
        let msb = p.read(PORT_COUNTER2, now);
        u16::from_le_bytes([lsb, msb])
    }

    #[test]
    fn mode0_counts_down_at_the_pit_rate() {
        let t0 = 1_000_000;
        let mut p = programmed(t0);
        assert_eq!(read16(&mut p, t0), 0xffff);
        assert_eq!(read16(&mut p, t0 + ns_for(256)), 0xffff - 256);
        // MSB moves every 256 ticks (what pit_expect_msb waits for).
        assert_eq!(p.read(PORT_COUNTER2, t0 + ns_for(0x200)), 0xff);
        assert_eq!(p.read(PORT_COUNTER2, t0 + ns_for(0x200)), 0xfd);
        assert!(!p.out(t0 + ns_for(0xfffe)));
        assert_eq!(p.read(PORT_SPEAKER, t0 + ns_for(0xfffe)) & 0x20, 0);
        assert_ne!(
            p.read(PORT_SPEAKER, t0 + ns_for(0xffff)) & 0x20,
            0,
            "OUT2 at terminal count"
        );
        // Wraps after the terminal count.
        assert_eq!(read16(&mut p, t0 + ns_for(0x1_0000)), 0xffff);
    }

    #[test]
    fn latch_holds_the_value_until_read() {
        let t0 = 5_000;
        let mut p = programmed(t0);
        p.write(PORT_COMMAND, 0x80, t0 + ns_for(10)); // latch ch 2
        assert_eq!(read16(&mut p, t0 + ns_for(500)), 0xffff - 10);
        assert_eq!(read16(&mut p, t0 + ns_for(500)), 0xffff - 500);
        // Read-back command: counter 2, latch count.
        p.write(PORT_COMMAND, 0xd8, t0 + ns_for(600));
        assert_eq!(read16(&mut p, t0 + ns_for(900)), 0xffff - 600);
    }

    #[test]
    fn the_gate_pauses_mode0_and_is_read_back() {
        let t0 = 0;
        let mut p = programmed(t0);
        assert_eq!(p.read(PORT_SPEAKER, t0) & 3, 1);
        p.write(PORT_SPEAKER, 0, t0 + ns_for(100));
        assert_eq!(read16(&mut p, t0 + ns_for(5000)), 0xffff - 100);
        p.write(PORT_SPEAKER, 1, t0 + ns_for(5000));
        assert_eq!(read16(&mut p, t0 + ns_for(5050)), 0xffff - 150);
    }

    #[test]
    fn pit_calibrate_tsc_sees_out2_after_its_latch() {
        // pit_calibrate_tsc: mode 0 with latch = 1193182 / 100 (10 ms), then polls bit 5.
        let t0 = 0;
        let latch = (PIT_HZ / 100) as u16;
        let mut p = Pit2::default();
        p.write(PORT_SPEAKER, 1, t0);
        p.write(PORT_COMMAND, 0xb0, t0);
        p.write(PORT_COUNTER2, latch as u8, t0);
        p.write(PORT_COUNTER2, (latch >> 8) as u8, t0);
        assert_eq!(p.read(PORT_SPEAKER, t0 + 9_000_000) & 0x20, 0);
        assert_ne!(p.read(PORT_SPEAKER, t0 + 10_001_000) & 0x20, 0);
    }

    #[test]
    fn wide_accesses_split_into_bytes() {
        let mut p = Pit2::default();
        // in %dx,%eax at 0x40: 0x40, 0x41 unmodelled, 0x42 counter (0), 0x43 write-only.
        assert_eq!(guest_port_read(&mut p, 0x40, 4, 0), 0xFF00_FFFF);
        assert_eq!(guest_port_read(&mut p, 0xcfc, 4, 0), 0xFFFF_FFFF);
        assert_eq!(guest_port_read(&mut p, 0xffff, 2, 0), 0xFFFF);
        guest_port_write(&mut p, 0x60, 2, 0x0100, 0); // 0x61 ← 1: gate on
        assert_eq!(p.read(PORT_SPEAKER, 0) & 1, 1);
    }

    #[test]
    fn unprogrammed_and_other_channels_are_harmless() {
        let mut p = Pit2::default();
        assert_eq!(p.read(PORT_COUNTER2, u64::MAX), 0);
        p.write(PORT_COMMAND, 0x34, 0); // channel 0: ignored
        p.write(PORT_COUNTER2, 0x12, u64::MAX);
        assert_eq!(p.count(u64::MAX), 0);
        p.write(PORT_COMMAND, 0xb6, 0); // ch 2, mode 3
        p.write(PORT_COUNTER2, 0, 0);
        p.write(PORT_COUNTER2, 0, 0); // 0 = 65536
        p.write(PORT_SPEAKER, 1, 0);
        let _ = p.count(u64::MAX);
        let _ = p.out(u64::MAX);
    }
}
