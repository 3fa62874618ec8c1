//! Interoperability: an independent relying party — the `openidconnect` crate, used exactly
//! as its documentation shows — signs a user in against the running provider. Nothing here
//! uses Portcullis's own code to build or check protocol messages: discovery, the
//! authorization URL (PKCE S256, nonce, state), the code exchange, the ID token's signature and
//! claims, `at_hash` and the userinfo request are all the library's.

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IssuerUrl, LocalizedClaim, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::Url;

use crate::flow::{confidential, RpClient, REDIRECT};
use crate::helpers::{form_value, location, spawn_app, TestApp, PASSWORD};

/// The relying party's back channel (discovery, JWKS, token, userinfo): the project's reqwest
/// client behind openidconnect's HTTP client trait. It keeps no cookies and follows no
/// redirects, as openidconnect advises against SSRF.
struct BackChannel(reqwest::Client);

impl BackChannel {
    fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self(client)
    }
}

impl<'c> AsyncHttpClient<'c> for BackChannel {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.execute(request.try_into()?).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut out = HttpResponse::new(response.bytes().await?.to_vec());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// The client as `from_provider_metadata` builds it: authorization endpoint set, token and
/// userinfo endpoints as discovery found them.
type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovery, as the relying party does it, from the provider's issuer URL.
async fn discover(app: &TestApp, http: &BackChannel) -> CoreProviderMetadata {
    let issuer = IssuerUrl::new(app.address.clone()).expect("issuer URL");
    CoreProviderMetadata::discover_async(issuer, http)
        .await
        .unwrap_or_else(|e| panic!("discovery failed: {e} ({e:?})"))
}

/// The relying party for the `registered` client, built from discovered `metadata`.
fn relying_party(metadata: CoreProviderMetadata, registered: &RpClient) -> RelyingParty {
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        registered.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).expect("redirect URL"))
}

/// The relying party exchanges `code` (with its PKCE `verifier`) at the token endpoint.
async fn exchange_code(
    rp: &RelyingParty,
    http: &BackChannel,
    code: String,
    verifier: PkceCodeVerifier,
) -> CoreTokenResponse {
    rp.exchange_code(AuthorizationCode::new(code))
        .expect("discovery names a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {e} ({e:?})"))
}

/// Where a sign-in left the relying party: its client, the nonce it sent and the token
/// response it got for the user `user_id`.
struct SignedIn {
    http: BackChannel,
    rp: RelyingParty,
    nonce: Nonce,
    tokens: CoreTokenResponse,
    user_id: String,
}

/// Alice signs in to a confidential client through the relying party library: discovery,
/// authorization URL, the browser's part, and the code exchange.
async fn sign_in(app: &TestApp) -> SignedIn {
    let user_id = app.create_user("alice", PASSWORD).await;
    sign_in_with(app, user_id, &["profile", "email"], None).await
}

/// [`sign_in`] for an existing alice (`user_id`), asking for `scopes` besides openid and,
/// with `claims`, sending the OIDC `claims` request parameter (§5.5).
async fn sign_in_with(
    app: &TestApp,
    user_id: String,
    scopes: &[&str],
    claims: Option<&str>,
) -> SignedIn {
    let registered = confidential(app).await;
    let http = BackChannel::new();

    let metadata = discover(app, &http).await;
    let rp = relying_party(metadata, &registered);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
        .set_pkce_challenge(challenge);
    if let Some(claims) = claims {
        request = request.add_extra_param("claims", claims);
    }
    let (auth_url, state, nonce) = request.url();
    assert!(
        auth_url.as_str().starts_with(&app.url("/authorize?")),
        "{auth_url}"
    );

    let callback = browse(app, auth_url.as_str()).await;
    let callback = Url::parse(&callback).expect("callback URL");
    let query = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(query("error"), None, "{callback}");
    assert_eq!(query("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query("iss").as_deref(), Some(app.address.as_str()));
    let code = query("code").expect("an authorization code");

    let tokens = exchange_code(&rp, &http, code, verifier).await;

    SignedIn {
        http,
        rp,
        nonce,
        tokens,
        user_id,
    }
}

/// The browser's part, with the test's cookie-keeping client: opens the authorization URL the
/// relying party built, signs alice in on the login page, allows on the consent page, and
/// returns where the provider finally sends the browser back to the client.
async fn browse(app: &TestApp, auth_url: &str) -> String {
    let resp = app
        .client
        .get(auth_url)
        .send()
        .await
        .expect("GET authorize");
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");

    let page = app.get(&login).await.text().await.expect("login page");
    let csrf = form_value(&page, "csrf_token").expect("login csrf_token");
    let request = form_value(&page, "request").expect("login request");
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("request", &request),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let cont = location(&resp);
    assert!(cont.starts_with("/authorize/continue?request="), "{cont}");

    let resp = app.get(&cont).await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let consent = location(&resp);
    assert!(consent.starts_with("/consent?request="), "{consent}");

    let page = app.get(&consent).await.text().await.expect("consent page");
    let csrf = form_value(&page, "csrf_token").expect("consent csrf_token");
    let request = form_value(&page, "request").expect("consent request");
    let resp = app
        .post_form(
            "/consent",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let callback = location(&resp);
    assert!(callback.starts_with(REDIRECT), "{callback}");
    callback
}

#[tokio::test]
async fn an_independent_relying_party_signs_a_user_in() {
    let app = spawn_app().await;
    let SignedIn {
        http,
        rp,
        nonce,
        tokens,
        user_id,
    } = sign_in(&app).await;

    let id_token = tokens
        .id_token()
        .expect("the token response has an ID token");
    let verifier = rp.id_token_verifier();
    let claims: &CoreIdTokenClaims = id_token
        .claims(&verifier, &nonce)
        .unwrap_or_else(|e| panic!("ID token rejected: {e} ({e:?})"));
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(claims.issuer().as_str(), app.address);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );

    // at_hash binds the access token to the ID token: the token was not swapped.
    let expected = claims
        .access_token_hash()
        .expect("the ID token carries at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("signed"),
        id_token.signing_key(&verifier).expect("signing key"),
    )
    .expect("hash the access token");
    assert_eq!(&actual, expected);

    // The access token works at the userinfo endpoint, for the same subject.
    let userinfo: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .expect("discovery names a userinfo endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {e} ({e:?})"));
    assert_eq!(userinfo.subject().as_str(), user_id);
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
}

#[tokio::test]
async fn the_relying_party_rejects_a_token_response_for_another_nonce() {
    let app = spawn_app().await;
    let SignedIn {
        rp, nonce, tokens, ..
    } = sign_in(&app).await;
    let id_token = tokens
        .id_token()
        .expect("the token response has an ID token");
    let verifier = rp.id_token_verifier();

    let other = Nonce::new_random();
    assert_ne!(other.secret(), nonce.secret());
    match id_token.claims(&verifier, &other) {
        Err(ClaimsVerificationError::InvalidNonce(_)) => {}
        Err(e) => panic!("rejected, but not for the nonce: {e} ({e:?})"),
        Ok(_) => panic!("an ID token for another nonce was accepted"),
    }
    // The same token passes with the nonce that was sent: the nonce alone made the difference.
    assert!(id_token.claims(&verifier, &nonce).is_ok());
}

/// A verifier that accepts only an ID token whose `acr` is `expected`, as an RP checks the
/// acr it asked for (OIDC Core §3.1.3.7, step 12).
fn acr_verifier<'a>(
    rp: &'a RelyingParty,
    expected: &'static str,
) -> openidconnect::core::CoreIdTokenVerifier<'a> {
    rp.id_token_verifier()
        .set_auth_context_verifier_fn(move |acr| match acr {
            Some(acr) if acr.as_str() == expected => Ok(()),
            other => Err(format!("acr {other:?}, expected {expected}")),
        })
}

#[tokio::test]
async fn the_relying_party_asks_for_acr_values_and_verifies_the_acr_achieved() {
    use openidconnect::AuthenticationContextClass;
    const LOA1: &str = "urn:portcullis:loa:1";
    const LOA2: &str = "urn:portcullis:loa:2";
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let registered = confidential(&app).await;
    let http = BackChannel::new();
    let metadata = discover(&app, &http).await;
    let supported: Vec<&str> = metadata
        .acr_values_supported()
        .expect("discovery lists acr values")
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(supported, [LOA1, LOA2]);
    let rp = relying_party(metadata, &registered);

    // Two factors preferred, one accepted: alice has only a password, and that must do.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_auth_context_value(AuthenticationContextClass::new(LOA2.to_owned()))
        .add_auth_context_value(AuthenticationContextClass::new(LOA1.to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = Url::parse(&browse(&app, auth_url.as_str()).await).expect("callback URL");
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let tokens = exchange_code(&rp, &http, code, verifier).await;
    let id_token = tokens.id_token().expect("an ID token");

    let claims: &CoreIdTokenClaims = id_token
        .claims(&acr_verifier(&rp, LOA1), &nonce)
        .unwrap_or_else(|e| panic!("ID token rejected: {e} ({e:?})"));
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some(LOA1));
    let methods: Vec<&str> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(methods, ["pwd"]);
    // The acr is what was achieved, not what was preferred: an RP insisting on loa:2 sees it.
    let insisting = acr_verifier(&rp, LOA2);
    match id_token.claims(&insisting, &nonce) {
        Err(ClaimsVerificationError::InvalidAuthContext(_)) => {}
        other => panic!("an ID token at loa:1 passed as loa:2: {other:?}"),
    }
}

/// A name claim's value without a language tag (OIDC Core §5.2), as the library parsed it.
fn unlocalized<T: std::ops::Deref<Target = String>>(
    claim: Option<&LocalizedClaim<T>>,
) -> Option<&str> {
    claim.and_then(|c| c.get(None)).map(|n| n.as_str())
}

#[tokio::test]
async fn the_relying_party_reads_standard_claims_by_scope_and_through_the_claims_parameter() {
    use portcullis::accounts::profile::Field;

    let app = spawn_app().await;
    let user_id = app.create_user("alice", PASSWORD).await;
    crate::standard_claims::set_profile(&app, "alice", &crate::standard_claims::FULL).await;
    let claims = serde_json::json!({
        "id_token": { "given_name": null, "locale": null, "zoneinfo": { "essential": true } },
        "userinfo": { "birthdate": null },
    })
    .to_string();
    let SignedIn {
        http,
        rp,
        nonce,
        tokens,
        user_id,
    } = sign_in_with(
        &app,
        user_id,
        &["profile", "email", "phone", "address"],
        Some(&claims),
    )
    .await;

    // The ID token: the email claims (the default for every client) and what the claims
    // parameter asked for there, typed by the library.
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let id: &CoreIdTokenClaims = id_token
        .claims(&verifier, &nonce)
        .unwrap_or_else(|e| panic!("ID token rejected: {e} ({e:?})"));
    assert_eq!(id.subject().as_str(), user_id);
    assert_eq!(id.email_verified(), Some(false));
    assert_eq!(unlocalized(id.given_name()), Some("Ada"));
    assert_eq!(id.locale().map(|l| l.as_str()), Some("en-GB"));
    assert_eq!(id.zoneinfo().map(|z| z.as_str()), Some("Europe/London"));
    assert!(id.phone_number().is_none(), "phone stays at userinfo");
    assert!(id.address().is_none(), "address stays at userinfo");
    assert!(id.family_name().is_none(), "not asked for in the ID token");

    // Userinfo: every claim of the four scopes.
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().to_owned(), Some(id.subject().clone()))
        .expect("discovery names a userinfo endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {e} ({e:?})"));
    assert_eq!(info.subject().as_str(), user_id);
    assert_eq!(unlocalized(info.given_name()), Some("Ada"));
    assert_eq!(unlocalized(info.family_name()), Some("Lovelace"));
    assert_eq!(info.locale().map(|l| l.as_str()), Some("en-GB"));
    assert_eq!(info.zoneinfo().map(|z| z.as_str()), Some("Europe/London"));
    assert_eq!(
        info.phone_number().map(|p| p.as_str()),
        Some("+442071838750")
    );
    assert_eq!(info.phone_number_verified(), Some(true));
    assert_eq!(info.email_verified(), Some(false));
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
    let address = info.address().expect("the address claim");
    assert_eq!(
        address.locality.as_ref().map(|l| l.as_str()),
        Some("London")
    );
    assert_eq!(
        address.postal_code.as_ref().map(|p| p.as_str()),
        Some("SW1Y 4LB")
    );
    assert_eq!(
        address.street_address.as_ref().map(|s| s.as_str()),
        crate::standard_claims::FULL
            .iter()
            .find(|(f, _)| *f == Field::StreetAddress)
            .map(|(_, v)| *v)
    );
    let updated = info.updated_at().expect("updated_at");
    let id_of_alice = user_id.clone();
    let stored = app
        .db(move |c| portcullis::store::users::find_by_id(c, &id_of_alice))
        .await
        .expect("alice");
    assert_eq!(updated.timestamp(), stored.updated_at);
}
