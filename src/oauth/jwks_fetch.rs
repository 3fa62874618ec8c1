//! Fetching a client's `jwks_uri` (private_key_jwt, RFC 7523 / OIDC Core §10.1.1).
//!
//! Invariants: only https (http just for loopback hosts, in development); the host must not
//! resolve to a private, loopback, link-local or otherwise internal address unless
//! `oauth.allow_private_jwks_uri` (SSRF), and the connection is pinned to the address that
//! was checked (no DNS rebinding between check and fetch); no redirects; 5 s timeout; at
//! most 64 KiB; the document must be a JWK Set of public keys. Results are cached for five
//! minutes; an unknown `kid` may force one refetch per minute (the client rotated keys).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(60);
const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("jwks_uri is not an allowed URL: {0}")]
    Url(&'static str),
    #[error("jwks_uri could not be fetched: {0}")]
    Fetch(String),
}

pub struct JwksFetcher {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Instant, String)>>,
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

impl JwksFetcher {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The JWK Set at `uri`, from the cache or fetched; `fresh` forces a refetch if the cached
    /// copy is older than a minute.
    pub async fn get(&self, uri: &str, fresh: bool) -> Result<String, FetchError> {
        let cached = self.cache.lock().ok().and_then(|c| c.get(uri).cloned());
        if let Some((at, body)) = &cached {
            let age = at.elapsed();
            if age < CACHE_TTL && !(fresh && age >= REFETCH_AFTER) {
                return Ok(body.clone());
            }
        }
        let body = self.fetch(uri).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(uri.to_owned(), (Instant::now(), body.clone()));
        }
        Ok(body)
    }

    async fn fetch(&self, uri: &str) -> Result<String, FetchError> {
        let url = url::Url::parse(uri).map_err(|_| FetchError::Url("not an absolute URL"))?;
        let host = url.host_str().ok_or(FetchError::Url("no host"))?.to_owned();
        let loopback_host = crate::config::is_loopback_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback_host => {}
            _ => return Err(FetchError::Url("use https")),
        }
        let port = url
            .port_or_known_default()
            .ok_or(FetchError::Url("no port"))?;
        let lookup_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((lookup_host.as_str(), port))
            .await
            .map_err(|e| FetchError::Fetch(format!("cannot resolve {host}: {e}")))?
            .collect();
        let addr = addrs
            .first()
            .copied()
            .ok_or(FetchError::Url("host does not resolve"))?;
        if !self.allow_private && addrs.iter().any(|a| is_internal(a.ip())) {
            return Err(FetchError::Url("it points into a private network"));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .resolve(&lookup_host, addr)
            .build()
            .map_err(|e| FetchError::Fetch(e.to_string()))?;
        let mut response = client
            .get(url)
            .header("accept", "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| FetchError::Fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(FetchError::Fetch(format!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Fetch(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::Fetch(
                    "the document is larger than 64 KiB".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| FetchError::Fetch("not UTF-8".into()))?;
        crate::clients::validate_jwks(&text).map_err(|e| FetchError::Fetch(e.to_string()))?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn disallowed_urls_are_refused_before_any_request() {
        let f = JwksFetcher::new(false);
        for uri in [
            "http://example.com/jwks",
            "ftp://example.com/jwks",
            "not a url",
            "http://127.0.0.1:9/jwks",
        ] {
            assert!(f.get(uri, false).await.is_err(), "{uri}");
        }
    }
}
