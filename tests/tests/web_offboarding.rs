//! The web path played by an attacker who was an admin once, or who guesses passwords (issue 18,
//! items 5 and 6; SECURITY-REVIEW M2 and M3): a locked or deleted account keeps no session and
//! no API key, a new account of the same name inherits nothing, and concurrent guesses are held
//! to the lockout. The real corenas-web and nginx in front of the lab's real corenasd and helper.

use corenas_tests::web::{ADMIN_PASSWORD, Browser, WebStack, attr_after, code_after, set_up_admin, totp};
use corenas_tests::{Lab, LabOptions, require_root};

const OLGA_PASSWORD: &str = "Operat0r-pass!x";

/// olga, an admin account with the admin web role, logged in (TOTP enrolled) and with an API
/// key she made herself: her browser and her script.
fn olga_with_session_and_key(web: &WebStack, tag: &str) -> (Browser, Browser) {
    let olga = web.browser(&format!("olga-{tag}"));
    let r = olga.post("/login", &[("user", "olga"), ("password", OLGA_PASSWORD)]);
    let secret =
        attr_after(&r.body, "data-secret=\"").unwrap_or_else(|| panic!("olga enrolls at first login: {}", r.body));
    let mut used = 0;
    let r = olga.post("/login/code", &[("code", &totp(&secret, &mut used))]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = olga.post(
        "/settings/api-keys",
        &[("csrf", &olga.get("/settings").csrf()), ("label", "olga script"), ("role", "admin"), ("days", "7")],
    );
    let key = code_after(&r.body, "id=\"new-api-key\"").unwrap_or_else(|| panic!("olga's key: {}", r.body));
    let mut script = web.browser(&format!("olga-script-{tag}"));
    script.extra.push(format!("X-API-Key: {key}"));
    assert_eq!(olga.get("/api/v1/sessions").status, 200, "her session works");
    assert_eq!(script.get("/api/v1/users").status, 200, "her key works");
    (olga, script)
}

fn add_olga(lab: &Lab) {
    let o = lab.ctl_stdin(&["user", "add", "olga", "--kind", "admin", "--password-stdin"], Some("Operat0r-pass!x\n"));
    assert!(o.status.success(), "{}", corenas_tests::stderr(&o));
}

#[test]
fn web_locked_or_deleted_account_keeps_no_session_or_key() {
    if !require_root("web_locked_or_deleted_account_keeps_no_session_or_key") {
        return;
    }
    let lab = Lab::start("web-offboard", LabOptions::default());
    let web = WebStack::start(&lab);
    let (alice, _, _) = set_up_admin(&lab, &web, "alice");
    add_olga(&lab);
    lab.ctl_json(&["web", "role", "olga", "admin"]);

    // Offboarding by locking: her session and her key die at once, and unlocking brings
    // neither back.
    let (olga, script) = olga_with_session_and_key(&web, "1");
    assert!(lab.ctl(&["user", "mod", "olga", "--lock"]).status.success());
    assert_eq!(olga.get("/api/v1/sessions").status, 401, "a locked account's session is dead");
    assert_eq!(script.get("/api/v1/users").status, 401, "a locked account's API key is dead");
    let r = script.json("POST", "/api/v1/users", None, r#"{"name":"mallory","kind":"admin"}"#);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!lab.read("etc/passwd").contains("mallory:"));
    assert!(lab.ctl(&["user", "mod", "olga", "--unlock"]).status.success());
    assert_eq!(olga.get("/api/v1/sessions").status, 401, "unlocking revives no session");
    assert_eq!(script.get("/api/v1/users").status, 401, "unlocking revives no key");

    // Offboarding by deleting, then a new person gets the name: the new olga inherits no role,
    // no second factor and no key.
    lab.ctl_json(&["web", "totp-reset", "olga"]);
    let (olga, script) = olga_with_session_and_key(&web, "2");
    assert!(lab.ctl(&["user", "del", "olga"]).status.success());
    assert_eq!(olga.get("/api/v1/sessions").status, 401, "a deleted account's session is dead");
    assert_eq!(script.get("/api/v1/users").status, 401, "a deleted account's API key is dead");
    add_olga(&lab);
    assert_eq!(script.get("/api/v1/users").status, 401, "the old key does not pass to the new olga");
    let accounts = lab.ctl_json(&["web", "list"]).to_string();
    assert!(!accounts.contains("\"olga\""), "the new olga has no web role: {accounts}");
    let again = web.browser("olga-new");
    let r = again.post("/login", &[("user", "olga"), ("password", OLGA_PASSWORD)]);
    assert!(!r.body.contains("data-secret") && !r.body.contains("name=\"code\""), "no second step: {}", r.body);
    assert_eq!(again.get("/api/v1/sessions").status, 401);
    let keys = lab.ctl_json(&["web", "api-key", "list"]);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["owner"].as_str().unwrap_or("").starts_with("olga@"))
            .all(|k| k["revoked"] == true),
        "olga's keys are revoked: {keys}"
    );
    // The admin who did it is untouched.
    assert_eq!(alice.get("/api/v1/sessions").status, 200);
}

#[test]
fn web_concurrent_wrong_passwords_are_held_to_the_lockout() {
    if !require_root("web_concurrent_wrong_passwords_are_held_to_the_lockout") {
        return;
    }
    let lab = Lab::start("web-guessing", LabOptions::default());
    let web = WebStack::start(&lab);
    let _ = set_up_admin(&lab, &web, "alice");
    let o = lab.ctl_stdin(&["user", "add", "carl", "--kind", "admin", "--password-stdin"], Some("Carl-Passw0rd!x\n"));
    assert!(o.status.success(), "{}", corenas_tests::stderr(&o));
    lab.ctl_json(&["web", "role", "carl", "admin"]);

    // 24 guesses at once, straight to corenas-web (nginx's per-address rate limit would hide
    // the race, and a botnet has many addresses).
    const GUESSES: usize = 24;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(GUESSES));
    let threads: Vec<_> = (0..GUESSES)
        .map(|i| {
            let b = Browser { base: web.direct.clone(), jar: web.dir.join(format!("guess{i}.cookies")), extra: vec![] };
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                b.post("/login", &[("user", "carl"), ("password", &format!("Wrong-guess-{i}!"))]).status
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a guess");
    }
    // Each password that was really checked is audited as "wrong password"; the rest were
    // refused before the check.
    let log = lab.ctl_json(&["log", "view", "--limit", "500"]);
    let checked = log
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            let args: serde_json::Value = serde_json::from_str(e["args"].as_str().unwrap_or("{}")).unwrap_or_default();
            e["action"] == "web.login" && args["user"] == "carl" && args["reason"] == "wrong password"
        })
        .count();
    let limit = usize::try_from(corenas_proto::web::LOGIN_FAILURES_BEFORE_LOCKOUT).unwrap();
    assert!(checked <= limit, "{checked} passwords checked for carl, more than the lockout's {limit}");
    // And the real password is locked out now too, until the lockout ends.
    let carl = web.browser("carl");
    let r = carl.post("/login", &[("user", "carl"), ("password", "Carl-Passw0rd!x")]);
    assert!(!r.body.contains("data-secret"), "{}", r.body);
    let _ = ADMIN_PASSWORD;
}
