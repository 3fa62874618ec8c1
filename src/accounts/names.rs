//! Usernames and the two sign-in namespaces.
//!
//! Invariants:
//! - A username is stored in its normal form: NFKC, lower-cased, NFKC again (so that
//!   normalising twice changes nothing and fullwidth "Ａｌｉｃｅ" is "alice"); 1 to 64
//!   characters and at most 128 bytes of UTF-8 (so about 42 CJK characters); letters and digits of any script, combining marks
//!   after them, and `.` `_` `-`; it starts with a letter or digit. Refused: `@`, controls
//!   (Cc), format characters such as zero-width joiners and bidi controls (Cf), line and
//!   paragraph separators and spaces (Z*), unassigned, private-use and surrogate code
//!   points, symbols and other punctuation. Confusable letters of different scripts are
//!   not folded: only an exact normal form matches.
//! - A login containing `@` is an email address and is looked up only as one; a login
//!   without is looked up only as a username. Nobody can be given a username equal to
//!   another person's address, so the email sign-in and the reset of one account can never
//!   reach another.
//! - Rows written before these rules ("legacy" names, which may contain `@`) are never
//!   rewritten. They are reported ([`problem`]) and still sign in by their old name, exactly
//!   as typed then (trimmed, lower-cased); an `@` login reaches a legacy username only when
//!   no account has that address, so an address always wins over a username.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::AccountError;
use crate::store::users::{self, UserRow};
use crate::store::{DbConn, StoreError};

pub const MAX_CHARS: usize = 64;
pub const MAX_BYTES: usize = 128;

/// The normal form of a username, or why it cannot be one.
pub fn normalize_username(raw: &str) -> Result<String, AccountError> {
    let folded: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let name: String = folded.nfkc().collect();
    if name.is_empty() {
        return Err(AccountError::InvalidUsername("it is empty"));
    }
    if name.chars().count() > MAX_CHARS || name.len() > MAX_BYTES {
        return Err(AccountError::InvalidUsername(
            "use at most 64 characters (128 bytes)",
        ));
    }
    if name.contains('@') {
        return Err(AccountError::InvalidUsername(
            "it must not contain @ (sign in with your email address instead)",
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        )
    });
    if !first_ok {
        return Err(AccountError::InvalidUsername(
            "it must start with a letter or digit",
        ));
    }
    if !chars.all(allowed) {
        return Err(AccountError::InvalidUsername(
            "use only letters, digits and . _ -",
        ));
    }
    Ok(name)
}

/// Letters, marks and digits of any script, and `._-`. Everything in the "Other" group
/// (controls, format characters, unassigned, private use, surrogates) and every separator
/// falls outside, whatever its script.
fn allowed(c: char) -> bool {
    matches!(c, '.' | '_' | '-')
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Mark
                | GeneralCategoryGroup::Number
        )
}

/// Why a stored username breaks today's rules, if it does (a legacy row).
pub fn problem(username: &str) -> Option<String> {
    match normalize_username(username) {
        Ok(normal) if normal == username => None,
        Ok(_) => Some("not in normal form (NFKC, lower case)".into()),
        Err(e) => Some(e.to_string()),
    }
}

/// A stored username that breaks today's rules.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LegacyName {
    pub id: String,
    pub username: String,
    pub problem: String,
}

/// Every stored username that breaks today's rules, in name order.
pub fn legacy_usernames(conn: &mut DbConn) -> Result<Vec<LegacyName>, StoreError> {
    Ok(users::ids_and_usernames(conn)?
        .into_iter()
        .filter_map(|(id, username)| {
            problem(&username).map(|problem| LegacyName {
                id,
                username,
                problem,
            })
        })
        .collect())
}

/// The account a username names: a legacy row stored exactly under the name as typed
/// (trimmed and lower-cased, the old rule), else the name's normal form. The exact legacy
/// spelling comes first so that a newer account whose normal form happens to equal a
/// legacy name's never captures that legacy owner's sign-in (or an operator's command).
pub fn find_by_username(conn: &mut DbConn, raw: &str) -> Result<Option<UserRow>, StoreError> {
    let legacy = raw.trim().to_lowercase();
    if let Some(user) = legacy_row(conn, &legacy)? {
        return Ok(Some(user));
    }
    match normalize_username(raw) {
        Ok(name) => users::find_by_username(conn, &name),
        Err(_) => Ok(None),
    }
}

/// Whether a new account may not take `name` (already in normal form): an account holds it,
/// or a legacy name normalises to it, which would make the two names one.
pub fn is_taken(conn: &mut DbConn, name: &str) -> Result<bool, StoreError> {
    if users::find_by_username(conn, name)?.is_some() {
        return Ok(true);
    }
    Ok(legacy_usernames(conn)?
        .iter()
        .any(|l| normalize_username(&l.username).is_ok_and(|n| n == name)))
}

/// A row whose stored name breaks today's rules; a conforming name is never reached
/// this way (it was looked up in its normal form already).
fn legacy_row(conn: &mut DbConn, name: &str) -> Result<Option<UserRow>, StoreError> {
    if name.is_empty() || name.len() > 254 {
        return Ok(None);
    }
    Ok(users::find_by_username(conn, name)?.filter(|u| problem(&u.username).is_some()))
}

/// Looks a login up in its one namespace: an address (it has an `@`) or a username.
pub(crate) fn find_login(conn: &mut DbConn, login: &str) -> Result<Option<UserRow>, StoreError> {
    let login = login.trim();
    if login.is_empty() || login.len() > 254 {
        return Ok(None);
    }
    if !login.contains('@') {
        return find_by_username(conn, login);
    }
    let email = login.to_lowercase();
    match users::find_by_email(conn, &email)? {
        Some(user) => Ok(Some(user)),
        // No account has this address: a legacy username spelled like one may sign in.
        None => legacy_row(conn, &email),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_to_one_normal_form() {
        assert_eq!(normalize_username("  Alice ").unwrap(), "alice");
        assert_eq!(normalize_username("Ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(normalize_username("ÉLODIE").unwrap(), "élodie");
        // "e" + combining acute is NFKC "é".
        assert_eq!(normalize_username("e\u{301}lodie").unwrap(), "élodie");
        assert_eq!(normalize_username("ｊｏｓé_1.x-y").unwrap(), "josé_1.x-y");
        assert_eq!(normalize_username("Δημήτρης").unwrap(), "δημήτρης");
        assert_eq!(normalize_username("ｱｲ").unwrap(), "アイ");
        for name in ["alice", "élodie", "İstanbul", "straße", "ǅemal", "ﬁx"] {
            let once = normalize_username(name).unwrap();
            assert_eq!(normalize_username(&once).unwrap(), once, "{name}");
            assert_eq!(problem(&once), None, "{name}");
        }
    }

    #[test]
    fn invisible_control_and_separator_characters_are_refused() {
        for bad in [
            "",
            "a@b",
            "alice@example.com",
            "ａ＠ｂ",
            "al ice",
            "al\u{00a0}ice",
            "al\u{200b}ice",
            "al\u{200d}ice",
            "al\u{202e}ice",
            "al\u{2066}ice",
            "al\u{feff}ice",
            "al\u{2028}ice",
            "al\u{2029}ice",
            "al\u{0007}ice",
            "al\u{e000}ice",
            "al\u{0378}ice",
            "al/ice",
            "al☃ice",
            "-alice",
            ".alice",
            "\u{301}alice",
        ] {
            assert!(normalize_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn length_is_bounded_in_characters_and_bytes() {
        assert!(normalize_username(&"a".repeat(64)).is_ok());
        assert!(normalize_username(&"a".repeat(65)).is_err());
        // Three bytes each: 42 fit in 128 bytes, 43 do not.
        assert!(normalize_username(&"漢".repeat(42)).is_ok());
        assert!(normalize_username(&"漢".repeat(43)).is_err());
    }

    #[test]
    fn legacy_names_are_reported() {
        assert!(problem("a.b_c-d@e").unwrap().contains("@"));
        assert!(problem("Alice").unwrap().contains("normal form"));
        assert_eq!(problem("alice"), None);
    }
}
