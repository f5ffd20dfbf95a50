//! Every route, in one table. A route is public only if it is marked so here; everything else
//! needs a session or an API key (its handler takes a `Caller`, which answers 401 or sends the
//! browser to the login before the handler runs). The system tests read this table from
//! `corenas-web --list-routes` and try every non-public route without a credential, so a new
//! route cannot skip the check unnoticed.

use crate::app::AppState;
use crate::{api, pages};
use axum::Router;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub public: bool,
}

type Handler = MethodRouter<Arc<AppState>>;

fn all() -> Vec<(Route, Handler)> {
    let r = |method, path, public, h: Handler| (Route { method, path, public }, h);
    vec![
        // Before a session exists.
        r("GET", "/setup", true, get(pages::login::setup_form)),
        r("POST", "/setup", true, post(pages::login::setup_submit)),
        r("GET", "/login", true, get(pages::login::login_form)),
        r("POST", "/login", true, post(pages::login::login_submit)),
        r("POST", "/login/code", true, post(pages::login::code_submit)),
        r("GET", "/static/app.css", true, get(pages::assets::css)),
        r("GET", "/static/live.js", true, get(pages::assets::js)),
        r("POST", "/lang", true, post(pages::settings::lang_submit)),
        // Pages.
        r("POST", "/logout", false, post(pages::login::logout)),
        r("GET", "/", false, get(pages::dashboard::page)),
        r("GET", "/accounts", false, get(pages::accounts::page)),
        r("POST", "/accounts/users", false, post(pages::accounts::user_create)),
        r("POST", "/accounts/users/{name}/smb-password", false, post(pages::accounts::smb_password)),
        r("POST", "/accounts/users/{name}/delete", false, post(pages::accounts::user_delete)),
        r("GET", "/storage", false, get(pages::storage::page)),
        r("POST", "/storage/scrub", false, post(pages::storage::scrub)),
        r("POST", "/storage/snapshot", false, post(pages::storage::snapshot)),
        r("POST", "/storage/rollback", false, post(pages::storage::rollback)),
        r("GET", "/storage/new", false, get(pages::storage::wizard_start)),
        r("POST", "/storage/wizard", false, post(pages::storage::wizard_submit)),
        r("GET", "/shares", false, get(pages::shares::page)),
        r("POST", "/shares", false, post(pages::shares::create)),
        r("POST", "/shares/{name}/delete", false, post(pages::shares::delete)),
        r("GET", "/backups", false, get(pages::backups::page)),
        r("POST", "/backups/targets", false, post(pages::backups::targets::create)),
        r("POST", "/backups/targets/{name}/delete", false, post(pages::backups::targets::delete)),
        r("POST", "/backups/tasks", false, post(pages::backups::tasks::create)),
        r("GET", "/backups/tasks/{name}", false, get(pages::backups::tasks::page)),
        r("POST", "/backups/tasks/{name}/keep", false, post(pages::backups::tasks::keep)),
        r("POST", "/backups/tasks/{name}/run", false, post(pages::backups::tasks::run)),
        r("POST", "/backups/tasks/{name}/delete", false, post(pages::backups::tasks::delete)),
        r("POST", "/backups/tasks/{name}/restore", false, post(pages::backups::browse::restore)),
        r("GET", "/backups/tasks/{name}/snapshots/{id}", false, get(pages::backups::browse::page)),
        r("GET", "/backups/jobs/{id}", false, get(pages::backups::job::page)),
        r("GET", "/imaging", false, get(pages::imaging::page)),
        r("POST", "/imaging/jobs", false, post(pages::imaging::job_create)),
        r("GET", "/imaging/jobs/{id}", false, get(pages::imaging::job_page)),
        r("POST", "/imaging/jobs/{id}/action", false, post(pages::imaging::job_action)),
        r("GET", "/archive", false, get(pages::archive::page)),
        r("POST", "/archive/{id}/edit", false, post(pages::archive::edit)),
        r("POST", "/archive/{id}/verify", false, post(pages::archive::verify)),
        r("POST", "/archive/{id}/delete", false, post(pages::archive::delete)),
        r("GET", "/archive/{id}/download", false, get(api::archive_download)),
        r("GET", "/devices", false, get(pages::devices::page)),
        r("GET", "/devices/{name}", false, get(pages::devices::detail)),
        r("POST", "/devices/{name}/wipe", false, post(pages::devices::wipe)),
        r("GET", "/audit", false, get(pages::audit::page)),
        r("GET", "/audit/export", false, get(pages::audit::export)),
        r("GET", "/settings", false, get(pages::settings::page)),
        r("POST", "/settings/sessions/{id}/revoke", false, post(pages::settings::session_revoke)),
        r("POST", "/settings/password", false, post(pages::settings::password)),
        r("POST", "/settings/totp", false, post(pages::settings::totp_renew)),
        r("POST", "/settings/totp/confirm", false, post(pages::settings::totp_confirm)),
        r("POST", "/settings/api-keys", false, post(pages::settings::api_key_create)),
        r("POST", "/settings/api-keys/{id}/revoke", false, post(pages::settings::api_key_revoke)),
        r("POST", "/accounts/web-access", false, post(pages::accounts::web_access)),
        r("GET", "/accounts/acl", false, get(pages::acl::page)),
        r("POST", "/accounts/acl/set", false, post(pages::acl::set)),
        r("POST", "/accounts/acl/remove", false, post(pages::acl::remove)),
        r("POST", "/accounts/groups", false, post(pages::accounts::group_create)),
        r("POST", "/accounts/groups/{name}/members", false, post(pages::accounts::group_members)),
        r("POST", "/storage/schedule", false, post(pages::storage::schedule)),
        r("POST", "/storage/action", false, post(pages::storage::action)),
        r("POST", "/shares/{name}/edit", false, post(pages::shares::edit)),
        r("GET", "/alerts", false, get(pages::alerts::page)),
        r("POST", "/alerts/{id}/dismiss", false, post(pages::alerts::dismiss)),
        r("POST", "/alerts/silences", false, post(pages::alerts::silence_add)),
        r("POST", "/alerts/silences/{id}/remove", false, post(pages::alerts::silence_remove)),
        r("POST", "/alerts/policy", false, post(pages::alerts::policy_set)),
        r("POST", "/alerts/channels", false, post(pages::alerts::channel_add)),
        r("POST", "/alerts/channels/{name}/remove", false, post(pages::alerts::channel_remove)),
        r("POST", "/alerts/channels/{name}/test", false, post(pages::alerts::channel_test)),
        r("GET", "/metrics", false, get(api::metrics::scrape)),
        // The REST API.
        r("GET", "/api/v1/openapi.json", false, get(api::openapi)),
        r("GET", "/api/v1/system/status", false, get(api::imaging::system_status)),
        r("GET", "/api/v1/system/config", false, get(api::imaging::system_config)),
        r("PATCH", "/api/v1/system/config", false, patch(api::imaging::system_config_patch)),
        r("GET", "/api/v1/dashboard", false, get(api::dashboard)),
        r("GET", "/api/v1/jobs", false, get(api::imaging::jobs)),
        r("POST", "/api/v1/jobs", false, post(api::imaging::job_create)),
        r("GET", "/api/v1/jobs/{id}", false, get(api::imaging::job)),
        r("PATCH", "/api/v1/jobs/{id}", false, patch(api::imaging::job_patch)),
        r("DELETE", "/api/v1/jobs/{id}", false, delete(api::imaging::job_delete)),
        r("GET", "/api/v1/archives", false, get(api::imaging::archives)),
        r("GET", "/api/v1/archives/{id}", false, get(api::imaging::archive)),
        r("PATCH", "/api/v1/archives/{id}", false, patch(api::imaging::archive_patch)),
        r("DELETE", "/api/v1/archives/{id}", false, delete(api::imaging::archive_delete)),
        r("POST", "/api/v1/archives/{id}/verify", false, post(api::imaging::archive_verify)),
        r("GET", "/api/v1/archives/{id}/download", false, get(api::archive_download)),
        r("GET", "/api/v1/devices", false, get(api::imaging::devices)),
        r("POST", "/api/v1/devices/{device}/eject", false, post(api::imaging::device_eject)),
        r("GET", "/api/v1/users", false, get(api::users)),
        r("POST", "/api/v1/users", false, post(api::user_create)),
        r("GET", "/api/v1/logs", false, get(api::imaging::logs)),
        r("GET", "/api/v1/sessions", false, get(api::sessions)),
        r("DELETE", "/api/v1/sessions/{id}", false, delete(api::session_delete)),
        r("GET", "/api/v1/events", false, get(api::events)),
        r("GET", "/api/v1/alerts", false, get(api::alerts::list)),
        r("GET", "/api/v1/alerts/{id}", false, get(api::alerts::show)),
        r("POST", "/api/v1/alerts/{id}/dismiss", false, post(api::alerts::dismiss)),
        r("GET", "/api/v1/alerts/channels", false, get(api::alerts::channels)),
        r("POST", "/api/v1/alerts/channels", false, post(api::alerts::channel_add)),
        r("DELETE", "/api/v1/alerts/channels/{name}", false, delete(api::alerts::channel_remove)),
        r("POST", "/api/v1/alerts/channels/{name}/test", false, post(api::alerts::channel_test)),
        r("GET", "/api/v1/alerts/silences", false, get(api::alerts::silences)),
        r("POST", "/api/v1/alerts/silences", false, post(api::alerts::silence_add)),
        r("GET", "/api/v1/monitor", false, get(api::alerts::monitor)),
        r("GET", "/api/v1/monitor/history", false, get(api::alerts::history)),
        r("GET", "/api/v1/backup/targets", false, get(api::backups::targets)),
        r("POST", "/api/v1/backup/targets", false, post(api::backups::target_create)),
        r("GET", "/api/v1/backup/targets/{name}", false, get(api::backups::target)),
        r("DELETE", "/api/v1/backup/targets/{name}", false, delete(api::backups::target_delete)),
        r("GET", "/api/v1/backup/tasks", false, get(api::backups::tasks)),
        r("POST", "/api/v1/backup/tasks", false, post(api::backups::task_create)),
        r("GET", "/api/v1/backup/tasks/{name}", false, get(api::backups::task)),
        r("PUT", "/api/v1/backup/tasks/{name}", false, put(api::backups::task_modify)),
        r("DELETE", "/api/v1/backup/tasks/{name}", false, delete(api::backups::task_delete)),
        r("POST", "/api/v1/backup/tasks/{name}/preview", false, post(api::backups::preview)),
        r("GET", "/api/v1/backup/tasks/{name}/snapshots", false, get(api::backups::snapshots)),
        r("GET", "/api/v1/backup/tasks/{name}/snapshots/{id}/ls", false, get(api::backups::ls)),
        r("POST", "/api/v1/backup/tasks/{name}/run", false, post(api::backups::run)),
        r("POST", "/api/v1/backup/tasks/{name}/restore", false, post(api::backups::restore)),
        r("GET", "/api/v1/backup/jobs", false, get(api::backups::jobs)),
        r("GET", "/api/v1/backup/jobs/{id}", false, get(api::backups::job)),
        r("POST", "/api/v1/call", false, post(api::call)),
    ]
}

pub fn table() -> Vec<Route> {
    all().into_iter().map(|(r, _)| r).collect()
}

/// Whether a request's method and exact path name a public route (none of them has a path
/// parameter). The table is read once, not per request.
pub fn is_public(method: &str, path: &str) -> bool {
    static PUBLIC: std::sync::LazyLock<Vec<Route>> =
        std::sync::LazyLock::new(|| table().into_iter().filter(|r| r.public).collect());
    PUBLIC.iter().any(|r| r.method == method && r.path == path)
}

pub fn router(app: Arc<AppState>) -> Router {
    let mut router: Router<Arc<AppState>> = Router::new();
    // Routes that share a path (GET and POST /login) are merged by axum's `route` only once
    // per path, so same-path handlers are combined first.
    let mut by_path: Vec<(&'static str, Handler)> = Vec::new();
    for (route, handler) in all() {
        match by_path.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, h)) => *h = std::mem::take(h).merge(handler),
            None => by_path.push((route.path, handler)),
        }
    }
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(crate::http::page_own_reads))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), crate::http::check_csrf))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), crate::http::check_origin))
        .layer(axum::middleware::from_fn(crate::http::buffer_body))
        .layer(axum::middleware::from_fn(crate::http::security_headers))
        // Forms and API bodies are small; nginx limits too.
        .layer(axum::extract::DefaultBodyLimit::max(crate::http::BODY_LIMIT))
        .with_state(app)
}
