//! Which hypercalls can never make a timer deadline earlier, so the scheduler may keep the
//! LAPIC timer as last programmed on the way back to the guest (under emulation a re-arm is
//! an exit to the device model that also wakes its timer thread).

use pv_abi::vcpu::*;
use pv_abi::xen::hypercall as nr;

/// Whether hypercall `number` with first argument `arg0` can never make a timer deadline
/// earlier: no guest timer, poll timeout or toolstack action is set by it (waking a vCPU or
/// stopping a timer only removes deadlines; an early tick only re-arms). For `vcpu_op`
/// (`arg0` = command) only the timer-setting and vCPU up/down/NMI commands can: Linux asks
/// `VCPUOP_is_up` once per possible CPU (8192 times) while booting.
#[inline]
pub fn timer_neutral(number: u64, arg0: u64) -> bool {
    // Bit sets, not a `match`: the answer is stored, not branched on, and the exit path runs
    // it on every hypercall (each branch is a block under QEMU's TCG).
    let plain = (number < 64) & ((NEUTRAL_HYPERCALLS >> (number % 64)) & 1 != 0);
    let vcpu_op =
        (number == nr::VCPU_OP) & (arg0 < 64) & ((NEUTRAL_VCPU_OPS >> (arg0 % 64)) & 1 != 0);
    plain | vcpu_op
}

/// The bit set of `numbers` (each below 64, checked at compile time).
const fn bits(numbers: &[u64]) -> u64 {
    let mut set = 0;
    let mut i = 0;
    while i < numbers.len() {
        assert!(numbers[i] < 64);
        set |= 1 << numbers[i];
        i += 1;
    }
    set
}

/// Hypercalls that never make a deadline earlier (`vcpu_op` is decided by its command).
const NEUTRAL_HYPERCALLS: u64 = bits(&[
    nr::XEN_VERSION,
    nr::IRET,
    nr::MMU_UPDATE,
    nr::MMUEXT_OP,
    nr::UPDATE_VA_MAPPING,
    nr::CONSOLE_IO,
    nr::EVENT_CHANNEL_OP,
    nr::GRANT_TABLE_OP,
    nr::FPU_TASKSWITCH,
    nr::SET_SEGMENT_BASE,
    nr::STACK_SWITCH,
]);

/// `vcpu_op` commands that never make a deadline earlier.
const NEUTRAL_VCPU_OPS: u64 = bits(&[
    VCPUOP_IS_UP as u64,
    VCPUOP_GET_RUNSTATE_INFO as u64,
    VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA as u64,
    VCPUOP_STOP_PERIODIC_TIMER as u64,
    VCPUOP_STOP_SINGLESHOT_TIMER as u64,
    VCPUOP_REGISTER_VCPU_INFO as u64,
    VCPUOP_GET_PHYSID as u64,
    VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA as u64,
    VCPUOP_REGISTER_RUNSTATE_PHYS_AREA as u64,
    VCPUOP_REGISTER_VCPU_TIME_PHYS_AREA as u64,
]);

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as a `match` (the reference the bit sets must agree with).
    fn reference(number: u64, arg0: u64) -> bool {
        match number {
            nr::VCPU_OP => u32::try_from(arg0).is_ok_and(|cmd| {
                matches!(
                    cmd,
                    VCPUOP_IS_UP
                        | VCPUOP_GET_RUNSTATE_INFO
                        | VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA
                        | VCPUOP_STOP_PERIODIC_TIMER
                        | VCPUOP_STOP_SINGLESHOT_TIMER
                        | VCPUOP_REGISTER_VCPU_INFO
                        | VCPUOP_GET_PHYSID
                        | VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA
                        | VCPUOP_REGISTER_RUNSTATE_PHYS_AREA
                        | VCPUOP_REGISTER_VCPU_TIME_PHYS_AREA
                )
            }),
            nr::XEN_VERSION
            | nr::IRET
            | nr::MMU_UPDATE
            | nr::MMUEXT_OP
            | nr::UPDATE_VA_MAPPING
            | nr::CONSOLE_IO
            | nr::EVENT_CHANNEL_OP
            | nr::GRANT_TABLE_OP
            | nr::FPU_TASKSWITCH
            | nr::SET_SEGMENT_BASE
            | nr::STACK_SWITCH => true,
            _ => false,
        }
    }

    #[test]
    fn bit_sets_agree_with_the_rule_for_every_number_and_command() {
        let odd = [64, 65, 127, 128, 1 << 32, u64::MAX, u64::MAX - 1];
        let values = (0..200).chain(odd);
        for number in values.clone() {
            for arg0 in values.clone() {
                assert_eq!(
                    timer_neutral(number, arg0),
                    reference(number, arg0),
                    "hypercall {number} arg0 {arg0}"
                );
            }
        }
    }

    #[test]
    fn vcpu_op_queries_keep_the_timer_and_timer_setters_do_not() {
        assert!(timer_neutral(nr::VCPU_OP, u64::from(VCPUOP_IS_UP)));
        assert!(timer_neutral(
            nr::VCPU_OP,
            u64::from(VCPUOP_REGISTER_VCPU_INFO)
        ));
        assert!(timer_neutral(
            nr::VCPU_OP,
            u64::from(VCPUOP_STOP_SINGLESHOT_TIMER)
        ));
        for cmd in [
            VCPUOP_SET_SINGLESHOT_TIMER,
            VCPUOP_SET_PERIODIC_TIMER,
            VCPUOP_UP,
            VCPUOP_DOWN,
            VCPUOP_INITIALISE,
            VCPUOP_SEND_NMI,
        ] {
            assert!(!timer_neutral(nr::VCPU_OP, u64::from(cmd)), "cmd {cmd}");
        }
        // A command number beyond u32 is no known command: not neutral.
        assert!(!timer_neutral(
            nr::VCPU_OP,
            (1 << 32) | u64::from(VCPUOP_IS_UP)
        ));
    }

    #[test]
    fn timer_hypercalls_are_not_neutral_and_page_table_ones_are() {
        for n in [nr::SET_TIMER_OP, nr::SCHED_OP, nr::MULTICALL, nr::MEMORY_OP] {
            assert!(!timer_neutral(n, 0), "hypercall {n}");
        }
        for n in [
            nr::MMU_UPDATE,
            nr::MMUEXT_OP,
            nr::IRET,
            nr::EVENT_CHANNEL_OP,
        ] {
            assert!(
                timer_neutral(n, u64::from(VCPUOP_SET_SINGLESHOT_TIMER)),
                "hypercall {n}"
            );
        }
    }
}
