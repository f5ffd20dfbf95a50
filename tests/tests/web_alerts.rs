//! The alerts page, the dashboard's health section and charts, and the alerts REST API, end to
//! end as root: the real corenas-web behind the real nginx in front of the lab's real corenasd
//! (collectors every 2 s), with a real HTTP receiver on loopback for the webhook channel. Played
//! by an admin, a viewer who tries the admin's forms, and an attacker who names a network
//! interface with markup so it reaches the chart as text from outside.

use corenas_tests::web::{ADMIN_PASSWORD, Browser, WebStack, attr_after, set_up_admin, totp};
use corenas_tests::{Lab, LabOptions, require_root, run, stderr, wait_for};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};

const VERA_PASSWORD: &str = "Viewer-pass!x9";
const SMTP_PASSWORD: &str = "Relay-Secret-77!";

/// A webhook receiver on loopback: answers 200 to every request and keeps what it got.
fn webhook_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            // Headers, then as much body as Content-Length says.
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            seen.lock().expect("lock").push(String::from_utf8_lossy(&buf).into_owned());
        }
    });
    (url, got)
}

/// Every inline `<svg>…</svg>` of a page, each parsed by a real XML parser (Python's
/// xml.etree); answers the number parsed, panics with the parser's complaint otherwise.
fn parse_svgs(body: &str) -> usize {
    let mut n = 0;
    let mut rest = body;
    while let Some(i) = rest.find("<svg") {
        let j = rest[i..].find("</svg>").unwrap_or_else(|| panic!("an unclosed <svg>: {}", &rest[i..]));
        let svg = &rest[i..i + j + "</svg>".len()];
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let dir = std::env::temp_dir().join(format!("corenas-svg-{}-{n}.svg", std::process::id()));
        std::fs::write(&dir, svg).expect("write svg");
        let out = run(Command::new(python)
            .arg("-c")
            .arg(
                "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); \
                 ns = '{http://www.w3.org/2000/svg}'; assert r.tag == ns + 'svg', r.tag; \
                 assert r.find(ns + 'title') is not None and r.find(ns + 'desc') is not None, 'title/desc'; \
                 print(len(list(r.iter())))",
            )
            .arg(&dir));
        let _ = std::fs::remove_file(&dir);
        assert!(out.status.success(), "not well-formed SVG ({}):\n{svg}", stderr(&out));
        n += 1;
        rest = &rest[i + j..];
    }
    n
}

/// A dummy network interface whose name is markup, removed again however the test ends.
struct HostileInterface(Option<String>);

impl HostileInterface {
    fn add(name: &str) -> HostileInterface {
        // A tun device needs only /dev/net/tun; a dummy needs its kernel module.
        let tun = run(Command::new("ip").args(["tuntap", "add", "name", name, "mode", "tun"]));
        if !tun.status.success() {
            let out = run(Command::new("ip").args(["link", "add", "name", name, "type", "dummy"]));
            if !out.status.success() {
                eprintln!(
                    "no tun or dummy interface here ({} / {}); the hostile interface name is not tried",
                    stderr(&tun).trim(),
                    stderr(&out).trim()
                );
                return HostileInterface(None);
            }
        }
        let _ = run(Command::new("ip").args(["link", "set", "dev", name, "up"]));
        HostileInterface(Some(name.to_owned()))
    }
}

impl Drop for HostileInterface {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = run(Command::new("ip").args(["link", "del", "dev", &name]));
        }
    }
}

/// What the servers said, for a failure's message.
fn diag(lab: &Lab, web: &WebStack) -> String {
    let d = lab.log("corenasd.log");
    let tail: String = d.chars().rev().take(6000).collect::<Vec<_>>().into_iter().rev().collect();
    format!("--- corenas-web / nginx ---\n{}\n--- corenasd ---\n{tail}", web.log())
}

/// vera, an admin account with the viewer web role, logged in (enrolling a second factor if
/// asked to).
fn vera(lab: &Lab, web: &WebStack) -> Browser {
    let o = lab.ctl_stdin(&["user", "add", "vera", "--kind", "admin", "--password-stdin"], Some("Viewer-pass!x9\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    lab.ctl_json(&["web", "role", "vera", "viewer"]);
    let b = web.browser("vera");
    let r = b.post("/login", &[("user", "vera"), ("password", VERA_PASSWORD)]);
    if let Some(secret) = attr_after(&r.body, "data-secret=\"") {
        let mut used = 0;
        let r = b.post("/login/code", &[("code", &totp(&secret, &mut used))]);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(b.get("/api/v1/sessions").status, 200, "vera is logged in");
    b
}

#[test]
fn web_alerts_page_health_charts_and_rest() {
    if !require_root("web_alerts_page_health_charts_and_rest") {
        return;
    }
    let _ = ADMIN_PASSWORD;
    let hostile_if = HostileInterface::add("<i>&\"x'");
    let lab = Lab::start("web-alerts", LabOptions { monitor_secs: Some(2), ..LabOptions::default() });
    let web = WebStack::start(&lab);
    let (alice, _, _) = set_up_admin(&lab, &web, "alice");
    let vera = vera(&lab, &web);
    let (hook_url, received) = webhook_receiver();

    // The page, for an administrator: every section and every form.
    let page = alice.get("/alerts");
    assert_eq!(page.status, 200, "{}\n{}", page.body, web.log());
    for id in ["active-alerts", "silences", "resolved-alerts", "delivery-policy", "channels"] {
        assert!(page.body.contains(&format!("id=\"{id}\"")), "section {id}: {}", page.body);
    }
    for form in ["action=\"/alerts/channels\"", "action=\"/alerts/silences\"", "action=\"/alerts/policy\""] {
        assert!(page.body.contains(form), "{form}: {}", page.body);
    }
    assert!(page.body.contains("href=\"/alerts\""), "in the navigation");
    // In German, from the browser's language: the page and the dashboard's health section.
    let de = alice.request("GET", "/alerts", &["Accept-Language: de-DE,de;q=0.9"], &[]);
    for text in ["Aktive Warnungen", "Stummschaltungen", "Zustellung je Klasse", "Zustellwege", "Mail-Zustellweg"] {
        assert!(de.body.contains(text), "{text}: {}", de.body);
    }
    let de = alice.request("GET", "/?range=week", &["Accept-Language: de"], &[]);
    assert!(de.body.contains(">Zustand<") && de.body.contains(">Verlauf<"), "{}", de.body);
    let csrf = page.csrf();

    // Delivery per class, with the 7-day count; a silence.
    let r = alice.post("/alerts/policy", &[("csrf", &csrf), ("class", "pool_capacity"), ("delivery", "never")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-class=\"pool_capacity\""), "{}", r.body);
    let r = alice.post(
        "/alerts/silences",
        &[("csrf", &csrf), ("class", ""), ("subject", "tank"), ("minutes", "60"), ("reason", "disk swap")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Silenced until") && r.body.contains("disk swap"), "{}", r.body);

    // The viewer sees the page but no form, and is refused if she posts them anyway.
    let page = vera.get("/alerts");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("action=\"/alerts/"), "no alert form for a viewer: {}", page.body);
    let vcsrf = page.csrf();
    let posts: [(&str, Vec<(&str, &str)>); 4] = [
        ("/alerts/silences", vec![("class", "pool_degraded"), ("minutes", "60")]),
        ("/alerts/policy", vec![("class", "pool_degraded"), ("delivery", "never")]),
        ("/alerts/channels/mail/remove", vec![]),
        ("/alerts/channels/hook/test", vec![]),
    ];
    for (path, fields) in posts {
        let mut data = vec![("csrf", vcsrf.as_str())];
        data.extend(fields);
        let r = vera.post(path, &data);
        assert_eq!(r.status, 403, "a viewer posting {path}: {}", r.body);
        assert!(r.body.contains("E_NOT_ALLOWED"), "{path}: {}", r.body);
    }
    let r = vera.post("/alerts/some-id/dismiss", &[("csrf", &vcsrf)]);
    assert_eq!(r.status, 403, "a viewer may not dismiss: {}", r.body);

    // The dashboard: the health section and charts, drawn as well-formed SVG once the
    // collectors have recorded some history.
    wait_for(
        || {
            let h = alice.get("/api/v1/monitor/history?prefix=cpu&range=day");
            h.status == 200
                && h.json()
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s["points"].as_array().is_some_and(|p| p.len() >= 2)))
        },
        "two CPU samples in the history",
    );
    let dash = alice.get("/?range=day");
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(dash.body.contains("id=\"health\"") && dash.body.contains("active alerts"), "{}", dash.body);
    assert!(dash.body.contains("id=\"chart-cpu-title\""), "a CPU chart: {}", dash.body);
    assert!(parse_svgs(&dash.body) >= 1);
    // The interface named with markup: text in the page and in the SVG, never markup.
    assert!(!dash.body.contains("<i>&\"x'"), "the interface name is escaped: {}", dash.body);
    if hostile_if.0.is_some() {
        wait_for(
            || alice.get("/?range=day").body.contains("&lt;i&gt;&amp;&quot;x"),
            "the hostile interface in the network chart, escaped",
        );
        let dash = alice.get("/?range=day");
        assert!(parse_svgs(&dash.body) >= 1 && !dash.body.contains("<i>&"), "{}", dash.body);
    }
    for range in ["week", "month", "year"] {
        let r = alice.get(&format!("/?range={range}"));
        assert_eq!(r.status, 200, "{range}");
        parse_svgs(&r.body);
    }
    let r = alice.get("/?range=decade");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("range") && r.body.contains("E_INVALID_INPUT"), "{}", r.body);
    let d = vera.get("/");
    assert_eq!(d.status, 200, "the viewer's dashboard");
    assert!(d.body.contains("id=\"health\""));

    // REST: answers and codes.
    let key = lab.ctl_json(&["web", "api-key", "create", "--label", "alerts", "--role", "admin", "--days", "1"]);
    let mut bot = web.browser("alerts-bot");
    bot.extra.push(format!("X-API-Key: {}", key["key"].as_str().expect("key")));
    let r = bot.get("/api/v1/alerts");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().is_array());
    assert_eq!(bot.get("/api/v1/alerts?all=true").status, 200);
    let r = bot.get("/api/v1/alerts?all=perhaps");
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("all")), "{}", r.body);
    assert_eq!(bot.get("/api/v1/alerts/no-such-alert").status, 404);
    assert_eq!(bot.json("POST", "/api/v1/alerts/no-such-alert/dismiss", None, "").status, 404);
    let r = bot.get("/api/v1/monitor");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["snapshot"]["collectors"].is_array(), "{}", r.body);
    let r = bot.get("/api/v1/monitor/history?range=decade");
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("range")), "{}", r.body);
    let r = bot.get("/api/v1/monitor/history?prefix=a%20b");
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("prefix")), "{}", r.body);
    // Silences.
    let r = bot.json("POST", "/api/v1/alerts/silences", None, r#"{"subject":"tank","minutes":0}"#);
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("minutes")), "{}", r.body);
    let r = bot.json("POST", "/api/v1/alerts/silences", None, r#"{"class":"disk_temperature","minutes":30}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = bot.get("/api/v1/alerts/silences");
    assert!(r.body.contains("disk_temperature") && r.body.contains("tank"), "{}", r.body);
    // Every alerts route is in the OpenAPI document.
    let doc = bot.get("/api/v1/openapi.json").json();
    for (path, method) in [
        ("/api/v1/alerts", "get"),
        ("/api/v1/alerts/{id}/dismiss", "post"),
        ("/api/v1/alerts/channels", "post"),
        ("/api/v1/alerts/channels/{name}", "delete"),
        ("/api/v1/monitor/history", "get"),
        ("/api/v1/alerts/silences", "post"),
    ] {
        assert!(doc["paths"][path][method]["summary"].is_string(), "{method} {path}");
    }
    // A viewer's key reads and changes nothing.
    let vkey = lab.ctl_json(&["web", "api-key", "create", "--label", "ro", "--role", "viewer", "--days", "1"]);
    let mut ro = web.browser("alerts-ro");
    ro.extra.push(format!("X-API-Key: {}", vkey["key"].as_str().expect("key")));
    assert_eq!(ro.get("/api/v1/alerts").status, 200);
    assert_eq!(ro.json("POST", "/api/v1/alerts/silences", None, r#"{"subject":"x","minutes":5}"#).status, 403);

    // Channels: added through the form and the API, tested against the receiver, removed.
    let am = r#"{"name":"am","min_level":"error","kind":{"type":"alertmanager","url":"http://127.0.0.1:9093"}}"#;
    // A mail channel through the form: listed without its password, anywhere.
    let r = alice.post(
        "/alerts/channels",
        &[
            ("csrf", &csrf),
            ("type", "smtp"),
            ("name", "mail"),
            ("host", "127.0.0.1"),
            ("port", "2525"),
            ("security", "none"),
            ("from", "nas@example.org"),
            ("to", "ops@example.org, boss@example.org"),
            ("username", "nas"),
            ("password", SMTP_PASSWORD),
            ("min_level", "warning"),
        ],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, diag(&lab, &web));
    assert!(r.body.contains("Channel added: mail") && r.body.contains("data-channel=\"mail\""), "{}", r.body);
    assert!(r.body.contains("boss@example.org") && r.body.contains("password set"), "{}", r.body);
    assert!(!r.body.contains(SMTP_PASSWORD), "the password is never shown");
    let listed = alice.get("/api/v1/alerts/channels");
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains("\"mail\"") && !listed.body.contains(SMTP_PASSWORD), "{}", listed.body);
    assert!(!web.log().contains(SMTP_PASSWORD) && !lab.log("corenasd.log").contains(SMTP_PASSWORD));
    // Bad input from the form: refused with the field named, nothing added.
    let r = alice.post(
        "/alerts/channels",
        &[("csrf", &csrf), ("type", "webhook"), ("name", "evil"), ("url", "http://u:p@example.org/\r\nX: y")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("E_INVALID_INPUT") && r.body.contains("url"), "{}", r.body);
    assert!(!r.body.contains("data-channel=\"evil\""));

    // A webhook, and "send test": the receiver gets it and the page shows the conversation.
    let r =
        alice.post("/alerts/channels", &[("csrf", &csrf), ("type", "webhook"), ("name", "hook"), ("url", &hook_url)]);
    assert!(r.body.contains("Channel added: hook"), "{}", r.body);
    let r = alice.post("/alerts/channels/hook/test", &[("csrf", &csrf)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"test-report\" role=\"status\" data-ok=\"1\""), "the test worked: {}", r.body);
    assert!(r.body.contains("<pre class=\"transcript\">"), "with the transcript: {}", r.body);
    assert!(received.lock().expect("lock").iter().any(|req| req.starts_with("POST /hook")), "the receiver got it");

    let r = vera.post(
        "/alerts/channels",
        &[("csrf", &vera.get("/alerts").csrf()), ("type", "webhook"), ("name", "vera"), ("url", "http://127.0.0.1:9/")],
    );
    assert_eq!(r.status, 403, "a viewer adding a channel: {}", r.body);
    let page = vera.get("/alerts");
    assert!(page.body.contains("data-channel=\"mail\"") && !page.body.contains(SMTP_PASSWORD), "{}", page.body);
    assert!(!page.body.contains("action=\"/alerts/"), "no alert form for a viewer: {}", page.body);
    // Channels: bad input names its field; a dry run adds nothing; a real add is 201.
    for (body, field) in [
        (r#"{"name":"am","kind":{"type":"alertmanager","url":"ftp://x"}}"#, "url"),
        (r#"{"name":"AM","kind":{"type":"alertmanager","url":"http://h"}}"#, "name"),
        (r#"{"name":"am","kind":{"type":"pager"}}"#, "type"),
        (r#"{"name":"am","kind":{"type":"webhook","url":"http://h"},"x":1}"#, "x"),
        (r#"{"name":"m","kind":{"type":"smtp","host":"h","from":"a@b","to":["x\r\n@y"]}}"#, "to"),
        ("not json", "body"),
    ] {
        let r = bot.json("POST", "/api/v1/alerts/channels", None, body);
        assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some(field)), "{body}: {}", r.body);
    }
    let r = bot.json("POST", "/api/v1/alerts/channels?dry_run=true", None, am);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dry_run"], true);
    assert!(!bot.get("/api/v1/alerts/channels").body.contains("\"am\""), "a dry run adds nothing");
    let r = bot.json("POST", "/api/v1/alerts/channels", None, am);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(bot.get("/api/v1/alerts/channels").body.contains("\"am\""));
    let r = bot.json("POST", "/api/v1/alerts/channels/hook/test", None, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["ok"], true, "{}", r.body);
    assert_eq!(bot.json("DELETE", "/api/v1/alerts/channels/am", None, "").status, 200);
    assert_eq!(bot.json("DELETE", "/api/v1/alerts/channels/am", None, "").status, 404);
    assert_eq!(bot.json("DELETE", "/api/v1/alerts/channels/Bad!", None, "").status, 422);
    assert_eq!(ro.json("POST", "/api/v1/alerts/channels", None, am).status, 403);
    assert_eq!(ro.json("DELETE", "/api/v1/alerts/channels/mail", None, "").status, 403);
    // Every change above went to the audit log, and the chain holds; the password is in none.
    assert!(lab.ctl(&["log", "verify"]).status.success());
    let audit = lab.ctl_json(&["log", "view", "--limit", "200"]).to_string();
    assert!(audit.contains("alert.channel_add") && audit.contains("mail"), "{audit}");
    assert!(!audit.contains(SMTP_PASSWORD), "the audit log keeps no password");
    // Live: someone edits the audit log behind CoreNAS's back; the audit check raises a critical
    // alert, the event stream tells the open page (whose alert sections live.js then renders
    // again), and an admin dismisses it through the form.
    let events_out = web.dir.join("alert-events.txt");
    let mut sse = Command::new("curl")
        .args(["-sk", "-N", "--max-time", "60", "-b"])
        .arg(&alice.jar)
        .arg("-o")
        .arg(&events_out)
        .arg(format!("{}/api/v1/events", alice.base))
        .spawn()
        .expect("curl events");
    // The stream takes its first look at the alerts when it starts; the change comes after.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let db = lab.dir.join("state/state.db");
    let conn = rusqlite::Connection::open(&db).expect("open state db");
    conn.execute_batch("UPDATE audit SET args = '{\"name\":\"evil\"}' WHERE seq = 2").expect("tamper");
    drop(conn);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while !alice.get("/api/v1/alerts").body.contains("\"audit_chain\"") {
        assert!(
            std::time::Instant::now() < deadline,
            "no audit_chain alert once the log was edited: {}\n{}\n{}",
            alice.get("/api/v1/alerts").body,
            alice.get("/api/v1/monitor").body,
            diag(&lab, &web)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    wait_for(
        || std::fs::read_to_string(&events_out).unwrap_or_default().contains("event: alert"),
        "the event stream's alert event",
    );
    let _ = sse.kill();
    let _ = sse.wait();
    let stream = std::fs::read_to_string(&events_out).unwrap_or_default();
    assert!(stream.contains("alerts_changed"), "{stream}");
    let dash = alice.get("/");
    assert!(dash.body.contains("data-count-level=\"critical\""), "the dashboard counts it: {}", dash.body);
    let page = vera.get("/alerts");
    assert!(page.body.contains("Audit chain broken") && !page.body.contains("/dismiss\""), "{}", page.body);
    let page = alice.get("/alerts");
    let target = attr_after(&page.body, "<form class=\"inline\" method=\"post\" action=\"/alerts/")
        .unwrap_or_else(|| panic!("a dismiss button: {}", page.body));
    assert!(target.ends_with("/dismiss"), "{target}");
    let r = alice.post(&format!("/alerts/{target}"), &[("csrf", &page.csrf())]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Dismissed: Audit chain broken") && r.body.contains(">dismissed<"), "{}", r.body);
    let id = target.trim_end_matches("/dismiss");
    let shown = bot.get(&format!("/api/v1/alerts/{id}")).json();
    assert_eq!(shown["dismissed_by"].as_str().map(|b| b.starts_with("alice")), Some(true), "{shown}");
}
