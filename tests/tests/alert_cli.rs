//! The alert and monitor command lines end to end: corenas-ctl → corenasd → state.db and the
//! audit log. Silences and delivery policies round-trip; hostile input is refused naming its
//! field with nothing stored; a channel's SMTP password never shows in argv, in `channel list`,
//! in the audit log or in corenasd's log; `channel test` reports a failed delivery with exit 1
//! and a good one (a real HTTP server on loopback) with exit 0.

use corenas_tests::{Lab, LabOptions, require_root, stderr, stdout};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

const PW: &str = "Relay-Secret-42x";

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what} failed:\n{}\n{}", stdout(o), stderr(o));
}

fn lab(name: &str) -> Lab {
    Lab::start(name, LabOptions::default())
}

fn audited(lab: &Lab, action: &str) -> Vec<Value> {
    let log = lab.ctl_json(&["log", "view", "--limit", "500"]);
    log.as_array().unwrap_or_else(|| panic!("{log}")).iter().filter(|e| e["action"] == action).cloned().collect()
}

fn policy_of(lab: &Lab, class: &str) -> Value {
    let all = lab.ctl_json(&["alert", "policy", "list"]);
    all.as_array().unwrap().iter().find(|p| p["class"] == class).cloned().unwrap_or_else(|| panic!("{all}"))
}

#[test]
fn silences_and_policies_round_trip_and_are_audited() {
    if !require_root("silences_and_policies_round_trip") {
        return;
    }
    let lab = lab("alert-roundtrip");
    assert_eq!(lab.ctl_json(&["alert", "silences"]), Value::Array(vec![]));

    let dry = lab.ctl(&["--dry-run", "alert", "silence", "--class", "pool_degraded", "--for", "2h"]);
    ok(&dry, "dry-run silence");
    assert_eq!(lab.ctl_json(&["alert", "silences"]), Value::Array(vec![]), "a dry run stores nothing");

    let made = lab.ctl_json(&[
        "alert",
        "silence",
        "--class",
        "pool_degraded",
        "--subject",
        "tank",
        "--for",
        "2h",
        "--reason",
        "disk swap",
    ]);
    let id = made["result"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_owned();
    let until = made["result"]["until"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let now = i64::try_from(now).unwrap();
    assert!((now + 7100..=now + 7300).contains(&until), "two hours from now: {made}");
    let listed = lab.ctl_json(&["alert", "silences"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["class"].as_str(), listed[0]["subject"].as_str()),
        (Some(id.as_str()), Some("pool_degraded"), Some("tank")),
        "{listed}"
    );
    let human = stdout(&lab.ctl(&["alert", "silences"]));
    assert!(human.contains(&id) && human.contains("pool_degraded") && human.contains("disk swap"), "{human}");
    ok(&lab.ctl(&["alert", "unsilence", &id]), "unsilence");
    assert_eq!(lab.ctl_json(&["alert", "silences"]), Value::Array(vec![]));

    assert_eq!(policy_of(&lab, "pool_capacity")["default"], true);
    ok(&lab.ctl(&["alert", "policy", "set", "pool_capacity", "digest"]), "policy set");
    let p = policy_of(&lab, "pool_capacity");
    assert_eq!((p["delivery"].as_str(), p["default"].as_bool()), (Some("digest"), Some(false)), "{p}");
    ok(&lab.ctl(&["--dry-run", "alert", "policy", "set", "pool_capacity", "never"]), "dry-run policy");
    assert_eq!(policy_of(&lab, "pool_capacity")["delivery"], "digest", "a dry run changes nothing");
    let human = stdout(&lab.ctl(&["alert", "policy", "list"]));
    assert!(
        human.lines().any(|l| l.starts_with("pool_capacity") && l.contains("digest") && l.contains("admin")),
        "{human}"
    );

    for action in ["alert.silence", "alert.silence_remove", "alert.policy_set"] {
        assert!(!audited(&lab, action).is_empty(), "{action} is audited");
    }
    assert!(audited(&lab, "alert.silence").iter().any(|e| e["result"] == "dry-run"));

    // The read side answers too, in both forms.
    assert!(lab.ctl_json(&["alert", "list", "--all"]).is_array());
    let status = lab.ctl_json(&["monitor", "status"]);
    assert!(
        status["snapshot"].is_object() && status["alerts"].is_array() && status["schedules"].is_array(),
        "{status}"
    );
    let human = stdout(&lab.ctl(&["monitor", "status"]));
    assert!(
        human.starts_with("ALERTS:") && human.contains("\nCOLLECTORS\n") && human.contains("\nSCHEDULES\n"),
        "{human}"
    );
    let o = lab.ctl(&["--json", "alert", "show", "nosuchalert"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn hostile_alert_input_is_refused_naming_the_field_and_nothing_is_stored() {
    if !require_root("hostile_alert_input") {
        return;
    }
    let lab = lab("alert-hostile");
    let policies = lab.ctl_json(&["alert", "policy", "list"]);
    let long_subject = "s".repeat(129);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["alert", "silence", "--class", "pool_degraded", "--for", "100d"], "for"),
        (vec!["alert", "silence", "--class", "pool_degraded", "--for", "0m"], "for"),
        (vec!["alert", "silence", "--class", "no_such_class", "--for", "2h"], "class"),
        (vec!["alert", "silence", "--subject", &long_subject, "--for", "2h"], "subject"),
        (vec!["alert", "silence", "--subject", "tank\n", "--for", "2h"], "subject"),
        (vec!["alert", "policy", "set", "no_such_class", "never"], "class"),
        (vec!["alert", "policy", "set", "pool_capacity", "hourly"], "delivery"),
        (vec!["alert", "dismiss", "../x"], "id"),
        (vec!["alert", "channel", "add", "Ops", "--webhook", "http://127.0.0.1:9/"], "name"),
        (vec!["alert", "channel", "add", "ops", "--webhook", "http://admin:hunter2@127.0.0.1:9/"], "url"),
        (vec!["alert", "channel", "add", "ops", "--alertmanager", "http://127.0.0.1:9/\r\nX-Evil: 1"], "url"),
        (
            vec![
                "alert",
                "channel",
                "add",
                "ops",
                "--smtp",
                "127.0.0.1",
                "--security",
                "none",
                "--from",
                "nas@example.org\r\nRCPT TO:<x@evil.example>",
                "--to",
                "ops@example.org",
            ],
            "address",
        ),
        (
            vec![
                "alert",
                "channel",
                "add",
                "ops",
                "--smtp",
                "127.0.0.1",
                "--security",
                "none",
                "--from",
                "nas@example.org",
                "--to",
                "ops@example.org\n",
            ],
            "address",
        ),
        (
            vec![
                "alert",
                "channel",
                "add",
                "ops",
                "--smtp",
                "mail\r\nHELO evil",
                "--security",
                "tls",
                "--from",
                "nas@example.org",
                "--to",
                "ops@example.org",
            ],
            "host",
        ),
    ];
    for (args, field) in &cases {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let o = lab.ctl(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}{}", stdout(&o), stderr(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
        assert_eq!(doc["error"]["field"], *field, "{args:?}: {doc}");
        // Human mode names the field's value and what is accepted.
        let human = lab.ctl(args);
        assert!(
            stderr(&human).contains("invalid") || stderr(&human).contains("not accepted"),
            "{args:?}: {}",
            stderr(&human)
        );
    }
    // A password as an argument is not even an option.
    let o = lab.ctl(&[
        "alert",
        "channel",
        "add",
        "ops",
        "--smtp",
        "127.0.0.1",
        "--security",
        "none",
        "--from",
        "a@b.org",
        "--to",
        "c@d.org",
        "--user",
        "nas",
        "--password",
        PW,
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Nothing reached corenasd.
    assert_eq!(lab.ctl_json(&["alert", "silences"]), Value::Array(vec![]));
    assert_eq!(lab.ctl_json(&["alert", "channel", "list"]), Value::Array(vec![]));
    assert_eq!(lab.ctl_json(&["alert", "policy", "list"]), policies);
    for action in ["alert.silence", "alert.channel_add", "alert.policy_set", "alert.dismiss"] {
        assert!(audited(&lab, action).is_empty(), "{action} reached corenasd");
    }
}

/// A one-request HTTP server on loopback that answers `status`, and hands back what it read.
fn http_once(status: u16) -> (u16, std::thread::JoinHandle<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        // Headers, then Content-Length bytes of body.
        loop {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
        let _ = write!(s, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&got).into_owned()
    });
    (port, handle)
}

#[test]
fn channel_passwords_stay_out_of_argv_listings_and_the_audit_log() {
    if !require_root("channel_passwords") {
        return;
    }
    let lab = lab("alert-channels");
    let file = lab.dir.join("smtp-password");
    std::fs::write(&file, format!("{PW}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = file.display().to_string();
    let args = [
        "alert",
        "channel",
        "add",
        "mail1",
        "--smtp",
        "127.0.0.1:2525",
        "--security",
        "none",
        "--from",
        "nas@example.org",
        "--to",
        "ops@example.org",
        "--to",
        "oncall@example.org",
        "--user",
        "nas",
        "--password-file",
        &file,
        "--min-level",
        "error",
    ];
    assert!(!args.iter().any(|a| a.contains(PW)), "the password is not in argv");
    let added = lab.ctl_json(&args);
    assert!(!added.to_string().contains(PW), "{added}");

    let list = lab.ctl_json(&["alert", "channel", "list"]);
    let text = list.to_string();
    assert!(!text.contains(PW), "channel list --json shows the password: {text}");
    let mail = list.as_array().unwrap().iter().find(|c| c["name"] == "mail1").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((mail["min_level"].as_str(), mail["kind"]["type"].as_str()), (Some("error"), Some("smtp")), "{mail}");
    assert_eq!(mail["kind"]["port"], 2525, "{mail}");
    let human = stdout(&lab.ctl(&["alert", "channel", "list"]));
    assert!(human.contains("mail1") && !human.contains(PW), "{human}");

    let log = lab.ctl_json(&["log", "view", "--limit", "500"]).to_string();
    assert!(!log.contains(PW), "the audit log holds the password");
    assert!(!audited(&lab, "alert.channel_add").is_empty());
    assert!(!lab.log("corenasd.log").contains(PW), "corenasd's log holds the password");

    // A webhook nobody answers: the test fails, says so, exits 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{dead_port}/hook");
    ok(&lab.ctl(&["alert", "channel", "add", "dead", "--webhook", &url]), "webhook add");
    let o = lab.ctl(&["alert", "channel", "test", "dead"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("FAILED"), "{}", stdout(&o));

    // A real server on loopback that accepts: exit 0, and it got the payload.
    let (port, server) = http_once(200);
    let url = format!("http://127.0.0.1:{port}/hook");
    ok(&lab.ctl(&["alert", "channel", "add", "live", "--webhook", &url]), "webhook add");
    let o = lab.ctl(&["alert", "channel", "test", "live"]);
    ok(&o, "channel test live");
    assert!(stdout(&o).contains("delivered"), "{}", stdout(&o));
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /hook "), "{request}");

    ok(&lab.ctl(&["alert", "channel", "remove", "mail1"]), "remove");
    let list = lab.ctl_json(&["alert", "channel", "list"]);
    assert!(!list.as_array().unwrap().iter().any(|c| c["name"] == "mail1"), "{list}");
}
