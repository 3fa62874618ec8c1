//! Password policy after NIST SP 800-63B-4 §3.1.1.2: a length floor (15 by default, never
//! below 12) and a ceiling of at least 128, no composition rules, and a blocklist: the most
//! common passwords (shipped in `common_passwords.txt`, 30,000 entries from the zxcvbn
//! frequency list, MIT), trivially padded variants of them, repetitive or sequential
//! strings, and passwords containing the account's own username or email.

use std::collections::HashSet;
use std::sync::LazyLock;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why a password was refused; the messages are shown to the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most {0} characters.")]
    TooLong(usize),
    #[error("This password is too common; choose one that others are unlikely to use.")]
    Common,
    #[error("The password must not contain your username or email address.")]
    ContainsIdentifier,
    #[error("The password is too repetitive or sequential.")]
    Repetitive,
}

#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl PasswordPolicy {
    /// `identifiers` are the account's username and email; a password containing either
    /// (or the email's local part) is refused.
    pub fn check(&self, password: &str, identifiers: &[&str]) -> Result<(), PolicyViolation> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(PolicyViolation::TooShort(self.min_length));
        }
        if length > self.max_length {
            return Err(PolicyViolation::TooLong(self.max_length));
        }
        let lower = password.to_lowercase();
        if is_common(&lower) {
            return Err(PolicyViolation::Common);
        }
        if contains_identifier(&lower, identifiers) {
            return Err(PolicyViolation::ContainsIdentifier);
        }
        if is_repetitive(&lower) {
            return Err(PolicyViolation::Repetitive);
        }
        Ok(())
    }
}

/// Exact matches, and common passwords padded at the end with digits or symbols
/// ("password2024!!!!"), the commonest way people stretch a short password.
fn is_common(lower: &str) -> bool {
    if COMMON.contains(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    stem.chars().count() >= 4 && stem != lower && COMMON.contains(stem)
}

fn contains_identifier(lower: &str, identifiers: &[&str]) -> bool {
    identifiers.iter().any(|id| {
        let id = id.trim().to_lowercase();
        let local = id.split('@').next().unwrap_or_default().to_owned();
        [id, local]
            .iter()
            .any(|part| part.chars().count() >= 3 && lower.contains(part.as_str()))
    })
}

/// Fewer than four distinct characters, or a run like "abcdefgh..." / "98765...".
fn is_repetitive(lower: &str) -> bool {
    let distinct: HashSet<char> = lower.chars().collect();
    if distinct.len() < 4 {
        return true;
    }
    let codes: Vec<i64> = lower.chars().map(|c| i64::from(u32::from(c))).collect();
    let steps: HashSet<i64> = codes.windows(2).map(|w| w[1] - w[0]).collect();
    steps.len() == 1 && steps.iter().all(|s| s.abs() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy {
        min_length: 15,
        max_length: 128,
    };

    #[test]
    fn the_shipped_list_has_at_least_ten_thousand_entries() {
        assert!(COMMON.len() >= 10_000, "{}", COMMON.len());
        assert!(COMMON.contains("password"));
    }

    #[test]
    fn length_bounds_count_characters_not_bytes() {
        assert_eq!(
            POLICY.check("short but ok?", &[]),
            Err(PolicyViolation::TooShort(15))
        );
        assert_eq!(POLICY.check("correct horse battery", &[]), Ok(()));
        // 15 characters of which several are multi-byte.
        assert_eq!(POLICY.check("ünïcödé pässwö!", &[]), Ok(()));
        let long = "a1b2c3d4e5".repeat(13);
        assert_eq!(POLICY.check(&long, &[]), Err(PolicyViolation::TooLong(128)));
        assert_eq!(POLICY.check(&long[..128], &[]), Ok(()));
    }

    #[test]
    fn no_composition_rules() {
        // All lowercase letters and spaces, no digits or symbols: fine.
        assert_eq!(POLICY.check("purple elephants dance quietly", &[]), Ok(()));
    }

    #[test]
    fn common_passwords_and_padded_variants_are_refused() {
        let p = PasswordPolicy {
            min_length: 12,
            max_length: 128,
        };
        assert_eq!(p.check("qwerasdfzxcv", &[]), Err(PolicyViolation::Common));
        assert_eq!(
            p.check("Password2024!!!!", &[]),
            Err(PolicyViolation::Common)
        );
        assert_eq!(
            p.check("iloveyou12345678", &[]),
            Err(PolicyViolation::Common)
        );
        assert_eq!(p.check("1qaz2wsx3edc", &[]), Err(PolicyViolation::Common));
    }

    #[test]
    fn passwords_containing_username_or_email_are_refused() {
        let ids = ["alice", "alice.smith@example.com"];
        assert_eq!(
            POLICY.check("my name is Alice and I like tea", &ids),
            Err(PolicyViolation::ContainsIdentifier)
        );
        assert_eq!(
            POLICY.check("ALICE.SMITH is my favourite", &ids),
            Err(PolicyViolation::ContainsIdentifier)
        );
        assert_eq!(POLICY.check("bob likes tea very much", &ids), Ok(()));
    }

    #[test]
    fn repetitive_and_sequential_passwords_are_refused() {
        assert_eq!(
            POLICY.check("aaaaaaaaaaaaaaaaaaaa", &[]),
            Err(PolicyViolation::Repetitive)
        );
        assert_eq!(
            POLICY.check("abababababababab", &[]),
            Err(PolicyViolation::Repetitive)
        );
        assert_eq!(
            POLICY.check("abcdefghijklmnopq", &[]),
            Err(PolicyViolation::Repetitive)
        );
        assert_eq!(
            POLICY.check("zyxwvutsrqponmlk", &[]),
            Err(PolicyViolation::Repetitive)
        );
    }
}
