//! The one place where the stack's errors become `std::io::Error`s, with the
//! [`io::ErrorKind`] a std::net user would see for the same errno. The stack's error is kept
//! as the inner error, so `get_ref()`/`downcast` still reach it.

use oxnic_stack::ip_output::SendError;
use oxnic_stack::tcp::TcpError;
use oxnic_stack::udp::UdpError;
use oxnic_stack::wire::icmpv4::DstUnreachable;
use std::io;

/// Why building or starting a [`crate::Runtime`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An interface address or route prefix is not `a.b.c.d/len`.
    #[error("bad address {0:?}: expected a.b.c.d/len")]
    BadAddress(String),
    /// A route's gateway is on none of the interfaces' prefixes.
    #[error("gateway {0} is not on a connected prefix")]
    GatewayUnreachable(std::net::Ipv4Addr),
    /// The stack refused an address or route.
    #[error(transparent)]
    Stack(#[from] oxnic_stack::stack::StackError),
    /// The OS had no randomness for the ISN/SYN-cookie key.
    #[error("no OS randomness for the TCP secret: {0}")]
    Random(String),
    /// A poller thread could not be started.
    #[error("spawning a poller thread: {0}")]
    Spawn(#[source] io::Error),
}

impl From<RuntimeError> for io::Error {
    fn from(e: RuntimeError) -> Self {
        let kind = match &e {
            RuntimeError::BadAddress(_) => io::ErrorKind::InvalidInput,
            RuntimeError::GatewayUnreachable(_) => io::ErrorKind::NetworkUnreachable,
            RuntimeError::Stack(_) | RuntimeError::Random(_) => io::ErrorKind::Other,
            RuntimeError::Spawn(e) => e.kind(),
        };
        io::Error::new(kind, e)
    }
}

/// The kind a TCP error maps to (the errno Linux returns for the same condition).
pub fn tcp_error_kind(e: TcpError) -> io::ErrorKind {
    use io::ErrorKind as K;
    match e {
        TcpError::WouldBlock => K::WouldBlock,
        TcpError::AddrInUse => K::AddrInUse,
        TcpError::AddrNotAvailable | TcpError::NoFreePort => K::AddrNotAvailable,
        TcpError::ConnectionRefused => K::ConnectionRefused,
        TcpError::ConnectionReset => K::ConnectionReset,
        TcpError::TimedOut => K::TimedOut,
        TcpError::NotConnected | TcpError::IsListening => K::NotConnected,
        TcpError::BrokenPipe => K::BrokenPipe,
        TcpError::BadHandle
        | TcpError::NotListening
        | TcpError::Blackhole
        | TcpError::InvalidArgument => K::InvalidInput,
        TcpError::Prohibited => K::PermissionDenied,
        TcpError::Unreachable => K::HostUnreachable,
        TcpError::NetUnreachable => K::NetworkUnreachable,
        // EHOSTDOWN, ENONET, ENOPROTOOPT, EOPNOTSUPP and EPROTO have no kind of their own
        // in std (it calls them `Uncategorized`, which cannot be built outside it).
        TcpError::HostDown
        | TcpError::NoNetwork
        | TcpError::ProtocolUnavailable
        | TcpError::NotSupported
        | TcpError::ProtocolError => K::Other,
    }
}

/// An `IP_TTL` value as std passes it: 1 to 255, or `u32::MAX` (the -1 std passes on) for
/// the stack's default (`None`); anything else is `InvalidInput`, as Linux's EINVAL.
pub(crate) fn ttl_arg(ttl: u32) -> io::Result<Option<u8>> {
    match ttl {
        u32::MAX => Ok(None),
        1..=255 => Ok(Some(ttl as u8)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TTL must be 1 to 255",
        )),
    }
}

/// A TCP error as an `io::Error`.
pub fn tcp_error(e: TcpError) -> io::Error {
    io::Error::new(tcp_error_kind(e), e)
}

/// The kind an IP output error maps to.
pub fn send_error_kind(e: SendError) -> io::ErrorKind {
    use io::ErrorKind as K;
    match e {
        SendError::NetUnreachable => K::NetworkUnreachable,
        SendError::HostUnreachable => K::HostUnreachable,
        SendError::Prohibited => K::PermissionDenied,
        SendError::Blackhole
        | SendError::LoopbackSource
        | SendError::TooLong
        | SendError::MessageTooBig { .. } => K::InvalidInput,
        SendError::NoSourceAddress => K::AddrNotAvailable,
        SendError::NoBuffers | SendError::QueueFull => K::OutOfMemory,
    }
}

/// The kind a UDP error maps to.
pub fn udp_error_kind(e: UdpError) -> io::ErrorKind {
    use io::ErrorKind as K;
    match e {
        UdpError::WouldBlock => K::WouldBlock,
        UdpError::AddrInUse => K::AddrInUse,
        UdpError::AddrNotAvailable | UdpError::NoFreePort => K::AddrNotAvailable,
        UdpError::NotConnected => K::NotConnected,
        UdpError::BadHandle
        | UdpError::TooLong
        | UdpError::CorkedElsewhere
        | UdpError::InvalidArgument => K::InvalidInput,
        // ENODEV and ENOBUFS: `Uncategorized` in std.
        UdpError::NoDevice | UdpError::TooManyMemberships => K::Other,
        UdpError::ConnectionRefused => K::ConnectionRefused,
        UdpError::BroadcastDenied => K::PermissionDenied,
        UdpError::Unreachable(r) => unreach_kind(r),
        // EPROTO: `Uncategorized` in std, as for TCP.
        UdpError::ProtocolError => K::Other,
        UdpError::Send(s) => send_error_kind(s),
    }
}

/// The kind of the errno Linux's `icmp_err_convert` gives a destination unreachable about a
/// UDP datagram (only the hard ones reach a socket).
fn unreach_kind(r: DstUnreachable) -> io::ErrorKind {
    use io::ErrorKind as K;
    use DstUnreachable as U;
    match r {
        U::NetUnreachable | U::DstNetUnknown | U::NetProhibited | U::NetUnreachToS => {
            K::NetworkUnreachable
        }
        // ENOPROTOOPT, EHOSTDOWN, ENONET and EOPNOTSUPP: `Uncategorized` in std.
        U::ProtoUnreachable | U::DstHostUnknown | U::SrcHostIsolated | U::SrcRouteFailed => {
            K::Other
        }
        U::PortUnreachable => K::ConnectionRefused,
        U::FragRequired => K::InvalidInput,
        U::HostUnreachable
        | U::HostProhibited
        | U::HostUnreachToS
        | U::CommProhibited
        | U::HostPrecedViol
        | U::PrecedCutoff => K::HostUnreachable,
    }
}

/// A UDP error as an `io::Error`.
pub fn udp_error(e: UdpError) -> io::Error {
    io::Error::new(udp_error_kind(e), e)
}

/// The error of a blocking call whose timeout passed: `WouldBlock`, as std gives on Linux
/// for `SO_RCVTIMEO`/`SO_SNDTIMEO` (EAGAIN).
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "timed out waiting for the socket",
    )
}

/// The error of a call on a socket whose runtime was shut down.
pub(crate) fn shut_down() -> io::Error {
    io::Error::other("the oxnic runtime was shut down")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_errors_map_to_std_kinds() {
        assert_eq!(
            tcp_error(TcpError::ConnectionRefused).kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert_eq!(
            tcp_error_kind(TcpError::WouldBlock),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(
            tcp_error_kind(TcpError::BrokenPipe),
            io::ErrorKind::BrokenPipe
        );
        // EPROTO from an ICMP parameter problem: std has no kind for it.
        assert_eq!(
            tcp_error_kind(TcpError::ProtocolError),
            io::ErrorKind::Other
        );
        let e = tcp_error(TcpError::ConnectionReset);
        assert_eq!(
            e.get_ref().and_then(|i| i.downcast_ref::<TcpError>()),
            Some(&TcpError::ConnectionReset)
        );
    }

    #[test]
    fn udp_errors_map_to_std_kinds() {
        assert_eq!(
            udp_error(UdpError::ConnectionRefused).kind(),
            io::ErrorKind::ConnectionRefused
        );
        assert_eq!(
            udp_error_kind(UdpError::Send(SendError::NetUnreachable)),
            io::ErrorKind::NetworkUnreachable
        );
        assert_eq!(
            udp_error_kind(UdpError::ProtocolError),
            io::ErrorKind::Other
        );
        // The errno of `icmp_err_convert`, as for TCP.
        use DstUnreachable as U;
        for (r, kind) in [
            (U::DstNetUnknown, io::ErrorKind::NetworkUnreachable),
            (U::NetProhibited, io::ErrorKind::NetworkUnreachable),
            (U::HostProhibited, io::ErrorKind::HostUnreachable),
            (U::CommProhibited, io::ErrorKind::HostUnreachable),
            (U::ProtoUnreachable, io::ErrorKind::Other),
            (U::DstHostUnknown, io::ErrorKind::Other),
            (U::SrcHostIsolated, io::ErrorKind::Other),
        ] {
            assert_eq!(udp_error_kind(UdpError::Unreachable(r)), kind, "{r:?}");
        }
    }
}
