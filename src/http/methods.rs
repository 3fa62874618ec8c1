//! One resource per path with every method it answers (RFC 9110 §9.1).
//!
//! Invariants: `HEAD` is answered wherever `GET` is, by the `GET` handler (actix sends the
//! status and headers, `Content-Length` included, and drops the body; RFC 9110 §9.3.2), so
//! load balancers can probe any page or endpoint. A method the path does not answer gets
//! 405 with an `Allow` header naming exactly the methods it does (RFC 9110 §15.5.6), never
//! the 404 of an unknown path. `OPTIONS` is not implemented, so it is never listed.
//!
//! A `GET` with side effects (it creates rows, issues an authorization code, ends a session)
//! is declared with [`Endpoint::get_with_effects`]: its `HEAD` never runs the handler and
//! answers `204 No Content` with `Cache-Control: no-store`. That tells a probe the resource
//! exists without doing what a `GET` does; the `GET`'s own status and headers cannot be
//! known without doing it (RFC 9110 §9.3.2 says SHOULD, not MUST).

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder};

use super::error::AppError;

/// A path and its handlers, registered as one actix resource (`cfg.service(...)`).
pub struct Endpoint {
    resource: Resource,
    allow: Vec<Method>,
}

/// Starts the endpoint at `path` (actix path syntax, `{name}` segments included).
pub fn path(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        allow: Vec::new(),
    }
}

impl Endpoint {
    /// `GET`, and `HEAD` through the same handler.
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::head().to(handler.clone()))
            .route(web::get().to(handler));
        self.allow.extend([Method::GET, Method::HEAD]);
        self
    }

    /// `GET` through `handler`, whose work must not happen for a `HEAD` (a mail scanner or
    /// link preview probing a URL): `HEAD` answers 204 without calling it.
    pub fn get_with_effects<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::head().to(|| async {
                HttpResponse::NoContent()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish()
            }))
            .route(web::get().to(handler));
        self.allow.extend([Method::GET, Method::HEAD]);
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::PUT, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::DELETE, handler)
    }

    fn method<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.allow.push(method);
        self
    }

    /// The `Allow` value: the methods in a fixed order, whatever order they were added in.
    fn allow_header(&self) -> String {
        const ORDER: [Method; 5] = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ];
        ORDER
            .iter()
            .filter(|m| self.allow.contains(m))
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self.allow_header();
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                let error = AppError::MethodNotAllowed(allow.clone());
                async move { error.negotiated_response(&req) }
            }))
            .register(config);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::{test, App, HttpResponse};

    use super::*;

    async fn ok() -> HttpResponse {
        HttpResponse::Ok()
            .insert_header(("cache-control", "max-age=60"))
            .body("hello")
    }

    #[actix_web::test]
    async fn the_allow_header_lists_the_methods_in_a_fixed_order() {
        let app =
            test::init_service(App::new().service(path("/x").delete(ok).post(ok).get(ok))).await;
        let req = test::TestRequest::put().uri("/x").to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers().get("allow").unwrap(),
            "GET, HEAD, POST, DELETE"
        );
    }

    #[actix_web::test]
    async fn head_of_a_get_with_effects_does_not_run_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        async fn counted() -> HttpResponse {
            CALLS.fetch_add(1, Ordering::SeqCst);
            HttpResponse::Ok().body("done")
        }
        let app =
            test::init_service(App::new().service(path("/x").get_with_effects(counted))).await;
        let req = test::TestRequest::default()
            .method(Method::HEAD)
            .uri("/x")
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
        let req = test::TestRequest::get().uri("/x").to_request();
        assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn head_is_served_by_the_get_handler() {
        let app = test::init_service(App::new().service(path("/x").get(ok))).await;
        let req = test::TestRequest::default()
            .method(Method::HEAD)
            .uri("/x")
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get("cache-control").unwrap(), "max-age=60");
    }
}
