//! Addresses an outbound fetch must never reach unless `oauth.allow_private_jwks_uri`: every
//! range of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890) that is not
//! plainly global unicast, plus the translation prefixes that lead back into IPv4 (NAT64
//! RFC 6052/8215, 6to4 RFC 3056, Teredo RFC 4380, IPv4-mapped and -compatible addresses).
//! An embedded IPv4 address in a mapped (`::ffff:0:0/96`) address is judged as IPv4 too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(a: u16, b: u16, c: u16, d: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0), len)
}

const BLOCKED_V4: &[Ipv4Net] = &[
    v4(0, 0, 0, 0, 8),       // "this network"
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // shared address space (CGNAT)
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local (cloud metadata)
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation (TEST-NET-1)
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation (TEST-NET-2)
    v4(203, 0, 113, 0, 24),  // documentation (TEST-NET-3)
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, and the broadcast address
];

const BLOCKED_V6: &[Ipv6Net] = &[
    v6(0, 0, 0, 0, 8), // reserved: unspecified, loopback, IPv4-compatible and -translated
    v6(0x64, 0xff9b, 0, 0, 96), // NAT64 well-known prefix
    v6(0x64, 0xff9b, 1, 0, 48), // NAT64 local-use prefix
    v6(0x100, 0, 0, 0, 64), // discard-only
    v6(0x2001, 0, 0, 0, 23), // IETF protocol assignments, incl. Teredo 2001::/32
    v6(0x2001, 0xdb8, 0, 0, 32), // documentation
    v6(0x2002, 0, 0, 0, 16), // 6to4
    v6(0x3fff, 0, 0, 0, 20), // documentation (RFC 9637)
    v6(0x5f00, 0, 0, 0, 16), // SRv6 SIDs
    v6(0xfc00, 0, 0, 0, 7), // unique local
    v6(0xfe80, 0, 0, 0, 10), // link-local
    v6(0xfec0, 0, 0, 0, 10), // site-local (deprecated)
    v6(0xff00, 0, 0, 0, 8), // multicast
];

/// Whether `ip` is outside plain global unicast and must not be fetched from.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => BLOCKED_V4.iter().any(|net| net.contains(&v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => BLOCKED_V6.iter().any(|net| net.contains(&v6)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(list: &[&str]) {
        for ip in list {
            assert!(is_internal(ip.parse().unwrap()), "{ip} must be refused");
        }
    }

    #[test]
    fn private_loopback_and_link_local_are_refused() {
        refused(&["10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1"]);
        refused(&[
            "127.0.0.1",
            "127.255.0.1",
            "::1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
        ]);
        refused(&[
            "169.254.169.254",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "fec0::1",
        ]);
    }

    #[test]
    fn cgnat_and_ietf_protocol_assignments_are_refused() {
        refused(&["100.64.0.1", "100.127.255.254", "192.0.0.8", "192.0.0.170"]);
    }

    #[test]
    fn benchmarking_and_documentation_ranges_are_refused() {
        refused(&["198.18.0.1", "198.19.255.255", "2001:2::1"]);
        refused(&["192.0.2.1", "198.51.100.7", "203.0.113.9"]);
        refused(&["2001:db8::1", "3fff::1", "3fff:fff::1"]);
    }

    #[test]
    fn multicast_reserved_and_broadcast_are_refused() {
        refused(&["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"]);
        refused(&["240.0.0.1", "250.1.2.3", "255.255.255.255"]);
    }

    #[test]
    fn translation_prefixes_are_refused() {
        // NAT64 (also with a public IPv4 inside: the translator sits in our network).
        refused(&["64:ff9b::a00:1", "64:ff9b::5db8:d822", "64:ff9b:1::1"]);
        // 6to4 and its relay, Teredo.
        refused(&["2002:a00:1::1", "2002:5db8:d822::1", "192.88.99.1"]);
        refused(&["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]);
        // Discard-only, SRv6.
        refused(&["100::1", "5f00::1"]);
    }

    #[test]
    fn mapped_and_compatible_forms_of_refused_ipv4_are_refused() {
        refused(&[
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ]);
        refused(&["::ffff:100.64.0.1", "::ffff:198.18.0.1", "::ffff:240.0.0.1"]);
        refused(&["::ffff:224.0.0.1", "::ffff:192.0.2.1"]);
        refused(&[
            "::10.0.0.1",
            "::127.0.0.1",
            "::169.254.169.254",
            "::ffff:0:a00:1",
        ]);
        // IPv4-compatible addresses are deprecated (RFC 4291 §2.5.5.1): refused whatever inside.
        refused(&["::93.184.216.34"]);
    }

    #[test]
    fn global_unicast_is_allowed() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:2800:220:1::1",
            "2a00:1450:4001::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is global");
        }
    }
}
