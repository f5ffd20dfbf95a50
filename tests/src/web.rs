//! The web tier for system tests: the real corenas-web (as its own unprivileged user) in front
//! of a lab's real corenasd, behind a real nginx started from the repository's site file
//! (`lab/nginx-up`), and a small HTTP client that is curl with a cookie jar, as a browser
//! without script would behave.

use crate::{Lab, run, target_dir, wait_for};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ADMIN_PASSWORD: &str = "Correct-Horse-9x";

/// The account corenas-web runs as; corenasd (started by `Lab`) recognizes its uid.
pub const WEB_USER: &str = "corenas-web";

pub struct WebStack {
    pub base: String,
    /// corenas-web directly, without nginx (plain HTTP on loopback).
    pub direct: String,
    pub dir: PathBuf,
    web: Option<Child>,
    nginx_pid: Option<u32>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

impl WebStack {
    pub fn start(lab: &Lab) -> WebStack {
        let dir = lab.dir.join("web");
        std::fs::create_dir_all(&dir).expect("web dir");
        let bin = lab.bin.join("corenas-web");
        std::fs::copy(target_dir().join("corenas-web"), &bin).expect("copy corenas-web (build the workspace first)");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let (uid, _) = crate::account_ids(WEB_USER);
        // nginx's workers (www-data, a member of corenas-proxy, as in production) connect to the
        // socket; the setgid bit gives it that group.
        let sock_dir = dir.join("sock");
        std::fs::create_dir_all(&sock_dir).expect("socket dir");
        let gid = crate::proxy_group_id();
        std::os::unix::fs::chown(&sock_dir, Some(uid), Some(gid)).expect("chown socket dir");
        std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o2750)).expect("chmod socket dir");
        let socket = sock_dir.join("web.sock");
        let port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("web.log")).expect("web log");
        let web = Command::new("setpriv")
            .args([&format!("--reuid={WEB_USER}"), &format!("--regid={WEB_USER}"), "--init-groups", "--inh-caps=-all"])
            .args(["--bounding-set=-all", "--no-new-privs", "--"])
            .arg(&bin)
            .arg("--daemon-socket")
            .arg(&lab.daemon_sock)
            .arg("--listen-unix")
            .arg(&socket)
            .args(["--listen-tcp", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start corenas-web");
        let mut stack = WebStack {
            base: String::new(),
            direct: format!("http://127.0.0.1:{port}"),
            dir: dir.clone(),
            web: Some(web),
            nginx_pid: None,
        };
        wait_for(|| socket.exists(), "corenas-web's socket");
        let tls = free_port();
        let up = run(Command::new(crate::workspace().join("lab/nginx-up")).arg(&dir).arg(tls.to_string()).arg(&socket));
        assert!(up.status.success(), "lab/nginx-up: {}{}", crate::stdout(&up), crate::stderr(&up));
        stack.nginx_pid = std::fs::read_to_string(dir.join("run/nginx.pid")).ok().and_then(|p| p.trim().parse().ok());
        stack.base = format!("https://127.0.0.1:{tls}");
        stack
    }

    pub fn log(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("web.log")).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.dir.join("log/nginx-error.log")).unwrap_or_default());
        s
    }

    pub fn web_pid(&self) -> Option<u32> {
        self.web.as_ref().map(Child::id)
    }

    pub fn browser(&self, name: &str) -> Browser {
        Browser { base: self.base.clone(), jar: self.dir.join(format!("{name}.cookies")), extra: Vec::new() }
    }

    pub fn routes(lab: &Lab) -> Vec<serde_json::Value> {
        let out = run(Command::new(lab.bin.join("corenas-web")).arg("--list-routes"));
        assert!(out.status.success(), "corenas-web --list-routes: {}", crate::stderr(&out));
        serde_json::from_slice(&out.stdout).expect("route table JSON")
    }
}

impl Drop for WebStack {
    fn drop(&mut self) {
        if let Some(pid) = self.nginx_pid.take() {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.to_string()).status();
            for _ in 0..50 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        if let Some(mut c) = self.web.take() {
            crate::stop(&mut c);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        let want = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&want))
            .map(|l| l[want.len()..].trim().to_owned())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// The value of `<... name="csrf" value="...">` on a page.
    pub fn csrf(&self) -> String {
        attr_after(&self.body, "name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field on the page: {}", self.body))
    }
}

pub fn attr_after(body: &str, marker: &str) -> Option<String> {
    let i = body.find(marker)? + marker.len();
    let j = body[i..].find('"')?;
    Some(body[i..i + j].to_owned())
}

/// The text of the first `<code>` after `marker` (the id of a secret shown once), unescaped.
pub fn code_after(body: &str, marker: &str) -> Option<String> {
    let (_, rest) = body.split_once(marker)?;
    let (_, rest) = rest.split_once("<code>")?;
    let (text, _) = rest.split_once("</code>")?;
    Some(text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&"))
}

/// curl with a cookie jar: what a browser without JavaScript does, over real TLS to nginx.
pub struct Browser {
    pub base: String,
    pub jar: PathBuf,
    /// Headers added to every request (e.g. `X-API-Key: ...`).
    pub extra: Vec<String>,
}

impl Browser {
    pub fn request(&self, method: &str, path: &str, headers: &[&str], data: &[(&str, &str)]) -> Response {
        let body: Vec<String> =
            data.iter().flat_map(|(k, v)| ["--data-urlencode".to_owned(), format!("{k}={v}")]).collect();
        self.exchange(method, path, headers, &body)
    }

    /// One curl exchange with the cookie jar: status, headers and body of the answer.
    fn exchange(&self, method: &str, path: &str, headers: &[&str], body_args: &[String]) -> Response {
        let out_body = self.jar.with_extension(format!("body{}", std::process::id()));
        let out_head = self.jar.with_extension(format!("head{}", std::process::id()));
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--max-time", "60", "-X", method, "-o"])
            .arg(&out_body)
            .arg("-D")
            .arg(&out_head)
            .args(["-w", "%{http_code}", "-b"])
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar);
        for h in headers.iter().copied().chain(self.extra.iter().map(String::as_str)) {
            cmd.args(["-H", h]);
        }
        cmd.args(body_args).arg(format!("{}{path}", self.base));
        let out = run(&mut cmd);
        let r = Response {
            status: crate::stdout(&out).trim().parse().unwrap_or(0),
            headers: std::fs::read_to_string(&out_head).unwrap_or_default(),
            body: String::from_utf8_lossy(&std::fs::read(&out_body).unwrap_or_default()).into_owned(),
        };
        let _ = std::fs::remove_file(&out_body);
        let _ = std::fs::remove_file(&out_head);
        r
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], &[])
    }

    /// A form post from this site's own page (the Origin a browser sends).
    pub fn post(&self, path: &str, data: &[(&str, &str)]) -> Response {
        let origin = format!("Origin: {}", self.base);
        self.request("POST", path, &[&origin], data)
    }

    /// A JSON request as the UI's own scripts make it: Origin, and the CSRF header when given.
    pub fn json(&self, method: &str, path: &str, csrf: Option<&str>, body: &str) -> Response {
        let origin = format!("Origin: {}", self.base);
        let token = csrf.map(|c| format!("X-CSRF-Token: {c}"));
        let mut headers = vec!["Content-Type: application/json", origin.as_str()];
        headers.extend(token.as_deref());
        self.exchange(method, path, &headers, &["--data-binary".to_owned(), body.to_owned()])
    }

    /// The whole body of a download, as bytes, with extra request headers (Range).
    pub fn download(&self, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
        let out_body = self.jar.with_extension("download");
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--max-time", "120", "-o"]).arg(&out_body).args(["-w", "%{http_code}", "-b"]).arg(&self.jar);
        for h in headers {
            cmd.args(["-H", h]);
        }
        cmd.arg(format!("{}{path}", self.base));
        let out = run(&mut cmd);
        let bytes = std::fs::read(&out_body).unwrap_or_default();
        let _ = std::fs::remove_file(&out_body);
        (crate::stdout(&out).trim().parse().unwrap_or(0), bytes)
    }
}

pub fn base32_decode(s: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        bits = (bits << 5) | u32::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push(((bits >> n) & 0xff) as u8);
        }
    }
    out
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The authenticator app: the current code for the secret shown at enrollment. Waits for the
/// next 30 s step when `after` (a step already used) is the current one.
pub fn totp(secret_b32: &str, used: &mut u64) -> String {
    loop {
        let t = now();
        if t / 30 > *used {
            *used = t / 30;
            return corenasd::web::totp::code_at(&base32_decode(secret_b32), t);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn setup_token(lab: &Lab) -> String {
    let v = lab.ctl_json(&["system", "setup-token"]);
    v["token"].as_str().unwrap_or_else(|| panic!("no setup token: {v}")).to_owned()
}

/// First-run setup through the UI: the first administrator, enrolled; answers the logged-in
/// browser and the authenticator secret.
pub fn set_up_admin(lab: &Lab, web: &WebStack, user: &str) -> (Browser, String, u64) {
    let b = web.browser(user);
    let token = setup_token(lab);
    let r = b.post(
        "/setup",
        &[("token", &token), ("user", user), ("full_name", "Alice Admin"), ("password", ADMIN_PASSWORD)],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.body, web.log());
    let secret = attr_after(&r.body, "data-secret=\"").unwrap_or_else(|| panic!("no enrollment: {}", r.body));
    assert!(r.body.contains("data:image/svg+xml;base64,"), "the QR code is inline");
    let mut used = 0;
    let r = b.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.matches("<li><code>").count(), 10, "ten recovery codes: {}", r.body);
    (b, secret, used)
}
