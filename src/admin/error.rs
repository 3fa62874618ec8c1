//! Why an administrative change was refused. Everything but [`AdminError::Store`] is the
//! caller's mistake and changes nothing; the CLI exits with 2 for them, an HTTP layer would
//! answer 4xx.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Malformed input (a name, a permission, a reason).
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist (in the scope asked); `name` is quoted already.
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    /// The name is taken.
    #[error("{kind} {name:?} already exists")]
    Exists { kind: &'static str, name: String },
    /// Well-formed, but the rules forbid it (a cycle, a built-in role, a role still held...).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    pub(crate) fn not_found(kind: &'static str, name: &str) -> Self {
        AdminError::NotFound {
            kind,
            name: format!("{:?}", name.chars().take(100).collect::<String>()),
        }
    }
}

/// A lower-case handle: letters a-z, digits, `-` and (when `underscore`) `_`; starting with a
/// letter or digit, ending with one, at most 63 characters.
pub(crate) fn check_handle(what: &str, s: &str, underscore: bool) -> Result<(), AdminError> {
    let ok_char = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (underscore && c == '_')
    };
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if s.is_empty()
        || s.len() > 63
        || !s.chars().all(ok_char)
        || !alnum(s.chars().next())
        || !alnum(s.chars().last())
    {
        let allowed = if underscore {
            "a-z, 0-9, '-', '_'"
        } else {
            "a-z, 0-9, '-'"
        };
        return Err(AdminError::Invalid(format!(
            "{what} {:?} is not valid: use 1 to 63 of {allowed}, starting and ending with a \
             letter or digit",
            s.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// Free text shown to people (display names, descriptions, reasons): trimmed, within
/// `max` characters, no control characters.
pub(crate) fn check_text(
    what: &str,
    s: &str,
    max: usize,
    required: bool,
) -> Result<String, AdminError> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(AdminError::Invalid(format!("{what} must not be empty")));
    }
    if t.chars().count() > max {
        return Err(AdminError::Invalid(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(t.to_owned())
}
