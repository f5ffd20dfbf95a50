//! The web path played by an attacker who wants to act unrecorded or to get a new first
//! administrator (issue 18, Low; SECURITY-REVIEW L4 and L5): a login is not granted when its
//! audit entry cannot be written, and `/setup` does not open again once an administrator has
//! enrolled, whatever root does to that administrator later. The real corenas-web and nginx in
//! front of the lab's real corenasd and helper.

use corenas_tests::web::{ADMIN_PASSWORD, WebStack, attr_after, set_up_admin, totp};
use corenas_tests::{Lab, LabOptions, StateFs, require_root, stdout};

fn web_logins(lab: &Lab) -> usize {
    let export = stdout(&lab.ctl(&["log", "export"]));
    export
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["action"] == "web.login" && e["result"] == "ok")
        .count()
}

/// Makes every append of `action` with result "ok" to the audit log fail, as a disk that fills
/// or breaks between the check and the write would, and nothing else: a trigger in corenasd's
/// own state.db. Dropped with `allow`.
fn refuse_audit_of(lab: &Lab, action: &str) {
    let db = rusqlite::Connection::open(lab.dir.join("state/state.db")).expect("state.db");
    db.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    db.execute_batch(&format!(
        "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit WHEN NEW.action = '{action}' AND NEW.result = 'ok' \
         BEGIN SELECT RAISE(ABORT, 'injected: the audit entry cannot be written'); END;"
    ))
    .expect("trigger");
}

fn allow_audit(lab: &Lab) {
    let db = rusqlite::Connection::open(lab.dir.join("state/state.db")).expect("state.db");
    db.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
    db.execute_batch("DROP TRIGGER test_refuse_audit;").expect("drop trigger");
}

/// L4: the old gate created the session and then only logged a failed audit append, so a login
/// could happen that the audit log does not have. Two ways in: the state filesystem full (now
/// refused up front; the old code happened to refuse too, because recording the TOTP step
/// failed first, so this half only shows the reason), and the append itself failing after the
/// checks passed (the old code granted the session; now it is ended and the login refused).
#[test]
fn web_login_is_refused_when_it_cannot_be_audited() {
    if !require_root("web_login_is_refused_when_it_cannot_be_audited") {
        return;
    }
    let lab = Lab::start(
        "web-unaudited",
        LabOptions { state_fs: Some(StateFs::Tmpfs("16m".into())), ..LabOptions::default() },
    );
    let web = WebStack::start(&lab);
    let (_alice, secret, mut used) = set_up_admin(&lab, &web, "alice");
    let logins = web_logins(&lab);

    let filler = corenas_tests::fill_filesystem(&lab.dir.join("state"));
    let b = web.browser("alice-full");
    let r = b.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    // Whatever the password step answered, the code step is tried too, as an attacker would.
    let code = b.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(
        b.get("/api/v1/sessions").status,
        401,
        "a login with no room for its audit entry left a session: {}\n{}",
        r.body,
        code.body
    );
    assert!(r.body.contains("no space"), "refused at the password step, saying why: {}", r.body);
    std::fs::remove_file(&filler).expect("free the space");

    refuse_audit_of(&lab, "web.login");
    let b = web.browser("alice-unaudited");
    b.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    let r = b.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(b.get("/api/v1/sessions").status, 401, "a login whose audit entry failed left a session: {}", r.body);
    assert!(r.body.contains("audit log"), "the refusal says why: {}", r.body);
    allow_audit(&lab);
    assert_eq!(web_logins(&lab), logins, "no login was recorded meanwhile");

    let again = web.browser("alice-after");
    again.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    let r = again.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(r.status, 303, "logins work again once they can be audited: {}", r.body);
    assert_eq!(again.get("/api/v1/sessions").status, 200);
    assert_eq!(web_logins(&lab), logins + 1, "and are audited");
}

/// L5: "setup is needed" used to mean "no enrolled administrator right now", so root resetting
/// the last admin's second factor (or taking the role away) re-opened `/setup` with a fresh
/// token, and whoever could read that token (the journal, once) made an administrator.
#[test]
fn web_setup_does_not_reopen_after_the_last_admin_is_reset() {
    if !require_root("web_setup_does_not_reopen_after_the_last_admin_is_reset") {
        return;
    }
    let lab = Lab::start("web-setup-once", LabOptions::default());
    let web = WebStack::start(&lab);
    set_up_admin(&lab, &web, "alice");
    let anon = web.browser("anon");
    for reset in [&["web", "totp-reset", "alice"][..], &["web", "role", "alice", "none"][..]] {
        let o = lab.ctl(reset);
        assert!(o.status.success(), "{reset:?}: {}", corenas_tests::stderr(&o));
        let v = lab.ctl_json(&["system", "setup-token"]);
        assert_eq!((&v["setup_needed"], &v["token"]), (&false.into(), &serde_json::Value::Null), "{reset:?}: {v}");
        let r = anon.get("/setup");
        assert_eq!(r.header("location").as_deref(), Some("/login"), "{reset:?}: /setup opened again: {}", r.body);
        let r =
            anon.post("/setup", &[("token", "AAAA-BBBB-CCCC-DDDD"), ("user", "mallory"), ("password", ADMIN_PASSWORD)]);
        assert_ne!(r.status, 200, "{reset:?}: {}", r.body);
        assert!(!lab.read("etc/passwd").contains("mallory:"), "{reset:?}: setup created an account");
    }
    // The way back is root's, at the console: the role again, then alice enrolls anew at login.
    lab.ctl_json(&["web", "role", "alice", "admin"]);
    let b = web.browser("alice-back");
    let r = b.post("/login", &[("user", "alice"), ("password", ADMIN_PASSWORD)]);
    let secret = attr_after(&r.body, "data-secret=\"").unwrap_or_else(|| panic!("alice enrolls again: {}", r.body));
    let mut used = 0;
    let r = b.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(b.get("/api/v1/sessions").status, 200);

    // Reset again, then corenasd starts again (the old code made a fresh token at start and,
    // before 43175c67, wrote it to the journal): still closed.
    lab.ctl_json(&["web", "totp-reset", "alice"]);
    let mut lab = lab;
    lab.kill_and_restart_daemon();
    let v = lab.ctl_json(&["system", "setup-token"]);
    assert_eq!((&v["setup_needed"], &v["token"]), (&false.into(), &serde_json::Value::Null), "after a restart: {v}");
}

/// L4: a password change whose audit entry cannot be written. A password cannot be changed
/// back, so the change stands, but the user is told it went unrecorded; the old gate said
/// "Your password is changed." and only logged the failed append.
#[test]
fn web_password_change_that_cannot_be_audited_says_so() {
    if !require_root("web_password_change_that_cannot_be_audited_says_so") {
        return;
    }
    let lab = Lab::start("web-pw-unaudited", LabOptions::default());
    let web = WebStack::start(&lab);
    let (alice, _, _) = set_up_admin(&lab, &web, "alice");
    refuse_audit_of(&lab, "web.password_change");
    let new = "Fresh-Admin-pass-7y!";
    let csrf = alice.get("/settings").csrf();
    let r = alice.post("/settings/password", &[("csrf", &csrf), ("current", ADMIN_PASSWORD), ("new", new)]);
    allow_audit(&lab);
    assert!(
        r.body.contains("could not be written to the audit log") && !r.body.contains("Your password is changed"),
        "the user is told the change went unrecorded: {}",
        r.body
    );
    // It did change: the new password passes the password step.
    let b = web.browser("alice-new-password");
    let r = b.post("/login", &[("user", "alice"), ("password", new)]);
    assert!(r.body.contains("name=\"code\""), "the new password is the password now: {}", r.body);
}
