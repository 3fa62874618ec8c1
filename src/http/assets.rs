//! Static files, compiled into the binary so it runs from any directory.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::AppError;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "portcullis.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/portcullis.css"),
    ),
    (
        "form_post.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/form_post.js"),
    ),
    (
        "webauthn.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/webauthn.js"),
    ),
];

pub async fn get_asset(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*body))
}
