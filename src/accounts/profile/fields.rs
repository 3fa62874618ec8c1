//! The editable standard claims (OIDC Core §5.1) and the rule each value must meet.
//!
//! Every value is trimmed; an empty value means "not set". No value may hold control
//! characters, invisible formatting characters (Unicode Cf but ZWNJ/ZWJ), private-use or
//! unassigned code points, nor runs of variation selectors (they could disguise a name on a
//! consent page or in a relying party, or smuggle data), except the line breaks OIDC allows
//! in `street_address` and `formatted`. URLs are https only, to a public DNS name: no IP
//! literal, no `localhost`, no single-label host (a relying party may fetch `picture`
//! server-side, and no user may point it at its internal network); `birthdate` is a real
//! calendar date in the past; `zoneinfo` is an IANA time zone name from the tz database
//! (compiled in, see `zones.txt`); `locale` is a valid BCP 47 tag (RFC 5646, checked against
//! the IANA subtag registry); `phone_number` is E.164.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// A claim a person or an operator can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    GivenName,
    FamilyName,
    MiddleName,
    Nickname,
    PreferredUsername,
    Profile,
    Picture,
    Website,
    Gender,
    Birthdate,
    Zoneinfo,
    Locale,
    PhoneNumber,
    StreetAddress,
    Locality,
    Region,
    PostalCode,
    Country,
    Formatted,
}

enum Rule {
    Text { max: usize, multiline: bool },
    Url,
    Birthdate,
    Zone,
    Locale,
    Phone,
}

impl Field {
    pub const ALL: [Field; 20] = [
        Field::Name,
        Field::GivenName,
        Field::FamilyName,
        Field::MiddleName,
        Field::Nickname,
        Field::PreferredUsername,
        Field::Profile,
        Field::Picture,
        Field::Website,
        Field::Gender,
        Field::Birthdate,
        Field::Zoneinfo,
        Field::Locale,
        Field::PhoneNumber,
        Field::StreetAddress,
        Field::Locality,
        Field::Region,
        Field::PostalCode,
        Field::Country,
        Field::Formatted,
    ];

    /// The name of the claim (for the address parts: the member of `address`), which is
    /// also the form field name.
    pub fn claim(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::MiddleName => "middle_name",
            Field::Nickname => "nickname",
            Field::PreferredUsername => "preferred_username",
            Field::Profile => "profile",
            Field::Picture => "picture",
            Field::Website => "website",
            Field::Gender => "gender",
            Field::Birthdate => "birthdate",
            Field::Zoneinfo => "zoneinfo",
            Field::Locale => "locale",
            Field::PhoneNumber => "phone_number",
            Field::StreetAddress => "street_address",
            Field::Locality => "locality",
            Field::Region => "region",
            Field::PostalCode => "postal_code",
            Field::Country => "country",
            Field::Formatted => "formatted",
        }
    }

    /// The command-line flag that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Formatted => "--address-formatted",
            Field::Name => "--name",
            Field::GivenName => "--given-name",
            Field::FamilyName => "--family-name",
            Field::MiddleName => "--middle-name",
            Field::Nickname => "--nickname",
            Field::PreferredUsername => "--preferred-username",
            Field::Profile => "--profile",
            Field::Picture => "--picture",
            Field::Website => "--website",
            Field::Gender => "--gender",
            Field::Birthdate => "--birthdate",
            Field::Zoneinfo => "--zoneinfo",
            Field::Locale => "--locale",
            Field::PhoneNumber => "--phone-number",
            Field::StreetAddress => "--street-address",
            Field::Locality => "--locality",
            Field::Region => "--region",
            Field::PostalCode => "--postal-code",
            Field::Country => "--country",
        }
    }

    /// Words for the profile page and the consent page.
    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "Full name",
            Field::GivenName => "Given name",
            Field::FamilyName => "Family name",
            Field::MiddleName => "Middle name",
            Field::Nickname => "Nickname",
            Field::PreferredUsername => "Preferred username",
            Field::Profile => "Profile page",
            Field::Picture => "Picture",
            Field::Website => "Website",
            Field::Gender => "Gender",
            Field::Birthdate => "Birthdate",
            Field::Zoneinfo => "Time zone",
            Field::Locale => "Language and region",
            Field::PhoneNumber => "Phone number",
            Field::StreetAddress => "Street address",
            Field::Locality => "City or locality",
            Field::Region => "State or region",
            Field::PostalCode => "Postal code",
            Field::Country => "Country",
            Field::Formatted => "Full address as printed on mail",
        }
    }

    /// Part of the structured `address` claim (OIDC Core §5.1.1).
    pub fn in_address(self) -> bool {
        matches!(
            self,
            Field::StreetAddress
                | Field::Locality
                | Field::Region
                | Field::PostalCode
                | Field::Country
                | Field::Formatted
        )
    }

    /// The owner edits it on /account/profile. `preferred_username` is operator-only: many
    /// relying parties (wrongly, OIDC Core §5.7) key accounts on it, so a person must not be
    /// able to rename themselves to `admin`.
    pub fn user_editable(self) -> bool {
        self != Field::PreferredUsername
    }

    pub fn from_claim(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.claim() == name)
    }

    fn rule(self) -> Rule {
        let text = |max| Rule::Text {
            max,
            multiline: false,
        };
        match self {
            Field::Name | Field::GivenName | Field::FamilyName | Field::MiddleName => text(128),
            Field::Nickname | Field::PreferredUsername | Field::Gender => text(64),
            Field::Locality | Field::Region | Field::Country => text(128),
            Field::PostalCode => text(32),
            Field::StreetAddress => Rule::Text {
                max: 256,
                multiline: true,
            },
            Field::Formatted => Rule::Text {
                max: 512,
                multiline: true,
            },
            Field::Profile | Field::Picture | Field::Website => Rule::Url,
            Field::Birthdate => Rule::Birthdate,
            Field::Zoneinfo => Rule::Zone,
            Field::Locale => Rule::Locale,
            Field::PhoneNumber => Rule::Phone,
        }
    }

    /// The value to store: `Ok(None)` for an empty value (clears the claim), the normalised
    /// value, or why it is refused (a sentence for a person).
    pub fn check(self, raw: &str, today: &str) -> Result<Option<String>, &'static str> {
        let raw = raw.replace("\r\n", "\n");
        let value = raw.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let multiline = matches!(
            self.rule(),
            Rule::Text {
                multiline: true,
                ..
            }
        );
        if value
            .chars()
            .any(|c| forbidden(c) && !(multiline && c == '\n'))
        {
            return Err("control or invisible characters are not allowed");
        }
        if smuggles_variation_selectors(value) {
            return Err("control or invisible characters are not allowed");
        }
        let checked = match self.rule() {
            Rule::Text { max, .. } if value.chars().count() > max => Err(match max {
                32 => "use at most 32 characters",
                64 => "use at most 64 characters",
                128 => "use at most 128 characters",
                256 => "use at most 256 characters",
                _ => "use at most 512 characters",
            }),
            Rule::Text { .. } => Ok(value.to_owned()),
            Rule::Url => https_url(value),
            Rule::Birthdate => birthdate(value, today),
            Rule::Zone => zone(value),
            Rule::Locale => locale(value),
            Rule::Phone => phone(value),
        };
        checked.map(Some)
    }
}

/// Controls, and every invisible formatting character (general category Cf: bidi
/// overrides, soft hyphen, U+061C, U+180E, interlinear annotations, tag characters...),
/// except ZWNJ/ZWJ, which some scripts and emoji sequences need; private-use and
/// unassigned code points too, as a relying party cannot know how they render.
fn forbidden(c: char) -> bool {
    match c.general_category() {
        GeneralCategory::Format => !matches!(c, '\u{200C}' | '\u{200D}'),
        GeneralCategory::Control
        | GeneralCategory::Surrogate
        | GeneralCategory::PrivateUse
        | GeneralCategory::Unassigned
        | GeneralCategory::LineSeparator
        | GeneralCategory::ParagraphSeparator => true,
        _ => false,
    }
}

/// Variation selectors (U+FE00–FE0F, U+E0100–E01EF) are marks, not Cf: one after a
/// visible character picks its presentation (emoji, ideographic variants), but a run of
/// them, or one with nothing to modify, hides data in text that looks innocent.
fn smuggles_variation_selectors(value: &str) -> bool {
    let selector = |c: char| matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}');
    let mut previous: Option<char> = None;
    for c in value.chars() {
        if selector(c) && previous.is_none_or(|p| selector(p) || p.is_whitespace()) {
            return true;
        }
        previous = Some(c);
    }
    false
}

fn https_url(value: &str) -> Result<String, &'static str> {
    if value.len() > 2000 {
        return Err("use at most 2000 characters");
    }
    let url = url::Url::parse(value).map_err(|_| "enter a full address starting with https://")?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err("only https:// addresses are accepted");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the address must not contain a user name or password");
    }
    // Relying parties may fetch these server-side: only public DNS names, never an
    // address or a name that resolves inside their network by convention.
    match url.host() {
        Some(url::Host::Domain(host)) => {
            let host = host.trim_end_matches('.');
            if host == "localhost" || host.ends_with(".localhost") {
                return Err("the address must be a public web address, not localhost");
            }
            if !host.contains('.') {
                return Err("the address must use a full domain name");
            }
        }
        _ => return Err("the address must use a domain name, not an IP address"),
    }
    if value.chars().any(char::is_whitespace) {
        return Err("the address must not contain spaces");
    }
    Ok(url.to_string())
}

/// `YYYY-MM-DD`, `0000-MM-DD` (year withheld) or `YYYY` (OIDC Core §5.1); a real date,
/// not in the future. `today` is `YYYY-MM-DD`.
fn birthdate(value: &str, today: &str) -> Result<String, &'static str> {
    const BAD: &str = "use YYYY-MM-DD, 0000-MM-DD (without the year) or YYYY";
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = value.split('-').collect();
    let (year, month_day) = match parts.as_slice() {
        [y] if y.len() == 4 && digits(y) => (*y, None),
        [y, m, d]
            if y.len() == 4
                && m.len() == 2
                && d.len() == 2
                && [y, m, d].iter().all(|p| digits(p)) =>
        {
            (*y, Some((*m, *d)))
        }
        _ => return Err(BAD),
    };
    let y: u32 = year.parse().map_err(|_| BAD)?;
    if y == 0 && month_day.is_none() {
        return Err(BAD);
    }
    if let Some((m, d)) = month_day {
        let (m, d): (u32, u32) = (m.parse().map_err(|_| BAD)?, d.parse().map_err(|_| BAD)?);
        // Year 0000 withholds the year: 29 February is then a possible birthday.
        let leap =
            y == 0 || (y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)));
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err("that date does not exist"),
        };
        if d == 0 || d > days {
            return Err("that date does not exist");
        }
    }
    if y != 0 && y < 1800 {
        return Err("that year is too far in the past");
    }
    let comparable = if month_day.is_some() { value } else { year };
    if y != 0 && comparable > today.get(..comparable.len()).unwrap_or(today) {
        return Err("a birthdate cannot be in the future");
    }
    Ok(value.to_owned())
}

const ZONES: &str = include_str!("zones.txt");

/// A zone or link name of the IANA tz database, exactly as spelled there.
fn zone(value: &str) -> Result<String, &'static str> {
    if ZONES.lines().any(|z| z == value) {
        Ok(value.to_owned())
    } else {
        Err("use a time zone name from the IANA database, e.g. Europe/Paris")
    }
}

/// A valid BCP 47 tag (language-script-region-variant, RFC 5646 §2.2.9), in its usual case
/// (`en-US`). Private-use-only tags (`x-...`) are refused: they say nothing to an RP.
fn locale(value: &str) -> Result<String, &'static str> {
    const BAD: &str = "use a language tag such as en, en-US or zh-Hant-TW";
    if value.len() > 35 || value.contains('_') {
        return Err(BAD);
    }
    let tag = language_tags::LanguageTag::parse(value).map_err(|_| BAD)?;
    if tag.as_str().starts_with("x-") || !tag.is_valid() {
        return Err(BAD);
    }
    Ok(tag.into_string())
}

/// E.164: `+`, then 8 to 15 digits, the first not 0. Spaces, dots, hyphens and brackets
/// are accepted as separators and dropped.
fn phone(value: &str) -> Result<String, &'static str> {
    const BAD: &str = "use the international format: + then 8 to 15 digits, e.g. +442071838750";
    let rest = value.strip_prefix('+').ok_or(BAD)?;
    let mut digits = String::from("+");
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return Err(BAD),
        }
    }
    let n = digits.len() - 1;
    if !(8..=15).contains(&n) || digits.as_bytes().get(1) == Some(&b'0') {
        return Err(BAD);
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::Field;

    const TODAY: &str = "2026-12-07";

    fn ok(f: Field, v: &str) -> String {
        f.check(v, TODAY).unwrap().unwrap()
    }

    #[test]
    fn text_is_trimmed_limited_and_free_of_controls() {
        assert_eq!(ok(Field::GivenName, "  Ada "), "Ada");
        assert_eq!(Field::GivenName.check("   ", TODAY).unwrap(), None);
        assert!(Field::GivenName.check(&"a".repeat(129), TODAY).is_err());
        assert!(Field::Nickname.check("a\u{7}b", TODAY).is_err());
        assert!(Field::Name.check("evil\u{202E}gnp", TODAY).is_err());
        assert!(Field::Locality.check("two\nlines", TODAY).is_err());
        assert_eq!(
            ok(Field::StreetAddress, "1 Main St\r\nApt 2"),
            "1 Main St\nApt 2"
        );
    }

    #[test]
    fn invisible_private_use_and_unassigned_characters_are_refused() {
        for bad in [
            "a\u{061C}b",
            "soft\u{00AD}hyphen",
            "a\u{180E}b",
            "a\u{FFF9}b\u{FFFB}",
            "a\u{FFFA}b",
            "tag\u{E0041}\u{E007F}",
            "a\u{2066}b",
            "\u{E000}private",
            "plane\u{F0000}",
            "unassigned\u{0378}",
            "a\u{2028}b",
            "runs\u{FE0F}\u{FE0E}\u{FE0F}",
            "\u{FE0F}leading",
            "a \u{E0100}",
        ] {
            for field in [Field::Nickname, Field::Name, Field::Locality] {
                assert_eq!(
                    field.check(bad, TODAY),
                    Err("control or invisible characters are not allowed"),
                    "{bad:?}"
                );
            }
        }
        // ZWNJ and ZWJ shape Persian and Indic text and join emoji; one variation
        // selector after a character picks its presentation.
        for good in [
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}",
            "\u{0915}\u{094D}\u{200D}\u{0937}",
            "\u{1F469}\u{200D}\u{1F4BB}",
            "I \u{2764}\u{FE0F} Rust",
            "\u{845B}\u{E0100}",
        ] {
            assert_eq!(ok(Field::Nickname, good), good);
        }
    }

    #[test]
    fn urls_are_https_only() {
        assert_eq!(
            ok(Field::Picture, "https://example.com/a.png"),
            "https://example.com/a.png"
        );
        for bad in [
            "http://example.com/",
            "javascript:alert(1)",
            "example.com",
            "https://u:p@example.com/",
            "data:image/png;base64,AAAA",
        ] {
            assert!(Field::Website.check(bad, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_name_a_public_host_never_an_address_or_local_name() {
        for bad in [
            "https://10.0.0.5/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::1]/",
            "https://[fd00::1]:8443/a.png",
            "https://localhost/a.png",
            "https://LOCALHOST./",
            "https://api.localhost/",
            "https://intranet/",
            "https://metadata./",
        ] {
            for field in [Field::Picture, Field::Profile, Field::Website] {
                assert!(field.check(bad, TODAY).is_err(), "{bad}");
            }
        }
        assert_eq!(
            ok(Field::Picture, "https://cdn.example.com:8443/a.png"),
            "https://cdn.example.com:8443/a.png"
        );
        assert_eq!(
            ok(Field::Website, "https://xn--bcher-kva.example/"),
            "https://xn--bcher-kva.example/"
        );
    }

    #[test]
    fn birthdates_are_real_past_dates() {
        for good in [
            "1990-02-28",
            "2000-02-29",
            "0000-02-29",
            "1984",
            "2026-12-07",
        ] {
            assert_eq!(ok(Field::Birthdate, good), good);
        }
        for bad in [
            "1990-02-29",
            "1900-02-29",
            "1990-13-01",
            "1990-04-31",
            "1990-1-1",
            "90-01-01",
            "0000",
            "2027",
            "2026-12-08",
            "1700-01-01",
            "1990-00-10",
            "1990-01-00",
            "1990/01/01",
        ] {
            assert!(Field::Birthdate.check(bad, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_come_from_the_tz_database() {
        for good in [
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "UTC",
            "Asia/Kolkata",
        ] {
            assert_eq!(ok(Field::Zoneinfo, good), good);
        }
        for bad in [
            "Europe/Pariss",
            "europe/paris",
            "Mars/Olympus",
            "../etc/passwd",
            "+01:00",
        ] {
            assert!(Field::Zoneinfo.check(bad, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn locales_are_valid_language_tags() {
        assert_eq!(ok(Field::Locale, "en-us"), "en-US");
        for good in ["fr-CA", "zh-Hant-TW", "de", "sl-rozaj", "es-419", "xh-ZA"] {
            assert!(Field::Locale.check(good, TODAY).is_ok(), "{good}");
        }
        for bad in [
            "en_US",
            "english",
            "en-",
            "xx-ZZ-1",
            "x-private",
            "en-US-US-US-US",
            "123",
        ] {
            assert!(Field::Locale.check(bad, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(ok(Field::PhoneNumber, "+44 20 7183-8750"), "+442071838750");
        for bad in [
            "02071838750",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1 555 CALL NOW",
            "+44 20 7183 8750;ext=1",
        ] {
            assert!(Field::PhoneNumber.check(bad, TODAY).is_err(), "{bad}");
        }
    }
}
