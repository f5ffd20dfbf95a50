//! The audit log, newest first, with the chain's verification status.

use super::{error_box, layout};
use crate::app::AppState;
use crate::http::Caller;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    /// Filters: action prefix, exact principal, result, from and to (UTC dates, inclusive).
    action: Option<String>,
    principal: Option<String>,
    result: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl AuditQuery {
    /// The filter corenasd applies to the whole log (empty fields match everything).
    fn filter(&self) -> corenas_proto::api::AuditFilter {
        let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        corenas_proto::api::AuditFilter {
            action: set(&self.action),
            principal: set(&self.principal),
            results: set(&self.result).into_iter().collect(),
            since: set(&self.since),
            until: set(&self.until),
            mentions: None,
        }
    }

    /// The filters as a query string, kept by the paging and export links.
    fn query_string(&self) -> String {
        let f = self.filter();
        let pairs = [
            ("action", f.action),
            ("principal", f.principal),
            ("result", f.results.into_iter().next()),
            ("since", f.since),
            ("until", f.until),
        ];
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", crate::http::url_encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

const PAGE: u32 = 100;

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<AuditQuery>) -> Response {
    let l = caller.lang;
    let filter = q.filter();
    let entries = match filter.validate() {
        Ok(()) => {
            crate::daemon!(app.gate, &caller.cred, LogSearch { filter, before: q.before, after: None, limit: PAGE })
        }
        Err(e) => Err(e),
    };
    let kept = q.query_string();
    let verify = crate::daemon!(app.gate, &caller.cred, LogVerify {});
    let body = html! {
        section.card {
            @match &verify {
                Err(e) => (error_box(l, e)),
                Ok(v) if v.problems.is_empty() => div.alert.ok #chain { (l.t("Chain intact:", "Kette unversehrt:")) " " (l.int(v.entries)) " " (l.t("entries, head", "Einträge, Kopf")) " " code { (v.head.get(..16).unwrap_or(&v.head)) } },
                Ok(v) => div.alert.error #chain { (l.t("The chain is broken:", "Die Kette ist gebrochen:")) ul { @for p in &v.problems { li { (p) } } } },
            }
        }
        section.card {
            form.filters method="get" action="/audit" {
                label for="f-action" { (l.t("Action starts with", "Aktion beginnt mit")) }
                input #f-action name="action" type="text" value=(q.action.as_deref().unwrap_or("")) placeholder="user.";
                label for="f-principal" { (l.t("Who", "Wer")) }
                input #f-principal name="principal" type="text" value=(q.principal.as_deref().unwrap_or("")) placeholder="alice@web";
                label for="f-result" { (l.t("Result", "Ergebnis")) }
                select #f-result name="result" {
                    option value="" { (l.t("any", "alle")) }
                    @for r in corenas_proto::api::AUDIT_RESULTS { option value=(r) selected[q.result.as_deref() == Some(r)] { (l.term(r)) } }
                }
                label for="f-since" { (l.t("From (date, UTC)", "Von (Datum, UTC)")) }
                input #f-since name="since" type="date" value=(q.since.as_deref().unwrap_or(""));
                label for="f-until" { (l.t("To (date, UTC)", "Bis (Datum, UTC)")) }
                input #f-until name="until" type="date" value=(q.until.as_deref().unwrap_or(""));
                button type="submit" { (l.t("Filter", "Filtern")) }
                " " a.button #export href=(if kept.is_empty() { "/audit/export".to_owned() } else { format!("/audit/export?{kept}") }) download {
                    @if kept.is_empty() { (l.t("Export (JSON lines)", "Exportieren (JSON-Zeilen)")) }
                    @else { (l.t("Export these (JSON lines)", "Diese exportieren (JSON-Zeilen)")) }
                }
            }
        }
        section.card {
            @match &entries {
                Err(e) => (error_box(l, e)),
                Ok(list) => {
                    table #audit {
                        thead { tr { th { "#" } th { (l.t("Time", "Zeit")) } th { (l.t("Who", "Wer")) } th { (l.t("Action", "Aktion")) } th { (l.t("Result", "Ergebnis")) } th { (l.t("Arguments", "Argumente")) } } }
                        tbody { @for e in list { tr {
                            td.num { (e.seq) } td { (l.datetime(&e.time)) } td { (e.principal) } td { code { (e.action) } }
                            td { span.badge data-result=(e.result) { (l.term(&e.result)) } @if let Some(c) = &e.error_code { " " span.hint { (c) } } }
                            td { code.args { (e.args) } }
                        } } }
                    }
                    @if let Some(last) = list.last().filter(|_| list.len() == PAGE as usize) {
                        p { a #older href=(if kept.is_empty() { format!("/audit?before={}", last.seq) } else { format!("/audit?before={}&{kept}", last.seq) }) { (l.t("Older entries", "Ältere Einträge")) } }
                    }
                },
            }
        }
    };
    layout(&caller, super::Nav::Audit, l.t("Audit log", "Prüfprotokoll"), body)
}

/// The log as JSON lines, oldest first: all of it, or what the filters match. Streamed page by
/// page, so a long log is never held whole in memory; each entry keeps its hashes, so an
/// unfiltered export can be checked elsewhere.
pub async fn export(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let filter = q.filter();
    if let Err(e) = filter.validate() {
        return super::error_page(caller.lang, &e);
    }
    struct Cursor {
        app: Arc<AppState>,
        cred: corenas_proto::web::Credential,
        filter: corenas_proto::api::AuditFilter,
        after: i64,
        done: bool,
    }
    let start = Cursor { app, cred: caller.cred, filter, after: 0, done: false };
    let pages = futures::stream::unfold(start, |mut c| async move {
        if c.done {
            return None;
        }
        let limit = corenas_proto::api::AUDIT_PAGE_MAX;
        let r = crate::daemon!(
            c.app.gate,
            &c.cred,
            LogSearch { filter: c.filter.clone(), before: None, after: Some(c.after), limit }
        );
        match r {
            Ok(page) if page.is_empty() => None,
            Ok(page) => {
                c.after = page.last().map_or(c.after, |e| e.seq);
                let mut out = String::new();
                for e in &page {
                    out.push_str(&serde_json::to_string(e).unwrap_or_default());
                    out.push('\n');
                }
                Some((Ok::<_, std::io::Error>(out), c))
            }
            // The status line is sent already: end the body early, so the file is visibly cut.
            Err(e) => {
                c.done = true;
                Some((Err(std::io::Error::other(e.message)), c))
            }
        }
    });
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"corenas-audit.jsonl\""),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response()
}
