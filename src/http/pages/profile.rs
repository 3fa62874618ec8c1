//! `/account/profile`: the signed-in user edits their standard claims (OIDC Core §5.1).
//! Translation only: the rules and the audit event live in `accounts::profile`. A refused
//! value re-renders the form (400) with the values as typed and a message under each bad
//! field; nothing is saved.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, see_other};
use crate::accounts::profile::{self, Field, FieldError, Profile, ProfileError};
use crate::http::extract::{client_ip, CsrfForm, SignedIn};
use crate::http::{AppError, AppState};

struct FieldView {
    name: &'static str,
    label: &'static str,
    value: String,
    input_type: &'static str,
    autocomplete: &'static str,
    hint: &'static str,
    multiline: bool,
    error: Option<&'static str>,
}

struct Group {
    title: &'static str,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "account_profile.html")]
struct ProfilePage<'a> {
    csrf_token: String,
    username: &'a str,
    groups: Vec<Group>,
    saved: bool,
    errors_present: bool,
}

#[derive(Deserialize)]
pub struct ProfileQuery {
    #[serde(default)]
    saved: Option<String>,
}

const GROUPS: [(&str, &[Field]); 5] = [
    (
        "Name",
        &[
            Field::Name,
            Field::GivenName,
            Field::MiddleName,
            Field::FamilyName,
            Field::Nickname,
        ],
    ),
    (
        "About you",
        &[
            Field::Birthdate,
            Field::Gender,
            Field::Website,
            Field::Profile,
            Field::Picture,
        ],
    ),
    ("Language and time zone", &[Field::Locale, Field::Zoneinfo]),
    ("Phone", &[Field::PhoneNumber]),
    (
        "Postal address",
        &[
            Field::StreetAddress,
            Field::Locality,
            Field::Region,
            Field::PostalCode,
            Field::Country,
            Field::Formatted,
        ],
    ),
];

/// How a field is presented: input type, browser autofill token, a hint.
fn presentation(field: Field) -> (&'static str, &'static str, &'static str) {
    match field {
        Field::Name => ("text", "name", ""),
        Field::GivenName => ("text", "given-name", ""),
        Field::MiddleName => ("text", "additional-name", ""),
        Field::FamilyName => ("text", "family-name", ""),
        Field::Nickname => ("text", "nickname", ""),
        Field::Birthdate => (
            "text",
            "bday",
            "YYYY-MM-DD, or 0000-MM-DD to keep the year private, or just YYYY.",
        ),
        Field::Gender => ("text", "sex", ""),
        Field::Website | Field::Profile => ("url", "url", "An https:// address."),
        Field::Picture => ("url", "photo", "An https:// address of an image."),
        Field::Locale => ("text", "language", "A language tag such as en-GB or pt-BR."),
        Field::Zoneinfo => (
            "text",
            "off",
            "A time zone name such as Europe/Berlin or America/New_York.",
        ),
        Field::PhoneNumber => (
            "tel",
            "tel",
            "International format, e.g. +44 20 7183 8750. Changing it marks it unverified.",
        ),
        Field::StreetAddress => ("text", "street-address", ""),
        Field::Locality => ("text", "address-level2", ""),
        Field::Region => ("text", "address-level1", ""),
        Field::PostalCode => ("text", "postal-code", ""),
        Field::Country => ("text", "country-name", ""),
        Field::Formatted => (
            "text",
            "off",
            "Only if your address is not written as above.",
        ),
        Field::PreferredUsername => ("text", "username", ""),
    }
}

fn groups(value: impl Fn(Field) -> String, errors: &[FieldError]) -> Vec<Group> {
    GROUPS
        .iter()
        .map(|(title, fields)| Group {
            title,
            fields: fields
                .iter()
                .map(|f| {
                    let (input_type, autocomplete, hint) = presentation(*f);
                    FieldView {
                        name: f.claim(),
                        label: f.label(),
                        value: value(*f),
                        input_type,
                        autocomplete,
                        hint,
                        multiline: matches!(f, Field::StreetAddress | Field::Formatted),
                        error: errors.iter().find(|e| e.field == *f).map(|e| e.message),
                    }
                })
                .collect(),
        })
        .collect()
}

pub async fn get_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    query: web::Query<ProfileQuery>,
) -> Result<HttpResponse, AppError> {
    let stored: Profile = profile::profile_of(&state.store, &session.user.id)
        .await?
        .unwrap_or_default();
    let value = |f: Field| stored.get(f).unwrap_or_default().to_owned();
    render_form(&req, &state, StatusCode::OK, |csrf_token| ProfilePage {
        csrf_token,
        username: &session.user.username,
        groups: groups(value, &[]),
        saved: query.saved.is_some(),
        errors_present: false,
    })
}

pub async fn post_profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, AppError> {
    // Only the fields the form shows: a field left out of the body stays as it is.
    let fields: Vec<(Field, Option<String>)> = GROUPS
        .iter()
        .flat_map(|(_, fields)| fields.iter())
        .filter_map(|f| form.get(f.claim()).map(|v| (*f, Some(v.clone()))))
        .collect();
    match profile::update_own(&state.store, &session.user.id, fields, client_ip(&req)).await {
        Ok(_) => Ok(see_other("/account/profile?saved=1")),
        Err(ProfileError::Invalid(errors)) => {
            let value = |f: Field| form.get(f.claim()).cloned().unwrap_or_default();
            render_form(&req, &state, StatusCode::BAD_REQUEST, |csrf_token| {
                ProfilePage {
                    csrf_token,
                    username: &session.user.username,
                    groups: groups(value, &errors),
                    saved: false,
                    errors_present: true,
                }
            })
        }
        Err(ProfileError::Account(e)) => Err(e.into()),
    }
}
