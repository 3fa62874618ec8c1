//! Server-rendered pages (askama templates in `templates/`).

pub mod account;
pub mod email_change;
pub mod home;
pub mod login;
pub mod mfa;
pub mod passkey_login;
pub mod passkeys;
pub mod profile;
pub mod reset;
pub mod security;
pub mod setup;
pub mod signin_response;
pub mod signup;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{csrf, AppError, AppState};

/// Renders a template as an HTML response with the given status.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// Renders a page holding a form: `page` receives the CSRF token to embed, and the CSRF
/// cookie is set when the browser had none.
pub fn render_form<T: Template>(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    page: impl FnOnce(String) -> T,
) -> Result<HttpResponse, AppError> {
    let (token, cookie) = csrf::token_for(req, state);
    let mut response = render(status, &page(token))?;
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).map_err(AppError::unexpected)?;
    }
    Ok(response)
}

/// 303 See Other: after a POST the browser follows with a GET.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Where to go after sign-in: only a local path, never another site (open redirect) nor a
/// protocol-relative `//host` or `/\host` that browsers treat as one.
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2000
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(safe_return_to(Some("/account?x=1")), "/account?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
