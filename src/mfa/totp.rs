//! TOTP authenticator apps (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step of skew).
//!
//! Invariants: the secret is stored only envelope-encrypted under the KEK, bound to the
//! user id, so a copied row opens for nobody else and a database dump alone yields no
//! secret; an enrolment counts only after a valid code proves the app holds the secret; a
//! code is accepted at most once: the last accepted time step is stored and a code for it
//! or an earlier step is refused, and advancing it is a conditional UPDATE, so two
//! concurrent requests with the same code cannot both pass.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::MfaError;
use crate::crypto::envelope::Kek;
use crate::store::totp as rows;
use crate::store::{DbConn, StoreError};

const STEP_SECS: u64 = 30;

/// What the enrolment page shows: the secret for manual entry and as a QR code.
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// An `<svg>` element, generated here from the URI (no user-supplied markup).
    pub qr_svg: String,
}

fn context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// `issuer` and `account` label the entry in the authenticator app.
fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp, MfaError> {
    // The otpauth label format forbids ':' in both parts.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| MfaError::Unexpected(format!("TOTP parameters: {e}")))
}

fn open(kek: &Kek, row: &rows::TotpRow) -> Result<Vec<u8>, MfaError> {
    kek.decrypt(&row.secret_enc, &context(&row.user_id))
        .map_err(|e| MfaError::Unexpected(format!("TOTP secret of {}: {e}", row.user_id)))
}

/// How long a started set-up stays usable.
const PENDING_SECS: i64 = 3600;

/// Starts an enrolment with a fresh 160-bit secret for `owner` (the SHA-256 of the sign-in
/// challenge or session token that asked), replacing any other pending one. Call inside a
/// transaction; refuses while a confirmed authenticator exists.
pub fn begin(
    c: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    owner: &str,
    now: i64,
) -> Result<(), MfaError> {
    if rows::find(c, user_id)?.is_some_and(|r| r.confirmed_at.is_some()) {
        return Err(MfaError::AlreadyEnrolled);
    }
    let secret: [u8; 20] = crate::crypto::random::bytes();
    let sealed = kek.encrypt(&secret, &context(user_id));
    rows::insert_pending(c, user_id, &sealed, owner, now)?;
    Ok(())
}

/// The user's pending enrolment if `owner` started it and it is recent: a set-up begun
/// elsewhere (another browser, an attacker holding only the password) is never shown here.
fn pending_row(
    c: &mut DbConn,
    user_id: &str,
    owner: &str,
    now: i64,
) -> Result<Option<rows::TotpRow>, StoreError> {
    Ok(rows::find(c, user_id)?.filter(|r| {
        r.confirmed_at.is_none()
            && r.pending_for.as_deref() == Some(owner)
            && now - r.created_at < PENDING_SECS
    }))
}

/// The pending enrolment of `owner` to show, if one exists.
pub fn pending(
    c: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    owner: &str,
    label: (&str, &str),
    now: i64,
) -> Result<Option<Enrollment>, MfaError> {
    let Some(row) = pending_row(c, user_id, owner, now)? else {
        return Ok(None);
    };
    let totp = totp(open(kek, &row)?, label.0, label.1)?;
    let otpauth_uri = totp
        .to_url()
        .map_err(|e| MfaError::Unexpected(format!("otpauth URI: {e}")))?;
    let qr_svg = QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| MfaError::Unexpected(format!("QR code: {e}")))?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Drop the XML prolog so the element can sit inside HTML.
    let qr_svg = match qr_svg.find("<svg") {
        Some(i) => qr_svg[i..].to_owned(),
        None => qr_svg,
    };
    Ok(Some(Enrollment {
        secret_base32: totp.secret().to_base32(),
        otpauth_uri,
        qr_svg,
    }))
}

/// The pending enrolment of `owner`, started now if there is none.
pub fn pending_or_begin(
    c: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    owner: &str,
    label: (&str, &str),
    now: i64,
) -> Result<Enrollment, MfaError> {
    if let Some(e) = pending(c, kek, user_id, owner, label, now)? {
        return Ok(e);
    }
    begin(c, kek, user_id, owner, now)?;
    pending(c, kek, user_id, owner, label, now)?.ok_or(MfaError::NotEnrolling)
}

/// The time step `code` matches, if any, within the skew window around `now`.
fn matching_step(secret: Vec<u8>, code: &str, now: i64) -> Result<Option<i64>, MfaError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret, "", "")?;
    let now = u64::try_from(now).unwrap_or(0);
    Ok(totp.check(&code, now).and_then(|s| i64::try_from(s).ok()))
}

/// Confirms `owner`'s pending enrolment with its first code. Call inside a transaction.
pub fn confirm(
    c: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    owner: &str,
    code: &str,
    now: i64,
) -> Result<bool, MfaError> {
    let Some(row) = pending_row(c, user_id, owner, now)? else {
        return Err(MfaError::NotEnrolling);
    };
    match matching_step(open(kek, &row)?, code, now)? {
        Some(step) => Ok(rows::confirm(c, user_id, step, now)?),
        None => Ok(false),
    }
}

/// Checks a sign-in code and spends its time step. Call inside a transaction.
pub fn verify(
    c: &mut DbConn,
    kek: &Kek,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool, MfaError> {
    let Some(row) = rows::find(c, user_id)?.filter(|r| r.confirmed_at.is_some()) else {
        return Ok(false);
    };
    match matching_step(open(kek, &row)?, code, now)? {
        Some(step) if step > row.last_step => Ok(rows::advance_step(c, user_id, step)?),
        _ => Ok(false),
    }
}

pub fn is_enrolled(c: &mut DbConn, user_id: &str) -> Result<bool, StoreError> {
    Ok(rows::find(c, user_id)?.is_some_and(|r| r.confirmed_at.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_6238_sha1_test_vector_within_one_step_of_skew() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890".to_vec();
        assert_eq!(
            matching_step(secret.clone(), "287082", 59).unwrap(),
            Some(1)
        );
        assert_eq!(
            matching_step(secret.clone(), "287 082", 59 + 30).unwrap(),
            Some(1)
        );
        assert_eq!(
            matching_step(secret.clone(), "287082", 59 + 60).unwrap(),
            None
        );
        assert_eq!(matching_step(secret.clone(), "28708", 59).unwrap(), None);
        assert_eq!(matching_step(secret, "28708a", 59).unwrap(), None);
    }

    #[test]
    fn the_otpauth_uri_names_the_issuer_and_the_account() {
        let t = totp(vec![7; 20], "Portcullis", "alice").unwrap();
        let uri = t.to_url().unwrap();
        assert!(uri.starts_with("otpauth://totp/Portcullis:alice?"), "{uri}");
        assert!(uri.contains("issuer=Portcullis"), "{uri}");
    }
}
