//! Liveness and readiness probes for orchestrators and load balancers.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;

/// The process is up and serving HTTP.
pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to serve traffic: the database answers and no migration is pending. The cause of
/// a failure is logged, not returned (it may name hosts or paths).
pub async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.check_ready(Duration::from_secs(2)).await {
        Ok(()) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "database": "ok" },
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable",
                "checks": { "database": "unavailable" },
            }))
        }
    }
}
