use super::*;

const NONE: [&str; 0] = [];

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The client address for a request from `peer` with these header lines.
fn via(peer: &str, trusted: &[&str], fwd: &[&str], xff: &[&str]) -> IpAddr {
    resolve(ip(peer), &nets(trusted), fwd.to_vec(), xff.to_vec(), NONE).ip
}

#[test]
fn an_untrusted_peer_is_the_client_whatever_it_claims() {
    assert_eq!(
        via("203.0.113.9", &[], &["for=192.0.2.1"], &["192.0.2.2"]),
        ip("203.0.113.9")
    );
    assert_eq!(
        via("203.0.113.9", &["10.0.0.0/8"], &[], &["192.0.2.2"]),
        ip("203.0.113.9")
    );
    let r = resolve(ip("203.0.113.9"), &[], NONE, NONE, ["https"]);
    assert_eq!(r.scheme, None);
}

#[test]
fn x_forwarded_for_is_read_right_to_left_skipping_trusted_hops() {
    let trusted = ["10.0.0.0/8"];
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["192.0.2.7"]),
        ip("192.0.2.7")
    );
    // The client prepended a lie; the proxies appended the truth.
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["6.6.6.6, 192.0.2.7, 10.0.0.2"]),
        ip("192.0.2.7")
    );
    // Several lines are one list, in order.
    assert_eq!(
        via(
            "10.0.0.1",
            &trusted,
            &[],
            &["6.6.6.6", "192.0.2.7", "10.1.1.1"]
        ),
        ip("192.0.2.7")
    );
    // All hops trusted: the leftmost.
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["10.0.0.3, 10.0.0.2"]),
        ip("10.0.0.3")
    );
    // No header: the peer.
    assert_eq!(via("10.0.0.1", &trusted, &[], &[]), ip("10.0.0.1"));
}

#[test]
fn hops_that_are_not_addresses_end_the_walk() {
    let trusted = ["10.0.0.0/8"];
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["192.0.2.7, garbage"]),
        ip("10.0.0.1")
    );
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["192.0.2.7, unknown, 10.0.0.2"]),
        ip("10.0.0.2")
    );
    assert_eq!(
        via("10.0.0.1", &trusted, &[], &["192.0.2.7 10.0.0.2"]),
        ip("10.0.0.1")
    );
    assert_eq!(via("10.0.0.1", &trusted, &[], &["", " , "]), ip("10.0.0.1"));
}

#[test]
fn ports_and_brackets_are_understood() {
    let trusted = ["10.0.0.0/8"];
    for (hop, want) in [
        ("192.0.2.7:4711", "192.0.2.7"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
    ] {
        assert_eq!(via("10.0.0.1", &trusted, &[], &[hop]), ip(want), "{hop}");
    }
}

#[test]
fn forwarded_is_parsed_per_rfc_7239() {
    let trusted = ["10.0.0.0/8", "2001:db8:ffff::/48"];
    let peer = "10.0.0.1";
    assert_eq!(
        via(peer, &trusted, &["for=192.0.2.43"], &[]),
        ip("192.0.2.43")
    );
    assert_eq!(
        via(peer, &trusted, &["For=\"[2001:db8:cafe::17]:4711\""], &[]),
        ip("2001:db8:cafe::17")
    );
    assert_eq!(
        via(
            peer,
            &trusted,
            &["for=192.0.2.60;proto=http;by=203.0.113.43", "for=10.0.0.9"],
            &[]
        ),
        ip("192.0.2.60")
    );
    assert_eq!(
        via(
            peer,
            &trusted,
            &["for=6.6.6.6, for=192.0.2.43, for=\"[2001:db8:ffff::2]\""],
            &[]
        ),
        ip("192.0.2.43")
    );
    // A comma inside a quoted string does not split the element.
    assert_eq!(
        via(peer, &trusted, &["for=192.0.2.43;by=\"a,b\""], &[]),
        ip("192.0.2.43")
    );
}

#[test]
fn forwarded_and_x_forwarded_for_must_agree_when_both_are_sent() {
    let trusted = ["10.0.0.0/8"];
    let peer = "10.0.0.1";
    assert_eq!(
        via(peer, &trusted, &["for=192.0.2.43"], &["192.0.2.43"]),
        ip("192.0.2.43")
    );
    assert_eq!(
        via(
            peer,
            &trusted,
            &["for=6.6.6.6, for=192.0.2.43"],
            &["7.7.7.7, 192.0.2.43, 10.0.0.2"]
        ),
        ip("192.0.2.43"),
        "only the client's own hops differ"
    );
    // The proxy appended X-Forwarded-For and passed the client's Forwarded through.
    assert_eq!(
        via(peer, &trusted, &["for=6.6.6.6"], &["192.0.2.43"]),
        ip(peer)
    );
    let r = resolve(
        ip(peer),
        &nets(&trusted),
        ["for=6.6.6.6;proto=http"],
        ["192.0.2.43"],
        ["https"],
    );
    assert_eq!((r.ip, r.scheme), (ip(peer), None));
}

#[test]
fn obfuscated_unknown_and_malformed_forwarded_elements_are_not_addresses() {
    let trusted = ["10.0.0.0/8"];
    let peer = "10.0.0.1";
    for header in [
        "for=unknown",
        "for=_hidden",
        "for=\"_gazonk\"",
        "for=192.0.2.43;for=192.0.2.44",
        "for=\"192.0.2.43",
        "for",
        "for=[2001:db8::1]",
        "proto=https",
    ] {
        assert_eq!(via(peer, &trusted, &[header], &[]), ip(peer), "{header}");
    }
    // A malformed element left of the proxy's own does not disturb it.
    assert_eq!(
        via(peer, &trusted, &["for=\"oops, for=192.0.2.43"], &[]),
        ip(peer),
        "an unbalanced quote swallows the rest of the line"
    );
    assert_eq!(
        via(peer, &trusted, &["for=;;", "for=192.0.2.43"], &[]),
        ip("192.0.2.43")
    );
}

#[test]
fn the_scheme_comes_only_from_trusted_proxies() {
    let trusted = nets(&["127.0.0.1/32"]);
    let peer = ip("127.0.0.1");
    let r = resolve(peer, &trusted, NONE, NONE, ["https"]);
    assert_eq!(r.scheme, Some(Scheme::Https));
    let r = resolve(peer, &trusted, NONE, NONE, ["HTTP"]);
    assert_eq!(r.scheme, Some(Scheme::Http));
    for ambiguous in [&["https, http"][..], &["https", "https"], &["ftp"], &[]] {
        let r = resolve(peer, &trusted, NONE, NONE, ambiguous.to_vec());
        assert_eq!(r.scheme, None, "{ambiguous:?}");
    }
    let r = resolve(
        peer,
        &trusted,
        ["for=192.0.2.1;proto=https, for=127.0.0.1;proto=http"],
        NONE,
        ["http"],
    );
    assert_eq!(r.ip, ip("192.0.2.1"));
    assert_eq!(
        r.scheme,
        Some(Scheme::Https),
        "proto of the client's element"
    );
    let r = resolve(peer, &trusted, ["for=192.0.2.1"], NONE, ["https"]);
    assert_eq!(r.scheme, Some(Scheme::Https), "no proto= in Forwarded");
}

#[test]
fn mapped_peers_are_matched_in_canonical_form() {
    assert_eq!(
        via("::ffff:10.0.0.1", &["10.0.0.0/8"], &[], &["192.0.2.7"]),
        ip("192.0.2.7")
    );
    assert!(is_trusted(ip("::ffff:127.0.0.1"), &nets(&["127.0.0.0/8"])));
    assert!(!is_trusted(ip("127.0.0.1"), &[]));
}
