//! Alert channels against the real other side, on loopback: aiosmtpd (STARTTLS or implicit TLS,
//! AUTH required, certificates made here with openssl), Prometheus's Alertmanager (the v2 push,
//! read back through its API) and a webhook receiver (http.server). corenasd is driven over its
//! socket as corenas-ctl drives it; the attacker tests (a wrong password, a certificate from
//! another CA or for another name, a relay that does not offer STARTTLS, plain text to a remote
//! relay, a redirect) must end with nothing sent.

use corenas_proto::WireError;
use corenas_proto::api::{Change, CorenasClient};
use corenas_proto::monitor::{
    AlertLevel, ChannelInfo, ChannelKind, ChannelName, ChannelSpec, DeliveryReport, SmtpSecurity, SmtpSpec,
};
use corenas_tests::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PYTHON: &str = "/usr/bin/python3";
const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const USER: &str = "nas-alerts";
/// The relay's password (a `RemoteSecret`: the relay chose it, CoreNAS's policy does not apply).
const PASSWORD: &str = "Relay-Pass-2026!";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A server started for one test, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Starts a fixture that prints "PORT <n>" once it listens.
fn python_server(script: &str, args: &[&Path], env: &[(&str, &str)], log: &Path) -> Server {
    let mut child = Command::new(PYTHON)
        .arg(fixture(script))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("server log"))
        .spawn()
        .expect("start the fixture server");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read the port");
    let port = line.strip_prefix("PORT ").and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{script} did not start: {line:?}; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default())
    });
    Server { child, port }
}

fn must(cmd: &mut Command) {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
}

/// A CA and a server certificate it signed (P-256, one day).
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, tag: &str, san: &str) -> Pki {
    let p = |s: &str| dir.join(format!("{tag}-{s}"));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    must(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem"))
            .args(["-days", "1", "-subj", &format!("/CN=CoreNAS test CA {tag}")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
    must(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr"))
            .args(["-subj", "/CN=localhost/O=CoreNAS tests"]),
    );
    std::fs::write(
        p("ext.cnf"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .expect("ext");
    must(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "1", "-in"])
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .args(["-CAcreateserial", "-extfile"])
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("server.pem")),
    );
    // corenasd (user corenas) reads the CA file; the keys stay root's.
    std::fs::set_permissions(p("ca.pem"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    Pki { ca: p("ca.pem"), cert: p("server.pem"), key: p("server.key") }
}

fn certs_dir(lab: &Lab) -> PathBuf {
    let dir = lab.dir.join("certs");
    std::fs::create_dir_all(&dir).expect("certs");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn spool(lab: &Lab, name: &str) -> PathBuf {
    let dir = lab.dir.join(name);
    std::fs::create_dir_all(&dir).expect("spool");
    dir
}

fn smtp_server(lab: &Lab, mode: &str, spool: &Path, pki: Option<&Pki>) -> Server {
    smtp_server_on(lab, mode, spool, pki, 0)
}

/// `smtp_server` on a given port (0: a free one).
fn smtp_server_on(lab: &Lab, mode: &str, spool: &Path, pki: Option<&Pki>, port: u16) -> Server {
    let mut args: Vec<&Path> = vec![Path::new(mode), spool];
    if let Some(p) = pki {
        args.push(&p.cert);
        args.push(&p.key);
    }
    let log = lab.dir.join(format!("smtp-{mode}-{}.log", spool.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
    let port = port.to_string();
    let env = [("SMTP_TEST_USER", USER), ("SMTP_TEST_PASSWORD", PASSWORD), ("SMTP_TEST_PORT", port.as_str())];
    python_server("smtp_server.py", &args, &env, &log)
}

fn mail_spec(
    name: &str,
    host: &str,
    port: u16,
    security: SmtpSecurity,
    ca: Option<&Path>,
    password: &str,
) -> ChannelSpec {
    ChannelSpec {
        name: name.parse().expect("name"),
        kind: ChannelKind::Smtp(SmtpSpec {
            host: host.parse().expect("host"),
            port,
            security,
            from: "nas@example.org".parse().expect("from"),
            to: vec!["ops@example.org".parse().expect("to"), "oncall@example.org".parse().expect("to")],
            username: Some(USER.parse().expect("user")),
            password: Some(password.parse().expect("password")),
            ca_file: ca.map(|c| c.to_str().expect("utf-8").parse().expect("ca path")),
        }),
        // Critical: the lab's own alerts (if any) stay out of the spools.
        min_level: AlertLevel::Critical,
    }
}

fn http_spec(name: &str, kind: ChannelKind) -> ChannelSpec {
    ChannelSpec { name: name.parse().expect("name"), kind, min_level: AlertLevel::Critical }
}

async fn add(d: &CorenasClient, spec: ChannelSpec, dry_run: bool) -> Result<Change<ChannelInfo>, WireError> {
    d.channel_add(ctx(), spec, dry_run).await.expect("rpc")
}

async fn send_test(d: &CorenasClient, name: &str) -> DeliveryReport {
    let name: ChannelName = name.parse().expect("name");
    let change = d.channel_test(ctx(), name, false).await.expect("rpc").expect("channel test");
    change.result.expect("a report")
}

/// The messages a spool holds (N.eml), oldest first.
fn mails(spool: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(spool)
        .expect("spool")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml" || e == "json"))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read_to_string(p).expect("read spool")).collect()
}

fn auth_log(spool: &Path) -> String {
    std::fs::read_to_string(spool.join("auth.log")).unwrap_or_default()
}

fn transcript(r: &DeliveryReport) -> String {
    r.transcript.join("\n")
}

fn prerequisites(test: &str) -> bool {
    require_root(test)
        && require_program(test, "/usr/lib/python3/dist-packages/aiosmtpd", "python3-aiosmtpd")
        && require_program(test, "/usr/bin/openssl", "openssl")
}

#[test]
fn mail_over_starttls_with_auth_arrives_with_a_transcript() {
    if !prerequisites("mail_over_starttls_with_auth_arrives_with_a_transcript") {
        return;
    }
    let lab = Lab::start("ch-mail", LabOptions::default());
    let pki = make_pki(&certs_dir(&lab), "good", "DNS:localhost");
    let box1 = spool(&lab, "spool-starttls");
    let server = smtp_server(&lab, "starttls", &box1, Some(&pki));
    let box2 = spool(&lab, "spool-tls");
    let implicit = smtp_server(&lab, "tls", &box2, Some(&pki));
    let box3 = spool(&lab, "spool-plain");
    let plain = smtp_server(&lab, "plain", &box3, None);

    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let spec = mail_spec("mail", "localhost", server.port, SmtpSecurity::Starttls, Some(&pki.ca), PASSWORD);

        // A dry run shows the channel and stores nothing.
        let planned = add(&d, spec.clone(), true).await.expect("dry run");
        assert_eq!(planned.result.expect("info").name, "mail");
        assert!(d.channel_list(ctx()).await.expect("rpc").expect("list").is_empty());

        add(&d, spec.clone(), false).await.expect("add");
        let dup = add(&d, spec, false).await.expect_err("a second channel of the same name");
        assert_eq!(dup.field.as_deref(), Some("name"), "{dup:?}");

        // "Send test" as a dry run sends nothing.
        let dry = d.channel_test(ctx(), "mail".parse().expect("name"), true).await.expect("rpc").expect("dry test");
        assert!(dry.result.is_none() && dry.dry_run, "{dry:?}");
        assert!(mails(&box1).is_empty(), "a dry run sent mail");

        let report = send_test(&d, "mail").await;
        let t = transcript(&report);
        eprintln!("the transcript of the test mail:\n{t}");
        assert!(report.ok, "{report:?}");
        for want in [
            &format!("connected to localhost:{}", server.port)[..],
            "STARTTLS",
            "STARTTLS: 220",
            "TLS established (STARTTLS): TLSv1_3, TLS13_",
            "; server certificate subject: CN=localhost, O=CoreNAS tests",
            "EHLO (after STARTTLS): smtp.test",
            "Authentication(",
            "AUTH PLAIN as nas-alerts: 235",
            "RCPT TO:<oncall@example.org>: 250",
            "DATA: 354",
            "message: 250 2.0.0 queued as test-1",
        ] {
            assert!(t.contains(want), "missing {want:?} in the transcript:\n{t}");
        }
        assert!(!t.contains(PASSWORD), "the password is in the transcript");

        // The relay got it: from, to, subject, body, Date and Message-ID.
        let got = mails(&box1);
        assert_eq!(got.len(), 1, "{got:?}");
        let m = &got[0];
        assert!(m.contains("X-Envelope-From: nas@example.org"), "{m}");
        assert!(m.contains("X-Envelope-To: ops@example.org,oncall@example.org"), "{m}");
        assert!(m.contains("Subject: [CoreNAS ") && m.contains("] TEST: a test message from CoreNAS"), "{m}");
        assert!(m.contains("\nDate: ") && m.contains("\nMessage-ID: <"), "{m}");
        assert!(m.contains("This is a test message from CoreNAS"), "{m}");
        assert_eq!(auth_log(&box1).trim(), "ok PLAIN nas-alerts");

        // The listing shows "<redacted>" and the delivery; the secret is only in `secret`.
        let list = d.channel_list(ctx()).await.expect("rpc").expect("list");
        let json = serde_json::to_string(&list).expect("json");
        assert!(json.contains("\"password\":\"<redacted>\"") && !json.contains(PASSWORD), "{json}");
        assert!(list[0].last_delivered.is_some() && list[0].last_error.is_none(), "{list:?}");

        // Plain text to a relay on this machine (security none), without AUTH.
        let mut spec = mail_spec("local", "127.0.0.1", plain.port, SmtpSecurity::None, None, PASSWORD);
        if let ChannelKind::Smtp(s) = &mut spec.kind {
            s.username = None;
            s.password = None;
        }
        add(&d, spec, false).await.expect("add local");
        let report = send_test(&d, "local").await;
        assert!(report.ok, "{report:?}");
        assert!(!transcript(&report).contains("TLS") && !transcript(&report).contains("AUTH"), "{report:?}");
        assert_eq!(mails(&box3).len(), 1);

        // Implicit TLS (SMTPS) to the second relay.
        let spec = mail_spec("smtps", "localhost", implicit.port, SmtpSecurity::Tls, Some(&pki.ca), PASSWORD);
        add(&d, spec, false).await.expect("add smtps");
        let report = send_test(&d, "smtps").await;
        let t = transcript(&report);
        assert!(report.ok, "{report:?}");
        assert!(t.contains("TLS established (implicit TLS): TLSv1_3, TLS13_"), "{t}");
        assert!(t.contains("; server certificate subject: CN=localhost, O=CoreNAS tests"), "{t}");
        assert_eq!(mails(&box2).len(), 1);
    });

    // The state database: 0600, corenasd's user; the spec column holds no password.
    let db = lab.dir.join("state/state.db");
    let meta = std::fs::metadata(&db).expect("state.db");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), lab.daemon_uid);
    let conn = rusqlite::Connection::open(&db).expect("open state");
    let (spec, secret): (String, String) = conn
        .query_row("SELECT spec, secret FROM alert_channels WHERE name = 'mail'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("row");
    assert!(!spec.contains(PASSWORD) && !spec.contains("redacted"), "{spec}");
    assert_eq!(secret, PASSWORD);
    let audit: Vec<String> = conn
        .prepare("SELECT action || ' ' || args || ' ' || result FROM audit")
        .expect("audit")
        .query_map([], |r| r.get(0))
        .expect("audit")
        .collect::<Result<_, _>>()
        .expect("audit rows");
    assert!(audit.iter().any(|a| a.contains("channel")), "the changes were audited: {audit:?}");
    assert!(audit.iter().all(|a| !a.contains(PASSWORD)), "the password is in the audit log");
    assert!(!lab.log("corenasd.log").contains(PASSWORD), "the password is in corenasd's log");
}

#[test]
fn mail_attacks_are_refused_and_nothing_is_sent() {
    if !prerequisites("mail_attacks_are_refused_and_nothing_is_sent") {
        return;
    }
    let lab = Lab::start("ch-mail-attack", LabOptions::default());
    let dir = certs_dir(&lab);
    let good = make_pki(&dir, "good", "DNS:localhost");
    let rogue = make_pki(&dir, "rogue", "DNS:localhost");
    let box_good = spool(&lab, "spool-good");
    let server = smtp_server(&lab, "starttls", &box_good, Some(&good));
    let box_rogue = spool(&lab, "spool-rogue");
    let rogue_server = smtp_server(&lab, "starttls", &box_rogue, Some(&rogue));
    let box_plain = spool(&lab, "spool-plain");
    let plain = smtp_server(&lab, "plain", &box_plain, None);

    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");

        // A wrong password: the server's 535, in the transcript and the error.
        let spec =
            mail_spec("wrongpw", "localhost", server.port, SmtpSecurity::Starttls, Some(&good.ca), "Wrong-Pass-2026!");
        add(&d, spec, false).await.expect("add");
        let r = send_test(&d, "wrongpw").await;
        assert!(!r.ok, "{r:?}");
        assert!(
            transcript(&r).contains("AUTH PLAIN as nas-alerts refused: permanent error (535)"),
            "{}",
            transcript(&r)
        );
        assert!(r.error.as_deref().is_some_and(|e| e.contains("535")), "{r:?}");
        assert!(!transcript(&r).contains("Wrong-Pass-2026!"));
        assert_eq!(auth_log(&box_good).trim(), "refused PLAIN nas-alerts");
        let listed = d.channel_list(ctx()).await.expect("rpc").expect("list");
        assert!(listed[0].last_error.as_deref().is_some_and(|e| e.contains("535")), "{listed:?}");

        // A relay whose certificate another CA signed (a man in the middle with his own CA).
        let spec = mail_spec("rogue", "localhost", rogue_server.port, SmtpSecurity::Starttls, Some(&good.ca), PASSWORD);
        add(&d, spec, false).await.expect("add");
        let r = send_test(&d, "rogue").await;
        let e = r.error.clone().unwrap_or_default();
        assert!(
            !r.ok && e.starts_with(&format!("the certificate of localhost:{} is not trusted", rogue_server.port)),
            "{r:?}"
        );
        assert!(e.contains("UnknownIssuer"), "{e}");
        assert!(auth_log(&box_rogue).is_empty(), "the password went to the rogue relay");

        // The right CA, but the certificate is for another name (localhost, not 127.0.0.1).
        let spec = mail_spec("wrongname", "127.0.0.1", server.port, SmtpSecurity::Starttls, Some(&good.ca), PASSWORD);
        add(&d, spec, false).await.expect("add");
        let r = send_test(&d, "wrongname").await;
        let e = r.error.clone().unwrap_or_default();
        assert!(!r.ok && e.contains("is not trusted") && e.contains("not valid for name"), "{r:?}");

        // Without ca_file, the system store alone does not trust the test CA.
        let spec = mail_spec("nocafile", "localhost", server.port, SmtpSecurity::Starttls, None, PASSWORD);
        add(&d, spec, false).await.expect("add");
        let r = send_test(&d, "nocafile").await;
        assert!(!r.ok && r.error.as_deref().is_some_and(|e| e.contains("is not trusted")), "{r:?}");

        // A downgrade: the relay (or someone on the path) drops STARTTLS from EHLO.
        let spec = mail_spec("downgrade", "localhost", plain.port, SmtpSecurity::Starttls, Some(&good.ca), PASSWORD);
        add(&d, spec, false).await.expect("add");
        let r = send_test(&d, "downgrade").await;
        assert!(!r.ok, "{r:?}");
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("does not offer STARTTLS") && e.contains("nothing was sent")),
            "{r:?}"
        );
        assert!(!transcript(&r).contains("AUTH") && !transcript(&r).contains("MAIL FROM"), "{}", transcript(&r));

        // Nothing arrived anywhere, and the good relay saw only the wrong password.
        assert!(mails(&box_good).is_empty() && mails(&box_rogue).is_empty() && mails(&box_plain).is_empty());
        assert_eq!(auth_log(&box_good).lines().count(), 1, "{}", auth_log(&box_good));

        // Plain text is for a relay on this machine only: refused for another host, by field.
        let spec = mail_spec("remote", "mail.example.org", 25, SmtpSecurity::None, None, PASSWORD);
        let e = add(&d, spec, false).await.expect_err("plain text to a remote relay");
        assert_eq!(e.field.as_deref(), Some("security"), "{e:?}");
        // ... and a CA file corenasd cannot use is refused when the channel is added.
        let spec = mail_spec("badca", "localhost", 25, SmtpSecurity::Starttls, Some(&good.key), PASSWORD);
        let e = add(&d, spec, false).await.expect_err("a key file as CA file");
        assert_eq!(e.field.as_deref(), Some("ca_file"), "{e:?}");
    });
}

/// GET on loopback with the standard library: the test's own reading of Alertmanager's API.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out.split_once("\r\n\r\n")?.1.to_owned()))
}

fn free_port() -> u16 {
    // Alertmanager takes its port on the command line; the window between this and its bind
    // is a few milliseconds on loopback.
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn alertmanager_receives_the_v2_push() {
    let test = "alertmanager_receives_the_v2_push";
    if !require_root(test) || !require_program(test, ALERTMANAGER, "prometheus-alertmanager") {
        return;
    }
    let lab = Lab::start("ch-am", LabOptions::default());
    let am_dir = lab.dir.join("alertmanager");
    std::fs::create_dir_all(am_dir.join("data")).expect("am dir");
    std::fs::write(am_dir.join("am.yml"), "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
        .expect("config");
    let port = free_port();
    let log = std::fs::File::create(am_dir.join("am.log")).expect("log");
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", am_dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start alertmanager");
    let _am = Server { child, port };
    wait_for(|| http_get(port, "/-/ready").is_some_and(|(s, _)| s == 200), "Alertmanager to be ready");

    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let url = format!("http://127.0.0.1:{port}").parse().expect("url");
        add(&d, http_spec("am", ChannelKind::Alertmanager { url }), false).await.expect("add");
        let r = send_test(&d, "am").await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.transcript, vec![format!("POST http://127.0.0.1:{port}/api/v2/alerts → HTTP 200")]);

        // A path Alertmanager does not serve: the status and an excerpt of its answer.
        let url = format!("http://127.0.0.1:{port}/nope").parse().expect("url");
        add(&d, http_spec("am-wrong", ChannelKind::Alertmanager { url }), false).await.expect("add");
        let r = send_test(&d, "am-wrong").await;
        assert!(!r.ok && r.transcript[0].contains("/nope/api/v2/alerts → HTTP 404"), "{r:?}");
    });

    // Read back through Alertmanager's own API.
    let (status, body) = http_get(port, "/api/v2/alerts").expect("GET /api/v2/alerts");
    assert_eq!(status, 200, "{body}");
    let alerts: serde_json::Value = serde_json::from_str(&body).expect("json");
    let ours: Vec<&serde_json::Value> =
        alerts.as_array().expect("array").iter().filter(|a| a["labels"]["alertname"] == "corenas_test").collect();
    assert_eq!(ours.len(), 1, "{body}");
    let a = ours[0];
    assert_eq!(a["labels"]["severity"], "info");
    assert!(a["labels"]["instance"].as_str().is_some_and(|s| !s.is_empty()), "{a}");
    assert!(a["annotations"]["summary"].as_str().is_some_and(|s| s.starts_with("a test message from CoreNAS")), "{a}");
    assert_eq!(a["status"]["state"], "active", "{a}");
}

#[test]
fn webhook_posts_the_v4_payload_and_reports_failures() {
    if !require_root("webhook_posts_the_v4_payload_and_reports_failures") {
        return;
    }
    let lab = Lab::start("ch-hook", LabOptions::default());
    let box1 = spool(&lab, "hook-spool");
    let rx = python_server("webhook_receiver.py", &[&box1], &[], &lab.dir.join("hook.log"));
    let base = format!("http://127.0.0.1:{}", rx.port);

    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let hook = |name: &str, path: &str| {
            http_spec(name, ChannelKind::Webhook { url: format!("{base}{path}").parse().expect("url") })
        };
        add(&d, hook("hook", "/ok"), false).await.expect("add");
        let r = send_test(&d, "hook").await;
        assert!(r.ok, "{r:?}");
        assert_eq!(r.transcript, vec![format!("POST {base}/ok → HTTP 200")]);

        let got = mails(&box1);
        assert_eq!(got.len(), 1, "{got:?}");
        let req: serde_json::Value = serde_json::from_str(&got[0]).expect("record");
        assert_eq!(req["path"], "/ok");
        assert_eq!(req["content_type"], "application/json");
        let p: serde_json::Value = serde_json::from_str(req["body"].as_str().expect("body")).expect("payload");
        assert_eq!(p["version"], "4");
        assert_eq!(p["receiver"], "hook");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["truncatedAlerts"], 0);
        for k in ["groupLabels", "commonLabels", "commonAnnotations", "externalURL", "groupKey"] {
            assert!(p.get(k).is_some(), "{k} missing: {p}");
        }
        let a = &p["alerts"][0];
        assert_eq!(a["status"], "firing");
        assert_eq!(a["labels"]["alertname"], "corenas_test");
        assert_eq!(a["labels"]["severity"], "info");
        assert!(a["annotations"]["summary"].is_string() && a["annotations"]["description"].is_string(), "{a}");
        assert!(a["startsAt"].is_string() && a["endsAt"].is_string() && a["fingerprint"].is_string(), "{a}");

        // A receiver that fails: the status and an excerpt of what it said.
        add(&d, hook("hook-fail", "/fail"), false).await.expect("add");
        let r = send_test(&d, "hook-fail").await;
        assert!(!r.ok, "{r:?}");
        assert_eq!(r.transcript, vec![format!("POST {base}/fail → HTTP 500: receiver broke: disk full ")]);

        // The attacker's redirect is not followed (the payload would go where he points).
        add(&d, hook("hook-redirect", "/redirect"), false).await.expect("add");
        let r = send_test(&d, "hook-redirect").await;
        assert!(!r.ok && r.transcript[0].contains("→ HTTP 302"), "{r:?}");
        let paths: Vec<String> = mails(&box1)
            .iter()
            .map(|m| {
                serde_json::from_str::<serde_json::Value>(m).expect("record")["path"].as_str().unwrap_or("").to_owned()
            })
            .collect();
        assert_eq!(paths, ["/ok", "/fail", "/redirect"], "a redirect was followed");

        // A receiver that answers without end: read up to the cap, a short excerpt shown.
        add(&d, hook("hook-huge", "/huge"), false).await.expect("add");
        let r = send_test(&d, "hook-huge").await;
        assert!(!r.ok && r.transcript[0].contains("→ HTTP 500: xxx"), "{:?}", r.error);
        assert!(r.transcript[0].len() < 500 && r.error.as_deref().is_some_and(|e| e.len() < 500), "excerpt too long");

        // Nobody listening: the reason in plain words.
        let dead = free_port();
        add(
            &d,
            http_spec(
                "hook-dead",
                ChannelKind::Webhook { url: format!("http://127.0.0.1:{dead}/").parse().expect("url") },
            ),
            false,
        )
        .await
        .expect("add");
        let r = send_test(&d, "hook-dead").await;
        assert!(!r.ok && r.error.as_deref().is_some_and(|e| e.contains("could not connect")), "{r:?}");

        // A receiver that never answers: given up after 10 s, said so (last: it blocks the server).
        add(&d, hook("hook-slow", "/slow"), false).await.expect("add");
        let r = send_test(&d, "hook-slow").await;
        assert!(!r.ok && r.error.as_deref().is_some_and(|e| e.contains("no answer from 127.0.0.1")), "{r:?}");
    });

    // Remove drops the channel's queued outbox rows (and only its undelivered ones).
    let db = lab.dir.join("state/state.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("state");
        conn.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
        for (channel, delivered) in [("hook-fail", None), ("hook-fail", None), ("hook", None), ("hook-fail", Some(1))] {
            conn.execute(
                "INSERT INTO outbox (channel, event, payload, created, next_attempt, delivered_at)
                 VALUES (?1, 'firing', '{}', strftime('%s', 'now'), 4102444800, ?2)",
                rusqlite::params![channel, delivered],
            )
            .expect("queue");
        }
    }
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        let list = d.channel_list(ctx()).await.expect("rpc").expect("list");
        let queued = |n: &str| list.iter().find(|c| c.name == n).map(|c| c.queued);
        assert_eq!((queued("hook-fail"), queued("hook")), (Some(2), Some(1)), "{list:?}");
        let name: ChannelName = "hook-fail".parse().expect("name");
        let dry = d.channel_remove(ctx(), name.clone(), true).await.expect("rpc").expect("dry remove");
        assert!(dry.dry_run && dry.warnings.iter().any(|w| w.contains("2 queued")), "{dry:?}");
        assert_eq!(d.channel_list(ctx()).await.expect("rpc").expect("list").len(), list.len());
        d.channel_remove(ctx(), name.clone(), false).await.expect("rpc").expect("remove");
        let e = d.channel_remove(ctx(), name, false).await.expect("rpc").expect_err("gone");
        assert_eq!(e.field.as_deref(), Some("name"));
    });
    let conn = rusqlite::Connection::open(&db).expect("state");
    let rows: Vec<(String, Option<i64>)> = conn
        .prepare("SELECT channel, delivered_at FROM outbox ORDER BY id")
        .expect("outbox")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("outbox")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(rows.contains(&("hook".to_owned(), None)), "another channel's row was dropped: {rows:?}");
    assert!(rows.contains(&("hook-fail".to_owned(), Some(1))), "a delivered row was dropped: {rows:?}");
    assert!(!rows.contains(&("hook-fail".to_owned(), None)), "queued rows survived: {rows:?}");
}

/// A lab whose collectors run every second and whose outbox retries after 1 s, with a webhook
/// channel "hook" (from warning up) to a real receiver; the receiver's spool and server.
fn outbox_lab(tag: &str) -> (Lab, PathBuf, Server) {
    // SAFETY: set before the lab starts any thread of ours; corenasd inherits it (the first
    // retry after 1 s instead of 60, doubling).
    unsafe { std::env::set_var("CORENAS_OUTBOX_RETRY_SECS", "1") };
    let lab = Lab::start(tag, LabOptions { monitor_secs: Some(1), ..LabOptions::default() });
    let hook_box = spool(&lab, "outbox-hook");
    let rx = python_server("webhook_receiver.py", &[&hook_box], &[], &lab.dir.join("outbox-hook.log"));
    let url = format!("http://127.0.0.1:{}/ok", rx.port).parse().expect("url");
    let hook = ChannelSpec { min_level: AlertLevel::Warning, ..http_spec("hook", ChannelKind::Webhook { url }) };
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        add(&d, hook, false).await.expect("add the webhook");
    });
    (lab, hook_box, rx)
}

/// A real critical alert: the audit log edited behind corenasd's back.
fn tamper_with_the_audit_log(lab: &Lab) {
    let conn = rusqlite::Connection::open(lab.dir.join("state/state.db")).expect("open state db");
    conn.execute_batch("UPDATE audit SET args = '{\"name\":\"evil\"}' WHERE seq = 2").expect("tamper");
}

fn relay_failing(lab: &Lab) -> bool {
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        d.alert_list(ctx(), false).await.expect("rpc").expect("alert list")
    })
    .iter()
    .any(|a| a.class == corenas_proto::monitor::AlertClass::DeliveryFailed && a.subject == "relay")
}

/// The outbox against a real relay: an alert's mail waits while the relay is down, the failure
/// is told on the other channel (`delivery_failed`, subject the relay channel), and once the
/// relay is back where it was the mail arrives exactly once and the failure alert resolves.
#[test]
fn mail_waits_for_a_relay_that_is_down_then_arrives_once() {
    if !prerequisites("mail_waits_for_a_relay_that_is_down_then_arrives_once") {
        return;
    }
    let (lab, hook_box, _rx) = outbox_lab("ch-outbox");
    let relay_port = free_port();
    let mail_box = spool(&lab, "outbox-mail");
    let mut relay = mail_spec("relay", "127.0.0.1", relay_port, SmtpSecurity::None, None, PASSWORD);
    if let ChannelKind::Smtp(s) = &mut relay.kind {
        // The fixture's plain mode is a relay on this machine without AUTH.
        s.username = None;
        s.password = None;
    }
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        add(&d, relay, false).await.expect("add the relay");
    });
    tamper_with_the_audit_log(&lab);

    let posted = |what: &str| mails(&hook_box).iter().filter(|m| m.contains(what)).count();
    wait_for(|| posted("audit_chain") >= 1, "the webhook to get the audit_chain alert");
    wait_for(|| posted("delivery_failed") >= 1 && posted("relay") >= 1, "the webhook to hear the relay fails");
    assert!(mails(&mail_box).is_empty(), "nothing can have reached a relay that is down");

    let _relay = smtp_server_on(&lab, "plain", &mail_box, None, relay_port);
    let audit_mails = || mails(&mail_box).iter().filter(|m| m.to_lowercase().contains("audit")).count();
    wait_for(|| audit_mails() >= 1, "the mail once the relay is back");
    wait_for(|| !relay_failing(&lab), "the relay's delivery_failed alert to resolve");
    // Several retry periods later, still one: delivered means delivered once.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(audit_mails(), 1, "the alert's mail arrives once: {:?}", mails(&mail_box));
    let m = &mails(&mail_box)[0];
    assert!(m.contains("CRITICAL"), "{m}");
}

/// A relay that refuses the password (535) in a real delivery, not only in "send test": the
/// alert's mail is not sent, the channel's last error carries the 535, and the failure is an
/// alert told on the other channel.
#[test]
fn mail_a_relay_that_refuses_the_password_raises_delivery_failed() {
    if !prerequisites("mail_a_relay_that_refuses_the_password_raises_delivery_failed") {
        return;
    }
    let (lab, hook_box, _rx) = outbox_lab("ch-535");
    let pki = make_pki(&certs_dir(&lab), "good", "DNS:localhost");
    let mail_box = spool(&lab, "outbox-535");
    let server = smtp_server(&lab, "starttls", &mail_box, Some(&pki));
    let relay = mail_spec("relay", "localhost", server.port, SmtpSecurity::Starttls, Some(&pki.ca), "Wrong-Pass-2026");
    block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        add(&d, relay, false).await.expect("add the relay");
    });
    tamper_with_the_audit_log(&lab);

    let posted = |what: &str| mails(&hook_box).iter().filter(|m| m.contains(what)).count();
    wait_for(|| posted("delivery_failed") >= 1 && posted("relay") >= 1, "the webhook to hear the relay fails");
    assert!(relay_failing(&lab), "a delivery_failed alert for the relay");
    let info = block_on(async {
        let d = daemon_client(&lab.daemon_sock).await.expect("daemon");
        d.channel_list(ctx()).await.expect("rpc").expect("channel list")
    });
    let relay = info.iter().find(|c| c.name == "relay").expect("the relay channel");
    assert!(relay.last_error.as_deref().is_some_and(|e| e.contains("535")), "{relay:?}");
    assert!(auth_log(&mail_box).contains("refused"), "the relay saw the wrong password: {}", auth_log(&mail_box));
    assert!(mails(&mail_box).is_empty(), "no mail without AUTH: {:?}", mails(&mail_box));
}
