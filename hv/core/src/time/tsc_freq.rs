//! The TSC frequency as the CPU itself states it, for machines without a PIT to calibrate
//! against: CPUID leaf 0x15 (TSC/crystal ratio × crystal Hz), else leaf 0x16 (base MHz).
//!
//! Both leaves are optional and often partly zero (leaf 0x15 without the crystal frequency on
//! many parts, neither under most emulators), so the answer is `None` unless the leaf gives
//! every number it needs and the result is plausible.

/// Lowest TSC frequency believed (100 MHz): anything below is a broken leaf.
pub const MIN_TSC_HZ: u64 = 100_000_000;

/// Highest TSC frequency believed (20 GHz).
pub const MAX_TSC_HZ: u64 = 20_000_000_000;

/// TSC Hz from leaf 0x15 (`[eax, ebx, ecx, edx]`: denominator, numerator, crystal Hz) and
/// leaf 0x16 (`eax`: base MHz); `max_leaf` is leaf 0's `eax` (leaves above it are not valid).
pub fn tsc_hz_from_cpuid(max_leaf: u32, leaf15: [u32; 4], leaf16: [u32; 4]) -> Option<u64> {
    let plausible = |hz: u64| (MIN_TSC_HZ..=MAX_TSC_HZ).contains(&hz).then_some(hz);
    if max_leaf >= 0x15 {
        let [den, num, crystal, _] = leaf15;
        if den != 0 && num != 0 && crystal != 0 {
            if let Some(hz) = plausible(u64::from(crystal) * u64::from(num) / u64::from(den)) {
                return Some(hz);
            }
        }
    }
    if max_leaf >= 0x16 {
        return plausible(u64::from(leaf16[0] & 0xFFFF) * 1_000_000);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf15_with_a_crystal_wins() {
        // 24 MHz crystal, ratio 188/2: 2.256 GHz.
        let hz = tsc_hz_from_cpuid(0x16, [2, 188, 24_000_000, 0], [2000, 0, 0, 0]);
        assert_eq!(hz, Some(2_256_000_000));
    }

    #[test]
    fn leaf16_when_leaf15_has_no_crystal() {
        let hz = tsc_hz_from_cpuid(0x16, [2, 188, 0, 0], [2400, 3800, 100, 0]);
        assert_eq!(hz, Some(2_400_000_000));
    }

    #[test]
    fn leaves_above_the_maximum_or_implausible_are_ignored() {
        assert_eq!(
            tsc_hz_from_cpuid(0x14, [2, 188, 24_000_000, 0], [2400, 0, 0, 0]),
            None
        );
        assert_eq!(tsc_hz_from_cpuid(0x15, [0, 0, 0, 0], [2400, 0, 0, 0]), None);
        assert_eq!(tsc_hz_from_cpuid(0x16, [0, 0, 0, 0], [0, 0, 0, 0]), None);
        assert_eq!(
            tsc_hz_from_cpuid(0x16, [1, 1, 1000, 0], [50, 0, 0, 0]),
            None
        );
    }
}
