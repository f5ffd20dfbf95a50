//! The audit log, newest first, with the chain's verification status.

use super::{error_box, layout};
use crate::AppState;
use crate::http::Caller;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    /// Filters: action prefix, exact principal, result, not before this day (YYYY-MM-DD).
    action: Option<String>,
    principal: Option<String>,
    result: Option<String>,
    since: Option<String>,
}

fn keep(q: &AuditQuery, e: &corenas_proto::api::AuditEntry) -> bool {
    let set = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    set(&q.action).is_none_or(|a| e.action.starts_with(&a))
        && set(&q.principal).is_none_or(|p| e.principal == p)
        && set(&q.result).is_none_or(|r| e.result == r)
        && set(&q.since).is_none_or(|d| e.time.as_str() >= d.as_str())
}

const PAGE: u32 = 100;

pub async fn page(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Query<AuditQuery>) -> Response {
    let l = caller.lang;
    let entries = crate::daemon!(app.gate, &caller.cred, LogView { before: q.before, limit: PAGE });
    let verify = crate::daemon!(app.gate, &caller.cred, LogVerify {});
    let body = html! {
        section.card {
            @match &verify {
                Err(e) => (error_box(l, e)),
                Ok(v) if v.problems.is_empty() => div.alert.ok #chain { (l.t("Chain intact:", "Kette unversehrt:")) " " (v.entries) " " (l.t("entries, head", "Einträge, Kopf")) " " code { (v.head.get(..16).unwrap_or(&v.head)) } },
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
                    @for r in ["ok", "refused", "failed", "dry-run"] { option value=(r) selected[q.result.as_deref() == Some(r)] { (r) } }
                }
                label for="f-since" { (l.t("From (date)", "Ab (Datum)")) }
                input #f-since name="since" type="date" value=(q.since.as_deref().unwrap_or(""));
                button type="submit" { (l.t("Filter", "Filtern")) }
                " " a.button href="/audit/export" download { (l.t("Export (JSON lines)", "Exportieren (JSON-Zeilen)")) }
            }
        }
        section.card {
            @match &entries {
                Err(e) => (error_box(l, e)),
                Ok(list) => {
                    table #audit {
                        thead { tr { th { "#" } th { (l.t("Time", "Zeit")) } th { (l.t("Who", "Wer")) } th { (l.t("Action", "Aktion")) } th { (l.t("Result", "Ergebnis")) } th { (l.t("Arguments", "Argumente")) } } }
                        tbody { @for e in list.iter().filter(|e| keep(&q, e)) { tr {
                            td.num { (e.seq) } td { (l.datetime(&e.time)) } td { (e.principal) } td { code { (e.action) } }
                            td { span.badge data-result=(e.result) { (e.result) } @if let Some(c) = &e.error_code { " " span.hint { (c) } } }
                            td { code.args { (e.args) } }
                        } } }
                    }
                    @if let Some(last) = list.last().filter(|_| list.len() == PAGE as usize) {
                        p { a href=(format!("/audit?before={}", last.seq)) { (l.t("Older entries", "Ältere Einträge")) } }
                    }
                },
            }
        }
    };
    layout(&caller, super::Nav::Audit, l.t("Audit log", "Prüfprotokoll"), body)
}

/// The whole chain as JSON lines, oldest first, read in pages (each entry keeps its hashes, so
/// the export can be checked elsewhere).
pub async fn export(State(app): State<Arc<AppState>>, caller: Caller) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut out = String::new();
    let mut after = 0;
    loop {
        let page = match crate::daemon!(
            app.gate,
            &caller.cred,
            LogPage { after, limit: corenas_proto::api::AUDIT_PAGE_MAX }
        ) {
            Ok(p) => p,
            Err(e) => return super::error_page(caller.lang, &e),
        };
        let Some(last) = page.last().map(|e| e.seq) else { break };
        for e in &page {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        after = last;
    }
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"corenas-audit.jsonl\""),
        ],
        out,
    )
        .into_response()
}
