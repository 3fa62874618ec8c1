//! The device cookie at sign-in: recognise the browser, and queue a notice to the owner when
//! their account is signed in to from a new one (see `accounts::devices`).

use actix_web::{HttpRequest, HttpResponse};

use crate::accounts::{devices, Origin};
use crate::http::extract::{client_ip, user_agent};
use crate::http::AppState;
use crate::mail::notices;
use crate::store::users::UserRow;

/// Where a sign-in attempt comes from: the client address and the browser's device cookie
/// (which, for an account that knows it, is a source of its own for lock-out).
pub(super) fn origin(req: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        ip: client_ip(req),
        device: req
            .cookie(state.cookies.device_name())
            .map(|c| c.value().to_owned()),
    }
}

/// Call on the response of every successful sign-in. Never fails the sign-in: the session
/// exists already, and a notice is not worth turning it into an error page, so a failure
/// here is logged instead.
pub(super) async fn note_sign_in(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRow,
    response: &mut HttpResponse,
) {
    let cookie = req.cookie(state.cookies.device_name());
    let sighting =
        match devices::sighted(&state.store, &user.id, cookie.as_ref().map(|c| c.value())).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the sign-in device");
                return;
            }
        };
    if let Err(e) = response.add_cookie(&state.cookies.device(&sighting.cookie)) {
        tracing::warn!(error = %e, "could not set the device cookie");
    }
    if !sighting.notify {
        return;
    }
    let ip = client_ip(req);
    let ua = user_agent(req);
    match notices::new_device_sign_in(
        &state.settings.issuer,
        user,
        ip.as_deref(),
        ua.as_deref(),
        crate::time::now(),
    ) {
        Ok(mail) => state.mailer.send(mail),
        Err(e) => tracing::error!(error = %e, "could not render the new-device notice"),
    }
}
