//! The user's profile: the standard claims of OIDC Core §5.1 that a person (on
//! `/account/profile`) or an operator (`portcullis user update|add`) sets.
//!
//! Invariants: a change is validated as a whole before anything is written (one bad field
//! and nothing is saved; every bad field is reported); a saved change sets `updated_at` and
//! writes a `user.profile_updated` audit event naming the changed claims (never their
//! values) in the same transaction. A new phone number is unverified unless the operator
//! says otherwise in the same change: Portcullis does not verify numbers itself. The email
//! address is not part of the profile: it changes only through its confirmation link.

mod fields;

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use fields::Field;

use super::AccountError;
use crate::audit::{self, Actor, Event};
use crate::store::profiles::{self, ProfileRow};
use crate::store::{self, users, DbConn, Store, StoreError};

/// The structured `address` claim (OIDC Core §5.1.1); empty members are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

/// A user's stored profile, with the address decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Every column but `address`, which lives (decoded) beside it.
    #[serde(flatten)]
    row: ProfileRow,
    pub address: Option<Address>,
}

impl Profile {
    pub fn from_row(mut row: ProfileRow) -> Self {
        let address = row
            .address
            .take()
            .and_then(|a| serde_json::from_str::<Address>(&a).ok())
            .filter(|a| !a.is_empty());
        Profile { row, address }
    }

    fn into_row(self) -> ProfileRow {
        ProfileRow {
            address: self
                .address
                .filter(|a| !a.is_empty())
                .and_then(|a| serde_json::to_string(&a).ok()),
            ..self.row
        }
    }

    /// Where a field is kept; an address part creates the address (an empty one is
    /// dropped again by [`apply`]).
    fn slot(&mut self, field: Field) -> &mut Option<String> {
        let row = &mut self.row;
        match field {
            Field::Name => &mut row.display_name,
            Field::GivenName => &mut row.given_name,
            Field::FamilyName => &mut row.family_name,
            Field::MiddleName => &mut row.middle_name,
            Field::Nickname => &mut row.nickname,
            Field::PreferredUsername => &mut row.preferred_username,
            Field::Profile => &mut row.profile,
            Field::Picture => &mut row.picture,
            Field::Website => &mut row.website,
            Field::Gender => &mut row.gender,
            Field::Birthdate => &mut row.birthdate,
            Field::Zoneinfo => &mut row.zoneinfo,
            Field::Locale => &mut row.locale,
            Field::PhoneNumber => &mut row.phone_number,
            Field::StreetAddress => {
                &mut self
                    .address
                    .get_or_insert_with(Address::default)
                    .street_address
            }
            Field::Locality => &mut self.address.get_or_insert_with(Address::default).locality,
            Field::Region => &mut self.address.get_or_insert_with(Address::default).region,
            Field::PostalCode => {
                &mut self
                    .address
                    .get_or_insert_with(Address::default)
                    .postal_code
            }
            Field::Country => &mut self.address.get_or_insert_with(Address::default).country,
            Field::Formatted => &mut self.address.get_or_insert_with(Address::default).formatted,
        }
    }

    /// The stored value of a field, if set.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    fn values(&self) -> impl Iterator<Item = (Field, &str)> {
        let v = &self.row;
        let a = self.address.as_ref();
        let pairs: [(Field, Option<&String>); 20] = [
            (Field::Name, v.display_name.as_ref()),
            (Field::GivenName, v.given_name.as_ref()),
            (Field::FamilyName, v.family_name.as_ref()),
            (Field::MiddleName, v.middle_name.as_ref()),
            (Field::Nickname, v.nickname.as_ref()),
            (Field::PreferredUsername, v.preferred_username.as_ref()),
            (Field::Profile, v.profile.as_ref()),
            (Field::Picture, v.picture.as_ref()),
            (Field::Website, v.website.as_ref()),
            (Field::Gender, v.gender.as_ref()),
            (Field::Birthdate, v.birthdate.as_ref()),
            (Field::Zoneinfo, v.zoneinfo.as_ref()),
            (Field::Locale, v.locale.as_ref()),
            (Field::PhoneNumber, v.phone_number.as_ref()),
            (
                Field::StreetAddress,
                a.and_then(|a| a.street_address.as_ref()),
            ),
            (Field::Locality, a.and_then(|a| a.locality.as_ref())),
            (Field::Region, a.and_then(|a| a.region.as_ref())),
            (Field::PostalCode, a.and_then(|a| a.postal_code.as_ref())),
            (Field::Country, a.and_then(|a| a.country.as_ref())),
            (Field::Formatted, a.and_then(|a| a.formatted.as_ref())),
        ];
        pairs
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f, v.as_str())))
    }

    pub fn phone_number_verified(&self) -> bool {
        self.row.phone_number_verified
    }

    pub fn email_verified(&self) -> bool {
        self.row.email_verified
    }
}

/// A set of changes: fields to set (`Some`) or clear (`None`), and the verification flags
/// only an operator may set.
#[derive(Debug, Default, Clone)]
pub struct ProfileChange {
    pub fields: Vec<(Field, Option<String>)>,
    pub phone_number_verified: Option<bool>,
    pub email_verified: Option<bool>,
}

impl ProfileChange {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.phone_number_verified.is_none()
            && self.email_verified.is_none()
    }
}

/// A refused value: which field, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    pub message: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// One or more values are refused; nothing was saved.
    #[error("invalid profile: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for ProfileError {
    fn from(e: StoreError) -> Self {
        ProfileError::Account(AccountError::Store(e))
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field.claim(), e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Today as `YYYY-MM-DD` (UTC), for the birthdate check.
fn today() -> String {
    crate::time::format_utc(crate::time::now())
        .chars()
        .take(10)
        .collect()
}

/// Applies `change` to `current`, validating every field; returns the new profile and the
/// names of the claims that changed. Pure: no database.
pub fn apply(
    current: &Profile,
    change: &ProfileChange,
) -> Result<(Profile, Vec<&'static str>), Vec<FieldError>> {
    let today = today();
    let mut next = current.clone();
    let mut errors = Vec::new();
    for (field, raw) in &change.fields {
        match raw.as_deref().map(|r| field.check(r, &today)).transpose() {
            Ok(value) => *next.slot(*field) = value.flatten(),
            Err(message) => errors.push(FieldError {
                field: *field,
                message,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if next.address.as_ref().is_some_and(Address::is_empty) {
        next.address = None;
    }
    let number_changed = next.row.phone_number != current.row.phone_number;
    next.row.phone_number_verified = match change.phone_number_verified {
        Some(v) => v && next.row.phone_number.is_some(),
        None if number_changed => false,
        None => current.row.phone_number_verified,
    };
    if let Some(v) = change.email_verified {
        next.row.email_verified = v;
    }
    let mut changed: Vec<&'static str> = Field::ALL
        .into_iter()
        .filter(|f| !f.in_address() && next.get(*f) != current.get(*f))
        .map(Field::claim)
        .collect();
    if next.address != current.address {
        changed.push("address");
    }
    if next.row.phone_number_verified != current.row.phone_number_verified {
        changed.push("phone_number_verified");
    }
    if next.row.email_verified != current.row.email_verified {
        changed.push("email_verified");
    }
    Ok((next, changed))
}

pub fn load(conn: &mut DbConn, user_id: &str) -> Result<Option<Profile>, StoreError> {
    Ok(profiles::find(conn, user_id)?.map(Profile::from_row))
}

/// Validates and saves `change` for a user, inside the caller's transaction. Returns the
/// saved profile.
pub fn save_in(
    conn: &mut DbConn,
    user_id: &str,
    change: &ProfileChange,
    actor: &Actor,
    ip: Option<&str>,
) -> Result<Profile, ProfileError> {
    let current = load(conn, user_id)?.ok_or(AccountError::UnknownUser)?;
    let (next, changed) = apply(&current, change).map_err(ProfileError::Invalid)?;
    if changed.is_empty() {
        return Ok(next);
    }
    profiles::update(conn, user_id, &next.clone().into_row(), crate::time::now())?;
    if let Some(verified) = change.email_verified {
        profiles::set_email_verified(conn, user_id, verified)?;
    }
    audit::record(
        conn,
        Event {
            action: "user.profile_updated",
            actor,
            target: Some(user_id),
            ip,
            detail: json!({ "claims": changed }),
        },
    )?;
    Ok(next)
}

pub async fn profile_of(store: &Store, user_id: &str) -> Result<Option<Profile>, StoreError> {
    let id = user_id.to_owned();
    store.run(move |c| load(c, &id)).await
}

/// Saves a change made by the user themselves (`/account/profile`). Fields an owner may not
/// edit (`preferred_username`) are refused, and the verification flags cannot be expressed.
pub async fn update_own(
    store: &Store,
    user_id: &str,
    fields: Vec<(Field, Option<String>)>,
    ip: Option<String>,
) -> Result<Profile, ProfileError> {
    let refused: Vec<FieldError> = fields
        .iter()
        .filter(|(f, _)| !f.user_editable())
        .map(|(f, _)| FieldError {
            field: *f,
            message: "only an administrator can change this",
        })
        .collect();
    if !refused.is_empty() {
        return Err(ProfileError::Invalid(refused));
    }
    let change = ProfileChange {
        fields,
        ..ProfileChange::default()
    };
    let id = user_id.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                save_in(c, &id, &change, &Actor::User(id.clone()), ip.as_deref())
            })
        })
        .await
}

/// Saves a change made by an operator to the user named `username`.
pub async fn update_by_username(
    store: &Store,
    username: &str,
    change: ProfileChange,
    actor: Actor,
) -> Result<(String, Profile), ProfileError> {
    // Legacy names that break today's rules (e.g. with `@`) keep working for the operator.
    let username = username.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user = super::names::find_by_username(c, &username)?
                    .ok_or(AccountError::UnknownUser)?;
                let profile = save_in(c, &user.id, &change, &actor, None)?;
                Ok((user.id, profile))
            })
        })
        .await
}

/// Creates an account with an initial profile (`portcullis user add`): the profile is
/// checked before anything else, and the account and its profile are written in one
/// transaction.
pub async fn create_with_profile(
    store: &Store,
    hasher: &crate::crypto::password::PasswordHasher,
    policy: &super::PasswordPolicy,
    new: super::NewUser,
    change: ProfileChange,
    actor: Actor,
) -> Result<(crate::store::users::UserRow, Profile), ProfileError> {
    apply(&Profile::default(), &change).map_err(ProfileError::Invalid)?;
    let prepared = super::prepare(hasher, policy, new).await?;
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                super::insert_prepared(c, &prepared, &actor)?;
                let id = prepared.row().id.clone();
                let profile = save_in(c, &id, &change, &actor, None)?;
                let user = users::find_by_id(c, &id)?.ok_or(AccountError::UnknownUser)?;
                Ok((user, profile))
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(fields: &[(Field, Option<&str>)], verified: Option<bool>) -> ProfileChange {
        ProfileChange {
            fields: fields
                .iter()
                .map(|(f, v)| (*f, v.map(str::to_owned)))
                .collect(),
            phone_number_verified: verified,
            email_verified: None,
        }
    }

    #[test]
    fn a_new_phone_number_is_unverified_unless_the_change_says_so() {
        let phone = |n| change(&[(Field::PhoneNumber, Some(n))], None);
        let (verified, _) = apply(
            &Profile::default(),
            &change(&[(Field::PhoneNumber, Some("+15555550100"))], Some(true)),
        )
        .unwrap();
        assert!(verified.phone_number_verified());
        let (same, changed) = apply(&verified, &phone("+1 555 555 0100")).unwrap();
        assert!(same.phone_number_verified() && changed.is_empty());
        let (other, changed) = apply(&verified, &phone("+15555550101")).unwrap();
        assert!(!other.phone_number_verified());
        assert_eq!(changed, ["phone_number", "phone_number_verified"]);
        let (cleared, _) = apply(
            &verified,
            &change(&[(Field::PhoneNumber, None)], Some(true)),
        )
        .unwrap();
        assert!(
            !cleared.phone_number_verified(),
            "no number, nothing verified"
        );
    }

    #[test]
    fn every_bad_field_is_reported_and_an_emptied_address_disappears() {
        let errors = apply(
            &Profile::default(),
            &change(
                &[
                    (Field::Locale, Some("en_US")),
                    (Field::GivenName, Some("Ada")),
                    (Field::Zoneinfo, Some("Nowhere")),
                ],
                None,
            ),
        )
        .unwrap_err();
        let fields: Vec<Field> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, [Field::Locale, Field::Zoneinfo]);

        let (with, changed) = apply(
            &Profile::default(),
            &change(&[(Field::Locality, Some("Oxford"))], None),
        )
        .unwrap();
        assert_eq!(changed, ["address"]);
        let (without, _) = apply(&with, &change(&[(Field::Locality, Some(" "))], None)).unwrap();
        assert_eq!(without.address, None);
        assert_eq!(without.into_row().address, None);
    }
}
