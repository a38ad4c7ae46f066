//! The CMOS real-time clock, read once at boot for the guests' wallclock.

use super::cpu;

fn read(reg: u8) -> u8 {
    cpu::outb(0x70, reg);
    cpu::inb(0x71)
}

fn bcd(v: u8) -> u8 {
    (v & 0x0F) + (v >> 4) * 10
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch now, from the RTC (UTC assumed).
pub fn unix_time() -> u64 {
    // Wait until no update is in progress, then read twice until stable.
    let sample = || {
        let mut spins = 0;
        while read(0x0A) & 0x80 != 0 && spins < 1_000_000 {
            spins += 1;
        }
        [
            read(0x00),
            read(0x02),
            read(0x04),
            read(0x07),
            read(0x08),
            read(0x09),
            read(0x32),
        ]
    };
    let mut a = sample();
    for _ in 0..5 {
        let b = sample();
        if a == b {
            break;
        }
        a = b;
    }
    let status_b = read(0x0B);
    let conv = |v: u8| if status_b & 0x04 == 0 { bcd(v) } else { v };
    let [s, mi, h, d, mo, y, c] = a;
    let hour = if status_b & 0x02 == 0 && h & 0x80 != 0 {
        (conv(h & 0x7F) % 12) + 12
    } else {
        conv(h & 0x7F)
    };
    let century = match conv(c) {
        19..=30 => i64::from(conv(c)),
        _ => 20,
    };
    let year = century * 100 + i64::from(conv(y));
    let days = days_from_civil(year, i64::from(conv(mo)), i64::from(conv(d)));
    let secs =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(conv(mi)) * 60 + i64::from(conv(s));
    secs.max(0) as u64
}
