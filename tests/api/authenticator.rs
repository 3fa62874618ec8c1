//! A software WebAuthn authenticator plus the browser's part of the ceremony, for tests.
//!
//! It takes the JSON options our begin endpoints return (`{"publicKey": {...}}`, or the inner
//! object) and returns the JSON a browser's `navigator.credentials.create/get` result becomes
//! in `static/webauthn.js`, so tests post exactly what the page would. Credentials are
//! discoverable (they keep the user handle), signed with ES256, attestation `none`.
//!
//! Knobs to misbehave: `rp_id_override` signs for another relying party, `verify_user` clears
//! the UV flag, `synced` makes backup-eligible credentials whose counter stays 0 (as
//! synced passkeys do), and cloning the authenticator copies its keys and counters (a cloned
//! device).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

#[derive(Clone)]
struct Credential {
    id: Vec<u8>,
    key: SigningKey,
    rp_id: String,
    user_handle: Vec<u8>,
    counter: u32,
}

#[derive(Clone)]
pub struct SoftAuthenticator {
    credentials: Vec<Credential>,
    /// Backup eligible and backed up, counter always 0 (a synced passkey); otherwise a
    /// device-bound credential whose counter goes up by one per use.
    pub synced: bool,
    /// Sets the UV flag (the user passed a PIN or biometric check).
    pub verify_user: bool,
    /// Sign for this RP ID rather than the one in the options (a phishing site's).
    pub rp_id_override: Option<String>,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftAuthenticator {
    /// A device-bound authenticator (like a security key) that verifies the user.
    pub fn new() -> Self {
        Self {
            credentials: Vec::new(),
            synced: false,
            verify_user: true,
            rp_id_override: None,
        }
    }

    /// A synced passkey provider (like a platform password manager).
    pub fn synced() -> Self {
        Self {
            synced: true,
            ..Self::new()
        }
    }

    /// base64url ids of the credentials this authenticator holds, oldest first.
    pub fn credential_ids(&self) -> Vec<String> {
        self.credentials
            .iter()
            .map(|c| URL_SAFE_NO_PAD.encode(&c.id))
            .collect()
    }

    /// Sets a credential's signature counter (to make it go backwards).
    pub fn set_counter(&mut self, credential_id: &str, counter: u32) {
        self.credential_mut(credential_id).counter = counter;
    }

    /// Whether the options exclude a credential this authenticator holds (a browser would
    /// then refuse to create another with `InvalidStateError`).
    pub fn is_excluded(&self, options: &Value) -> bool {
        let pk = public_key(options);
        let excluded = ids(&pk["excludeCredentials"]);
        self.credentials.iter().any(|c| excluded.contains(&c.id))
    }

    /// `navigator.credentials.create()` for `options` on a page at `origin`: a new credential.
    /// Panics if the options exclude one of ours, as a browser would refuse.
    pub fn register(&mut self, options: &Value, origin: &str) -> Value {
        assert!(
            !self.is_excluded(options),
            "the options exclude a credential this authenticator holds"
        );
        let pk = public_key(options);
        let credential = Credential {
            id: portcullis::crypto::random::bytes::<32>().to_vec(),
            key: new_key(),
            rp_id: self.rp_id_for(&pk["rp"]["id"]),
            user_handle: b64(&pk["user"]["id"]),
            counter: 0,
        };
        self.credentials.push(credential.clone());
        self.attest(&credential, &pk, origin)
    }

    /// A new attestation for a credential held already, ignoring `excludeCredentials` (as a
    /// broken or hostile client might): the server must refuse it.
    pub fn register_again(&mut self, credential_id: &str, options: &Value, origin: &str) -> Value {
        let pk = public_key(options);
        let credential = self.credential_mut(credential_id).clone();
        self.attest(&credential, &pk, origin)
    }

    /// `navigator.credentials.get()` for `options` on a page at `origin`: an assertion by
    /// the first allowed credential, or with an empty allow list (discoverable sign-in) by
    /// the newest credential for the RP ID.
    pub fn authenticate(&mut self, options: &Value, origin: &str) -> Value {
        let pk = public_key(options);
        let allowed = ids(&pk["allowCredentials"]);
        let rp_id = pk["rpId"].as_str().expect("rpId").to_owned();
        let synced = self.synced;
        let credential = if allowed.is_empty() {
            self.credentials
                .iter_mut()
                .rev()
                .find(|c| c.rp_id == rp_id)
                .expect("a credential for this RP ID")
        } else {
            self.credentials
                .iter_mut()
                .find(|c| allowed.contains(&c.id))
                .expect("an allowed credential")
        };
        if !synced {
            credential.counter += 1;
        }
        let credential = credential.clone();
        let client_data = client_data("webauthn.get", &pk, origin);
        let auth_data = self.auth_data(&credential, self.rp_id_for(&json!(rp_id)), 0);
        let signature = sign(&credential.key, &auth_data, &client_data);
        json!({
            "id": URL_SAFE_NO_PAD.encode(&credential.id),
            "rawId": URL_SAFE_NO_PAD.encode(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(&auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature),
                "userHandle": URL_SAFE_NO_PAD.encode(&credential.user_handle),
            },
            "extensions": {},
        })
    }

    fn attest(&self, credential: &Credential, pk: &Value, origin: &str) -> Value {
        let client_data = client_data("webauthn.create", pk, origin);
        let auth_data = self.auth_data(credential, self.rp_id_for(&pk["rp"]["id"]), AT);
        let attestation = Cbor::Map(vec![
            (Cbor::text("fmt"), Cbor::text("none")),
            (Cbor::text("attStmt"), Cbor::Map(Vec::new())),
            (Cbor::text("authData"), Cbor::Bytes(auth_data)),
        ]);
        json!({
            "id": URL_SAFE_NO_PAD.encode(&credential.id),
            "rawId": URL_SAFE_NO_PAD.encode(&credential.id),
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation.encode()),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        })
    }

    /// authenticatorData (WebAuthn §6.1): rpIdHash, flags, signCount and, for a
    /// registration (`AT`), the attested credential data with the COSE public key.
    fn auth_data(&self, credential: &Credential, rp_id: String, extra_flags: u8) -> Vec<u8> {
        let mut flags = UP | extra_flags;
        if self.verify_user {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&credential.counter.to_be_bytes());
        if extra_flags & AT != 0 {
            data.extend_from_slice(&[0u8; 16]); // AAGUID: none
            let len = u16::try_from(credential.id.len()).expect("short credential id");
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&credential.id);
            data.extend_from_slice(&cose_key(&credential.key).encode());
        }
        data
    }

    fn rp_id_for(&self, requested: &Value) -> String {
        self.rp_id_override
            .clone()
            .unwrap_or_else(|| requested.as_str().expect("rp id").to_owned())
    }

    fn credential_mut(&mut self, credential_id: &str) -> &mut Credential {
        let id = URL_SAFE_NO_PAD.decode(credential_id).expect("base64url id");
        self.credentials
            .iter_mut()
            .find(|c| c.id == id)
            .expect("a credential with that id")
    }
}

/// The `publicKey` member of begin options, or the options themselves.
fn public_key(options: &Value) -> Value {
    options
        .get("publicKey")
        .cloned()
        .unwrap_or_else(|| options.clone())
}

fn b64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(value.as_str().expect("base64url string"))
        .expect("base64url")
}

fn ids(list: &Value) -> Vec<Vec<u8>> {
    list.as_array()
        .map(|l| l.iter().map(|c| b64(&c["id"])).collect())
        .unwrap_or_default()
}

fn client_data(kind: &str, pk: &Value, origin: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": kind,
        "challenge": pk["challenge"],
        "origin": origin,
        "crossOrigin": false,
    }))
    .expect("client data JSON")
}

fn new_key() -> SigningKey {
    loop {
        // A random 32-byte string is a valid P-256 scalar with overwhelming probability.
        if let Ok(key) = SigningKey::from_slice(&portcullis::crypto::random::bytes::<32>()) {
            return key;
        }
    }
}

/// ES256 over authenticatorData ‖ SHA-256(clientDataJSON), DER-encoded (§6.3.3).
fn sign(key: &SigningKey, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data));
    let signature: Signature = key.sign(&message);
    signature.to_der().to_bytes().to_vec()
}

/// The COSE_Key of an EC2 P-256 public key for ES256 (RFC 9053 §7.1).
fn cose_key(key: &SigningKey) -> Cbor {
    let point = key.verifying_key().to_sec1_point(false);
    let (x, y) = (
        point.x().expect("uncompressed x").to_vec(),
        point.y().expect("uncompressed y").to_vec(),
    );
    Cbor::Map(vec![
        (Cbor::Int(1), Cbor::Int(2)),  // kty: EC2
        (Cbor::Int(3), Cbor::Int(-7)), // alg: ES256
        (Cbor::Int(-1), Cbor::Int(1)), // crv: P-256
        (Cbor::Int(-2), Cbor::Bytes(x)),
        (Cbor::Int(-3), Cbor::Bytes(y)),
    ])
}

/// The little CBOR (RFC 8949) WebAuthn needs: integers, byte and text strings, maps.
enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    fn text(s: &str) -> Self {
        Cbor::Text(s.to_owned())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(n) if *n >= 0 => head(out, 0, n.unsigned_abs()),
            Cbor::Int(n) => head(out, 1, (-1 - n).unsigned_abs()),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Cbor::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }
}

fn head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
    }
}
