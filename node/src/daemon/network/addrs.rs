//! Which multiaddrs the transport can use (TCP over an IP address or a DNS name), and
//! the resolver the DNS transport reads its servers from.
//!
//! The config refuses at load what the transport could never dial, so that an operator
//! learns it from `config check` instead of from a node that silently never connects.

use libp2p::Multiaddr;
use libp2p::dns::{ResolverConfig, ResolverOpts};
use libp2p::multiaddr::Protocol;

/// The shape every dialable address has, for error messages.
pub const DIAL_EXAMPLE: &str = "/dns4/host.example/tcp/7000 or /ip4/192.0.2.1/tcp/7000";

/// Why the transport cannot use an address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// It does not begin with a host the transport can reach.
    #[error(
        "does not start with /ip4, /ip6, /dns, /dns4 or /dns6 (the transport is TCP, dialled by IP address or DNS name, like {DIAL_EXAMPLE})"
    )]
    NoHost,
    /// A listen address names a host by DNS: listening needs a local IP address.
    #[error("a listen address needs an IP address, like /ip4/0.0.0.0/tcp/7000")]
    ListenByName,
    /// No `/tcp/PORT` right after the host.
    #[error("has no /tcp/PORT after the host (the transport is TCP only, like {DIAL_EXAMPLE})")]
    NoTcp,
    /// Something after `/tcp/PORT` the transport does not speak.
    #[error("{0:?} after /tcp is not supported (only a final /p2p/PEER_ID is)")]
    Trailing(String),
    /// `/p2p/...` where it makes no sense.
    #[error("must not end in /p2p/PEER_ID")]
    PeerId,
}

/// What the address is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Dialled (bootstrap): a final `/p2p/PEER_ID` is allowed.
    Dial,
    /// Announced to peers (external addresses): dialled by others, no peer id.
    Announce,
    /// Listened on: an IP address and a TCP port.
    Listen,
}

/// Checks that the transport can use `addr` for `purpose`.
pub fn check(addr: &Multiaddr, purpose: Use) -> Result<(), AddrError> {
    let mut parts = addr.iter();
    match parts.next() {
        Some(Protocol::Ip4(_) | Protocol::Ip6(_)) => {}
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_)) => {
            if purpose == Use::Listen {
                return Err(AddrError::ListenByName);
            }
        }
        _ => return Err(AddrError::NoHost),
    }
    if !matches!(parts.next(), Some(Protocol::Tcp(_))) {
        return Err(AddrError::NoTcp);
    }
    match parts.next() {
        None => Ok(()),
        Some(Protocol::P2p(_)) if purpose == Use::Dial => match parts.next() {
            None => Ok(()),
            Some(p) => Err(AddrError::Trailing(p.to_string())),
        },
        Some(Protocol::P2p(_)) => Err(AddrError::PeerId),
        Some(p) => Err(AddrError::Trailing(p.to_string())),
    }
}

/// Whether `addr` names a loopback or unspecified IP, or the name `localhost` (an
/// address only its own host, or nobody, can dial).
pub fn is_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name)) => {
            name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        }
        _ => false,
    }
}

/// The DNS resolver's configuration: the system's (`/etc/resolv.conf`, and
/// `/etc/hosts` first), or, where that cannot be read or names no server, `/etc/hosts`
/// alone. The second string says why the fallback was taken.
pub fn resolver() -> (ResolverConfig, ResolverOpts, Option<String>) {
    match hickory_resolver::system_conf::read_system_conf() {
        Ok((config, opts)) => (config, opts, None),
        Err(e) => (
            // No name servers: lookups are answered from /etc/hosts (read by the
            // resolver on its own) or fail with "no records".
            ResolverConfig::from_parts(None, Vec::new(), Vec::new()),
            ResolverOpts::default(),
            Some(e.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_str(a: &str, purpose: Use) -> Result<(), AddrError> {
        check(&a.parse().unwrap(), purpose)
    }

    #[test]
    fn tcp_by_ip_or_name_is_dialable_and_the_rest_is_not() {
        for ok in [
            "/ip4/192.0.2.1/tcp/7000",
            "/ip6/::1/tcp/7000",
            "/dns/host.example/tcp/7000",
            "/dns4/localhost/tcp/7000",
            "/dns6/host.example/tcp/7000",
            "/ip4/192.0.2.1/tcp/7000/p2p/12D3KooWBvK6YtnHyzrm6Td8jokWRAqoEJHEdYUTkdTW4B1YkPso",
        ] {
            assert_eq!(check_str(ok, Use::Dial), Ok(()), "{ok}");
        }
        for (bad, want) in [
            ("/ip4/1.2.3.4/udp/7000/quic-v1", AddrError::NoTcp),
            ("/unix/tmp%2Fsock", AddrError::NoHost),
            ("/memory/5", AddrError::NoHost),
            ("/ip4/1.2.3.4", AddrError::NoTcp),
            ("/tcp/7000", AddrError::NoHost),
            (
                "/ip4/1.2.3.4/tcp/7000/ws",
                AddrError::Trailing("/ws".into()),
            ),
        ] {
            assert_eq!(check_str(bad, Use::Dial), Err(want), "{bad}");
        }
        let with_id =
            "/dns4/h.example/tcp/1/p2p/12D3KooWBvK6YtnHyzrm6Td8jokWRAqoEJHEdYUTkdTW4B1YkPso";
        assert_eq!(check_str(with_id, Use::Announce), Err(AddrError::PeerId));
        assert_eq!(
            check_str("/dns4/localhost/tcp/7000", Use::Listen),
            Err(AddrError::ListenByName)
        );
        assert_eq!(check_str("/ip4/0.0.0.0/tcp/0", Use::Listen), Ok(()));
    }

    #[test]
    fn local_addresses_are_loopback_or_unspecified() {
        for (a, local) in [
            ("/ip4/127.0.0.1/tcp/1", true),
            ("/ip4/0.0.0.0/tcp/1", true),
            ("/ip6/::1/tcp/1", true),
            ("/ip4/10.0.0.2/tcp/1", false),
            ("/dns4/localhost/tcp/1", true),
            ("/dns/LOCALHOST./tcp/1", true),
            ("/dns4/host.example/tcp/1", false),
        ] {
            assert_eq!(is_local(&a.parse().unwrap()), local, "{a}");
        }
    }
}
