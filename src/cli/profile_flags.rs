//! The profile flags shared by `portcullis user add` and `user update`: one per standard
//! claim (OIDC Core §5.1), `--clear CLAIM`, and the verification flags only an operator
//! may set. A refused value names its flag; nothing is changed.

use clap::Args;

use super::CliError;
use crate::accounts::profile::{Field, ProfileChange, ProfileError};

#[derive(Debug, Args)]
pub struct ProfileFlags {
    /// Full name (the `name` claim).
    #[arg(long, visible_alias = "display-name", value_name = "TEXT")]
    name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    given_name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    family_name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    middle_name: Option<String>,
    #[arg(long, value_name = "TEXT")]
    nickname: Option<String>,
    /// Released as preferred_username instead of the username (only an operator sets it).
    #[arg(long, value_name = "TEXT")]
    preferred_username: Option<String>,
    /// Profile page URL (https).
    #[arg(long, value_name = "URL")]
    profile: Option<String>,
    /// Picture URL (https).
    #[arg(long, value_name = "URL")]
    picture: Option<String>,
    /// Website URL (https).
    #[arg(long, value_name = "URL")]
    website: Option<String>,
    #[arg(long, value_name = "TEXT")]
    gender: Option<String>,
    /// YYYY-MM-DD, 0000-MM-DD (year withheld) or YYYY.
    #[arg(long, value_name = "DATE")]
    birthdate: Option<String>,
    /// IANA time zone name, e.g. Europe/Paris.
    #[arg(long, value_name = "ZONE")]
    zoneinfo: Option<String>,
    /// BCP 47 language tag, e.g. en-US.
    #[arg(long, value_name = "TAG")]
    locale: Option<String>,
    /// E.164: + and 8 to 15 digits. A new number is unverified unless
    /// --phone-number-verified true is given too.
    #[arg(long, value_name = "PHONE")]
    phone_number: Option<String>,
    #[arg(long, value_name = "true|false")]
    phone_number_verified: Option<bool>,
    #[arg(long, value_name = "TEXT")]
    street_address: Option<String>,
    #[arg(long, value_name = "TEXT")]
    locality: Option<String>,
    #[arg(long, value_name = "TEXT")]
    region: Option<String>,
    #[arg(long, value_name = "TEXT")]
    postal_code: Option<String>,
    #[arg(long, value_name = "TEXT")]
    country: Option<String>,
    /// The whole postal address as printed on mail (address.formatted).
    #[arg(long, value_name = "TEXT")]
    address_formatted: Option<String>,
    #[arg(long, value_name = "true|false")]
    email_verified: Option<bool>,
    /// Remove a claim (repeatable): any claim above by its claim name (given_name,
    /// phone_number, ...), an address member (street_address, formatted, ...), or address.
    #[arg(long = "clear", value_name = "CLAIM")]
    clear: Vec<String>,
}

impl ProfileFlags {
    /// The change these flags ask for; a claim both set and cleared, or an unknown claim
    /// to clear, is a usage error.
    pub fn into_change(self) -> Result<ProfileChange, CliError> {
        let given = [
            (Field::Name, self.name),
            (Field::GivenName, self.given_name),
            (Field::FamilyName, self.family_name),
            (Field::MiddleName, self.middle_name),
            (Field::Nickname, self.nickname),
            (Field::PreferredUsername, self.preferred_username),
            (Field::Profile, self.profile),
            (Field::Picture, self.picture),
            (Field::Website, self.website),
            (Field::Gender, self.gender),
            (Field::Birthdate, self.birthdate),
            (Field::Zoneinfo, self.zoneinfo),
            (Field::Locale, self.locale),
            (Field::PhoneNumber, self.phone_number),
            (Field::StreetAddress, self.street_address),
            (Field::Locality, self.locality),
            (Field::Region, self.region),
            (Field::PostalCode, self.postal_code),
            (Field::Country, self.country),
            (Field::Formatted, self.address_formatted),
        ];
        let mut fields: Vec<(Field, Option<String>)> = given
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f, Some(v))))
            .collect();
        for claim in &self.clear {
            let cleared: Vec<Field> = match claim.as_str() {
                "address" => Field::ALL.into_iter().filter(|f| f.in_address()).collect(),
                other => match Field::from_claim(other) {
                    Some(f) => vec![f],
                    None => {
                        return Err(CliError::Usage(format!(
                            "--clear: {other:?} is not a claim that can be cleared (use e.g. given_name, locale, phone_number, address)"
                        )))
                    }
                },
            };
            for f in cleared {
                if fields.iter().any(|(set, v)| *set == f && v.is_some()) {
                    return Err(CliError::Usage(format!(
                        "{} and --clear {claim} contradict each other",
                        f.flag()
                    )));
                }
                fields.push((f, None));
            }
        }
        Ok(ProfileChange {
            fields,
            phone_number_verified: self.phone_number_verified,
            email_verified: self.email_verified,
        })
    }
}

impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Invalid(errors) => CliError::Usage(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field.flag(), e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ProfileError::Account(a) => a.into(),
        }
    }
}
