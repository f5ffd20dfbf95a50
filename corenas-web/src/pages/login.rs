//! First-run setup, login (password, then the second factor), TOTP enrollment and logout.
//! corenasd checks everything; these handlers only carry forms and cookies. The login ticket
//! between the two steps lives in its own short cookie (path /login, 5 minutes).

use super::{bare, error_box};
use crate::app::{AppState, Listener};
use crate::cookies::{self, SESSION_COOKIE, TICKET_COOKIE, clear_cookie, set_cookie};
use crate::http;
use crate::i18n::Lang;
use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use corenas_proto::web::{PasswordAccepted, SessionGrant, SetupRequest, TotpEnrollment, WebToken};
use corenas_proto::{ErrorCode, WireError};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

fn listener(ext: Option<axum::Extension<Listener>>, app: &AppState) -> Listener {
    ext.map(|e| e.0).unwrap_or(app.default_listener)
}

fn field(l: Lang, name: &str, label: &str, kind: &str, autocomplete: &str, hint: Option<&str>) -> Markup {
    let _ = l;
    html! {
        label for=(name) { (label) }
        input id=(name) name=(name) type=(kind) autocomplete=(autocomplete) required;
        @if let Some(h) = hint { p.hint { (h) } }
    }
}

fn login_page(l: Lang, error: Option<&WireError>) -> Response {
    let body = html! {
        @if let Some(e) = error { (error_box(l, e)) }
        form method="post" action="/login" {
            (field(l, "user", l.t("User name", "Benutzername"), "text", "username", None))
            (field(l, "password", l.t("Password", "Passwort"), "password", "current-password", None))
            button type="submit" { (l.t("Continue", "Weiter")) }
        }
        p.hint { (l.t("Only administrator accounts (ids 10000-20000) with web access can log in.",
                      "Nur Administratorkonten (IDs 10000-20000) mit Web-Zugang können sich anmelden.")) }
    };
    bare(l, l.t("Log in", "Anmelden"), body)
}

pub async fn login_form(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if app.setup_needed().await {
        return Redirect::to("/setup").into_response();
    }
    login_page(Lang::from_headers(&headers), None)
}

fn with_status(mut r: Response, e: &WireError) -> Response {
    *r.status_mut() = http::status_of(e.code);
    r
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

pub async fn login_submit(
    State(app): State<Arc<AppState>>,
    ext: Option<axum::Extension<Listener>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let l = Lang::from_headers(&headers);
    let listener = listener(ext, &app);
    let source = http::source(&headers, listener);
    let parsed = f.user.parse().map_err(WireError::from).and_then(|u| Ok((u, f.password.parse()?)));
    let answer = match parsed {
        Ok((user, password)) => {
            app.gate.with(|g| async move { g.login(crate::gate::ctx(), user, password, source).await }).await
        }
        Err(e) => Err(e),
    };
    match answer {
        Ok(accepted) => second_step(l, &headers, listener, accepted),
        Err(e) => with_status(login_page(l, Some(&e)), &e),
    }
}

/// After a correct password (or setup): the code form, or enrollment first.
fn second_step(l: Lang, headers: &HeaderMap, listener: Listener, accepted: PasswordAccepted) -> Response {
    let secure = http::is_https(headers, listener);
    let (ticket, enrollment) = match accepted {
        PasswordAccepted::NeedCode { ticket } => (ticket, None),
        PasswordAccepted::Enroll { ticket, enrollment } => (ticket, Some(enrollment)),
    };
    let cookie = set_cookie(TICKET_COOKIE, ticket.expose(), Some(300), "/login", secure);
    let mut r = code_page(l, enrollment.as_ref(), None);
    r.headers_mut().append(SET_COOKIE, cookie);
    r
}

fn code_page(l: Lang, enrollment: Option<&TotpEnrollment>, error: Option<&WireError>) -> Response {
    let title = if enrollment.is_some() {
        l.t("Set up your authenticator", "Authenticator einrichten")
    } else {
        l.t("Second factor", "Zweiter Faktor")
    };
    let body = html! {
        @if let Some(e) = error { (error_box(l, e)) }
        @if let Some(en) = enrollment {
            p { (l.t("Every administrator logs in with a second factor. Scan this code with an authenticator app (TOTP), or type the key in, then enter the 6 digits it shows.",
                     "Jeder Administrator meldet sich mit einem zweiten Faktor an. Scannen Sie diesen Code mit einer Authenticator-App (TOTP) oder geben Sie den Schlüssel ein, dann die angezeigten 6 Ziffern.")) }
            figure.qr {
                img src=(qr_data_uri(&en.uri)) alt=(l.t("QR code for the authenticator app", "QR-Code für die Authenticator-App")) width="220" height="220";
                figcaption {
                    (l.t("Key:", "Schlüssel:")) " "
                    code #totp-secret data-secret=(en.secret) { (grouped(&en.secret)) }
                }
            }
        }
        form method="post" action="/login/code" {
            label for="code" { (l.t("Code (6 digits) or a recovery code", "Code (6 Ziffern) oder ein Wiederherstellungscode")) }
            input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus;
            button type="submit" { (l.t("Log in", "Anmelden")) }
        }
        p.hint { a href="/login" { (l.t("Start again", "Neu beginnen")) } }
    };
    bare(l, title, body)
}

pub fn grouped(secret: &str) -> String {
    secret.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// The provisioning URI as a QR code, inline (an SVG data URI): the secret never appears in a
/// URL that could land in a log.
pub fn qr_data_uri(uri: &str) -> String {
    use qrcodegen::{QrCode, QrCodeEcc};
    let Ok(qr) = QrCode::encode_text(uri, QrCodeEcc::Medium) else {
        return String::new();
    };
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    // One rectangle per horizontal run of dark modules keeps the page small.
    for y in 0..qr.size() {
        let mut x = 0;
        while x < qr.size() {
            if qr.get_module(x, y) {
                let start = x;
                while x < qr.size() && qr.get_module(x, y) {
                    x += 1;
                }
                path.push_str(&format!("M{},{}h{}v1h-{}z", start + border, y + border, x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    );
    format!("data:image/svg+xml;base64,{}", base64(svg.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn code_submit(
    State(app): State<Arc<AppState>>,
    ext: Option<axum::Extension<Listener>>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let l = Lang::from_headers(&headers);
    let listener = listener(ext, &app);
    let source = http::source(&headers, listener);
    let ticket: Option<WebToken> = cookies::cookie(&headers, TICKET_COOKIE).and_then(|t| t.parse().ok());
    let Some(ticket) = ticket else {
        let e = WireError::new(
            ErrorCode::Unauthenticated,
            l.t(
                "the login has expired: enter the password again",
                "die Anmeldung ist abgelaufen: geben Sie das Passwort erneut ein",
            ),
        );
        return with_status(login_page(l, Some(&e)), &e);
    };
    let code = f.code.trim().to_ascii_lowercase().replace(' ', "");
    let answer = match code.parse() {
        Ok(code) => {
            let t = ticket.clone();
            app.gate.with(|g| async move { g.login_code(crate::gate::ctx(), t, code, source).await }).await
        }
        Err(e) => Err(WireError::from(e)),
    };
    match answer {
        Ok(grant) => logged_in(l, &headers, listener, grant),
        // A wrong code keeps the ticket (corenasd counts the attempts); an expired one does not.
        Err(e) if e.code == ErrorCode::Unauthenticated && e.message.contains("expired") => {
            let mut r = with_status(login_page(l, Some(&e)), &e);
            r.headers_mut().append(SET_COOKIE, clear_cookie(TICKET_COOKIE, "/login"));
            r
        }
        Err(e) => with_status(code_page(l, None, Some(&e)), &e),
    }
}

fn logged_in(l: Lang, headers: &HeaderMap, listener: Listener, grant: SessionGrant) -> Response {
    let secure = http::is_https(headers, listener);
    let session = set_cookie(SESSION_COOKIE, grant.token.expose(), None, "/", secure);
    let mut r = if grant.recovery_codes.is_empty() {
        Redirect::to("/").into_response()
    } else {
        let body = html! {
            (super::ok_box(l.t("Your authenticator is set up.", "Ihr Authenticator ist eingerichtet.")))
            p { (l.t("These recovery codes let you log in if you lose the authenticator. Each works once. Store them somewhere safe now: they are not shown again.",
                     "Mit diesen Wiederherstellungscodes melden Sie sich an, wenn der Authenticator verloren geht. Jeder gilt einmal. Bewahren Sie sie jetzt sicher auf: sie werden nicht wieder angezeigt.")) }
            ul.codes #recovery-codes { @for c in &grant.recovery_codes { li { code { (c) } } } }
            p { a.button href="/" { (l.t("Continue to the dashboard", "Weiter zur Übersicht")) } }
        };
        bare(l, l.t("Recovery codes", "Wiederherstellungscodes"), body)
    };
    r.headers_mut().append(SET_COOKIE, session);
    r.headers_mut().append(SET_COOKIE, clear_cookie(TICKET_COOKIE, "/login"));
    r
}

fn setup_page(l: Lang, error: Option<&WireError>) -> Response {
    let body = html! {
        p { (l.t("CoreNAS has no administrator yet. Create the first one here. The setup token proves you have access to the server: print it there with",
                 "CoreNAS hat noch keinen Administrator. Legen Sie hier den ersten an. Das Einrichtungs-Token beweist den Zugang zum Server: Sie erhalten es dort mit")) " "
            code { "corenas-ctl system setup-token" } }
        @if let Some(e) = error { (error_box(l, e)) }
        form method="post" action="/setup" {
            (field(l, "token", l.t("Setup token", "Einrichtungs-Token"), "text", "off", Some("ABCD-EF23-GH45-JK67")))
            (field(l, "user", l.t("Administrator's user name", "Benutzername des Administrators"), "text", "username",
                Some(l.t("1-32 of a-z, 0-9, '_' and '-', starting with a letter", "1-32 Zeichen aus a-z, 0-9, '_' und '-', beginnend mit einem Buchstaben"))))
            label for="full_name" { (l.t("Full name (optional)", "Vollständiger Name (optional)")) }
            input #full_name name="full_name" type="text" autocomplete="name";
            (field(l, "password", l.t("Password", "Passwort"), "password", "new-password", None))
            (super::password_rules(l, "password"))
            button type="submit" { (l.t("Create administrator", "Administrator anlegen")) }
        }
    };
    bare(l, l.t("Set up CoreNAS", "CoreNAS einrichten"), body)
}

pub async fn setup_form(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !app.setup_needed().await {
        return Redirect::to("/login").into_response();
    }
    setup_page(Lang::from_headers(&headers), None)
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    password: String,
}

fn setup_request(f: &SetupForm, source: corenas_proto::web::Source) -> Result<SetupRequest, WireError> {
    let full_name = match f.full_name.trim() {
        "" => None,
        n => Some(n.parse()?),
    };
    Ok(SetupRequest {
        token: f.token.trim().to_ascii_uppercase().parse()?,
        user: f.user.trim().parse()?,
        full_name,
        password: f.password.parse()?,
        source,
    })
}

pub async fn setup_submit(
    State(app): State<Arc<AppState>>,
    ext: Option<axum::Extension<Listener>>,
    headers: HeaderMap,
    Form(f): Form<SetupForm>,
) -> Response {
    let l = Lang::from_headers(&headers);
    let listener = listener(ext, &app);
    let source = http::source(&headers, listener);
    let answer = match setup_request(&f, source) {
        Ok(req) => app.gate.with(|g| async move { g.setup(crate::gate::ctx(), req).await }).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(accepted) => second_step(l, &headers, listener, accepted),
        Err(e) => with_status(setup_page(l, Some(&e)), &e),
    }
}

pub async fn logout(
    State(app): State<Arc<AppState>>,
    caller: http::Caller,
    Form(f): Form<super::settings::CsrfForm>,
) -> Response {
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return super::error_page(caller.lang, &e);
    }
    if let Some(token) = caller.token.clone() {
        if let Err(e) = app.gate.with(|g| async move { g.logout(crate::gate::ctx(), token).await }).await {
            tracing::warn!(error = %e.message, "logout");
        }
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(SET_COOKIE, clear_cookie(SESSION_COOKIE, "/"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
