//! Xen error numbers (`xen/include/public/errno.h`).
//!
//! Hypercalls return `0` (or a non-negative count) on success and the *negated* errno on
//! failure, in `rax`. The values follow x86 Linux, so a Linux guest can hand them straight to
//! its own error paths. The constants here are the positive values; [`neg`] makes the
//! hypercall return value and [`name`] turns a value back into its symbol for log lines.
//!
//! `EINTR` and `ERESTART` exist in Xen only for internal use (continuations) and must never
//! reach a guest; they are listed so log lines can name them.

/// Operation not permitted.
pub const EPERM: i32 = 1;
/// No such file or directory (e.g. unknown xenstore path, absent grant entry).
pub const ENOENT: i32 = 2;
/// No such process (e.g. unknown domain id).
pub const ESRCH: i32 = 3;
/// Interrupted system call. Xen-internal only: never returned to a guest.
pub const EINTR: i32 = 4;
/// I/O error.
pub const EIO: i32 = 5;
/// No such device or address.
pub const ENXIO: i32 = 6;
/// Argument list too long.
pub const E2BIG: i32 = 7;
/// Exec format error.
pub const ENOEXEC: i32 = 8;
/// Bad file number (e.g. bad event-channel port).
pub const EBADF: i32 = 9;
/// No child processes.
pub const ECHILD: i32 = 10;
/// Try again.
pub const EAGAIN: i32 = 11;
/// Operation would block; alias of [`EAGAIN`].
pub const EWOULDBLOCK: i32 = EAGAIN;
/// Out of memory.
pub const ENOMEM: i32 = 12;
/// Permission denied.
pub const EACCES: i32 = 13;
/// Bad address (a guest buffer could not be copied in or out).
pub const EFAULT: i32 = 14;
/// Device or resource busy (e.g. a page still in use with another type).
pub const EBUSY: i32 = 16;
/// File exists (e.g. something already registered).
pub const EEXIST: i32 = 17;
/// Cross-device link.
pub const EXDEV: i32 = 18;
/// No such device.
pub const ENODEV: i32 = 19;
/// Not a directory.
pub const ENOTDIR: i32 = 20;
/// Is a directory.
pub const EISDIR: i32 = 21;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// File table overflow.
pub const ENFILE: i32 = 23;
/// Too many open files.
pub const EMFILE: i32 = 24;
/// No space left (e.g. no free event-channel port).
pub const ENOSPC: i32 = 28;
/// Read-only file system.
pub const EROFS: i32 = 30;
/// Too many links.
pub const EMLINK: i32 = 31;
/// Math argument out of domain of function.
pub const EDOM: i32 = 33;
/// Math result not representable.
pub const ERANGE: i32 = 34;
/// Resource deadlock would occur.
pub const EDEADLK: i32 = 35;
/// Alias of [`EDEADLK`].
pub const EDEADLOCK: i32 = EDEADLK;
/// File name too long.
pub const ENAMETOOLONG: i32 = 36;
/// No record locks available.
pub const ENOLCK: i32 = 37;
/// Function not implemented: unknown hypercall or sub-operation.
pub const ENOSYS: i32 = 38;
/// Directory not empty.
pub const ENOTEMPTY: i32 = 39;
/// No data available.
pub const ENODATA: i32 = 61;
/// Timer expired (e.g. `VCPU_SSHOTTMR_future` with a deadline in the past).
pub const ETIME: i32 = 62;
/// Not a data message.
pub const EBADMSG: i32 = 74;
/// Value too large for defined data type.
pub const EOVERFLOW: i32 = 75;
/// Illegal byte sequence.
pub const EILSEQ: i32 = 84;
/// Call should be restarted. Xen-internal only: never returned to a guest.
pub const ERESTART: i32 = 85;
/// Socket operation on non-socket.
pub const ENOTSOCK: i32 = 88;
/// Message too large.
pub const EMSGSIZE: i32 = 90;
/// Operation not supported (e.g. `MMUEXT_MARK_SUPER` in Xen since 2017).
pub const EOPNOTSUPP: i32 = 95;
/// Address already in use.
pub const EADDRINUSE: i32 = 98;
/// Cannot assign requested address.
pub const EADDRNOTAVAIL: i32 = 99;
/// No buffer space available.
pub const ENOBUFS: i32 = 105;
/// Transport endpoint is already connected.
pub const EISCONN: i32 = 106;
/// Transport endpoint is not connected.
pub const ENOTCONN: i32 = 107;
/// Connection timed out.
pub const ETIMEDOUT: i32 = 110;
/// Connection refused.
pub const ECONNREFUSED: i32 = 111;

/// Every distinct errno value with its symbol, sorted by value. Aliases
/// ([`EWOULDBLOCK`], [`EDEADLOCK`]) are not listed separately; their value names the
/// primary symbol.
pub const ALL: &[(i32, &str)] = &[
    (EPERM, "EPERM"),
    (ENOENT, "ENOENT"),
    (ESRCH, "ESRCH"),
    (EINTR, "EINTR"),
    (EIO, "EIO"),
    (ENXIO, "ENXIO"),
    (E2BIG, "E2BIG"),
    (ENOEXEC, "ENOEXEC"),
    (EBADF, "EBADF"),
    (ECHILD, "ECHILD"),
    (EAGAIN, "EAGAIN"),
    (ENOMEM, "ENOMEM"),
    (EACCES, "EACCES"),
    (EFAULT, "EFAULT"),
    (EBUSY, "EBUSY"),
    (EEXIST, "EEXIST"),
    (EXDEV, "EXDEV"),
    (ENODEV, "ENODEV"),
    (ENOTDIR, "ENOTDIR"),
    (EISDIR, "EISDIR"),
    (EINVAL, "EINVAL"),
    (ENFILE, "ENFILE"),
    (EMFILE, "EMFILE"),
    (ENOSPC, "ENOSPC"),
    (EROFS, "EROFS"),
    (EMLINK, "EMLINK"),
    (EDOM, "EDOM"),
    (ERANGE, "ERANGE"),
    (EDEADLK, "EDEADLK"),
    (ENAMETOOLONG, "ENAMETOOLONG"),
    (ENOLCK, "ENOLCK"),
    (ENOSYS, "ENOSYS"),
    (ENOTEMPTY, "ENOTEMPTY"),
    (ENODATA, "ENODATA"),
    (ETIME, "ETIME"),
    (EBADMSG, "EBADMSG"),
    (EOVERFLOW, "EOVERFLOW"),
    (EILSEQ, "EILSEQ"),
    (ERESTART, "ERESTART"),
    (ENOTSOCK, "ENOTSOCK"),
    (EMSGSIZE, "EMSGSIZE"),
    (EOPNOTSUPP, "EOPNOTSUPP"),
    (EADDRINUSE, "EADDRINUSE"),
    (EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (ENOBUFS, "ENOBUFS"),
    (EISCONN, "EISCONN"),
    (ENOTCONN, "ENOTCONN"),
    (ETIMEDOUT, "ETIMEDOUT"),
    (ECONNREFUSED, "ECONNREFUSED"),
];

/// The hypercall return value for a failure with the positive `errno`: `-errno`.
///
/// `neg(EINVAL) == -22`. Write it to the guest's `rax` as `neg(e) as u64`.
pub const fn neg(errno: i32) -> i64 {
    -(errno as i64)
}

/// The symbol of a positive errno value (`name(22) == Some("EINVAL")`), or `None` if Xen
/// defines no such value. Aliases resolve to their primary symbol (`EAGAIN`, `EDEADLK`).
pub fn name(errno: i32) -> Option<&'static str> {
    ALL.iter()
        .find(|(value, _)| *value == errno)
        .map(|(_, symbol)| *symbol)
}

/// The symbol of a hypercall return value if it is a negated Xen errno
/// (`name_of_return(-38) == Some("ENOSYS")`); `None` for success values and unknown codes.
pub fn name_of_return(ret: i64) -> Option<&'static str> {
    let errno = i32::try_from(ret.checked_neg()?).ok()?;
    name(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neg_negates() {
        assert_eq!(neg(EINVAL), -22);
        assert_eq!(neg(ENOSYS), -38);
        assert_eq!(neg(EOPNOTSUPP) as u64, (-95i64) as u64);
    }

    #[test]
    fn names_known_values() {
        assert_eq!(name(EPERM), Some("EPERM"));
        assert_eq!(name(EINVAL), Some("EINVAL"));
        assert_eq!(name(EOPNOTSUPP), Some("EOPNOTSUPP"));
        assert_eq!(name(ECONNREFUSED), Some("ECONNREFUSED"));
        assert_eq!(name(EWOULDBLOCK), Some("EAGAIN"));
        assert_eq!(name(EDEADLOCK), Some("EDEADLK"));
    }

    #[test]
    fn unknown_values_have_no_name() {
        for value in [0, -1, 15, 25, 96, 112, i32::MIN, i32::MAX] {
            assert_eq!(name(value), None, "{value}");
        }
    }

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in ALL.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} then {:?}", pair[0], pair[1]);
        }
        assert_eq!(ALL.len(), 49);
    }

    #[test]
    fn return_values() {
        assert_eq!(name_of_return(neg(ENOSYS)), Some("ENOSYS"));
        assert_eq!(name_of_return(0), None);
        assert_eq!(name_of_return(5), None);
        assert_eq!(name_of_return(i64::MIN), None);
        assert_eq!(name_of_return(-(1 << 40)), None);
    }
}
