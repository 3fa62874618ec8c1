//! Hosts a client's URLs must not name: a `jwks_uri` Portcullis would fetch from inside its
//! own network (SSRF), or a redirect URI that sends users' browsers, with authorization
//! codes, into a private network or to the machine they sit at (a native app's http loopback
//! redirect is the one exception, decided in `validate`).
//!
//! Only what the URL itself says is judged: IP literals in any spelling the URL parser
//! accepts (`127.1`, `0x7f.0.0.1`, `2130706433`, `[::ffff:127.0.0.1]` all mean loopback),
//! `localhost` and `*.localhost` (RFC 6761 §6.3), and the cloud metadata host names. Other
//! names are not resolved at registration; the `jwks_uri` fetcher checks every address a
//! name resolves to when it fetches. The ranges are those the fetcher refuses
//! (`oauth::jwks_fetch::ranges`), so registration and fetching agree on what is private.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Host;

use crate::config::OAuthSettings;
use crate::oauth::jwks_fetch::ranges::is_internal;

/// Which private hosts the operator lets clients name.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressPolicy {
    /// `oauth.allow_private_jwks_uri`: the fetcher may reach such hosts, so registration
    /// accepts them too.
    pub allow_private_jwks_uri: bool,
    /// `oauth.allow_private_redirect_uris`: any client may redirect to them.
    pub allow_private_redirect_uris: bool,
}

impl AddressPolicy {
    /// No restriction: for callers whose input the operator already vouched for (tests,
    /// fixtures). Registration from the CLI or HTTP uses [`AddressPolicy::from_settings`].
    pub const ANY: Self = Self {
        allow_private_jwks_uri: true,
        allow_private_redirect_uris: true,
    };

    pub fn from_settings(oauth: &OAuthSettings) -> Self {
        Self {
            allow_private_jwks_uri: oauth.allow_private_jwks_uri,
            allow_private_redirect_uris: oauth.allow_private_redirect_uris,
        }
    }
}

/// Cloud instance metadata services (AWS, GCP, Azure, Oracle, OpenStack use the IPv4 one).
const METADATA_IPS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];
const METADATA_NAMES: [&str; 4] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data.ec2.internal",
];
/// Names that resolve to loopback on common systems (`/etc/hosts` of Debian, Red Hat).
const LOOPBACK_NAMES: [&str; 3] = ["localhost.localdomain", "ip6-localhost", "ip6-loopback"];

/// What kind of private host `url` names, in words (`"a loopback address"`), or `None` for
/// a public IP address or a DNS name that is not resolved here.
pub(super) fn private_host(url: &url::Url) -> Option<&'static str> {
    match url.host()? {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost"
                || name.ends_with(".localhost")
                || LOOPBACK_NAMES.contains(&name.as_str())
            {
                Some("a loopback host (localhost)")
            } else if METADATA_NAMES.contains(&name.as_str()) {
                Some("a cloud metadata host")
            } else {
                None
            }
        }
        Host::Ipv4(ip) => private_ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => private_ip(IpAddr::V4(v4)),
            None => private_ip(IpAddr::V6(ip)),
        },
    }
}

fn private_ip(ip: IpAddr) -> Option<&'static str> {
    if METADATA_IPS.contains(&ip) {
        return Some("a cloud metadata address");
    }
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    let kind = match ip {
        IpAddr::V4(v4) if v4.is_link_local() => "a link-local address",
        IpAddr::V4(v4) if v4.is_private() => "a private address (RFC 1918)",
        IpAddr::V4(v4) if v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64 => {
            "a shared (carrier-grade NAT) address"
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => "a link-local address",
        IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00 => "a unique local (private) address",
        _ if is_internal(ip) => "a special-purpose address",
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(uri: &str) -> Option<&'static str> {
        private_host(&url::Url::parse(uri).unwrap())
    }

    #[test]
    fn loopback_in_every_spelling() {
        for uri in [
            "https://127.0.0.1/cb",
            "https://127.1/cb",
            "https://0x7f.0.0.1/cb",
            "https://2130706433/cb",
            "https://127.200.0.9:8443/cb",
            "https://[::1]/cb",
            "https://[0:0:0:0:0:0:0:1]/cb",
            "https://[::ffff:127.0.0.1]/cb",
            "http://127.0.0.1:9000/cb",
        ] {
            assert_eq!(kind(uri), Some("a loopback address"), "{uri}");
        }
        for uri in [
            "https://localhost/cb",
            "https://LOCALHOST./cb",
            "https://app.localhost/cb",
            "http://localhost:3000/cb",
            "https://localhost.localdomain/cb",
            "https://ip6-localhost/cb",
        ] {
            assert_eq!(kind(uri), Some("a loopback host (localhost)"), "{uri}");
        }
    }

    #[test]
    fn private_link_local_shared_and_unspecified() {
        for (uri, expected) in [
            ("https://10.1.2.3/", "a private address (RFC 1918)"),
            ("https://172.16.0.1/", "a private address (RFC 1918)"),
            ("https://172.31.255.254/", "a private address (RFC 1918)"),
            ("https://192.168.0.10/", "a private address (RFC 1918)"),
            (
                "https://[::ffff:192.168.0.10]/",
                "a private address (RFC 1918)",
            ),
            (
                "https://[fd12:3456::1]/",
                "a unique local (private) address",
            ),
            ("https://[fc00::1]/", "a unique local (private) address"),
            ("https://169.254.1.1/", "a link-local address"),
            ("https://[fe80::1]/", "a link-local address"),
            (
                "https://100.64.0.1/",
                "a shared (carrier-grade NAT) address",
            ),
            (
                "https://100.127.255.255/",
                "a shared (carrier-grade NAT) address",
            ),
            ("https://0.0.0.0/", "the unspecified address"),
            ("https://[::]/", "the unspecified address"),
            ("https://192.0.2.1/", "a special-purpose address"),
            ("https://[2001:db8::1]/", "a special-purpose address"),
        ] {
            assert_eq!(kind(uri), Some(expected), "{uri}");
        }
    }

    #[test]
    fn cloud_metadata_services() {
        for uri in [
            "https://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:169.254.169.254]/",
        ] {
            assert_eq!(kind(uri), Some("a cloud metadata address"), "{uri}");
        }
        for uri in [
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://Metadata.Google.Internal./",
            "https://metadata.goog/",
            "https://metadata/computeMetadata/v1/",
            "https://instance-data.ec2.internal/latest/",
        ] {
            assert_eq!(kind(uri), Some("a cloud metadata host"), "{uri}");
        }
    }

    #[test]
    fn public_addresses_and_names_pass() {
        for uri in [
            "https://app.example.com/cb",
            "https://93.184.216.34/cb",
            "https://100.63.255.255/",
            "https://100.128.0.1/",
            "https://172.32.0.1/",
            "https://[2606:2800:220:1::1]/",
            "https://localhost.example.com/",
            "https://internal.corp.example/",
            "com.example.app:/cb",
        ] {
            assert_eq!(kind(uri), None, "{uri}");
        }
    }
}
