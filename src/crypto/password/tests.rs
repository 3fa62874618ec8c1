use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::*;

const PASSPHRASE: &str = "a long enough passphrase";

fn hasher(m: u32, t: u32) -> PasswordHasher {
    PasswordHasher::new(m, t, 1, 2).unwrap()
}

/// A hash made by the argon2 crate's own `PasswordHasher`, as Portcullis made them before.
fn stock_hash(algorithm: Algorithm, version: Version, params: Params, password: &str) -> String {
    let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
    Argon2::new(algorithm, version, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

async fn verify(h: &PasswordHasher, password: &str, stored: &str) -> Verification {
    h.verify(SecretString::new(password), Some(stored.to_owned()))
        .await
        .unwrap()
}

#[tokio::test]
async fn verifies_the_right_password_only() {
    let h = hasher(8192, 1);
    let stored = h.hash(SecretString::new(PASSPHRASE)).await.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
    assert_eq!(
        verify(&h, PASSPHRASE, &stored).await,
        Verification::Match {
            needs_rehash: false
        }
    );
    assert_eq!(
        verify(&h, "a long enough passphrasE", &stored).await,
        Verification::Mismatch
    );
    assert_eq!(verify(&h, "", &stored).await, Verification::Mismatch);
}

#[tokio::test]
async fn hashes_have_the_stock_format_and_the_stock_verifier_accepts_them() {
    let h = hasher(8192, 1);
    let stored = h.hash(SecretString::new(PASSPHRASE)).await.unwrap();
    // $argon2id$v=19$m=8192,t=1,p=1$<16-byte salt, 22 chars>$<32-byte key, 43 chars>
    let fields: Vec<&str> = stored.split('$').collect();
    assert_eq!(fields.len(), 6, "{stored}");
    assert_eq!(fields[..4], ["", "argon2id", "v=19", "m=8192,t=1,p=1"]);
    assert_eq!(fields[4].len(), 22, "{stored}");
    assert_eq!(fields[5].len(), 43, "{stored}");
    // Same string the stock hasher makes from the same salt.
    let salt = SaltString::from_b64(fields[4]).unwrap();
    let stock = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PASSPHRASE.as_bytes(), &salt)
    .unwrap()
    .to_string();
    assert_eq!(stored, stock);

    let parsed = PasswordHash::new(&stored).unwrap();
    assert!(Argon2::default()
        .verify_password(PASSPHRASE.as_bytes(), &parsed)
        .is_ok());
    assert!(Argon2::default()
        .verify_password(b"a long enough passphrasE", &parsed)
        .is_err());
}

#[tokio::test]
async fn hashes_from_the_stock_hasher_verify() {
    let h = hasher(8192, 1);
    let stored = stock_hash(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8192, 1, 1, None).unwrap(),
        PASSPHRASE,
    );
    assert_eq!(
        verify(&h, PASSPHRASE, &stored).await,
        Verification::Match {
            needs_rehash: false
        }
    );
    assert_eq!(
        verify(&h, "another long passphrase", &stored).await,
        Verification::Mismatch
    );
}

#[tokio::test]
async fn unknown_user_and_garbage_hash_are_mismatches() {
    let h = hasher(8192, 1);
    assert_eq!(
        h.verify(SecretString::new("whatever"), None).await.unwrap(),
        Verification::Mismatch
    );
    for garbage in [
        "not-a-hash",
        "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        // No hash part.
        "$argon2id$v=19$m=8192,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw",
        // Unknown version.
        "$argon2id$v=18$m=8192,t=1,p=1$BwcHBwcHBwcHBwcHBwcHBw$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(
            verify(&h, "whatever", garbage).await,
            Verification::Mismatch,
            "{garbage}"
        );
    }
}

#[tokio::test]
async fn changed_parameters_ask_for_a_rehash() {
    let old = hasher(8192, 1);
    let stored = old.hash(SecretString::new(PASSPHRASE)).await.unwrap();
    let new = hasher(8192, 2);
    assert_eq!(
        verify(&new, PASSPHRASE, &stored).await,
        Verification::Match { needs_rehash: true }
    );
}

#[tokio::test]
async fn legacy_parameters_verify_and_ask_for_a_rehash_without_growing_the_pool() {
    let h = hasher(8192, 1);
    let legacy = [
        // More memory than today's parameters: a one-off buffer.
        stock_hash(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(16384, 1, 1, None).unwrap(),
            PASSPHRASE,
        ),
        // Less memory, more lanes, a shorter key.
        stock_hash(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 2, 2, Some(16)).unwrap(),
            PASSPHRASE,
        ),
        // Other variants and the old version.
        stock_hash(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
            PASSPHRASE,
        ),
        stock_hash(
            Algorithm::Argon2id,
            Version::V0x10,
            Params::new(8192, 1, 1, None).unwrap(),
            PASSPHRASE,
        ),
    ];
    for stored in &legacy {
        assert_eq!(
            verify(&h, PASSPHRASE, stored).await,
            Verification::Match { needs_rehash: true },
            "{stored}"
        );
        assert_eq!(
            verify(&h, "another long passphrase", stored).await,
            Verification::Mismatch,
            "{stored}"
        );
    }
    // Only buffers of today's size are kept, never more than the permits.
    let standard = Params::new(8192, 1, 1, None).unwrap().block_count();
    let kept = h.pool.kept_lengths();
    assert!(!kept.is_empty() && kept.len() <= 2, "{kept:?}");
    assert!(kept.iter().all(|&len| len == standard), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_reuse_at_most_one_buffer_per_permit() {
    let h = hasher(8192, 1);
    let stored = h.hash(SecretString::new(PASSPHRASE)).await.unwrap();
    let before = h.pool.allocations();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let h = h.clone();
            let stored = stored.clone();
            tokio::spawn(async move {
                let password = if i % 2 == 0 {
                    PASSPHRASE
                } else {
                    "another long passphrase"
                };
                (i, verify(&h, password, &stored).await)
            })
        })
        .collect();
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        let expected = if i % 2 == 0 {
            Verification::Match {
                needs_rehash: false,
            }
        } else {
            Verification::Mismatch
        };
        assert_eq!(outcome, expected, "sign-in {i}");
    }
    // Two permits: at most two buffers were ever allocated for the 16 sign-ins, and reused
    // buffers still give the right answers (checked above).
    assert!(
        h.pool.allocations() - before <= 2,
        "{}",
        h.pool.allocations()
    );
    assert!(h.pool.kept() <= 2);
}

#[tokio::test]
async fn kept_memory_is_released_when_hashing_stops() {
    let h = PasswordHasher::with_release_after(8192, 1, 1, 2, Duration::from_secs(1)).unwrap();
    // Start-up's dummy hash keeps nothing.
    assert_eq!(h.pool.kept(), 0);
    let stored = h.hash(SecretString::new(PASSPHRASE)).await.unwrap();
    assert_eq!(h.pool.kept(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.pool.kept() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the buffer was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Hashing after a release allocates again and still works.
    assert_eq!(
        verify(&h, PASSPHRASE, &stored).await,
        Verification::Match {
            needs_rehash: false
        }
    );
    assert_eq!(h.pool.kept(), 1);
}
