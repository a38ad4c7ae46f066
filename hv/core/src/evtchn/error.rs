//! The event-channel layer's error type and its mapping to the Xen errno that
//! `event_channel_op` returns for the same condition.

use pv_abi::errno::*;

/// Why an event-channel operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvtchnError {
    /// The named domain does not exist (`-ESRCH`).
    NoSuchDomain,
    /// The caller may not act on another domain's ports (`-EPERM`).
    NotPermitted,
    /// Port 0, a port ≥ 4096, or a port number that cannot be used here (`-EINVAL`).
    InvalidPort,
    /// The port's state does not allow the operation, e.g. closing a free port or binding to a
    /// port that is not unbound for the caller (`-EINVAL`).
    WrongState,
    /// VIRQ number ≥ `NR_VIRQS`, or a non-per-vCPU VIRQ named with a vCPU other than 0
    /// (`-EINVAL`).
    InvalidVirq,
    /// The vCPU does not exist in the domain (`-ENOENT`).
    NoSuchVcpu,
    /// The VIRQ is already bound on that vCPU (`-EEXIST`).
    VirqAlreadyBound,
    /// Every port of the domain is in use (`-ENOSPC`).
    NoFreePort,
    /// `create_domain` for an id that already has a table (`-EEXIST`).
    DomainExists,
    /// `create_domain` for a reserved id or with zero vCPUs (`-EINVAL`).
    InvalidDomain,
    /// `notify_from_backend` on a port that is not bound to a hypervisor backend (`-EINVAL`).
    NotBackend,
}

impl EvtchnError {
    /// The negative Xen errno `event_channel_op` returns for this error.
    pub fn to_errno(self) -> i32 {
        let positive = match self {
            EvtchnError::NoSuchDomain => ESRCH,
            EvtchnError::NotPermitted => EPERM,
            EvtchnError::InvalidPort
            | EvtchnError::WrongState
            | EvtchnError::InvalidVirq
            | EvtchnError::InvalidDomain
            | EvtchnError::NotBackend => EINVAL,
            EvtchnError::NoSuchVcpu => ENOENT,
            EvtchnError::VirqAlreadyBound | EvtchnError::DomainExists => EEXIST,
            EvtchnError::NoFreePort => ENOSPC,
        };
        -positive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_xen() {
        assert_eq!(EvtchnError::NoSuchDomain.to_errno(), -3);
        assert_eq!(EvtchnError::NotPermitted.to_errno(), -1);
        assert_eq!(EvtchnError::InvalidPort.to_errno(), -22);
        assert_eq!(EvtchnError::NoSuchVcpu.to_errno(), -2);
        assert_eq!(EvtchnError::VirqAlreadyBound.to_errno(), -17);
        assert_eq!(EvtchnError::NoFreePort.to_errno(), -28);
    }
}
