//! IP networks (`10.0.0.0/8`, `::1/128`, or a bare address) for `trusted_proxies` and
//! `allow_from`: `ipnet` does the parsing and matching; ours are the bare-address form, the
//! IPv4-mapped match and the error text that the config check puts after the key.

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

/// Why a network does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an IP address or network: {reason}")]
pub struct CidrError {
    text: String,
    reason: &'static str,
}

impl Cidr {
    /// True when `ip` is inside the network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a dual-stack socket reports) matches IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }

    /// True when any of `networks` contains `ip`.
    pub fn any_contains(networks: &[Cidr], ip: IpAddr) -> bool {
        networks.iter().any(|n| n.contains(ip))
    }

    /// Parses every entry, naming the first bad one.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Cidr>, CidrError> {
        texts.iter().map(|t| t.as_ref().parse()).collect()
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| CidrError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let (addr, prefix) = match trimmed.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (trimmed, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| fail("expected an address such as 10.0.0.0/8 or ::1"))?;
        match prefix {
            None => Ok(Cidr(addr.into())),
            Some(p) => p
                .parse()
                .ok()
                .and_then(|p| IpNet::new(addr, p).ok())
                .map(Cidr)
                .ok_or_else(|| fail("the prefix length must be 0..=32 (IPv4) or 0..=128 (IPv6)")),
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn matches_networks_and_single_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!(!"::1/128".parse::<Cidr>().unwrap().contains(ip("127.0.0.1")));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string(),
            "`10.0.0.0/33` is not an IP address or network: the prefix length must be 0..=32 \
             (IPv4) or 0..=128 (IPv6)"
        );
        assert_eq!(
            "example.com".parse::<Cidr>().unwrap_err().to_string(),
            "`example.com` is not an IP address or network: expected an address such as \
             10.0.0.0/8 or ::1"
        );
    }
}
