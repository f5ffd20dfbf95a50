//! `GET /metrics`: corenasd's health cache for a Prometheus server, in the OpenMetrics text
//! format (`monitor.metrics`, which never runs a tool).
//!
//! Prometheus authenticates with `Authorization: Bearer <API key>` (its `authorization` block),
//! so this route finds the credential itself instead of through [`crate::http::Caller`]: the
//! bearer key, else `X-API-Key`, else the session cookie. corenasd decides: a key with role
//! `metrics` may read this and nothing else (the `Caller` extractor refuses such a key on every
//! other route); viewers and above may read it too. 401 without or with a bad credential.

use crate::app::AppState;
use crate::cookies::{SESSION_COOKIE, cookie};
use crate::http::{API_KEY_HEADER, api_error};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use corenas_proto::web::{ApiKey, Credential, WebToken};
use corenas_proto::{ErrorCode, WireError};
use std::sync::Arc;

/// OpenMetrics 1.0's media type (Prometheus asks for it in `Accept` and parses by it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn unauthenticated(why: &str) -> WireError {
    WireError::new(ErrorCode::Unauthenticated, why)
}

/// The caller's credential: `Authorization: Bearer`, `X-API-Key` or the session cookie. A header
/// that is present but malformed is refused rather than skipped, so a broken Prometheus config
/// is told so instead of falling through to a cookie.
pub fn credential(headers: &HeaderMap) -> Result<Credential, WireError> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| unauthenticated("the Authorization header is not text"))?;
        // RFC 7235: the scheme is case-insensitive.
        let key = v
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthenticated("the Authorization header must be 'Bearer <API key>'"))?;
        let key: ApiKey = key.parse().map_err(|_| unauthenticated("the bearer token is not a CoreNAS API key"))?;
        return Ok(Credential::ApiKey(key));
    }
    if let Some(v) = headers.get(API_KEY_HEADER) {
        let key: ApiKey = v
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unauthenticated("the X-API-Key header is not an API key"))?;
        return Ok(Credential::ApiKey(key));
    }
    let token: WebToken = cookie(headers, SESSION_COOKIE)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unauthenticated("no credential: send 'Authorization: Bearer <API key>'"))?;
    Ok(Credential::Session(token))
}

pub async fn scrape(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let answer = match credential(&headers) {
        Ok(cred) => crate::daemon!(app.gate, &cred, MetricsRender {}),
        Err(e) => Err(e),
    };
    match answer {
        Ok(text) => ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response(),
        Err(e) => {
            let mut r = api_error(&e);
            if r.status() == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"corenas\""));
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_bearer_key_comes_first_and_malformed_headers_are_refused() {
        let key = format!("cnk_{}", "a".repeat(64));
        let c = credential(&headers(&[("authorization", &format!("Bearer {key}"))])).unwrap();
        assert!(matches!(c, Credential::ApiKey(k) if k.expose() == key));
        let c = credential(&headers(&[("authorization", &format!("bearer  {key}"))])).unwrap();
        assert!(matches!(c, Credential::ApiKey(_)));
        let c = credential(&headers(&[("x-api-key", &key)])).unwrap();
        assert!(matches!(c, Credential::ApiKey(_)));
        for bad in [format!("Basic {key}"), "Bearer".to_owned(), "Bearer nope".to_owned(), key.clone()] {
            let e = credential(&headers(&[("authorization", &bad), ("cookie", "corenas_session=x")])).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthenticated, "{bad}");
        }
        assert_eq!(credential(&HeaderMap::new()).unwrap_err().code, ErrorCode::Unauthenticated);
    }
}
