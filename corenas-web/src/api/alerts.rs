//! Alerts and monitoring over REST: `/api/v1/alerts` (list, show, dismiss), silences, delivery
//! channels, `/api/v1/monitor` (the health cache) and its history. Every argument is checked
//! here by the same typed validators corenasd uses, so bad input is a 422 naming the field
//! before anything is sent; corenasd checks roles, validates again and audits. Changes honour
//! `?dry_run=true` and answer the change (`dry_run`, `steps`, `result`).
//!
//! Also the parsing of a channel (`ChannelFields` → `ChannelSpec`) shared with the alerts page.

use super::{csrf, reply};
use crate::app::AppState;
use crate::http::{Caller, api_error};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use corenas_proto::WireError;
use corenas_proto::error::ValidationError;
use corenas_proto::monitor::{
    AlertClass, AlertLevel, AlertSubject, ChannelKind, ChannelName, ChannelSpec, HistoryRange, HostName, HttpUrl,
    MailAddress, SILENCE_MAX_MINUTES, SilenceSpec, SmtpSecurity, SmtpSpec,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Most recipients one mail channel takes.
pub const MAX_RECIPIENTS: usize = 20;

/// A validator's error under the field name this API uses (the validator of a mail address
/// says "address"; here it is "from" or "to").
fn as_field<T>(field: &str, r: Result<T, ValidationError>) -> Result<T, WireError> {
    r.map_err(|e| WireError::invalid(field, e.message))
}

/// `true`/`false` (also `1`/`0`) in a query string, naming the parameter when it is neither.
pub fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, WireError> {
    match q.get(name).map(String::as_str) {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(WireError::invalid(name, format!("{name} is invalid: use true or false"))),
    }
}

/// A channel as a form or a JSON body gives it, before validation: every value as text.
#[derive(Debug, Default, Clone)]
pub struct ChannelFields {
    pub name: String,
    /// smtp, webhook or alertmanager.
    pub kind: String,
    pub min_level: String,
    pub url: String,
    pub host: String,
    pub port: String,
    pub security: String,
    pub from: String,
    pub to: Vec<String>,
    pub username: String,
    pub password: String,
    pub ca_file: String,
}

/// Recipients from one text field: separated by commas, semicolons, spaces or line breaks.
pub fn recipients(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\n', '\r', '\t']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The typed channel, or the first field that is wrong.
pub fn channel_spec(f: &ChannelFields) -> Result<ChannelSpec, WireError> {
    let name = as_field("name", ChannelName::try_from(f.name.trim().to_owned()))?;
    let min_level = match f.min_level.trim() {
        "" => AlertLevel::Warning,
        s => as_field("min_level", s.parse())?,
    };
    let kind = match f.kind.trim() {
        "smtp" => {
            let security: SmtpSecurity = match f.security.trim() {
                "" => SmtpSecurity::Starttls,
                s => as_field("security", s.parse())?,
            };
            let port = match f.port.trim() {
                "" => match security {
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::None => 25,
                },
                p => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| WireError::invalid("port", "port is invalid: use 1 to 65535"))?,
            };
            if f.to.is_empty() {
                return Err(WireError::invalid("to", "give at least one recipient (to)"));
            }
            if f.to.len() > MAX_RECIPIENTS {
                return Err(WireError::invalid("to", format!("at most {MAX_RECIPIENTS} recipients")));
            }
            let to =
                f.to.iter()
                    .map(|a| as_field("to", MailAddress::try_from(a.trim().to_owned())))
                    .collect::<Result<Vec<_>, _>>()?;
            let optional = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
            ChannelKind::Smtp(SmtpSpec {
                host: as_field("host", HostName::try_from(f.host.trim().to_owned()))?,
                port,
                security,
                from: as_field("from", MailAddress::try_from(f.from.trim().to_owned()))?,
                to,
                username: optional(&f.username).map(|u| as_field("username", u.parse())).transpose()?,
                // Not trimmed: a password is what it is.
                password: Some(f.password.as_str())
                    .filter(|p| !p.is_empty())
                    .map(|p| as_field("password", p.parse()))
                    .transpose()?,
                ca_file: optional(&f.ca_file).map(|c| as_field("ca_file", c.parse())).transpose()?,
            })
        }
        "webhook" => ChannelKind::Webhook { url: as_field("url", HttpUrl::try_from(f.url.trim().to_owned()))? },
        "alertmanager" => {
            ChannelKind::Alertmanager { url: as_field("url", HttpUrl::try_from(f.url.trim().to_owned()))? }
        }
        _ => return Err(WireError::invalid("type", "type is invalid: use smtp, webhook or alertmanager")),
    };
    Ok(ChannelSpec { name, kind, min_level })
}

/// A text member of a JSON object (absent or null: empty), naming the field when it is not text.
fn text(obj: &serde_json::Map<String, Value>, key: &str) -> Result<String, WireError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(WireError::invalid(key, format!("{key} must be a string"))),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a serde_json::Map<String, Value>, WireError> {
    v.as_object().ok_or_else(|| WireError::invalid(field, format!("{field} must be a JSON object")))
}

fn only(obj: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), WireError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(WireError::invalid(k, format!("unknown field '{k}': use {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// The JSON body of `POST /api/v1/alerts/channels`, in the shape `GET` lists channels:
/// `{"name", "min_level", "kind": {"type": "smtp"|"webhook"|"alertmanager", ...}}`.
pub fn channel_fields_of_json(body: &[u8]) -> Result<ChannelFields, WireError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::invalid("body", format!("the request body is not JSON: {e}")))?;
    let top = object(&v, "body")?;
    only(top, &["name", "min_level", "kind"])?;
    let kind = object(top.get("kind").ok_or_else(|| WireError::invalid("kind", "kind is missing"))?, "kind")?;
    let kind_type = text(kind, "type")?;
    let allowed: &[&str] = match kind_type.as_str() {
        "smtp" => &["type", "host", "port", "security", "from", "to", "username", "password", "ca_file"],
        _ => &["type", "url"],
    };
    only(kind, allowed)?;
    let port = match kind.get("port") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(WireError::invalid("port", "port must be a number")),
    };
    let to = match kind.get("to") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => recipients(s),
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().map(str::to_owned).ok_or_else(|| WireError::invalid("to", "to must be strings")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(WireError::invalid("to", "to must be a list of mail addresses")),
    };
    Ok(ChannelFields {
        name: text(top, "name")?,
        kind: kind_type,
        min_level: text(top, "min_level")?,
        url: text(kind, "url")?,
        host: text(kind, "host")?,
        port,
        security: text(kind, "security")?,
        from: text(kind, "from")?,
        to,
        username: text(kind, "username")?,
        password: text(kind, "password")?,
        ca_file: text(kind, "ca_file")?,
    })
}

/// A silence from text fields (a form or JSON): class and/or subject, minutes, reason.
pub fn silence_spec(class: &str, subject: &str, minutes: &str, reason: &str) -> Result<SilenceSpec, WireError> {
    let class: Option<AlertClass> = match class.trim() {
        "" => None,
        c => Some(as_field("class", c.parse())?),
    };
    let subject: Option<AlertSubject> = match subject.trim() {
        "" => None,
        s => Some(as_field("subject", s.parse())?),
    };
    if class.is_none() && subject.is_none() {
        return Err(WireError::invalid("class", "give a class, a subject or both"));
    }
    let minutes =
        minutes.trim().parse::<u32>().ok().filter(|m| (1..=SILENCE_MAX_MINUTES).contains(m)).ok_or_else(|| {
            WireError::invalid("minutes", format!("minutes is invalid: use 1 to {SILENCE_MAX_MINUTES}"))
        })?;
    let reason = match reason.trim() {
        "" => None,
        r => Some(as_field("reason", r.parse())?),
    };
    Ok(SilenceSpec { class, subject, minutes, reason })
}

fn silence_of_json(body: &[u8]) -> Result<SilenceSpec, WireError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::invalid("body", format!("the request body is not JSON: {e}")))?;
    let obj = object(&v, "body")?;
    only(obj, &["class", "subject", "minutes", "reason"])?;
    let minutes = match obj.get("minutes") {
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => return Err(WireError::invalid("minutes", "minutes is missing")),
        Some(_) => return Err(WireError::invalid("minutes", "minutes must be a number")),
    };
    silence_spec(&text(obj, "class")?, &text(obj, "subject")?, &minutes, &text(obj, "reason")?)
}

/// A change's answer: 200 with the change (`dry_run`, `steps`, `result`), or 201 when it made
/// something for real.
fn change<T: Serialize>(r: Result<corenas_proto::api::Change<T>, WireError>, creates: bool) -> Response {
    match r {
        Ok(c) if creates && !c.dry_run => (StatusCode::CREATED, axum::Json(c)).into_response(),
        Ok(c) => axum::Json(c).into_response(),
        Err(e) => api_error(&e),
    }
}

type Q = Query<HashMap<String, String>>;

pub async fn list(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Q) -> Response {
    let r = match flag(&q, "all") {
        Ok(include_resolved) => crate::daemon!(app.gate, &caller.cred, AlertList { include_resolved }),
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn show(State(app): State<Arc<AppState>>, caller: Caller, Path(id): Path<String>) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, AlertShow { id }))
}

pub async fn dismiss(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let r = match csrf(&caller, &headers).and_then(|()| flag(&q, "dry_run")) {
        Ok(dry_run) => crate::daemon!(app.gate, &caller.cred, AlertDismiss { id, dry_run }),
        Err(e) => Err(e),
    };
    change(r, false)
}

pub async fn monitor(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, MonitorStatus {}))
}

/// A history prefix: printable ASCII, at most 128 bytes ("" for every series).
pub fn history_prefix(s: &str) -> Result<String, WireError> {
    if s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WireError::invalid("prefix", "prefix is invalid: use up to 128 printable ASCII characters"));
    }
    Ok(s.to_owned())
}

pub fn history_range(s: Option<&str>) -> Result<HistoryRange, WireError> {
    match s {
        None | Some("") => Ok(HistoryRange::Day),
        Some(r) => Ok(r.parse()?),
    }
}

pub async fn history(State(app): State<Arc<AppState>>, caller: Caller, Query(q): Q) -> Response {
    let args = history_prefix(q.get("prefix").map(String::as_str).unwrap_or(""))
        .and_then(|p| Ok((p, history_range(q.get("range").map(String::as_str))?)));
    let r = match args {
        Ok((prefix, range)) => crate::daemon!(app.gate, &caller.cred, MonitorHistory { prefix, range }),
        Err(e) => Err(e),
    };
    reply(r)
}

pub async fn channels(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, ChannelList {}))
}

pub async fn channel_add(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers)
        .and_then(|()| flag(&q, "dry_run"))
        .and_then(|d| Ok((channel_spec(&channel_fields_of_json(&raw)?)?, d)));
    let r = match args {
        Ok((spec, dry_run)) => crate::daemon!(app.gate, &caller.cred, ChannelAdd { spec, dry_run }),
        Err(e) => Err(e),
    };
    change(r, true)
}

fn channel_name(name: &str) -> Result<ChannelName, WireError> {
    as_field("name", ChannelName::try_from(name.to_owned()))
}

pub async fn channel_remove(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Q,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| Ok((channel_name(&name)?, flag(&q, "dry_run")?)));
    let r = match args {
        Ok((name, dry_run)) => crate::daemon!(app.gate, &caller.cred, ChannelRemove { name, dry_run }),
        Err(e) => Err(e),
    };
    change(r, false)
}

pub async fn channel_test(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Q,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| Ok((channel_name(&name)?, flag(&q, "dry_run")?)));
    let r = match args {
        Ok((name, dry_run)) => crate::daemon!(app.gate, &caller.cred, ChannelTest { name, dry_run }),
        Err(e) => Err(e),
    };
    change(r, false)
}

pub async fn silences(State(app): State<Arc<AppState>>, caller: Caller) -> Response {
    reply(crate::daemon!(app.gate, &caller.cred, SilenceList {}))
}

pub async fn silence_add(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Q,
    raw: axum::body::Bytes,
) -> Response {
    let args = csrf(&caller, &headers).and_then(|()| Ok((silence_of_json(&raw)?, flag(&q, "dry_run")?)));
    let r = match args {
        Ok((spec, dry_run)) => crate::daemon!(app.gate, &caller.cred, AlertSilence { spec, dry_run }),
        Err(e) => Err(e),
    };
    change(r, true)
}

/// What the event stream compares to tell an open page that alerts changed: each active
/// alert's id, level and whether it is dismissed or silenced. `None` when it cannot be read
/// (corenasd not built yet, or down): then nothing is told.
pub async fn alert_marker(
    app: &AppState,
    cred: &corenas_proto::web::Credential,
) -> Option<Vec<(String, AlertLevel, bool, bool)>> {
    let list = crate::daemon!(watch app.gate, cred, AlertList { include_resolved: false }).ok()?;
    let mut marker: Vec<_> =
        list.into_iter().map(|a| (a.id, a.level, a.dismissed_at.is_some(), a.silenced_by.is_some())).collect();
    marker.sort();
    Some(marker)
}

/// The OpenAPI description of these routes (summary, query parameters, request body).
pub fn describe(method: &str, path: &str) -> Option<(&'static str, Value, Option<Value>)> {
    let q = |name: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "schema": schema });
    let dry = || json!([q("dry_run", json!({ "type": "boolean" }))]);
    let enum_of = |all: Vec<&str>| json!({ "type": "string", "enum": all });
    let levels = || enum_of(AlertLevel::ALL.iter().map(|l| l.as_str()).collect());
    let classes = || enum_of(AlertClass::ALL.iter().map(|c| c.as_str()).collect());
    let url = json!({ "type": "string", "minLength": 8, "maxLength": 2048, "pattern": "^https?://" });
    let mail = json!({ "type": "string", "maxLength": 254, "pattern": "^[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+$" });
    Some(match (method, path) {
        ("GET", "/api/v1/alerts") => {
            ("Active alerts (with all=true, resolved ones too)", json!([q("all", json!({ "type": "boolean" }))]), None)
        }
        ("GET", "/api/v1/alerts/{id}") => ("One alert", json!([]), None),
        ("POST", "/api/v1/alerts/{id}/dismiss") => {
            ("Dismiss an alert (operator): it stays listed until it resolves, and is not sent again", dry(), None)
        }
        ("GET", "/api/v1/monitor") => ("The health cache, the active alerts and the health schedules", json!([]), None),
        ("GET", "/api/v1/monitor/history") => (
            "History series whose name starts with prefix, over a day, a week, a month or a year",
            json!([
                q("prefix", json!({ "type": "string", "maxLength": 128, "pattern": "^[!-~]*$" })),
                q("range", enum_of(HistoryRange::ALL.iter().map(|r| r.as_str()).collect())),
            ]),
            None,
        ),
        ("GET", "/api/v1/alerts/channels") => ("Delivery channels (passwords are never shown)", json!([]), None),
        ("POST", "/api/v1/alerts/channels") => (
            "Add a delivery channel (administrator)",
            dry(),
            Some(
                json!({ "type": "object", "required": ["name", "kind"], "additionalProperties": false, "properties": {
                "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$" },
                "min_level": levels(),
                "kind": { "oneOf": [
                    { "type": "object", "required": ["type", "host", "from", "to"], "additionalProperties": false, "properties": {
                        "type": { "type": "string", "enum": ["smtp"] },
                        "host": { "type": "string", "maxLength": 253, "pattern": "^[a-z0-9.-]+$" },
                        "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
                        "security": enum_of(SmtpSecurity::ALL.iter().map(|s| s.as_str()).collect()),
                        "from": mail,
                        "to": { "type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS, "items": mail },
                        "username": { "type": "string", "maxLength": 64 },
                        "password": { "type": "string", "minLength": 12, "maxLength": 128 },
                        "ca_file": { "type": "string", "pattern": "^/" } } },
                    { "type": "object", "required": ["type", "url"], "additionalProperties": false, "properties": {
                        "type": { "type": "string", "enum": ["webhook", "alertmanager"] },
                        "url": url } } ] } } }),
            ),
        ),
        ("DELETE", "/api/v1/alerts/channels/{name}") => ("Remove a delivery channel (administrator)", dry(), None),
        ("POST", "/api/v1/alerts/channels/{name}/test") => {
            ("Send a test message now and answer the conversation (SMTP transcript or HTTP status)", dry(), None)
        }
        ("GET", "/api/v1/alerts/silences") => ("Silences in force", json!([]), None),
        ("POST", "/api/v1/alerts/silences") => (
            "Hold back deliveries of a class and/or subject for a time (administrator)",
            dry(),
            Some(json!({ "type": "object", "required": ["minutes"], "additionalProperties": false,
                "anyOf": [{ "required": ["class"] }, { "required": ["subject"] }], "properties": {
                "class": classes(),
                "subject": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$" },
                "minutes": { "type": "integer", "minimum": 1, "maximum": SILENCE_MAX_MINUTES },
                "reason": { "type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9 ._()/-]*$" } } })),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp() -> ChannelFields {
        ChannelFields {
            name: "mail".into(),
            kind: "smtp".into(),
            host: "mail.example.org".into(),
            from: "nas@example.org".into(),
            to: recipients("ops@example.org, boss@example.org"),
            password: "Relay-Passw0rd!".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_channel_is_built_from_text_fields() {
        let spec = channel_spec(&smtp()).expect("valid");
        let ChannelKind::Smtp(s) = &spec.kind else { panic!("smtp") };
        assert_eq!((s.port, s.security, s.to.len()), (587, SmtpSecurity::Starttls, 2));
        assert_eq!(spec.min_level, AlertLevel::Warning);
        // The password goes on, but never out in JSON.
        assert!(!serde_json::to_string(&spec).unwrap().contains("Relay-Passw0rd!"));
    }

    #[test]
    fn hostile_channel_fields_are_refused_with_their_field() {
        type Spoil = Box<dyn Fn(&mut ChannelFields)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("name", Box::new(|f| f.name = "../x".into())),
            ("type", Box::new(|f| f.kind = "sms".into())),
            ("min_level", Box::new(|f| f.min_level = "loud".into())),
            ("host", Box::new(|f| f.host = "mail.example.org\r\nRCPT TO:<x@evil>".into())),
            ("port", Box::new(|f| f.port = "0".into())),
            ("port", Box::new(|f| f.port = "70000".into())),
            ("security", Box::new(|f| f.security = "ssl3".into())),
            ("from", Box::new(|f| f.from = "a@b\r\nBcc: x@evil".into())),
            ("to", Box::new(|f| f.to = vec!["<x@y>".into()])),
            ("to", Box::new(|f| f.to = vec![])),
            ("to", Box::new(|f| f.to = vec!["a@b.c".into(); MAX_RECIPIENTS + 1])),
            ("username", Box::new(|f| f.username = "a:b".into())),
            // The relay's password (a RemoteSecret): any printable text, but no line break.
            ("password", Box::new(|f| f.password = "pass\r\nQUIT".into())),
            ("ca_file", Box::new(|f| f.ca_file = "../etc/shadow".into())),
        ];
        for (field, change) in cases {
            let mut f = smtp();
            change(&mut f);
            let e = channel_spec(&f).expect_err(field);
            assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
        }
        let hook = ChannelFields {
            name: "hook".into(),
            kind: "webhook".into(),
            url: "http://user:pw@example.org/".into(),
            ..Default::default()
        };
        assert_eq!(channel_spec(&hook).unwrap_err().field.as_deref(), Some("url"));
    }

    #[test]
    fn json_bodies_name_the_wrong_field() {
        let ok = br#"{"name":"am","kind":{"type":"alertmanager","url":"http://127.0.0.1:9093"}}"#;
        assert!(channel_spec(&channel_fields_of_json(ok).unwrap()).is_ok());
        let field = |body: &[u8]| {
            channel_fields_of_json(body).and_then(|f| channel_spec(&f)).unwrap_err().field.unwrap_or_default()
        };
        assert_eq!(field(b"[]"), "body");
        assert_eq!(field(b"{"), "body");
        assert_eq!(field(br#"{"name":"a","kind":{"type":"webhook","url":"x"},"evil":1}"#), "evil");
        assert_eq!(field(br#"{"name":"a"}"#), "kind");
        assert_eq!(field(br#"{"name":"a","kind":{"type":"smtp","host":"h","port":true}}"#), "port");
        assert_eq!(field(br#"{"name":"a","kind":{"type":"webhook","url":5}}"#), "url");
        assert_eq!(field(br#"{"name":7,"kind":{"type":"webhook","url":"http://h"}}"#), "name");
    }

    #[test]
    fn silences_need_a_target_and_a_bounded_time() {
        assert!(silence_spec("pool_degraded", "", "60", "maintenance").is_ok());
        assert_eq!(silence_spec("", "", "60", "").unwrap_err().field.as_deref(), Some("class"));
        assert_eq!(silence_spec("nope", "", "60", "").unwrap_err().field.as_deref(), Some("class"));
        assert_eq!(silence_spec("", "ta\u{1b}[2Jnk", "60", "").unwrap_err().field.as_deref(), Some("subject"));
        for m in ["0", "-1", "x", &(SILENCE_MAX_MINUTES + 1).to_string()] {
            assert_eq!(silence_spec("", "tank", m, "").unwrap_err().field.as_deref(), Some("minutes"), "{m}");
        }
        assert_eq!(silence_spec("", "tank", "5", "a:b").unwrap_err().field.as_deref(), Some("reason"));
        assert_eq!(
            silence_of_json(br#"{"subject":"tank","minutes":"5"}"#).unwrap_err().field.as_deref(),
            Some("minutes")
        );
    }

    #[test]
    fn bad_query_values_are_named() {
        let q: HashMap<String, String> = [("all".to_owned(), "maybe".to_owned())].into();
        assert_eq!(flag(&q, "all").unwrap_err().field.as_deref(), Some("all"));
        assert_eq!(history_range(Some("decade")).unwrap_err().field.as_deref(), Some("range"));
        assert_eq!(history_prefix("a b").unwrap_err().field.as_deref(), Some("prefix"));
        assert_eq!(history_prefix(&"a".repeat(129)).unwrap_err().field.as_deref(), Some("prefix"));
    }
}
