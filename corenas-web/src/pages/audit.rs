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
            @match &entries {
                Err(e) => (error_box(l, e)),
                Ok(list) => {
                    table #audit {
                        thead { tr { th { "#" } th { (l.t("Time", "Zeit")) } th { (l.t("Who", "Wer")) } th { (l.t("Action", "Aktion")) } th { (l.t("Result", "Ergebnis")) } th { (l.t("Arguments", "Argumente")) } } }
                        tbody { @for e in list { tr {
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
