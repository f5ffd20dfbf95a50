//! Login passwords through PAM, as in production: the helper runs Debian's pamtester on the
//! shipped `corenas` service (common-auth, common-account), here on the lab's account files
//! (see `LabOptions::pam`). The password reaches pamtester on stdin only.

use corenas_proto::helper::PasswordCheck;
use corenas_tests::{Lab, LabOptions, block_on, ctx, helper_client, require_root};

#[test]
fn login_passwords_go_through_pam() {
    if !require_root("login_passwords_go_through_pam") {
        return;
    }
    let lab = Lab::start("pam", LabOptions { pam: true, ..LabOptions::default() });
    for (user, kind) in [("olga", "admin"), ("otto", "admin"), ("sam", "share")] {
        let out = lab.ctl_stdin(&["user", "add", user, "--kind", kind, "--password-stdin"], Some("Correct-Horse-9x\n"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // otto's account expired yesterday (field 8 of shadow: days since 1970).
    let shadow = lab.read("etc/shadow");
    let expired: String = shadow
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(':').collect();
            if f[0] == "otto" {
                f[7] = "1";
            }
            f.join(":") + "\n"
        })
        .collect();
    std::fs::write(lab.root.join("etc/shadow"), expired).expect("expire otto");

    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("helper");
        let check = |user: &str, password: &str| {
            let h = h.clone();
            let (user, password) = (user.parse().unwrap(), password.parse().unwrap());
            async move { h.password_check(ctx(), user, password).await.expect("rpc").expect("answer") }
        };
        assert_eq!(check("olga", "Correct-Horse-9x").await, PasswordCheck::Valid);
        assert_eq!(check("olga", "Wrong-Horse-9x!").await, PasswordCheck::Wrong);
        assert_eq!(check("otto", "Correct-Horse-9x").await, PasswordCheck::Expired);
        assert_eq!(check("sam", "Correct-Horse-9x").await, PasswordCheck::NotAdmin, "share users never log in");
        assert_eq!(check("nosuch", "Correct-Horse-9x").await, PasswordCheck::NotAdmin);
    });
    // It was PAM that answered: the helper ran pamtester, and never with the password in argv.
    let log = std::fs::read_to_string(lab.dir.join("helper.log")).unwrap_or_default();
    assert!(log.contains("/usr/bin/pamtester") && log.contains("corenas olga authenticate acct_mgmt"), "{log}");
    assert!(!log.contains("Correct-Horse-9x") && !log.contains("Wrong-Horse-9x"), "a password reached the log: {log}");
}
