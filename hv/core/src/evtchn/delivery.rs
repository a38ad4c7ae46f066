//! Delivering events through a guest's `shared_info` (2-level ABI).
//!
//! The bits live in guest memory, so the core never touches them directly: the platform
//! implements [`EventBits`] over one domain's `shared_info` page (and its registered
//! `vcpu_info`s) with atomic bit operations, and [`SharedInfoPages`] to find that page by domain.
//!
//! ```text
//!  shared_info.evtchn_pending[64]   bit p        set by the hypervisor, cleared by the guest
//!  shared_info.evtchn_mask[64]      bit p        guest's per-port mask
//!  vcpu_info.evtchn_pending_sel     bit p/64     "word p/64 has news" for that vCPU
//!  vcpu_info.evtchn_upcall_pending  byte         "some selector bit is set": take an upcall
//! ```
//!
//! Xen's rule, in order: set the port's pending bit; only if it went 0→1 and the port is not
//! masked, set the selector bit of the notified vCPU; only if that went 0→1, set
//! `evtchn_upcall_pending`; only if *that* went 0→1 must the vCPU be kicked (woken, or made to
//! take the upcall on its next return to guest). Unmasking redoes the last two steps for a port
//! that is still pending.

use super::types::{DomId, Port, VcpuId};

/// Atomic access to the event bits of one domain's `shared_info` and `vcpu_info`s.
///
/// The core only calls these with `port.0 < NR_PORTS` and a `vcpu` that exists in the domain.
/// Every `test_and_*` method returns the bit's value *before* the operation. The platform must
/// use atomic (locked) operations: the guest changes the same words concurrently.
pub trait EventBits {
    /// Sets `evtchn_pending[port]`; returns the old value.
    fn test_and_set_pending(&mut self, port: Port) -> bool;
    /// Clears `evtchn_pending[port]`.
    fn clear_pending(&mut self, port: Port);
    /// Reads `evtchn_pending[port]`.
    fn test_pending(&self, port: Port) -> bool;
    /// Reads `evtchn_mask[port]`.
    fn test_mask(&self, port: Port) -> bool;
    /// Clears `evtchn_mask[port]`; returns the old value.
    fn test_and_clear_mask(&mut self, port: Port) -> bool;
    /// Sets bit `word` of `vcpu`'s `evtchn_pending_sel`; returns the old value.
    fn test_and_set_pending_sel(&mut self, vcpu: VcpuId, word: u32) -> bool;
    /// Sets `vcpu`'s `evtchn_upcall_pending`; returns the old value.
    fn test_and_set_upcall_pending(&mut self, vcpu: VcpuId) -> bool;
    /// Sets bit `word` of `vcpu`'s `evtchn_pending_sel` and, if it was clear, `vcpu`'s
    /// `evtchn_upcall_pending`; returns whether either was already set (no upcall to kick).
    /// An implementation may override this to find the vCPU's words once.
    fn test_and_set_sel_then_upcall(&mut self, vcpu: VcpuId, word: u32) -> bool {
        self.test_and_set_pending_sel(vcpu, word) || self.test_and_set_upcall_pending(vcpu)
    }
}

impl<T: EventBits + ?Sized> EventBits for &mut T {
    fn test_and_set_pending(&mut self, port: Port) -> bool {
        (**self).test_and_set_pending(port)
    }
    fn clear_pending(&mut self, port: Port) {
        (**self).clear_pending(port)
    }
    fn test_pending(&self, port: Port) -> bool {
        (**self).test_pending(port)
    }
    fn test_mask(&self, port: Port) -> bool {
        (**self).test_mask(port)
    }
    fn test_and_clear_mask(&mut self, port: Port) -> bool {
        (**self).test_and_clear_mask(port)
    }
    fn test_and_set_pending_sel(&mut self, vcpu: VcpuId, word: u32) -> bool {
        (**self).test_and_set_pending_sel(vcpu, word)
    }
    fn test_and_set_upcall_pending(&mut self, vcpu: VcpuId) -> bool {
        (**self).test_and_set_upcall_pending(vcpu)
    }
    fn test_and_set_sel_then_upcall(&mut self, vcpu: VcpuId, word: u32) -> bool {
        (**self).test_and_set_sel_then_upcall(vcpu, word)
    }
}

/// Finds the event bits of a domain. `None` means the domain has no `shared_info` the
/// hypervisor can reach (it is being built or torn down); events for it are then dropped.
pub trait SharedInfoPages {
    /// The accessor for one domain, e.g. a small struct holding the page's address, or
    /// `&mut T` for an accessor stored elsewhere.
    type Bits<'a>: EventBits
    where
        Self: 'a;

    /// The event bits of `dom`.
    fn event_bits(&mut self, dom: DomId) -> Option<Self::Bits<'_>>;
}

/// What raising a port did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The port was already pending: nothing changed.
    AlreadyPending,
    /// The port became pending, but no kick is needed: it is masked, or the vCPU already had
    /// the selector bit or `evtchn_upcall_pending` set.
    Pending,
    /// `evtchn_upcall_pending` went 0→1: the platform must kick the vCPU.
    Kick,
    /// The domain has no reachable `shared_info`; the event was dropped.
    NoSharedInfo,
}

/// Raises `port` towards `vcpu` by Xen's 2-level rule (module doc).
///
/// Pre: `port` and `vcpu` are valid for the domain owning `bits`.
/// Post: pending bit set; selector and upcall flag set if the port is unmasked.
pub fn set_pending(bits: &mut impl EventBits, port: Port, vcpu: VcpuId) -> Delivery {
    if bits.test_and_set_pending(port) {
        return Delivery::AlreadyPending;
    }
    if bits.test_mask(port) {
        return Delivery::Pending;
    }
    mark_selector(bits, port, vcpu)
}

/// Unmasks `port` and, if it was masked and is pending, redoes the selector/upcall steps
/// towards `vcpu`. Returns whether the vCPU must be kicked.
///
/// Pre: `port` and `vcpu` are valid for the domain owning `bits`.
/// Post: mask bit clear.
pub fn unmask(bits: &mut impl EventBits, port: Port, vcpu: VcpuId) -> bool {
    bits.test_and_clear_mask(port)
        && bits.test_pending(port)
        && mark_selector(bits, port, vcpu) == Delivery::Kick
}

fn mark_selector(bits: &mut impl EventBits, port: Port, vcpu: VcpuId) -> Delivery {
    if bits.test_and_set_sel_then_upcall(vcpu, port.word()) {
        Delivery::Pending
    } else {
        Delivery::Kick
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::FakeSharedInfo;
    use super::*;

    #[test]
    fn first_raise_kicks_second_does_not() {
        let mut si = FakeSharedInfo::new(2);
        assert_eq!(set_pending(&mut si, Port(70), VcpuId(1)), Delivery::Kick);
        assert!(si.pending(70));
        assert_eq!(si.sel[1], 1 << 1);
        assert!(si.upcall[1]);
        assert_eq!(
            set_pending(&mut si, Port(70), VcpuId(1)),
            Delivery::AlreadyPending
        );
        // Another port in another word: selector bit new, upcall already pending.
        assert_eq!(set_pending(&mut si, Port(3), VcpuId(1)), Delivery::Pending);
        assert_eq!(si.sel[1], 0b11);
    }

    #[test]
    fn masked_port_is_pending_without_selector() {
        let mut si = FakeSharedInfo::new(1);
        si.set_mask(5, true);
        assert_eq!(set_pending(&mut si, Port(5), VcpuId(0)), Delivery::Pending);
        assert!(si.pending(5));
        assert_eq!(si.sel[0], 0);
        assert!(!si.upcall[0]);
        // Unmask re-delivers.
        assert!(unmask(&mut si, Port(5), VcpuId(0)));
        assert!(!si.masked(5));
        assert_eq!(si.sel[0], 1);
        assert!(si.upcall[0]);
    }

    #[test]
    fn unmask_of_unmasked_or_idle_port_does_nothing() {
        let mut si = FakeSharedInfo::new(1);
        assert!(!unmask(&mut si, Port(9), VcpuId(0)));
        si.set_mask(9, true);
        assert!(!unmask(&mut si, Port(9), VcpuId(0)));
        assert_eq!(si.sel[0], 0);
        // Pending but never masked: the guest already saw it; no re-delivery.
        si.set_pending(9, true);
        assert!(!unmask(&mut si, Port(9), VcpuId(0)));
        assert_eq!(si.sel[0], 0);
    }
}
