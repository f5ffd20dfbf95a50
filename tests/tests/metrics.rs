//! `/metrics` end to end, as root: a real Prometheus (the Debian package) on loopback scrapes the
//! lab's real nginx (TLS, verified against the lab's certificate) and corenas-web with an API key
//! of role `metrics` as its bearer token, and the series are read back through Prometheus's own
//! query API; `promtool` checks the scraped text. The attacker's side: the Prometheus key reads
//! `/metrics` and nothing else.

use corenas_tests::media::{LoopDisk, ScratchDir};
use corenas_tests::web::{Browser, WebStack, set_up_admin};
use corenas_tests::{Lab, LabOptions, ok, require_root, run, stderr, stdout};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

/// Waits (up to 90 s: Prometheus starts, then scrapes every second) for `f` to give a value; a
/// harness wait, not a timing assertion.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A new API key made at the console, shown once.
fn api_key(lab: &Lab, label: &str, role: &str) -> String {
    let v = lab.ctl_json(&["web", "api-key", "create", "--label", label, "--role", role, "--days", "7"]);
    v["key"].as_str().unwrap_or_else(|| panic!("no key in {v}")).to_owned()
}

fn bearer(web: &WebStack, name: &str, key: &str) -> Browser {
    let mut b = web.browser(name);
    b.extra.push(format!("Authorization: Bearer {key}"));
    b
}

/// A Prometheus server of its own: temporary storage, loopback only, stopped on drop.
struct Prometheus {
    child: Child,
    api: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Scrapes `target` (host:port, HTTPS, `ca` verifies it) every second with the bearer token
    /// in `key_file`.
    fn start(dir: &Path, target: &str, key_file: &Path, ca: &Path) -> Prometheus {
        let dir = dir.join("prometheus");
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: corenas\n    scheme: https\n    metrics_path: /metrics\n\
             \x20   authorization:\n      type: Bearer\n      credentials_file: {}\n\
             \x20   tls_config:\n      ca_file: {}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n",
            key_file.display(),
            ca.display()
        );
        std::fs::write(dir.join("prometheus.yml"), &config).expect("prometheus.yml");
        let check = run(Command::new("promtool").arg("check").arg("config").arg(dir.join("prometheus.yml")));
        ok(&check, "promtool check config");
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start prometheus (apt-get install prometheus)");
        Prometheus { child, api: format!("http://127.0.0.1:{port}/api/v1"), dir }
    }

    /// An instant query's result vector (empty while Prometheus is starting or has no data).
    fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let out = run(Command::new("curl")
            .args(["-s", "--max-time", "10", "--data-urlencode"])
            .arg(format!("query={q}"))
            .arg(format!("{}/query", self.api)));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a query's only series, once there is one.
    fn value(&self, q: &str) -> Option<(serde_json::Value, String)> {
        let r = self.query(q);
        let first = r.first()?;
        Some((first["metric"].clone(), first["value"][1].as_str()?.to_owned()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// promtool (Prometheus 2.42) reads the classic text format, where a counter's samples share
/// its family name; in OpenMetrics they carry `_total` and the family does not, so promtool
/// reports "X_total no help text" for every counter. That one finding is accepted for the
/// counters the text declares; anything else (a parse error, another lint) fails.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus)");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(matches!(out.status.code(), Some(0 | 3)), "promtool failed ({:?}): {report}\n{text}", out.status);
    for finding in report.lines().filter(|l| !l.trim().is_empty()) {
        let counter = finding
            .strip_suffix(" no help text")
            .and_then(|n| n.strip_suffix("_total"))
            .is_some_and(|family| text.contains(&format!("# TYPE {family} counter\n")));
        assert!(counter, "promtool: {finding}\n{text}");
    }
}

/// Prometheus scrapes CoreNAS through nginx and TLS with the metrics key, and the series come
/// back through its query API: `up` is 1, `corenas_build_info` names this version, the lab's
/// btrfs pool is online, and the collectors report.
#[test]
fn loop_metrics_prometheus_scrapes_corenas_through_nginx() {
    if !require_root("loop_metrics_prometheus_scrapes_corenas_through_nginx") {
        return;
    }
    let scratch = ScratchDir::new("metrics-prom");
    let disk = LoopDisk::sparse(&scratch.path, "m", 256 << 20);
    let lab =
        Lab::start("metrics-prom", LabOptions { lab_mounts: true, monitor_secs: Some(1), ..LabOptions::default() });
    let pool = format!("mx{}", std::process::id() % 100_000);
    let dev = disk.dev.display().to_string();
    ok(&lab.ctl(&["storage", "create", &pool, "--type", "btrfs", "--device", &dev]), "btrfs create");
    let web = WebStack::start(&lab);

    let key = api_key(&lab, "prometheus", "metrics");
    let key_file = web.dir.join("prometheus.key");
    std::fs::write(&key_file, &key).expect("key file");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod key file");

    // The scrape itself, as Prometheus will make it.
    let r = bearer(&web, "prom", &key).get("/metrics");
    assert_eq!(r.status, 200, "{}\n{}", r.body, web.log());
    assert_eq!(r.header("content-type").as_deref(), Some(CONTENT_TYPE), "{}", r.headers);
    assert!(r.body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF: {}", r.body);
    promtool_check(&r.body);

    let target = web.base.trim_start_matches("https://").to_owned();
    let prom = Prometheus::start(&web.dir, &target, &key_file, &web.dir.join("nginx/cert.pem"));
    let up = eventually("Prometheus to scrape CoreNAS", || {
        prom.value("up{job=\"corenas\"}").filter(|(_, v)| v == "1").map(|(m, _)| m)
    });
    assert_eq!(up["instance"], target.as_str(), "{up}");

    let (build, v) = prom.value("corenas_build_info").unwrap_or_else(|| panic!("no build info:\n{}", prom.log()));
    assert_eq!((build["version"].as_str(), v.as_str()), (Some(env!("CARGO_PKG_VERSION")), "1"), "{build}");

    // The collectors run every second (--monitor-secs 1): the pool appears as online, and the
    // collector series say when each last succeeded.
    let online = format!("corenas_pool_state{{pool=\"{pool}\",state=\"online\"}}");
    let (state, v) = eventually("the pool in Prometheus", || prom.value(&online));
    assert_eq!((state["kind"].as_str(), v.as_str()), (Some("btrfs"), "1"), "{state}");
    let other = prom.query(&format!("corenas_pool_state{{pool=\"{pool}\",state!=\"online\"}} == 1"));
    assert!(other.is_empty(), "a stateset has one state at 1: {other:?}");
    let collectors = eventually("collector series", || {
        let r = prom.query("corenas_collector_up == 1");
        (!r.is_empty()).then_some(r)
    });
    let (_, last) = prom
        .value(&format!(
            "corenas_collector_last_success_timestamp_seconds{{collector=\"{}\"}}",
            collectors[0]["metric"]["collector"].as_str().unwrap_or("")
        ))
        .expect("the collector's last success");
    assert!(last.parse::<f64>().is_ok_and(|t| t > 1.7e9), "a recent time: {last}");
    // Nothing went wrong on the way: Prometheus reports no failed scrape of the target.
    let failed = prom.value("scrape_samples_scraped{job=\"corenas\"}").expect("scrape samples");
    assert!(failed.1.parse::<f64>().is_ok_and(|n| n > 10.0), "samples in the last scrape: {}", failed.1);
}

/// The attacker holds the Prometheus key (it sits in a file on the monitoring host). It reads
/// `/metrics` and nothing else: every other route, API or page, with the key as `X-API-Key` (the
/// API's header) refuses with 403, the generic `/api/v1/call` too; as a bearer token it is no
/// credential there at all. Without a key, with a made-up or a revoked one: 401.
#[test]
fn metrics_key_reads_metrics_and_nothing_else() {
    if !require_root("metrics_key_reads_metrics_and_nothing_else") {
        return;
    }
    let lab = Lab::start("metrics-key", LabOptions::default());
    let web = WebStack::start(&lab);
    let (alice, _, _) = set_up_admin(&lab, &web, "alice");
    let key = api_key(&lab, "prometheus", "metrics");

    // Who may read: the metrics key, a viewer key, a logged-in administrator.
    let r = bearer(&web, "prom", &key).get("/metrics");
    assert_eq!((r.status, r.header("content-type").as_deref()), (200, Some(CONTENT_TYPE)), "{}", r.body);
    assert!(r.body.contains("corenas_build_info{"), "{}", r.body);
    let viewer = api_key(&lab, "grafana", "viewer");
    assert_eq!(bearer(&web, "viewer", &viewer).get("/metrics").status, 200);
    assert_eq!(alice.get("/metrics").status, 200, "a session of viewer or above reads too");

    // Who may not: no key, a made-up key, a key in the wrong scheme.
    let anon = web.browser("anon");
    let r = anon.get("/metrics");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("E_UNAUTHENTICATED")), "{}", r.body);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{}", r.headers);
    assert!(!r.body.contains("corenas_"), "{}", r.body);
    let made_up = format!("cnk_{}", "0".repeat(64));
    for auth in [format!("Bearer {made_up}"), format!("Basic {key}"), format!("Bearer {key}x"), "Bearer".into()] {
        let r = anon.request("GET", "/metrics", &[&format!("Authorization: {auth}")], &[]);
        assert_eq!(r.status, 401, "{auth}: {}", r.body);
        assert!(!r.body.contains("corenas_"), "{}", r.body);
    }

    // The key everywhere else: 403 with the API's header, never 2xx with the bearer scheme.
    let attacker = {
        let mut b = web.browser("attacker");
        b.extra.push(format!("X-API-Key: {key}"));
        b
    };
    let as_bearer = bearer(&web, "attacker-bearer", &key);
    let mut tried = 0;
    for route in WebStack::routes(&lab) {
        let (method, path) = (route["method"].as_str().unwrap(), route["path"].as_str().unwrap());
        if route["public"] == true || path == "/metrics" {
            continue;
        }
        let path = path.replace("{name}", "alice").replace("{id}", "x").replace("{device}", "loop0");
        let body = if path == "/api/v1/call" { r#"{"UserList":{}}"# } else { "{}" };
        let r = attacker.json(method, &path, None, body);
        assert_eq!(r.status, 403, "{method} {path} with the metrics key: {}", r.body);
        if path.starts_with("/api/") {
            assert_eq!(r.json()["error"]["code"], "E_NOT_ALLOWED", "{method} {path}");
        }
        let r = as_bearer.json(method, &path, None, body);
        assert!(!(200..300).contains(&r.status), "{method} {path} with the key as a bearer token: {}", r.status);
        tried += 1;
    }
    assert!(tried > 40, "the route table was read ({tried} routes)");
    // Even the method /metrics calls, by name through the generic endpoint: the key's power is
    // the route, not the method.
    let r = attacker.json("POST", "/api/v1/call", None, r#"{"MetricsRender":{}}"#);
    assert_eq!(r.status, 403, "{}", r.body);

    // A revoked key is dead at once.
    let keys = lab.ctl_json(&["web", "api-key", "list"]);
    let id = keys
        .as_array()
        .and_then(|k| k.iter().find(|k| k["label"] == "prometheus"))
        .and_then(|k| k["id"].as_str())
        .expect("the key's id")
        .to_owned();
    lab.ctl_json(&["web", "api-key", "revoke", &id]);
    assert_eq!(bearer(&web, "prom2", &key).get("/metrics").status, 401, "a revoked key no longer reads");
}
