//! What every request goes through: security headers, the Origin check on changes, the caller's
//! credential (session cookie or `X-API-Key`), the CSRF token of UI forms, the source address,
//! and errors turned into pages or JSON with stable codes.
//!
//! Authority stays in corenasd: this module only finds the credential and hands it on. A request
//! without one never reaches a handler that talks to corenasd (the [`Caller`] extractor answers
//! 401 or sends the browser to the login first).
//!
//! Floor: this module stands under the pages, the API and the route table, and imports only the
//! ground floor beneath it (`app`, `cookies`, `i18n`, `gate`). It must not import `pages`, `api`,
//! `routes` or the crate root: the two things it needs from above, whether a route is public and
//! how a refusal looks as a page, arrive as [`AppState::is_public`] and [`AppState::error_page`],
//! which `main.rs` fills at start-up.

use crate::app::{AppState, Listener};
use crate::cookies::{SESSION_COOKIE, cookie};
use crate::i18n::Lang;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use corenas_proto::web::{ApiKey, Credential, SessionInfo, Source, WebToken};
use corenas_proto::{ErrorCode, WireError};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const API_KEY_HEADER: &str = "x-api-key";

/// Whether the browser reached us over TLS (nginx says so; the lab is plain HTTP).
pub fn is_https(headers: &HeaderMap, listener: Listener) -> bool {
    listener == Listener::Proxy
        && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p == "https")
}

/// The CSRF token of a session: derived from the session token, so corenas-web keeps no state
/// and a page from another site, which cannot read the cookie, cannot compute it.
pub fn csrf_token(session: &WebToken) -> String {
    let mut h = Sha256::new();
    h.update(b"corenas-csrf-v1:");
    h.update(session.expose().as_bytes());
    hex::encode(&h.finalize()[..16])
}

pub fn csrf_ok(session: &WebToken, offered: &str) -> bool {
    let want = csrf_token(session);
    want.len() == offered.len() && want.bytes().zip(offered.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

pub fn source(headers: &HeaderMap, listener: Listener) -> Source {
    match listener {
        Listener::Direct(ip) => Source(ip),
        Listener::Proxy => Source(
            headers
                .get("x-real-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
        ),
    }
}

/// The origin this request was addressed to (`https://nas.example:443` style, from Host).
fn own_origin(headers: &HeaderMap, listener: Listener) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let scheme = if is_https(headers, listener) { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// Changes (POST, PUT, PATCH, DELETE) and the event stream must come from our own pages: the
/// browser's `Origin` must name this site. Automation with an API key sends no cookies and is
/// exempt (a foreign page cannot set that header on a cross-site request without CORS).
pub fn origin_ok(method: &Method, path: &str, headers: &HeaderMap, listener: Listener) -> bool {
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let stream = path == "/api/v1/events";
    if !changes && !stream {
        return true;
    }
    if headers.contains_key(API_KEY_HEADER) && cookie(headers, SESSION_COOKIE).is_none() {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => own_origin(headers, listener).is_some_and(|own| own == origin),
        // EventSource sends no Origin on a same-origin request; a cross-site one always does.
        None => stream && !changes && headers.get("sec-fetch-site").is_none_or(|v| v == "same-origin"),
    }
}

/// Headers on every answer: a strict CSP (no inline script or style, nothing from elsewhere),
/// no framing, no MIME sniffing, no referrer leaving the site.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Largest request body corenas-web reads (nginx's client_max_body_size is the same).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Reads the whole request body before routing. A handler or extractor that answers early (a
/// refused credential, a bad path) would otherwise leave body bytes unread; hyper then closes
/// the connection while nginx is still sending, and nginx turns that into a 502.
pub async fn buffer_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => {
            let e = WireError::invalid("body", format!("the request body is larger than {} KiB", BODY_LIMIT / 1024));
            let mut r = api_error(&e);
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            r
        }
    }
}

/// Percent-encodes a query-string value (everything but RFC 3986's unreserved characters).
pub fn url_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The header live.js puts on the reads it makes by itself (refreshing a page's live sections).
pub const LIVE_HEADER: &str = "x-corenas-live";

/// A GET marked with [`LIVE_HEADER`] (live.js) or `live=1` in its query (a page's no-script
/// refresh) is served as the page's own read: through `watch` and `peek`, which do not restart
/// the session's idle timer (and allow reads only). Only GET: a change is always the user's
/// doing.
pub async fn page_own_reads(req: Request, next: Next) -> Response {
    let marked = req.headers().contains_key(LIVE_HEADER)
        || req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "live=1"));
    let own = req.method() == Method::GET && marked;
    crate::gate::PAGE_OWN_READ.scope(own, next.run(req)).await
}

/// The CSRF check for every change a browser session makes, before routing: the token derived
/// from the session must come in the `X-CSRF-Token` header (the API) or the form's `csrf`
/// field (pages). Handlers check again; this is the one place a new route cannot forget.
/// Public routes (login, setup, the language switch) have no session to protect; calls with an
/// API key and no cookie carry nothing a foreign page could forge.
pub async fn check_csrf(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(session) = cookie(req.headers(), SESSION_COOKIE).and_then(|v| v.parse::<WebToken>().ok()) else {
        return next.run(req).await;
    };
    if (app.is_public)(req.method().as_str(), req.uri().path()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The body is in memory already (buffer_body runs first).
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let offered = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        form.then(|| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()?
                .into_iter()
                .find_map(|(k, v)| (k == "csrf").then_some(v))
        })
        .flatten()
    });
    if offered.as_deref().is_some_and(|o| csrf_ok(&session, o)) {
        return next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    }
    let lang = Lang::from_headers(&parts.headers);
    let e = WireError::not_allowed(lang.t(
        "refused: the form's security token is missing or stale; reload the page and try again",
        "abgelehnt: das Sicherheits-Token des Formulars fehlt oder ist veraltet; laden Sie die Seite neu",
    ));
    if parts.uri.path().starts_with("/api/") { api_error(&e) } else { (app.error_page)(lang, &e) }
}

/// The Origin check for every route, before any handler runs.
pub async fn check_origin(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let listener = listener_of(&req, &app);
    if !origin_ok(req.method(), req.uri().path(), req.headers(), listener) {
        let lang = Lang::from_headers(req.headers());
        let e = WireError::not_allowed(lang.t(
            "refused: the request did not come from this site's own pages (Origin check)",
            "abgelehnt: die Anfrage kam nicht von den Seiten dieser Website (Origin-Prüfung)",
        ));
        return if req.uri().path().starts_with("/api/") { api_error(&e) } else { (app.error_page)(lang, &e) };
    }
    next.run(req).await
}

pub fn listener_of(req: &Request, app: &AppState) -> Listener {
    req.extensions().get::<Listener>().copied().unwrap_or(app.default_listener)
}

/// The HTTP status for a stable error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput | ErrorCode::OutOfRange => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::NotAllowed => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists | ErrorCode::Busy | ErrorCode::InvalidState => StatusCode::CONFLICT,
        ErrorCode::LockedOut => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        ErrorCode::HelperUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ToolTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::ToolFailed => StatusCode::BAD_GATEWAY,
        ErrorCode::Protocol | ErrorCode::StateCorrupt | ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `{"error": {"code", "message", "field"}}`, as `corenas-ctl --json` prints errors.
pub fn api_error(e: &WireError) -> Response {
    let body = serde_json::json!({ "error": { "code": e.code.as_str(), "message": e.message, "field": e.field } });
    (status_of(e.code), axum::Json(body)).into_response()
}

/// The caller of a page or API route: who they are (per corenasd) and how they proved it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub cred: Credential,
    pub session: SessionInfo,
    /// The session token, when it came from the cookie (forms need its CSRF token).
    pub token: Option<WebToken>,
    pub lang: Lang,
}

impl Caller {
    pub fn csrf(&self) -> String {
        self.token.as_ref().map(csrf_token).unwrap_or_default()
    }
    pub fn is(&self, role: corenas_proto::web::Role) -> bool {
        self.session.role >= role
    }
}

/// Finds the credential (API key header, else session cookie) and asks corenasd who it is.
pub async fn resolve(app: &AppState, headers: &HeaderMap) -> Result<Caller, WireError> {
    let lang = Lang::from_headers(headers);
    let (cred, token) = if let Some(k) = headers.get(API_KEY_HEADER) {
        let key: ApiKey = k
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| WireError::new(ErrorCode::Unauthenticated, "the X-API-Key header is not an API key"))?;
        (Credential::ApiKey(key), None)
    } else {
        let token: WebToken = cookie(headers, SESSION_COOKIE)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| WireError::new(ErrorCode::Unauthenticated, "not logged in"))?;
        (Credential::Session(token.clone()), Some(token))
    };
    let c = cred.clone();
    let session = if crate::gate::page_own_read() {
        app.gate.with(|g| async move { g.peek(crate::gate::ctx(), c).await }).await?
    } else {
        app.gate.with(|g| async move { g.whoami(crate::gate::ctx(), c).await }).await?
    };
    // A Prometheus server's key reads /metrics (its own route, which takes no Caller) and
    // nothing else: no page, no API route, not even the ones that ask corenasd nothing.
    if session.role == corenas_proto::web::Role::Metrics {
        return Err(WireError::not_allowed("this API key has the role metrics: it may read /metrics only"));
    }
    Ok(Caller { cred, session, token, lang })
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/");
        match resolve(app, &parts.headers).await {
            Ok(c) => Ok(c),
            Err(e) if api => Err(api_error(&e)),
            Err(e) if e.code == ErrorCode::Unauthenticated => {
                // Pages send the browser to the login (or, before the first admin, setup).
                let to = if app.setup_needed().await { "/setup" } else { "/login" };
                Err(Redirect::to(to).into_response())
            }
            Err(e) => Err((app.error_page)(Lang::from_headers(&parts.headers), &e)),
        }
    }
}

/// A form post from a logged-in browser: the CSRF field must match the session.
pub fn require_csrf(caller: &Caller, offered: Option<&str>) -> Result<(), WireError> {
    match (&caller.token, offered) {
        // API keys carry no cookie, so there is nothing to forge.
        (None, _) => Ok(()),
        (Some(t), Some(o)) if csrf_ok(t, o) => Ok(()),
        _ => Err(WireError::not_allowed(caller.lang.t(
            "refused: the form's security token is missing or stale; reload the page and try again",
            "abgelehnt: das Sicherheits-Token des Formulars fehlt oder ist veraltet; laden Sie die Seite neu",
        ))),
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
    fn origin_must_match_on_changes() {
        let l = Listener::Direct(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let own = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        let evil = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]);
        let none = headers(&[("host", "127.0.0.1:8080")]);
        assert!(origin_ok(&Method::POST, "/login", &own, l));
        assert!(!origin_ok(&Method::POST, "/login", &evil, l));
        assert!(!origin_ok(&Method::POST, "/login", &none, l));
        assert!(origin_ok(&Method::GET, "/", &evil, l), "reads are not changes");
        assert!(!origin_ok(&Method::GET, "/api/v1/events", &evil, l));
        let key = headers(&[("host", "x"), ("x-api-key", "cnk_")]);
        assert!(origin_ok(&Method::DELETE, "/api/v1/jobs/x", &key, l));
        let proxied = headers(&[("host", "nas"), ("origin", "https://nas"), ("x-forwarded-proto", "https")]);
        assert!(origin_ok(&Method::POST, "/x", &proxied, Listener::Proxy));
        assert!(!origin_ok(&Method::POST, "/x", &proxied, l), "a direct client cannot claim https");
    }

    #[test]
    fn csrf_is_bound_to_the_session() {
        let a = WebToken::new("a".repeat(64)).unwrap();
        let b = WebToken::new("b".repeat(64)).unwrap();
        assert!(csrf_ok(&a, &csrf_token(&a)));
        assert!(!csrf_ok(&a, &csrf_token(&b)));
        assert!(!csrf_ok(&a, ""));
    }
}
