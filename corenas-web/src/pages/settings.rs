//! The account's own settings: language, open sessions (with revoke), and what CoreNAS runs.

use super::{csrf_input, error_box, layout};
use crate::AppState;
use crate::http::{self, Caller};
use crate::i18n::{LANG_COOKIE, Lang};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{REFERER, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LangForm {
    lang: String,
}

/// Sets the language cookie (a year) and goes back where the user was (same-site only).
pub async fn lang_submit(headers: HeaderMap, Form(f): Form<LangForm>) -> Response {
    let lang = Lang::parse(&f.lang).unwrap_or(Lang::En);
    let back = headers
        .get(REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or("/")
        .to_owned();
    let mut r = Redirect::to(&back).into_response();
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict", lang.code());
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(SET_COOKIE, v);
    }
    r
}

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    let l = caller.lang;
    let cred = caller.cred.clone();
    let sessions = app.gate.with(|g| async move { g.session_list(crate::gate::ctx(), cred).await }).await;
    let status = crate::daemon!(app.gate, &caller.cred, SystemStatus {});
    let body = html! {
        section.card {
            h2 { (l.t("Your account", "Ihr Konto")) }
            dl.facts {
                dt { (l.t("User", "Benutzer")) } dd { (caller.session.user) }
                dt { (l.t("Role", "Rolle")) } dd { (super::role_name(l, caller.session.role)) }
                dt { (l.t("Session ends", "Sitzung endet")) } dd { (l.datetime(&caller.session.idle_expires)) " " (l.t("if idle, at the latest", "bei Untätigkeit, spätestens")) " " (l.datetime(&caller.session.expires)) }
            }
            p.hint { (l.t("Your password, second factor and API keys are managed by an administrator at the console:",
                          "Passwort, zweiter Faktor und API-Schlüssel verwaltet ein Administrator an der Konsole:")) " "
                     code { "corenas-ctl user set-password, corenas-ctl web totp-reset, corenas-ctl web api-key" } }
        }
        section.card {
            h2 { (l.t("Open sessions", "Offene Sitzungen")) }
            @match &sessions {
                Err(e) => (error_box(l, e)),
                Ok(list) => table {
                    thead { tr { th { (l.t("User", "Benutzer")) } th { (l.t("From", "Von")) } th { (l.t("Since", "Seit")) } th { (l.t("Last seen", "Zuletzt")) } th {} } }
                    tbody { @for s in list { tr {
                        td { (s.user) @if s.current { " " span.badge { (l.t("this one", "diese")) } } }
                        td { (s.source) } td { (l.datetime(&s.created)) } td { (l.datetime(&s.last_seen)) }
                        td { form.inline method="post" action=(format!("/settings/sessions/{}/revoke", s.id)) {
                            (csrf_input(&caller))
                            button.secondary type="submit" { (l.t("End", "Beenden")) }
                        } }
                    } } }
                },
            }
        }
        section.card {
            h2 { (l.t("System", "System")) }
            @match &status {
                Err(e) => (error_box(l, e)),
                Ok(s) => dl.facts {
                    dt { "CoreNAS" } dd { (s.version) " (" (l.t("protocol", "Protokoll")) " " (s.protocol) ")" }
                    dt { "corenas-web" } dd { (env!("CARGO_PKG_VERSION")) }
                    dt { (l.t("Audit entries", "Protokolleinträge")) } dd { (s.audit_entries) }
                    dt { (l.t("Helper", "Helfer")) } dd { @match &s.helper { Ok(h) => { (l.t("running, pid", "läuft, PID")) " " (h.pid) }, Err(e) => { (e.message) } } }
                },
            }
        }
    };
    layout(&caller, super::Nav::Settings, l.t("Settings", "Einstellungen"), body)
}

pub async fn session_revoke(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(e) = http::require_csrf(&caller, f.csrf.as_deref()) {
        return super::error_page(caller.lang, &e);
    }
    let cred = caller.cred.clone();
    match app.gate.with(|g| async move { g.session_revoke(crate::gate::ctx(), cred, id).await }).await {
        Ok(()) => Redirect::to("/settings").into_response(),
        Err(e) => super::error_page(caller.lang, &e),
    }
}
