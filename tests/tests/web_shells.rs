//! Issue 18 (H3.1), played as a web admin (or a stolen admin session): an account made from the
//! web has no login shell, and a login shell asked for from the web is refused, so no web admin
//! is an SSH user with the web's password and without its second factor. Root at the console
//! (ctl) may still give one.

use corenas_tests::web::{WebStack, set_up_admin};
use corenas_tests::{Lab, LabOptions, require_root};

fn shell_of(lab: &Lab, name: &str) -> Option<String> {
    lab.read("etc/passwd")
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .map(|l| l.rsplit(':').next().unwrap().to_owned())
}

#[test]
fn web_admins_get_no_login_shell_and_cannot_ask_for_one() {
    if !require_root("web_admins_get_no_login_shell_and_cannot_ask_for_one") {
        return;
    }
    let lab = Lab::start("web-shells", LabOptions::default());
    let web = WebStack::start(&lab);

    // The first administrator, made by the first-run setup.
    let (alice, _, _) = set_up_admin(&lab, &web, "alice");
    assert_eq!(shell_of(&lab, "alice").as_deref(), Some("/usr/sbin/nologin"), "setup's admin");
    let csrf = alice.get("/accounts").csrf();

    // An admin through the REST API.
    let r = alice.json("POST", "/api/v1/users", Some(&csrf), r#"{"name":"dora","kind":"admin"}"#);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(shell_of(&lab, "dora").as_deref(), Some("/usr/sbin/nologin"), "an admin made from the web");

    // The raw daemon call the web tier passes on: a bash admin is refused, the field named.
    let add = r#"{"UserAdd":{"req":{"name":"eve","kind":"Admin","uid":null,"full_name":null,"shell":"/bin/bash","create_home":false,"groups":[],"password":null,"generate_password":true},"dry_run":false}}"#;
    let r = alice.json("POST", "/api/v1/call", Some(&csrf), add);
    assert!(!(200..300).contains(&r.status), "a bash admin from the web: {}", r.body);
    assert_eq!(r.json()["error"]["code"], "E_NOT_ALLOWED", "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "shell", "{}", r.body);
    assert!(shell_of(&lab, "eve").is_none(), "nobody created");
    // Nor a share user with a shell, nor a shell given to an existing account.
    let r = alice.json("POST", "/api/v1/call", Some(&csrf), &add.replace("\"Admin\"", "\"ShareUser\""));
    assert_eq!(r.json()["error"]["field"], "shell", "{}", r.body);
    assert!(shell_of(&lab, "eve").is_none(), "nobody created");
    let m = r#"{"UserMod":{"name":"dora","change":{"full_name":null,"shell":"/bin/sh","add_groups":[],"remove_groups":[],"lock":null},"dry_run":false}}"#;
    let r = alice.json("POST", "/api/v1/call", Some(&csrf), m);
    assert_eq!(r.json()["error"]["code"], "E_NOT_ALLOWED", "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "shell", "{}", r.body);
    assert_eq!(shell_of(&lab, "dora").as_deref(), Some("/usr/sbin/nologin"), "unchanged");

    // Root at the console may.
    let o = lab.ctl(&["user", "mod", "dora", "--shell", "/bin/bash"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(shell_of(&lab, "dora").as_deref(), Some("/bin/bash"));
    let o = lab.ctl(&["user", "add", "root3", "--kind", "admin", "--no-home", "--shell", "/bin/bash"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(shell_of(&lab, "root3").as_deref(), Some("/bin/bash"));
}
