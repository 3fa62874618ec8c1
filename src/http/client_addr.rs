//! The client's address and scheme behind reverse proxies: pure functions over the TCP peer,
//! the request headers and `server.trusted_proxies`.
//!
//! Invariants:
//! - Headers are believed only when the TCP peer is a trusted proxy; from anyone else the
//!   peer is the client and `Forwarded`, `X-Forwarded-For` and `X-Forwarded-Proto` are ignored.
//! - `Forwarded` (RFC 7239 §4) and `X-Forwarded-For` are each read when present; several
//!   header lines are one list, concatenated in order (RFC 9110 §5.3). When both are present
//!   they must name the same client, or neither is believed: proxies typically write one and
//!   pass the other through untouched from the client, which could then pick its address.
//! - The hop list is read right to left (nearest proxy first), skipping trusted addresses; the
//!   first untrusted address is the client. The walk also ends at a hop that is not an
//!   address (`unknown`, an obfuscated identifier §6.3, anything malformed): then, as when
//!   every hop is trusted, the client is the last (leftmost) trusted address seen. So a
//!   client can prepend whatever it likes; only what trusted proxies appended is read.
//! - The scheme comes from `proto=` of the element that named the client, or else from a
//!   single `X-Forwarded-Proto` value (`http`/`https`); otherwise it is unknown.
//! - Addresses are compared in canonical form (`::ffff:192.0.2.1` is `192.0.2.1`).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The scheme the client used, as a trusted proxy reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// What is known about the client of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// `None` when no trusted proxy said (the connection to us is plain HTTP either way).
    pub scheme: Option<Scheme>,
}

/// The client of a request from `peer` with the header lines `forwarded`, `x_forwarded_for`
/// and `x_forwarded_proto` (each in the order received).
pub fn resolve<'a>(
    peer: IpAddr,
    trusted: &[IpNet],
    forwarded: impl IntoIterator<Item = &'a str>,
    x_forwarded_for: impl IntoIterator<Item = &'a str>,
    x_forwarded_proto: impl IntoIterator<Item = &'a str>,
) -> ClientAddr {
    let peer = peer.to_canonical();
    let untrusted = ClientAddr {
        ip: peer,
        scheme: None,
    };
    if !is_trusted(peer, trusted) {
        return untrusted;
    }
    let forwarded: Vec<&str> = forwarded.into_iter().collect();
    let from_forwarded = (!forwarded.is_empty()).then(|| {
        let hops: Vec<(Option<IpAddr>, Option<Scheme>)> = split_list(&forwarded)
            .into_iter()
            .map(|element| parse_forwarded_element(element).unwrap_or((None, None)))
            .collect();
        let (ip, index) = walk(peer, trusted, hops.iter().map(|(ip, _)| *ip));
        let proto = index
            .and_then(|i| hops.get(i))
            .and_then(|(_, proto)| *proto);
        (ip, proto)
    });
    let xff: Vec<&str> = x_forwarded_for.into_iter().collect();
    let from_xff = (!xff.is_empty()).then(|| {
        let hops = split_list(&xff);
        walk(peer, trusted, hops.iter().map(|hop| parse_node(hop.trim()))).0
    });
    let protos: Vec<&str> = x_forwarded_proto.into_iter().collect();
    let protos = split_list(&protos);
    let x_proto = match protos.as_slice() {
        [one] => parse_scheme(one.trim()),
        _ => None,
    };
    match (from_forwarded, from_xff) {
        (Some((ip, proto)), None) => ClientAddr {
            ip,
            scheme: proto.or(x_proto),
        },
        (None, Some(ip)) => ClientAddr {
            ip,
            scheme: x_proto,
        },
        (Some((ip, proto)), Some(other)) if ip == other => ClientAddr {
            ip,
            scheme: proto.or(x_proto),
        },
        // Most proxies write one of the two and pass the other through from the client,
        // so when they disagree neither can be believed.
        (Some(_), Some(_)) => untrusted,
        (None, None) => ClientAddr {
            ip: peer,
            scheme: x_proto,
        },
    }
}

pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// Right to left over `hops` (left to right as received), starting behind `peer`: the first
/// untrusted address and its index, or the leftmost trusted address seen (index `None` for
/// the peer itself) when the list ends or a hop is not an address.
fn walk(
    peer: IpAddr,
    trusted: &[IpNet],
    hops: impl DoubleEndedIterator<Item = Option<IpAddr>> + ExactSizeIterator,
) -> (IpAddr, Option<usize>) {
    let mut client = (peer, None);
    for (index, hop) in hops.enumerate().rev() {
        let Some(ip) = hop.map(|ip| ip.to_canonical()) else {
            break;
        };
        client = (ip, Some(index));
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// The comma-separated members of a list header spread over several lines; commas inside
/// quoted strings do not split.
fn split_list<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .flat_map(|line| split_outside_quotes(line, ','))
        .filter(|member| !member.trim().is_empty())
        .collect()
}

fn split_outside_quotes(s: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `for=` and `proto=` of one forwarded-element (`pair *( ";" pair )`); `None` if the element
/// is malformed (a pair without `=`, a parameter twice, a broken quoted string).
fn parse_forwarded_element(element: &str) -> Option<(Option<IpAddr>, Option<Scheme>)> {
    let (mut node, mut proto) = (None, None);
    for pair in split_outside_quotes(element, ';') {
        let (name, value) = pair.trim().split_once('=')?;
        let value = unquote(value)?;
        let slot = match name.to_ascii_lowercase().as_str() {
            "for" => &mut node,
            "proto" => &mut proto,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    Some((
        node.as_deref().and_then(parse_node),
        proto.as_deref().and_then(parse_scheme),
    ))
}

/// A token, or a quoted-string with its escapes undone (RFC 9110 §5.6.4).
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        return (!value.is_empty() && value.chars().all(token)).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare `2001:db8::1`. `unknown` and obfuscated identifiers
/// (`_hidden`) are not addresses.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    // An obfuscated port (`[2001:db8::1]:_abc`) still names the address.
    let host = match node.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => node.split_once(':')?.0,
    };
    host.parse().ok()
}

fn parse_scheme(value: &str) -> Option<Scheme> {
    if value.eq_ignore_ascii_case("https") {
        Some(Scheme::Https)
    } else if value.eq_ignore_ascii_case("http") {
        Some(Scheme::Http)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
