//! Liveness and readiness probes for orchestrators and load balancers.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::RETRY_AFTER_SECS;
use super::AppState;

/// How long `/readyz` waits for a fresh probe round before answering from the last one:
/// it answers within a second even while the database hangs.
const READINESS_WAIT: Duration = Duration::from_millis(800);

/// The process is up and serving HTTP.
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve traffic: the background probe last read and wrote the database in time
/// and no migration is pending. Each check is `ok`, `unavailable` (the last round failed
/// it; the cause is logged, not returned, as it may name hosts or paths) or `stale` (no
/// recent round).
pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let readiness = state.store.readiness(READINESS_WAIT).await;
    let checks: Map<String, Value> = readiness
        .checks
        .iter()
        .map(|(name, s)| ((*name).to_owned(), Value::from(s.as_str())))
        .collect();
    if readiness.is_ready() {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
            .json(json!({ "status": "unavailable", "checks": checks }))
    }
}
