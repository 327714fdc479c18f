//! @file axum_middleware.rs
//! @brief An axum middleware that lets through only requests with a valid Cotter access token
//! (`Authorization: Bearer <jwt>`), and hands the verified user to the handlers.
//!
//! Run it against the emulator (or Cotter): `COTTER_API_KEY_ID=... COTTER_JWKS_URL=.../token/jwks
//! cargo run --example axum_middleware`, then `curl -H "Authorization: Bearer $TOKEN" localhost:3000/me`.
//! `cargo test` runs the test at the bottom, which starts the emulator.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use cotter::{ErrorKind, Verifier};

/// The verified caller, put into the request extensions by the middleware.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub sub: String,
    pub identifier: Option<String>,
}

/// Rejects requests without a valid access token: 401 with an RFC 6750 `WWW-Authenticate` challenge, or
/// 503 when the key set cannot be fetched (the token may well be valid: let the client retry).
pub async fn require_cotter_token(State(verifier): State<Arc<Verifier>>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer_token(&req) else {
        return challenge("invalid_request", "missing bearer token");
    };
    // verify() may fetch the JWKS (blocking I/O): keep it off the async worker threads.
    let verified = tokio::task::spawn_blocking(move || {
        verifier.verify(&token).map(|claims| AuthUser {
            sub: claims.sub().unwrap_or_default().to_owned(),
            identifier: claims.identifier().map(str::to_owned),
        })
    })
    .await;
    match verified {
        Ok(Ok(user)) => {
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        Ok(Err(e)) if matches!(e.kind(), ErrorKind::JwksUnavailable) => {
            (StatusCode::SERVICE_UNAVAILABLE, "token keys unavailable").into_response()
        }
        // The stable code name tells the client why, without echoing the token.
        Ok(Err(e)) => challenge("invalid_token", e.name()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.trim().to_owned())
}

fn challenge(error: &str, description: &str) -> Response {
    let value = format!(r#"Bearer error="{error}", error_description="{description}""#);
    let mut resp = (StatusCode::UNAUTHORIZED, description.to_owned()).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

async fn me(Extension(user): Extension<AuthUser>) -> String {
    format!("{{\"sub\":\"{}\",\"identifier\":\"{}\"}}", user.sub, user.identifier.unwrap_or_default())
}

/// `/me` needs a token; `/health` does not.
pub fn app(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/me", get(me))
        .route_layer(middleware::from_fn_with_state(verifier, require_cotter_token))
        .route("/health", get(|| async { "ok" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .audience(std::env::var("COTTER_API_KEY_ID")?)
        .jwks_url(std::env::var("COTTER_JWKS_URL").unwrap_or_else(|_| "https://www.cotter.app/api/v0/token/jwks".into()))
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(Arc::new(verifier))).await?;
    Ok(())
}

#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::Emulator;
    use serde_json::json;

    /// GET `url` with an optional bearer token: (status, WWW-Authenticate, body).
    fn get(url: &str, token: Option<&str>) -> (u16, String, String) {
        let mut req = ureq::get(url);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let www = resp.header("WWW-Authenticate").unwrap_or("").to_owned();
        (resp.status(), www, resp.into_string().unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn middleware_accepts_valid_tokens_only() {
        let emu = Emulator::start();
        let verifier = Arc::new(emu.verifier());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app(verifier)).await });

        let login = emu.login("axum@example.com");
        let access = login["oauth_token"]["access_token"].as_str().unwrap().to_owned();
        let access2 = access.clone();
        let expired = emu.access_token(json!({}), -60);
        let foreign = emu.access_token(json!({"aud": "another-project"}), 600);
        let results = tokio::task::spawn_blocking(move || {
            [
                get(&format!("{base}/health"), None),
                get(&format!("{base}/me"), None),
                get(&format!("{base}/me"), Some("not-a-jwt")),
                get(&format!("{base}/me"), Some(&expired)),
                get(&format!("{base}/me"), Some(&foreign)),
                get(&format!("{base}/me"), Some(&access)),
            ]
        })
        .await
        .unwrap();

        assert_eq!(results[0].0, 200);
        assert_eq!((results[1].0, results[1].1.contains("invalid_request")), (401, true));
        assert!(results[2].1.contains("COTTER_EJWT_MALFORMED"), "{:?}", results[2]);
        assert!(results[3].1.contains("COTTER_EJWT_EXPIRED"), "{:?}", results[3]);
        assert!(results[4].1.contains("COTTER_EJWT_AUDIENCE"), "{:?}", results[4]);
        assert_eq!(results[5].0, 200, "{:?}", results[5]);
        let me: serde_json::Value = serde_json::from_str(&results[5].2).unwrap();
        assert_eq!(me["sub"], login["user"]["ID"]);
        assert_eq!(me["identifier"], "axum@example.com");
        server.abort();

        // A verifier that cannot fetch the key set answers 503 (retry later), not 401: the token may be fine.
        emu.fault(json!({"route": "GET /api/v0/token/jwks", "status": 503, "count": 3}));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app(Arc::new(emu.verifier()))).await });
        let (status, _, _) = tokio::task::spawn_blocking(move || get(&format!("{base}/me"), Some(&access2))).await.unwrap();
        assert_eq!(status, 503);
        server.abort();
    }
}
