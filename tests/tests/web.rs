//! The web UI and REST API end to end, as root: the real corenas-web (its own unprivileged user)
//! behind a real nginx (TLS, the repository's site file) in front of the lab's real corenasd and
//! helper. The client is curl with a cookie jar, as a browser without JavaScript behaves.

use corenas_tests::media::{self, LoopDisk, ScratchDir};
use corenas_tests::web::{ADMIN_PASSWORD, WebStack, attr_after, code_after, set_up_admin, setup_token, totp};
use corenas_tests::{Lab, LabOptions, require_root, require_zfs_fuse, stdout, wait_for};
use std::time::{Duration, Instant};

#[test]
fn web_first_run_login_sessions_and_refusals() {
    if !require_root("web_first_run_login_sessions_and_refusals") {
        return;
    }
    let lab = Lab::start("web-auth", LabOptions::default());
    let web = WebStack::start(&lab);
    let anon = web.browser("anon");

    // Before the first administrator: only setup.
    let r = anon.get("/");
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/setup")), "{}", r.headers);

    // Every route that is not public refuses without a session: 401 for the API, a redirect
    // for pages. The table comes from the binary, so a new route is covered by itself.
    for route in WebStack::routes(&lab) {
        if route["public"] == true {
            continue;
        }
        let (method, path) = (route["method"].as_str().unwrap(), route["path"].as_str().unwrap());
        let path = path.replace("{name}", "alice").replace("{id}", "x");
        let origin = format!("Origin: {}", anon.base);
        let r = anon.request(method, &path, &[&origin], &[]);
        // /metrics answers like the API (Prometheus is not a browser to send to the login).
        if path.starts_with("/api/") || path == "/metrics" {
            assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
            assert_eq!(r.json()["error"]["code"], "E_UNAUTHENTICATED", "{method} {path}");
        } else {
            assert_eq!(r.status, 303, "{method} {path}: {}", r.body);
            assert_eq!(r.header("location").as_deref(), Some("/setup"), "{method} {path}");
        }
    }
    // BI-071: a cookie that names a user is not a session; a made-up API key is not a key.
    let r = anon.request("GET", "/api/v1/users", &["Cookie: corenas_session=username=admin"], &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = anon.request("GET", "/api/v1/users", &[&format!("X-API-Key: cnk_{}", "0".repeat(64))], &[]);
    assert_eq!(r.status, 401, "{}", r.body);

    // Setup needs the token from the console.
    let r = anon.post("/setup", &[("token", "AAAA-BBBB-CCCC-DDDD"), ("user", "alice"), ("password", ADMIN_PASSWORD)]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("setup token is wrong"), "{}", r.body);
    assert!(!lab.read("etc/passwd").contains("alice:"), "a refused setup created nobody");
    // BI-075: a post from another site is refused before anything runs.
    let token = setup_token(&lab);
    let r = anon.request(
        "POST",
        "/setup",
        &["Origin: https://evil.example"],
        &[("token", &token), ("user", "alice"), ("password", ADMIN_PASSWORD)],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!lab.read("etc/passwd").contains("alice:"));

    let (alice, secret, mut used) = set_up_admin(&lab, &web, "alice");
    assert!(lab.read("etc/passwd").contains("alice:x:1"), "the first admin is a real account in the admin range");
    assert_eq!(lab.ctl_json(&["system", "setup-token"])["setup_needed"], false, "the token died");
    assert_eq!(anon.get("/setup").header("location").as_deref(), Some("/login"));

    // Logged in: pages with the headers that keep them safe.
    let r = alice.get("/");
    assert_eq!(r.status, 200, "{}", r.body);
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(r.header("strict-transport-security").is_some(), "nginx adds HSTS");
    let jar = std::fs::read_to_string(&alice.jar).unwrap_or_default();
    let cookie: Vec<&str> =
        jar.lines().find(|l| l.contains("\tcorenas_session\t")).map(|l| l.split('\t').collect()).unwrap_or_default();
    // curl's jar: domain (#HttpOnly_ prefix), subdomains, path, secure, expiry, name, value.
    assert_eq!(cookie.first().copied(), Some("#HttpOnly_127.0.0.1"), "HttpOnly: {jar}");
    assert_eq!(cookie.get(3).copied(), Some("TRUE"), "Secure behind TLS: {jar}");
    assert_eq!(cookie.get(4).copied(), Some("0"), "a session cookie, gone with the browser: {jar}");

    // A share user through the accounts page: without the form's CSRF token, refused.
    let page = alice.get("/accounts");
    let csrf = page.csrf();
    let r = alice.post("/accounts/users", &[("name", "bob"), ("kind", "share")]);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("security token is missing"), "{}", r.body);
    // Every change a session can make is refused without the token, before its handler runs:
    // the table comes from the binary, so a new route is covered by itself. (Logout too: a
    // foreign page must not end the session either.)
    for route in WebStack::routes(&lab) {
        let method = route["method"].as_str().unwrap();
        if route["public"] == true || method == "GET" {
            continue;
        }
        let path =
            route["path"].as_str().unwrap().replace("{name}", "bob").replace("{id}", "x").replace("{device}", "sr0");
        let origin = format!("Origin: {}", alice.base);
        let r = alice.request(method, &path, &[&origin], &[("csrf", "0000"), ("name", "eve")]);
        assert_eq!(r.status, 403, "{method} {path} without a valid CSRF token: {}", r.body);
        assert!(r.body.contains("security token") || r.body.contains("E_NOT_ALLOWED"), "{method} {path}: {}", r.body);
    }
    assert_eq!(alice.get("/").status, 200, "still logged in");
    assert!(!lab.read("etc/passwd").contains("bob:"));
    let r =
        alice.post("/accounts/users", &[("csrf", &csrf), ("name", "bob"), ("kind", "share"), ("full_name", "Bob B")]);
    assert!(r.body.contains("id=\"generated-password\""), "{}", r.body);
    assert!(lab.read("etc/passwd").contains("bob:x:5"), "bob is a share user");
    let r = alice.post("/accounts/users/bob/smb-password", &[("csrf", &csrf), ("password", "Smb-Passw0rd!x")]);
    assert!(r.body.contains("SMB password set for bob"), "{}", r.body);
    assert!(lab.pdbedit().contains("Unix username:        bob"), "bob is in samba's passdb: {}", lab.pdbedit());
    // Policy feedback names every rule a password breaks; an empty field generates one.
    let r = alice.post("/accounts/users/bob/smb-password", &[("csrf", &csrf), ("password", "abc")]);
    assert!(
        r.body.contains("not 12-128 characters long, no upper-case letter, no digit, no special character"),
        "{}",
        r.body
    );
    let r = alice.post("/accounts/users/bob/smb-password", &[("csrf", &csrf), ("password", "")]);
    let generated = code_after(&r.body, "id=\"generated-password\"")
        .unwrap_or_else(|| panic!("a generated SMB password, shown once: {}", r.body));
    assert!(generated.len() == 20 && corenas_proto::secret::Password::unmet(&generated).is_empty(), "{generated}");
    // Groups and memberships, an ACL on a share path, a share and its SMB switches: each form
    // changes the real files.
    let r = alice.post("/accounts/groups", &[("csrf", &csrf), ("name", "staff")]);
    assert!(r.body.contains("Created group"), "{}", r.body);
    let r = alice.post("/accounts/groups/staff/members", &[("csrf", &csrf), ("user", "bob"), ("op", "add")]);
    assert!(r.body.contains("Members changed"), "{}", r.body);
    assert!(
        lab.read("etc/group").lines().any(|l| l.starts_with("staff:") && l.ends_with(":bob")),
        "{}",
        lab.read("etc/group")
    );
    std::fs::create_dir_all(lab.storage.join("team")).expect("mkdir");
    let r = alice.post("/accounts/acl/set", &[("csrf", &csrf), ("path", "/storage/team"), ("entry", "u:bob:rwx")]);
    assert!(r.body.contains("Applied"), "{}", r.body);
    let facl =
        std::process::Command::new("getfacl").arg("-cp").arg(lab.storage.join("team")).output().expect("getfacl");
    let bob_uid = lab
        .read("etc/passwd")
        .lines()
        .find(|l| l.starts_with("bob:"))
        .and_then(|l| l.split(':').nth(2))
        .unwrap_or("?")
        .to_owned();
    // getfacl resolves names from the host's files, so the prefix's bob shows as his uid.
    assert!(
        String::from_utf8_lossy(&facl.stdout).contains(&format!("user:{bob_uid}:rwx")),
        "{}",
        String::from_utf8_lossy(&facl.stdout)
    );
    let r = alice.post("/accounts/acl/set", &[("csrf", &csrf), ("path", "/storage/../etc"), ("entry", "u:bob:rwx")]);
    assert!(r.body.contains("E_INVALID_INPUT"), "a path outside the share roots: {}", r.body);
    let r = alice.post("/accounts/acl/remove", &[("csrf", &csrf), ("path", "/storage/team"), ("entry", "u:bob")]);
    assert!(r.body.contains("Removed"), "{}", r.body);
    let r = alice
        .post("/shares", &[("csrf", &csrf), ("name", "team"), ("smb", "1"), ("access", "group"), ("group", "staff")]);
    assert!(r.body.contains("Share created: team"), "{}", r.body);
    assert!(r.body.contains("[team]"), "the rendered configuration is shown: {}", r.body);
    // The whole share in one form. Preview: the diff and the commands, nothing changed.
    let before = lab.read("etc/samba/corenas.conf");
    let edit = [("csrf", csrf.as_str()), ("smb", "1"), ("read_only", "1"), ("browseable", "1"), ("access", "keep")];
    let mut preview = edit.to_vec();
    preview.push(("preview", "1"));
    let r = alice.post("/shares/team/edit", &preview);
    assert!(r.body.contains("id=\"preview\"") && r.body.contains("read only = yes"), "the diff is shown: {}", r.body);
    assert_eq!(lab.read("etc/samba/corenas.conf"), before, "a preview changes nothing");
    let r = alice.post("/shares/team/edit", &edit);
    assert!(r.body.contains("Share changed: team"), "{}", r.body);
    let smb = lab.read("etc/samba/corenas.conf");
    assert!(smb.contains("[team]") && smb.contains("read only = yes"), "{smb}");
    // NFS clients and access from the same form; SMB switched off.
    let r = alice.post(
        "/shares/team/edit",
        &[("csrf", &csrf), ("nfs_clients", "127.0.0.1, 192.168.7.0/24"), ("access", "public"), ("group", "staff")],
    );
    assert!(r.body.contains("Share changed: team"), "{}", r.body);
    assert!(!lab.read("etc/samba/corenas.conf").contains("[team]"), "no longer served over SMB");
    let exports = lab.read("etc/exports.d/corenas.exports");
    assert!(exports.contains("127.0.0.1(") && exports.contains("192.168.7.0/24("), "{exports}");
    let r = alice.post("/shares/team/edit", &[("csrf", &csrf), ("nfs_clients", "127.0.0.1; rm -rf /")]);
    assert!(r.body.contains("E_INVALID_INPUT"), "a bad client is refused by its type: {}", r.body);
    let r = alice.post("/shares/team/edit", &[("csrf", &csrf), ("smb", "1"), ("access", "group"), ("group", "staff")]);
    assert!(r.body.contains("Share changed: team"), "back to SMB only: {}", r.body);

    // Bad input from the form is refused with the field named, nothing created.
    let r = alice.post("/accounts/users", &[("csrf", &csrf), ("name", "Max!;id"), ("kind", "share")]);
    assert!(r.body.contains("user name") && r.body.contains("E_INVALID_INPUT"), "{}", r.body);

    // The API with the session (the UI's scripts send the CSRF token as a header).
    let users = alice.get("/api/v1/users").json();
    assert!(users.as_array().unwrap().iter().any(|u| u["name"] == "bob"), "{users}");
    let post_json = |body: &str, with_csrf: bool| {
        let r = alice.json("POST", "/api/v1/users", with_csrf.then_some(csrf.as_str()), body);
        (r.status, r.body)
    };
    assert_eq!(post_json(r#"{"name":"carl"}"#, false).0, 403, "no CSRF header");
    // BI-080 and BI-078: unknown fields and wrong types are refused by the types.
    let (code, body) = post_json(r#"{"name":"carl","run_as":"root"}"#, true);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("run_as"), "{body}");
    let (code, body) = post_json(r#"{"name":["a","b"],"kind":"3; id"}"#, true);
    assert_eq!(code, 422, "{body}");
    let (code, body) = post_json(r#"{"name":"carl","kind":"share"}"#, true);
    assert_eq!(code, 201, "{body}");
    assert!(body.contains("\"generated_password\":\""), "the generated password is shown once: {body}");
    // Every daemon method as JSON: a dry run of a group, a read, and a refusal by the types.
    let r = alice.json(
        "POST",
        "/api/v1/call",
        Some(&csrf),
        r#"{"GroupAdd":{"req":{"name":"ops","kind":"ShareUser","gid":null},"dry_run":true}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dry_run"], true, "{}", r.body);
    assert!(!lab.read("etc/group").contains("ops:"), "a dry run changes nothing");
    let r = alice.json("POST", "/api/v1/call", Some(&csrf), r#"{"GroupList":{}}"#);
    assert!(r.json().as_array().is_some_and(|g| g.iter().any(|g| g["name"] == "staff")), "{}", r.body);
    let r = alice.json(
        "POST",
        "/api/v1/call",
        Some(&csrf),
        r#"{"GroupAdd":{"req":{"name":"x;id","kind":"ShareUser","gid":null},"dry_run":false}}"#,
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let r = alice.json("POST", "/api/v1/call", Some(&csrf), r#"{"SetupToken":{}}"#);
    assert_eq!(r.status, 403, "the setup token is for the console only: {}", r.body);
    // BI-076: sort keys are an enum.
    let r = alice.get("/api/v1/jobs?sort=name);%20DROP%20TABLE%20jobs;--");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "sort");
    let doc = alice.get("/api/v1/openapi.json").json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/jobs"]["post"].is_object());

    // An API key for automation: a viewer reads, and cannot change anything.
    let key = lab.ctl_json(&["web", "api-key", "create", "--label", "monitoring", "--role", "viewer", "--days", "7"]);
    let key = key["key"].as_str().expect("the key, shown once").to_owned();
    let mut bot = web.browser("bot");
    bot.extra.push(format!("X-API-Key: {key}"));
    assert_eq!(bot.get("/api/v1/system/status").status, 200);
    let r = bot.json("POST", "/api/v1/users", None, r#"{"name":"dave"}"#);
    assert_eq!(r.status, 403, "a viewer key cannot create users: {}", r.body);
    assert!(!lab.read("etc/passwd").contains("dave:"));
    let keys = lab.ctl_json(&["web", "api-key", "list"]);
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    lab.ctl_json(&["web", "api-key", "revoke", &id]);
    assert_eq!(bot.get("/api/v1/system/status").status, 401, "a revoked key is dead");

    // Roles: an operator may queue imaging jobs but not change accounts.
    assert!(
        lab.ctl_stdin(&["user", "add", "olga", "--kind", "admin", "--password-stdin"], Some("Operat0r-pass!x\n"))
            .status
            .success()
    );
    lab.ctl_json(&["web", "role", "olga", "admin"]);
    let olga = web.browser("olga");
    let r = olga.post("/login", &[("user", "olga"), ("password", "Operat0r-pass!x")]);
    let osecret =
        attr_after(&r.body, "data-secret=\"").unwrap_or_else(|| panic!("olga enrolls at first login: {}", r.body));
    let mut oused = 0;
    let r = olga.post("/login/code", &[("code", &totp(&osecret, &mut oused))]);
    assert_eq!(r.status, 200, "{}", r.body);
    // While an admin, she makes a key for a script: an operator key, which may list jobs.
    let r = olga.post(
        "/settings/api-keys",
        &[("csrf", &olga.get("/settings").csrf()), ("label", "olga script"), ("role", "operator"), ("days", "7")],
    );
    let okey =
        code_after(&r.body, "id=\"new-api-key\"").unwrap_or_else(|| panic!("olga's key is shown once: {}", r.body));
    let mut script = web.browser("olga-script");
    script.extra.push(format!("X-API-Key: {okey}"));
    assert_eq!(script.get("/api/v1/jobs").status, 200, "her key works");
    // Now an operator (her session goes on with the lower role).
    lab.ctl_json(&["web", "role", "olga", "operator"]);
    let ocsrf = olga.get("/accounts").csrf();
    let r = olga.post("/accounts/users", &[("csrf", &ocsrf), ("name", "eve"), ("kind", "share")]);
    assert!(r.body.contains("needs the admin role"), "{}", r.body);
    assert!(!lab.read("etc/passwd").contains("eve:"));
    // Lowered to viewer, her operator key is a viewer key: it reads, and queues nothing.
    lab.ctl_json(&["web", "role", "olga", "viewer"]);
    let r = script.json("POST", "/api/v1/jobs", None, r#"{"device":"/dev/loop0","name":"x"}"#);
    assert_eq!(r.status, 403, "a key never has more rights than its owner now: {}", r.body);
    // Taking web access away ends her session at once, and her key with it.
    lab.ctl_json(&["web", "role", "olga", "none"]);
    assert_eq!(olga.get("/api/v1/sessions").status, 401);
    assert_eq!(script.get("/api/v1/jobs").status, 401, "a key dies with its owner's web access");

    // A new phone: the current code proves the old authenticator, the new secret's first code
    // replaces it (with new recovery codes); until then the old one still works.
    let page = alice.get("/settings");
    let scsrf = page.csrf();
    let r = alice.post("/settings/totp", &[("csrf", &scsrf), ("code", "000000")]);
    assert!(
        r.body.contains("E_UNAUTHENTICATED") && !r.body.contains("renew-secret"),
        "a wrong code starts nothing: {}",
        r.body
    );
    let r = alice.post("/settings/totp", &[("csrf", &scsrf), ("code", &totp(&secret, &mut used))]);
    let new_secret = attr_after(&r.body, "id=\"renew-secret\" data-secret=\"")
        .unwrap_or_else(|| panic!("no new secret: {}", r.body));
    let mut new_used = 0;
    let r = alice.post("/settings/totp/confirm", &[("csrf", &scsrf), ("code", &totp(&new_secret, &mut new_used))]);
    assert_eq!(r.body.matches("<li><code>").count(), 10, "ten new recovery codes: {}", r.body);
    let old_secret = secret.clone();
    let secret = new_secret;
    let mut used = new_used;
    let stale = web.browser("stale-phone");
    stale.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    let mut old_used = 0;
    let r = stale.post("/login/code", &[("code", &totp(&old_secret, &mut old_used))]);
    assert_eq!(r.status, 401, "the old authenticator no longer works: {}", r.body);

    // Sessions: listed, and a logged-out cookie is useless.
    let sessions = alice.get("/api/v1/sessions").json();
    assert!(sessions.as_array().unwrap().iter().any(|s| s["user"] == "alice" && s["current"] == true), "{sessions}");
    let copy = web.browser("alice-copy");
    std::fs::copy(&alice.jar, &copy.jar).expect("copy the cookie jar");
    let r = alice.post("/logout", &[("csrf", &alice.get("/settings").csrf())]);
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/login")));
    assert_eq!(copy.get("/").status, 303, "the session ended with the logout");
    assert_eq!(copy.get("/api/v1/users").status, 401);

    // Login again with the second factor; the same code twice is refused (no replay).
    let again = web.browser("alice-again");
    let r = again.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    assert!(r.body.contains("name=\"code\""), "{}", r.body);
    let code = totp(&secret, &mut used);
    assert_eq!(again.post("/login/code", &[("code", &code)]).status, 303);
    let replay = web.browser("replay");
    replay.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    let r = replay.post("/login/code", &[("code", &code)]);
    assert_eq!(r.status, 401, "a used code is refused: {}", r.body);

    // Lockout: failures are counted per account and per address (127.0.0.1 has four already:
    // the wrong setup token, the wrong renewal code, the old phone's code and the replayed
    // code); at five, even the right password is refused.
    let mallory = web.browser("mallory");
    let mut refused = 0;
    for _ in 0..5 {
        let r = mallory.post("/login", &[("user", "alice"), ("password", "Wrong-Passw0rd!")]);
        if r.status == 429 {
            break;
        }
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.body.contains("user name or password is wrong"), "{}", r.body);
        refused += 1;
    }
    assert_eq!(refused, 1, "the address reached five failures");
    let r = mallory.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("too many failed logins"), "{}", r.body);
    // An unknown account gets the same answer as a wrong password.
    let r = web.browser("x").post("/login", &[("user", "nosuchuser"), ("password", "Wrong-Passw0rd!")]);
    assert!(r.status == 401 || r.status == 429, "{}", r.body);

    // The audit log is filtered by corenasd over the whole log: on the page, in the API and in
    // the export; the filters stay on the export link.
    let page = again.get("/audit?result=refused&action=web.");
    assert!(
        page.body.contains("data-result=\"refused\"") && !page.body.contains("data-result=\"ok\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/audit/export?action=web.&amp;result=refused\""), "{}", page.body);
    let r = again.get("/audit?since=2026-13-01");
    assert!(r.body.contains("E_INVALID_INPUT") && r.body.contains("since"), "{}", r.body);
    let logs = again.get("/api/v1/logs?result=refused&limit=2").json();
    let logs = logs["logs"].as_array().expect("logs").clone();
    assert!(logs.len() == 2 && logs.iter().all(|e| e["result"] == "refused"), "{logs:?}");
    let none = again.get("/api/v1/logs?until=2000-01-01T00:00:00%2B02:00").json();
    assert_eq!(none["logs"].as_array().map(Vec::len), Some(0), "{none}");
    let r = again.get("/api/v1/logs?action=USER%25");
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("action")), "{}", r.body);
    let export = again.get("/audit/export?action=web.login&result=refused");
    let lines: Vec<&str> = export.body.lines().collect();
    assert!(!lines.is_empty(), "refused logins were exported");
    for line in &lines {
        let e: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(e["action"].as_str().is_some_and(|a| a.starts_with("web.login")) && e["result"] == "refused", "{line}");
    }
    let seqs: Vec<i64> =
        lines.iter().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first: {seqs:?}");

    // A logged-in browser on another site's page: its post and its event stream are refused by
    // the Origin check, even with a valid CSRF token.
    let csrf = again.get("/accounts").csrf();
    let evil = "Origin: https://evil.example";
    let r = again.request("POST", "/accounts/users", &[evil], &[("csrf", &csrf), ("name", "mal"), ("kind", "share")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!lab.read("etc/passwd").contains("mal:"));
    let r = again.request("GET", "/api/v1/events", &[evil], &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    // Sessions end on request through the API too, and the ended one is useless at once.
    let list = again.get("/api/v1/sessions").json();
    let mine = list.as_array().and_then(|l| l.iter().find(|s| s["current"] == true)).expect("the current session");
    let id = mine["id"].as_str().expect("id").to_owned();
    let own = format!("Origin: {}", again.base);
    let r = again.request("DELETE", &format!("/api/v1/sessions/{id}"), &[&own], &[]);
    assert_eq!(r.status, 403, "without the CSRF token: {}", r.body);
    let r = again.request("DELETE", &format!("/api/v1/sessions/{id}"), &[&own, &format!("X-CSRF-Token: {csrf}")], &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(again.get("/api/v1/users").status, 401, "the ended session is dead");

    // Every login event is in the audit chain, and the chain holds.
    let log = lab.ctl_json(&["log", "view", "--limit", "200"]).to_string();
    for action in ["web.setup", "web.login", "web.logout", "user.add", "web.role_set", "web.api_key_create"] {
        assert!(log.contains(action), "{action} is audited: {log}");
    }
    assert!(log.contains("wrong password") && log.contains("alice@web"), "{log}");
    assert!(lab.ctl(&["log", "verify"]).status.success());
}

#[test]
fn web_imaging_job_progress_download_and_events() {
    if !require_root("web_imaging_job_progress_download_and_events") {
        return;
    }
    let scratch = ScratchDir::new("web-iso");
    // G6: a hostile label is shown as text, never markup or a file name.
    let label = "X<script>\"'-rf";
    let iso = media::make_iso(&scratch.path, "WEBDISC", 4 << 20, 11);
    let volume = media::iso_volume_bytes(&iso);
    let want = media::sha256_hex(&iso, Some(volume));
    let disc = LoopDisk::attach_read_only(&iso);
    // G6 (BI-062/BI-067): a disc whose label is markup; every page shows it as text.
    let hostile = media::make_iso(&scratch.path, "<img src=x onerror=alert(1)>", 64 << 10, 12);
    let hostile_disc = LoopDisk::attach_read_only(&hostile);
    let lab = Lab::start("web-img", LabOptions::default());
    let web = WebStack::start(&lab);
    let (b, _, _) = set_up_admin(&lab, &web, "alice");
    for page in ["/", "/imaging"] {
        let r = b.get(page);
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(!r.body.contains("<img src=x"), "{page} shows the label as markup: {}", r.body);
    }
    // The API carries the label as data: JSON, never sniffed as HTML.
    let r = b.get("/api/v1/devices");
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(b.get("/").body.contains("&lt;img src=x onerror=alert(1)&gt;"), "the dashboard shows the label, escaped");
    drop(hostile_disc);

    // The event stream resumes from Last-Event-ID: a number from before this daemon's start is
    // told it missed events (resync) and gets the device events kept; resuming from just before
    // the oldest kept gives all of them and no resync, from the newest gives none.
    let mut kept = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept.is_empty() {
        assert!(Instant::now() < deadline, "the hostile disc's events never reached the stream");
        let all = sse_events(&b, Some("1"), 2);
        assert!(all.iter().any(|(ev, _)| ev == "resync"), "a stale number is told to resync: {all:?}");
        kept = all.into_iter().filter(|(ev, _)| ev == "device").map(|(_, id)| id).collect();
    }
    // Tests running beside this one attach loop devices, and corenasd sees every device on the
    // host: events newer than `kept` may arrive at any time, so each check allows newer ids and
    // refuses only a repeat of what the client said it had.
    let newest = kept.last().copied().unwrap_or_default();
    let device_ids = |events: &[(String, u64)]| -> Vec<u64> {
        events.iter().filter(|(ev, _)| ev == "device").map(|(_, id)| *id).collect()
    };
    let resumed = sse_events(&b, Some(&(kept[0] - 1).to_string()), 2);
    let again = device_ids(&resumed);
    assert!(
        again.starts_with(&kept) && again[kept.len()..].iter().all(|id| *id > newest),
        "resumed after {} gives the kept events in order: {resumed:?}",
        kept[0] - 1
    );
    assert!(!resumed.iter().any(|(ev, _)| ev == "resync"), "nothing was missed: {resumed:?}");
    let up_to_date = sse_events(&b, Some(&newest.to_string()), 2);
    assert!(!up_to_date.iter().any(|(ev, _)| ev == "resync"), "{up_to_date:?}");
    assert!(device_ids(&up_to_date).iter().all(|id| *id > newest), "nothing up to {newest} again: {up_to_date:?}");
    let fresh = sse_events(&b, None, 2);
    assert!(device_ids(&fresh).iter().all(|id| *id > newest), "without Last-Event-ID the stream starts now: {fresh:?}");

    // The event stream, open while the job runs (curl stops it after a while).
    let events_out = scratch.path.join("events.txt");
    let mut sse = std::process::Command::new("curl")
        .args(["-sk", "-N", "--max-time", "40", "-b"])
        .arg(&b.jar)
        .arg("-o")
        .arg(&events_out)
        .arg(format!("{}/api/v1/events", b.base))
        .spawn()
        .expect("curl events");

    let csrf = b.get("/imaging").csrf();
    let dev = disc.dev.display().to_string();
    let r = b.post("/imaging/jobs", &[("csrf", &csrf), ("device", &dev), ("name", label)]);
    assert_eq!(r.status, 200, "the hostile name is refused by JobName: {}", r.body);
    assert!(r.body.contains("E_INVALID_INPUT") && !r.body.contains("<script>"), "escaped: {}", r.body);
    let r = b.post(
        "/imaging/jobs",
        &[("csrf", &csrf), ("device", &dev), ("name", "web-disc-x"), ("retries", "9"), ("priority", "high")],
    );
    assert!(r.body.contains("E_INVALID_INPUT") && r.body.contains("retries"), "read attempts are 0-5: {}", r.body);
    let r = b.post(
        "/imaging/jobs",
        &[
            ("csrf", &csrf),
            ("device", &dev),
            ("name", "web-disc-1"),
            ("md5", "1"),
            ("retries", "2"),
            ("priority", "high"),
            ("keep_partial", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let job_path = r.header("location").expect("job page");
    let id = job_path.rsplit('/').next().unwrap().to_owned();
    let page = b.get(&job_path);
    assert!(page.body.contains("<progress"), "progress without script: {}", page.body);

    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let j = b.get(&format!("/api/v1/jobs/{id}")).json();
        if ["completed", "completed_with_errors", "failed", "cancelled"].contains(&j["status"].as_str().unwrap_or("")) {
            break j;
        }
        assert!(Instant::now() < deadline, "job never ended: {j}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"].as_f64(), Some(100.0), "the specification's percentage: {job}");
    assert_eq!(job["size_bytes"], volume, "{job}");
    let archive = job["archive_id"].as_str().expect("archived").to_owned();
    let page = b.get(&job_path);
    assert!(page.body.contains(&want), "the job page shows the checksum");
    assert!(
        page.body.contains("image.job.finished"),
        "the job's history comes from the whole audit log: {}",
        page.body
    );
    let j = b.get(&format!("/api/v1/jobs/{id}")).json();
    assert_eq!(j["priority"], "high", "{j}");

    // Download: the whole image, byte for byte, and a range of it.
    let (code, bytes) = b.download(&format!("/archive/{archive}/download"), &[]);
    assert_eq!(code, 200);
    assert_eq!(bytes.len() as u64, volume);
    let file = scratch.path.join("downloaded.iso");
    std::fs::write(&file, &bytes).expect("write download");
    assert_eq!(media::sha256_hex(&file, None), want, "the download is the image");
    // L4: a download is audited, once (corenas-web reads it from corenasd in many chunks).
    let reads = || {
        stdout(&lab.ctl(&["log", "export"]))
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["action"] == "archive.read" && e["principal"] == "alice@web")
            .count()
    };
    assert!(volume > 2 * 1024 * 1024, "the image takes several chunks: {volume}");
    assert_eq!(reads(), 1, "one audit entry for one download");
    let (code, part) = b.download(&format!("/api/v1/archives/{archive}/download"), &["Range: bytes=32768-36863"]);
    assert_eq!(code, 206);
    assert_eq!(part, bytes[32768..36864].to_vec());
    let r = b.request("GET", &format!("/api/v1/archives/{archive}/download"), &["Range: bytes=0-0"], &[]);
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"{id}.iso\"; filename*=UTF-8''{id}.iso"),
        "a server-made name"
    );
    assert_eq!(reads(), 3, "each range request is a download of its own");

    // The specification's shapes: archives with metadata, tags and notes set by PATCH.
    let csrf = b.get("/imaging").csrf();
    let list = b.get("/api/v1/archives?search=webdisc").json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["archives"][0]["metadata"]["label"], "WEBDISC");
    let r = b.json(
        "PATCH",
        &format!("/api/v1/archives/{archive}"),
        Some(&csrf),
        r#"{"metadata":{"tags":["backup","2026"],"notes":"first disc"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["metadata"]["tags"], serde_json::json!(["backup", "2026"]), "{}", r.body);
    let r = b.json("PATCH", &format!("/api/v1/archives/{archive}"), Some(&csrf), r#"{"metadata":{"label":"renamed"}}"#);
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("metadata.label")), "{}", r.body);
    assert_eq!(b.get("/api/v1/archives?tag=backup").json()["total"], 1);
    let devices = b.get("/api/v1/devices").json();
    let d = devices["devices"].as_array().unwrap().iter().find(|d| d["path"] == dev.as_str()).expect("the disc drive");
    assert_eq!((d["status"].as_str(), d["has_media"].as_bool()), (Some("idle"), Some(true)), "{d}");
    let status = b.get("/api/v1/system/status").json();
    assert_eq!(status["services"]["corenasd"], "running", "{status}");
    assert!(status["resources"]["memory_total_bytes"].as_u64().unwrap_or(0) > 0, "{status}");
    assert!(status["uptime_seconds"].as_i64().unwrap_or(0) > 0, "{status}");
    assert_eq!(status["resources"]["load_average"].as_array().map(Vec::len), Some(3), "{status}");
    let logs = b.get("/api/v1/logs?level=warning").json();
    assert!(
        logs["logs"].as_array().unwrap().iter().all(|e| e["level"] == "warning" || e["level"] == "error"),
        "{logs}"
    );
    // A job in the specification's request shape, then paused/cancelled by PATCH.
    let r = b.json("POST", "/api/v1/jobs", Some(&csrf), &format!(r#"{{"name":"api-disc","device":"{dev}","options":{{"read_attempts":2,"verify":false,"checksums":["md5","sha256"],"priority":"high"}}}}"#));
    assert_eq!(r.status, 201, "{}", r.body);
    let api_job = r.json()["id"].as_str().expect("job id").to_owned();
    let r = b.json("PATCH", &format!("/api/v1/jobs/{api_job}"), Some(&csrf), r#"{"action":"launch"}"#);
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (422, Some("action")), "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !["completed", "failed"]
        .contains(&b.get(&format!("/api/v1/jobs/{api_job}")).json()["status"].as_str().unwrap_or(""))
    {
        assert!(Instant::now() < deadline, "the API job never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    let j = b.get(&format!("/api/v1/jobs/{api_job}")).json();
    assert_eq!(
        (j["status"].as_str(), j["options"]["md5"].as_bool(), j["priority"].as_str()),
        (Some("completed"), Some(true), Some("high")),
        "{j}"
    );

    // The stream carries the job's final state a poll after the API shows it: wait for that
    // event itself (or for curl to have ended, so a stream that missed it fails with its text),
    // then end the stream.
    let completed =
        |stream: &str| job_events(stream).iter().any(|j| j["id"] == id.as_str() && j["status"] == "completed");
    wait_for(
        || {
            completed(&std::fs::read_to_string(&events_out).unwrap_or_default())
                || matches!(sse.try_wait(), Ok(Some(_)))
        },
        "the event stream to carry the job's completion",
    );
    let _ = sse.kill();
    let _ = sse.wait();
    let events = std::fs::read_to_string(&events_out).unwrap_or_default();
    assert!(completed(&events), "the job's progress and completion were streamed: {events}");
}

/// The data of every `job` event in a recorded stream of `/api/v1/events`.
fn job_events(stream: &str) -> Vec<serde_json::Value> {
    stream
        .split("\n\n")
        .filter(|block| block.lines().any(|l| l.trim_end() == "event: job"))
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data:")))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// The events (name, id) one stream of `/api/v1/events` carries in `secs` seconds, resuming
/// after `last_id` when given.
fn sse_events(b: &corenas_tests::web::Browser, last_id: Option<&str>, secs: u32) -> Vec<(String, u64)> {
    let mut curl = std::process::Command::new("curl");
    curl.args(["-sk", "-N", "--max-time", &secs.to_string(), "-b"]).arg(&b.jar);
    if let Some(id) = last_id {
        curl.args(["-H", &format!("Last-Event-ID: {id}")]);
    }
    let out = curl.arg(format!("{}/api/v1/events", b.base)).output().expect("curl events");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            Some((field("event:")?.to_owned(), field("id:").and_then(|i| i.parse().ok()).unwrap_or(0)))
        })
        .collect()
}

/// nginx's own limits in front of corenas-web (the shipped site file): request bodies over
/// 64 KiB are refused with 413 before they reach corenas-web, and the login pages are rate
/// limited per address (30 a minute, bursts of 20) with 429.
#[test]
fn web_nginx_limits() {
    if !require_root("web_nginx_limits") {
        return;
    }
    let lab = Lab::start("web-limits", LabOptions::default());
    let web = WebStack::start(&lab);
    let anon = web.browser("anon");
    let big = "x".repeat(70 * 1024);
    let r =
        anon.request("POST", "/login", &[&format!("Origin: {}", anon.base)], &[("user", "alice"), ("password", &big)]);
    assert_eq!(r.status, 413, "{}", r.body);
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(anon.get("/login").status);
    }
    assert!(statuses.iter().take(19).all(|s| *s != 429 && *s < 500), "the burst is served: {statuses:?}");
    assert!(statuses.contains(&429), "then the rate limit answers: {statuses:?}");
    // Other pages are not limited.
    assert_eq!(anon.get("/static/app.css").status, 200);
}

/// The storage page's actions on a real ZFS pool (zfs-fuse on loop devices): a dataset with
/// properties, a snapshot deleted, the dataset and the pool destroyed only with their names
/// typed, export and import. Each form changes what `zfs`/`zpool` report.
#[test]
fn web_storage_actions() {
    if !require_root("web_storage_actions") || !require_zfs_fuse("web_storage_actions") {
        return;
    }
    let scratch = ScratchDir::new("web-zfs");
    let disk = LoopDisk::sparse(&scratch.path, "a", 128 << 20);
    let pool = format!("wz{}", std::process::id() % 100_000);
    struct Destroy(String);
    impl Drop for Destroy {
        fn drop(&mut self) {
            let _ = std::process::Command::new("zpool").args(["destroy", "-f", &self.0]).output();
        }
    }
    let _guard = Destroy(pool.clone());
    let lab = Lab::start("web-zfs", LabOptions { lab_mounts: true, ..LabOptions::default() });
    let dev = disk.dev.display().to_string();
    let o = lab.ctl(&["storage", "create", &pool, "--type", "zfs", "--device", &dev]);
    assert!(o.status.success(), "{}", corenas_tests::stderr(&o));
    let web = WebStack::start(&lab);
    let (b, _, _) = set_up_admin(&lab, &web, "alice");
    let zfs = |args: &[&str]| {
        String::from_utf8_lossy(&std::process::Command::new("zfs").args(args).output().expect("zfs").stdout)
            .into_owned()
    };
    let post = |fields: &[(&str, &str)]| {
        let csrf = b.get("/storage").csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        b.post("/storage/action", &all)
    };
    let ds = format!("{pool}/media");
    let r = post(&[
        ("action", "dataset-create"),
        ("pool", &pool),
        ("dataset", &ds),
        ("properties", "compression=gzip, atime=off"),
    ]);
    assert!(r.body.contains("Dataset created"), "{}", r.body);
    assert!(zfs(&["get", "-H", "-o", "value", "compression", &ds]).contains("gzip"));
    let r =
        post(&[("action", "dataset-create"), ("pool", &pool), ("dataset", &ds), ("properties", "compression=rm -rf")]);
    assert!(r.body.contains("E_INVALID_INPUT"), "a bad property is refused by its type: {}", r.body);
    let csrf = b.get("/storage").csrf();
    let r = b.post("/storage/snapshot", &[("csrf", &csrf), ("dataset", &ds)]);
    let snap = r
        .body
        .split_once(&format!("Snapshot taken: {ds}@"))
        .map(|(_, rest)| rest.split('<').next().unwrap_or("").to_owned())
        .expect("snapshot name");
    assert!(zfs(&["list", "-H", "-t", "snapshot", "-o", "name"]).contains(&format!("{ds}@{snap}")));
    let r = post(&[("action", "snapshot-destroy"), ("dataset", &ds), ("snapshot", &snap)]);
    assert!(r.body.contains("Snapshot deleted"), "{}", r.body);
    assert!(!zfs(&["list", "-H", "-t", "snapshot", "-o", "name"]).contains(&format!("{ds}@{snap}")));
    let r = post(&[("action", "dataset-destroy"), ("dataset", &ds), ("confirm", "media")]);
    assert!(r.body.contains("confirm"), "the whole name must be typed: {}", r.body);
    assert!(zfs(&["list", "-H", "-o", "name"]).contains(&ds));
    let r = post(&[("action", "dataset-destroy"), ("dataset", &ds), ("confirm", &ds)]);
    assert!(r.body.contains("Dataset destroyed"), "{}", r.body);
    assert!(!zfs(&["list", "-H", "-o", "name"]).contains(&ds));
    let zpool_has = || {
        std::process::Command::new("zpool")
            .args(["list", "-H", "-o", "name", &pool])
            .output()
            .expect("zpool")
            .status
            .success()
    };
    let r = post(&[("action", "export"), ("pool", &pool)]);
    assert!(r.body.contains("Pool exported"), "{}", r.body);
    assert!(!zpool_has(), "exported");
    let r = post(&[("action", "import"), ("pool", &pool)]);
    assert!(r.body.contains("Pool imported"), "{}", r.body);
    assert!(zpool_has(), "imported again");
    let r = post(&[("action", "pool-destroy"), ("pool", &pool), ("confirm", "tank")]);
    assert!(r.body.contains("confirm") && zpool_has(), "a wrong name destroys nothing: {}", r.body);
    let r = post(&[("action", "pool-destroy"), ("pool", &pool), ("confirm", &pool)]);
    assert!(r.body.contains("Pool destroyed"), "{}", r.body);
    assert!(!zpool_has(), "destroyed");
}
