//! Token signing keys: generation, encryption at rest, publication (JWKS) and rotation.
//!
//! Invariants:
//! - Private keys exist in the database only envelope-encrypted under the KEK.
//! - A key is published (in the JWKS) from `publish_at` and signs from `activate_at`, which
//!   is `keys.prepublish_secs` later, so relying parties have fetched it before they meet a
//!   token signed with it. At any instant the signing key for an algorithm is the one with
//!   the latest `activate_at` not in the future: a pure function of the table and the clock,
//!   so every instance on one database agrees without coordination, and none signs with a
//!   key that is not yet published.
//! - When a newer key activates, older ones stay published until every token they signed has
//!   expired (`remove_at` = activation + longest token lifetime + leeway).
//! - Verification accepts only the algorithm recorded for the key named by `kid`; `alg: none`,
//!   HMAC with a public key, unknown or unpublished kids all fail.

pub mod kek_source;
mod material;

use std::sync::{Arc, RwLock};

use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::audit::{self, Actor, Event};
use crate::crypto::envelope::{EnvelopeError, Kek};
use crate::store::keys::{self as rows, KeyRow};
use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    #[error("key material: {0}")]
    Material(String),
    #[error("the token's signature or key is not acceptable")]
    InvalidToken,
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<josekit::JoseError> for KeyError {
    fn from(e: josekit::JoseError) -> Self {
        KeyError::Material(e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub rsa_bits: usize,
    pub rotation_interval_secs: i64,
    pub prepublish_secs: i64,
    pub max_token_lifetime_secs: i64,
    /// Extra time a retired key stays published, for clock differences between instances
    /// and relying parties.
    pub removal_leeway_secs: i64,
}

struct LoadedKey {
    kid: String,
    alg: Alg,
    generation: i64,
    publish_at: i64,
    activate_at: i64,
    remove_at: Option<i64>,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public_jwk: Map<String, Value>,
}

impl LoadedKey {
    fn is_published(&self, now: i64) -> bool {
        self.publish_at <= now && self.remove_at.is_none_or(|r| r > now)
    }
}

/// A key as listings show it (no private material).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
    pub generation: i64,
    pub created_at: i64,
    pub publish_at: i64,
    pub activate_at: i64,
    pub remove_at: Option<i64>,
    /// "pending" (published, not yet signing), "active", "retired" (published, no longer
    /// signing) or "removed".
    pub state: &'static str,
}

/// The signing keys, cached in memory and reloaded from the database periodically.
pub struct KeyRing {
    store: Store,
    kek: Kek,
    policy: KeyPolicy,
    keys: RwLock<Arc<Vec<Arc<LoadedKey>>>>,
}

fn load_row(kek: &Kek, row: &KeyRow) -> Result<LoadedKey, KeyError> {
    let alg = Alg::parse(&row.alg)
        .ok_or_else(|| KeyError::Material(format!("unknown algorithm {}", row.alg)))?;
    let pem = kek.decrypt(&row.private_key, &row.kid)?;
    let jwk = Jwk::from_bytes(row.public_jwk.as_bytes())?;
    Ok(LoadedKey {
        signer: material::signer(alg, &pem, &row.kid)?,
        verifier: material::verifier(alg, &jwk)?,
        public_jwk: jwk.as_ref().clone(),
        kid: row.kid.clone(),
        alg,
        generation: row.generation,
        publish_at: row.publish_at,
        activate_at: row.activate_at,
        remove_at: row.remove_at,
    })
}

fn state_of(row: &KeyRow, active_kids: &[String], now: i64) -> &'static str {
    if row.remove_at.is_some_and(|r| r <= now) {
        "removed"
    } else if active_kids.contains(&row.kid) {
        "active"
    } else if row.activate_at > now {
        "pending"
    } else {
        "retired"
    }
}

/// Generates and stores the next generation of `alg`, activating at `activate_at`. Returns
/// `None` when another instance created that generation first.
fn create_next(
    conn: &mut store::DbConn,
    kek: &Kek,
    policy: &KeyPolicy,
    alg: Alg,
    activate_at: i64,
    actor: &Actor,
) -> Result<Option<String>, KeyError> {
    let next = rows::newest(conn, alg.as_str())?.map_or(1, |k| k.generation + 1);
    let kid = crate::crypto::random::identifier();
    // Generated outside the transaction: an RSA-4096 key takes a while.
    let generated = material::generate(alg, &kid, policy.rsa_bits)?;
    let now = crate::time::now();
    let row = KeyRow {
        private_key: kek.encrypt(&generated.private_pem, &kid),
        public_jwk: generated.public_jwk.to_string(),
        kid: kid.clone(),
        alg: alg.as_str().to_owned(),
        generation: next,
        created_at: now,
        publish_at: now,
        activate_at,
        remove_at: None,
    };
    let result = store::transaction(conn, |c| {
        rows::insert(c, &row)?;
        rows::schedule_removal(
            c,
            alg.as_str(),
            next,
            activate_at + policy.max_token_lifetime_secs + policy.removal_leeway_secs,
        )?;
        audit::record(
            c,
            Event {
                action: "key.created",
                actor,
                target: Some(&row.kid),
                ip: None,
                detail: json!({ "alg": row.alg, "generation": next, "activate_at": activate_at }),
            },
        )?;
        Ok::<_, KeyError>(())
    });
    match result {
        Ok(()) => Ok(Some(kid)),
        Err(KeyError::Store(StoreError::Conflict(_))) => Ok(None),
        Err(e) => Err(e),
    }
}

impl KeyRing {
    /// Loads the keys, creating the first one of each algorithm on a fresh database (active
    /// at once: nobody can have cached an older JWKS).
    pub async fn open(store: Store, kek: Kek, policy: KeyPolicy) -> Result<Arc<Self>, KeyError> {
        let ring = Arc::new(KeyRing {
            store,
            kek,
            policy,
            keys: RwLock::new(Arc::new(Vec::new())),
        });
        let (kek, policy) = (ring.kek.clone(), ring.policy);
        ring.store
            .run(move |conn| {
                for alg in Alg::ALL {
                    if rows::newest(conn, alg.as_str())?.is_none() {
                        create_next(conn, &kek, &policy, alg, crate::time::now(), &Actor::System)?;
                    }
                }
                Ok::<_, KeyError>(())
            })
            .await?;
        ring.reload().await?;
        Ok(ring)
    }

    fn snapshot(&self) -> Arc<Vec<Arc<LoadedKey>>> {
        match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rereads the table; already-loaded keys are reused (decrypting is not free).
    pub async fn reload(&self) -> Result<(), KeyError> {
        let rows = self.store.run(rows::all).await?;
        let current = self.snapshot();
        let mut loaded = Vec::with_capacity(rows.len());
        for row in &rows {
            match current.iter().find(|k| k.kid == row.kid) {
                Some(existing) if existing.remove_at == row.remove_at => {
                    loaded.push(Arc::clone(existing))
                }
                _ => loaded.push(Arc::new(load_row(&self.kek, row)?)),
            }
        }
        let fresh = Arc::new(loaded);
        match self.keys.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// Creates a new key for every algorithm. With `immediately`, it signs at once (for a
    /// suspected compromise); otherwise after `keys.prepublish_secs`.
    pub async fn rotate(&self, immediately: bool, actor: Actor) -> Result<Vec<String>, KeyError> {
        let (kek, policy) = (self.kek.clone(), self.policy);
        let created = self
            .store
            .run(move |conn| {
                let now = crate::time::now();
                let activate_at = if immediately {
                    now
                } else {
                    now + policy.prepublish_secs
                };
                let mut created = Vec::new();
                for alg in Alg::ALL {
                    created.extend(create_next(conn, &kek, &policy, alg, activate_at, &actor)?);
                }
                Ok::<_, KeyError>(created)
            })
            .await?;
        self.reload().await?;
        Ok(created)
    }

    /// Takes every key but the newest of each algorithm out of the JWKS at once, so tokens
    /// they signed stop verifying: for a suspected key compromise, after `rotate(true, ..)`.
    pub async fn retire_previous(&self, actor: Actor) -> Result<usize, KeyError> {
        let removed = self
            .store
            .run(move |conn| {
                store::transaction(conn, |c| {
                    let now = crate::time::now();
                    let mut removed = 0;
                    for alg in Alg::ALL {
                        if let Some(newest) = rows::newest(c, alg.as_str())? {
                            removed +=
                                rows::schedule_removal(c, alg.as_str(), newest.generation, now)?;
                        }
                    }
                    audit::record(
                        c,
                        Event {
                            action: "key.retired",
                            actor: &actor,
                            target: None,
                            ip: None,
                            detail: json!({ "keys": removed, "reason": "retired immediately" }),
                        },
                    )?;
                    Ok::<_, KeyError>(removed)
                })
            })
            .await?;
        self.reload().await?;
        Ok(removed)
    }

    /// Starts a rotation for every algorithm whose newest key is due to be replaced, and
    /// deletes keys that left the JWKS more than a day ago. Safe to run on every instance.
    pub async fn maintain(&self) -> Result<usize, KeyError> {
        let (kek, policy) = (self.kek.clone(), self.policy);
        let created = self
            .store
            .run(move |conn| {
                let now = crate::time::now();
                let mut created = 0;
                for alg in Alg::ALL {
                    let due = rows::newest(conn, alg.as_str())?.is_none_or(|k| {
                        k.activate_at + policy.rotation_interval_secs - policy.prepublish_secs
                            <= now
                    });
                    if due {
                        let activate_at = now + policy.prepublish_secs;
                        created += usize::from(
                            create_next(conn, &kek, &policy, alg, activate_at, &Actor::System)?
                                .is_some(),
                        );
                    }
                }
                rows::delete_removed_before(conn, now - 86_400)?;
                Ok::<_, KeyError>(created)
            })
            .await?;
        self.reload().await?;
        Ok(created)
    }

    /// The JWK Set document: every published public key, newest first.
    pub fn jwks(&self) -> Value {
        let now = crate::time::now();
        let snapshot = self.snapshot();
        let mut published: Vec<&Arc<LoadedKey>> =
            snapshot.iter().filter(|k| k.is_published(now)).collect();
        published.sort_by_key(|k| std::cmp::Reverse((k.activate_at, k.generation)));
        let keys: Vec<Value> = published
            .iter()
            .map(|k| Value::Object(k.public_jwk.clone()))
            .collect();
        json!({ "keys": keys })
    }

    fn active(&self, alg: Alg, now: i64) -> Option<Arc<LoadedKey>> {
        self.snapshot()
            .iter()
            .filter(|k| k.alg == alg && k.activate_at <= now && k.is_published(now))
            .max_by_key(|k| (k.activate_at, k.generation))
            .cloned()
    }

    /// The kid that signs `alg` tokens right now.
    pub fn active_kid(&self, alg: Alg) -> Option<String> {
        self.active(alg, crate::time::now()).map(|k| k.kid.clone())
    }

    /// Signs `claims` with the active key of `alg`; `typ` is the JOSE header type
    /// (`JWT` for ID tokens, `at+jwt` for access tokens per RFC 9068).
    pub fn sign(
        &self,
        alg: Alg,
        typ: &str,
        claims: Map<String, Value>,
    ) -> Result<String, KeyError> {
        let key = self
            .active(alg, crate::time::now())
            .ok_or(KeyError::NoActiveKey(alg.as_str()))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&key.kid);
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(&payload, &header, &*key.signer)?)
    }

    /// Checks the signature of a compact JWS against the published keys and returns its
    /// claims and header. Claims (exp, iss, aud, typ) are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<(Map<String, Value>, JwsHeader), KeyError> {
        let now = crate::time::now();
        let snapshot = self.snapshot();
        let (payload, header) = jwt::decode_with_verifier_selector(token, |header| {
            let Some(kid) = header.key_id() else {
                return Ok(None);
            };
            let key = snapshot
                .iter()
                .find(|k| k.kid == kid && k.is_published(now));
            Ok(key
                .filter(|k| header.algorithm() == Some(k.alg.as_str()))
                .map(|k| &*k.verifier))
        })
        .map_err(|_| KeyError::InvalidToken)?;
        Ok((payload.as_ref().clone(), header))
    }

    /// Every key in the database, for `portcullis keys list`.
    pub async fn list(store: &Store) -> Result<Vec<KeyInfo>, KeyError> {
        let rows = store.run(rows::all).await?;
        let now = crate::time::now();
        let active: Vec<String> = Alg::ALL
            .iter()
            .filter_map(|alg| {
                rows.iter()
                    .filter(|r| {
                        r.alg == alg.as_str()
                            && r.activate_at <= now
                            && r.remove_at.is_none_or(|x| x > now)
                    })
                    .max_by_key(|r| (r.activate_at, r.generation))
                    .map(|r| r.kid.clone())
            })
            .collect();
        Ok(rows
            .iter()
            .map(|r| KeyInfo {
                kid: r.kid.clone(),
                alg: Alg::parse(&r.alg).map_or("unknown", Alg::as_str),
                generation: r.generation,
                created_at: r.created_at,
                publish_at: r.publish_at,
                activate_at: r.activate_at,
                remove_at: r.remove_at,
                state: state_of(r, &active, now),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
