//! Redirect URIs are compared as the registered string (RFC 9700 §4.1.3): only a public
//! (native) client's loopback IP literal may differ in port (RFC 8252 §7.3), and a redirect
//! URI that is not registered gets Portcullis's own error page, whatever else is wrong with
//! the request: nothing is ever sent to it.

use portcullis::clients::NewClient;

use crate::flow::{auth_params, authorize_path, register, RpClient};
use crate::helpers::{location, spawn_app, TestApp, PASSWORD};

const LOOPBACK: &str = "http://127.0.0.1:8765/cb";

async fn loopback_client(app: &TestApp, public: bool) -> RpClient {
    register(
        app,
        NewClient {
            name: if public {
                "Desktop app"
            } else {
                "Local server"
            }
            .into(),
            redirect_uris: vec![LOOPBACK.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:8765/bye".into()],
            public,
            ..NewClient::default()
        },
    )
    .await
}

/// The authorization request with `redirect_uri`, by GET.
async fn authorize_with(
    app: &TestApp,
    client: &RpClient,
    redirect_uri: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut extra = extra.to_vec();
    extra.push(("redirect_uri", redirect_uri));
    app.get(&authorize_path(&auth_params(client, &extra))).await
}

/// Portcullis's error page: 400, HTML, no Location, and the URI not even linked.
async fn assert_error_page(resp: reqwest::Response, uri: &str) {
    assert_eq!(resp.status(), 400, "{uri}");
    assert!(resp.headers().get("location").is_none(), "{uri}");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("not registered"), "{uri}: {page}");
}

/// Accepted: the request goes on to sign-in (nobody is signed in).
fn assert_accepted(resp: &reqwest::Response, uri: &str) {
    assert_eq!(resp.status(), 303, "{uri}");
    assert!(location(resp).starts_with("/login?request="), "{uri}");
}

/// Spellings a URL parser would take for the registered one, or another port.
const OTHER_SPELLINGS: [&str; 11] = [
    "http://127.0.0.1:08765/cb",
    "http://127.0.0.1:8765/./cb",
    "http://127.0.0.1:8765/x/../cb",
    "http://127.0.0.1:8765/%63b",
    "HTTP://127.0.0.1:8765/cb",
    "http://127.000.0.1:8765/cb",
    "http://127.1:8765/cb",
    "http://0x7f000001:8765/cb",
    "http://[::ffff:127.0.0.1]:8765/cb",
    "http://127.0.0.1:8765/cb?",
    "http://127.0.0.1:8765/cb#",
];

#[tokio::test]
async fn a_confidential_client_gets_exactly_its_registered_loopback_uri() {
    let app = spawn_app().await;
    let client = loopback_client(&app, false).await;
    assert_accepted(
        &authorize_with(&app, &client, LOOPBACK, &[]).await,
        LOOPBACK,
    );
    for uri in OTHER_SPELLINGS.iter().chain(&[
        "http://127.0.0.1:9999/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:80/cb",
    ]) {
        assert_error_page(authorize_with(&app, &client, uri, &[]).await, uri).await;
    }
}

#[tokio::test]
async fn a_public_client_may_change_only_the_port_written_plainly() {
    let app = spawn_app().await;
    let client = loopback_client(&app, true).await;
    for uri in [LOOPBACK, "http://127.0.0.1:53219/cb", "http://127.0.0.1/cb"] {
        assert_accepted(&authorize_with(&app, &client, uri, &[]).await, uri);
    }
    for uri in OTHER_SPELLINGS.iter().chain(&[
        "http://127.0.0.1:80/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:9999/cb2",
        "http://127.0.0.1:9999/CB",
        "http://[::1]:9999/cb",
        "http://localhost:9999/cb",
    ]) {
        assert_error_page(authorize_with(&app, &client, uri, &[]).await, uri).await;
    }
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_the_error_page_whatever_else_is_wrong() {
    let app = spawn_app().await;
    let confidential = loopback_client(&app, false).await;
    let public = loopback_client(&app, true).await;
    app.create_user("alice", PASSWORD).await;
    let problems: [&[(&str, &str)]; 12] = [
        &[("response_type", "token")],
        &[("response_type", "")],
        &[("scope", "openid admin")],
        &[("scope", "openid \"x")],
        &[("code_challenge", ""), ("code_challenge_method", "")],
        &[("code_challenge_method", "plain")],
        &[("prompt", "bogus")],
        &[("prompt", "none")],
        &[("max_age", "-1")],
        &[("response_mode", "fragment")],
        &[("request", "eyJhbGciOiJub25lIn0.e30.")],
        &[(
            "claims",
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}"#,
        )],
    ];
    let cases = [
        (&confidential, "http://127.0.0.1:9999/cb"),
        (&confidential, "http://127.0.0.1:08765/cb"),
        (&public, "http://127.0.0.1:08765/cb"),
        (&public, "https://evil.example/cb"),
    ];
    // Signed out and signed in (a session must not change the answer), by GET and POST.
    for signed_in in [false, true] {
        if signed_in {
            assert_eq!(location(&app.login("alice", PASSWORD).await), "/");
        }
        for (client, uri) in cases {
            for extra in problems {
                let what = format!("{uri} {extra:?}");
                assert_error_page(authorize_with(&app, client, uri, extra).await, &what).await;
                if signed_in {
                    let mut extra = extra.to_vec();
                    extra.push(("redirect_uri", uri));
                    let resp = app
                        .client
                        .post(app.url("/authorize"))
                        .form(&auth_params(client, &extra))
                        .send()
                        .await
                        .unwrap();
                    assert_error_page(resp, &what).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_post_logout_redirect_uri_is_matched_as_the_exact_string_too() {
    let app = spawn_app().await;
    let client = loopback_client(&app, true).await;
    let end_session = |uri: &str| {
        format!(
            "/end_session?{}",
            serde_urlencoded::to_string([
                ("client_id", client.id.as_str()),
                ("post_logout_redirect_uri", uri),
                ("state", "s1"),
            ])
            .unwrap()
        )
    };
    let resp = app.get(&end_session("http://127.0.0.1:8765/bye")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "http://127.0.0.1:8765/bye?state=s1");
    for uri in [
        "http://127.0.0.1:9999/bye",
        "http://127.0.0.1:08765/bye",
        "HTTP://127.0.0.1:8765/bye",
        "http://127.0.0.1:8765/./bye",
    ] {
        let resp = app.get(&end_session(uri)).await;
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp.headers().get("location").is_none(), "{uri}");
    }
}
