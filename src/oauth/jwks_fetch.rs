//! Fetching a client's `jwks_uri` (private_key_jwt, RFC 7523 / OIDC Core §10.1.1).
//!
//! Invariants: only https (http just for loopback hosts, in development); the host must not
//! resolve to a private, loopback, link-local or otherwise special-purpose address (see
//! `ranges`) unless `oauth.allow_private_jwks_uri` (SSRF), and the connection is pinned to
//! the address that was checked (no DNS rebinding between check and fetch); proxy
//! environment variables are ignored (the connection goes straight to that address); no
//! redirects; 5 s timeout; at
//! most 64 KiB; the document must be a JWK Set holding at least one usable public key (keys
//! that could never verify are dropped and logged, without key material). Results are cached
//! for five minutes; an unknown `kid` may force one refetch per minute (the client rotated
//! keys). A failed fetch is remembered for a minute too, so a broken `jwks_uri` cannot make
//! every token request an outbound fetch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ranges::is_internal;

pub(crate) mod ranges;

const CACHE_TTL: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(60);
const FAILURE_TTL: Duration = Duration::from_secs(60);
const MAX_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("jwks_uri is not an allowed URL: {0}")]
    Url(&'static str),
    #[error("jwks_uri could not be fetched: {0}")]
    Fetch(String),
}

pub struct JwksFetcher {
    allow_private: bool,
    cache: Mutex<HashMap<String, Cached>>,
}

/// When a `jwks_uri` was last fetched, and the usable set or why it failed.
type Cached = (Instant, Result<String, FetchError>);

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
        match &cached {
            Some((at, Ok(body))) => {
                let age = at.elapsed();
                if age < CACHE_TTL && !(fresh && age >= REFETCH_AFTER) {
                    return Ok(body.clone());
                }
            }
            Some((at, Err(e))) if at.elapsed() < FAILURE_TTL => return Err(e.clone()),
            _ => {}
        }
        let fetched = self.fetch(uri).await;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(uri.to_owned(), (Instant::now(), fetched.clone()));
        }
        fetched
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
            // HTTP(S)_PROXY / ALL_PROXY would send the request (and the SSRF check's
            // decision) through whatever host the environment names.
            .no_proxy()
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
        let (usable, dropped) =
            crate::clients::usable_jwks(&text).map_err(|e| FetchError::Fetch(e.to_string()))?;
        for reason in dropped {
            tracing::warn!(jwks_uri = %uri, %reason, "ignoring a key of the client's JWK Set");
        }
        Ok(usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    const PROXY_VARS: [&str; 6] = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ];

    /// A JWK Set served once over plain HTTP on loopback; returns its URL.
    async fn serve_jwks_once() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut key = josekit::jws::ES256
            .generate_key_pair()
            .unwrap()
            .to_jwk_public_key();
        key.set_key_id("k1");
        let body = serde_json::json!({ "keys": [serde_json::to_value(key.as_ref()).unwrap()] })
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
        });
        url
    }

    /// Run by `proxy_environment_variables_are_ignored` in a child process whose proxy
    /// variables point at a port nothing listens on: the fetch still reaches the server.
    #[tokio::test]
    #[ignore = "run in a child process with proxy variables set"]
    async fn child_fetches_with_proxy_variables_set() {
        let url = serve_jwks_once().await;
        let fetched = JwksFetcher::new(true).get(&url, false).await;
        assert!(fetched.is_ok(), "{fetched:?}");
    }

    /// Proxy variables are process-wide, so they are set for a child run of this binary
    /// rather than here, where tests run in parallel.
    #[test]
    fn proxy_environment_variables_are_ignored() {
        let name = "oauth::jwks_fetch::tests::child_fetches_with_proxy_variables_set";
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([name, "--exact", "--ignored", "--nocapture"])
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for var in PROXY_VARS {
            // Port 9 (discard) on loopback: nothing listens, a proxied request fails.
            child.env(var, "http://127.0.0.1:9");
        }
        let output = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
    }
}
