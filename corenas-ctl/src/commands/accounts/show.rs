//! How users and groups read: the tables and blocks JSON.md's human side describes.

use crate::report::Report;
use crate::text::{Table, key_values, list_or_dash, yes_no};
use corenas_proto::api::{GroupInfo, UserInfo};
use corenas_proto::helper::SmbAccountState;
use corenas_proto::names::AccountKind;
use corenas_proto::secret::Password;
use serde_json::json;

pub(crate) fn kind(k: Option<AccountKind>) -> &'static str {
    k.map_or("-", AccountKind::as_str)
}

pub(crate) fn smb(s: SmbAccountState) -> &'static str {
    match s {
        SmbAccountState::None => "none",
        SmbAccountState::Enabled => "enabled",
        SmbAccountState::Disabled => "disabled",
        SmbAccountState::Unknown => "unknown",
    }
}

pub fn users_table(users: &[UserInfo]) -> String {
    let mut t = Table::new(&["NAME", "UID", "KIND", "GROUPS", "LOCKED", "SMB", "FULL NAME"]);
    for u in users {
        t.row([
            u.name.clone(),
            u.uid.to_string(),
            kind(u.kind).to_owned(),
            list_or_dash(&u.groups),
            yes_no(u.locked).to_owned(),
            smb(u.smb).to_owned(),
            u.full_name.clone(),
        ]);
    }
    t.render()
}

pub fn user_block(u: &UserInfo) -> String {
    key_values(&[
        ("name", u.name.clone()),
        ("uid", u.uid.to_string()),
        ("gid", u.gid.to_string()),
        ("kind", kind(u.kind).to_owned()),
        ("full name", u.full_name.clone()),
        ("home", u.home.clone()),
        ("shell", u.shell.clone()),
        ("locked", yes_no(u.locked).to_owned()),
        ("smb", smb(u.smb).to_owned()),
        ("groups", if u.groups.is_empty() { "-".to_owned() } else { u.groups.join(", ") }),
    ])
}

pub fn groups_table(groups: &[GroupInfo]) -> String {
    let mut t = Table::new(&["NAME", "GID", "KIND", "MEMBERS"]);
    for g in groups {
        t.row([g.name.clone(), g.gid.to_string(), kind(g.kind).to_owned(), list_or_dash(&g.members)]);
    }
    t.render()
}

pub fn group_block(g: &GroupInfo) -> String {
    key_values(&[
        ("name", g.name.clone()),
        ("gid", g.gid.to_string()),
        ("kind", kind(g.kind).to_owned()),
        ("members", if g.members.is_empty() { "-".to_owned() } else { g.members.join(", ") }),
    ])
}

/// `user gen-password`: only the password, so that `$(corenas-ctl user gen-password)` works.
pub fn password_report(p: &Password) -> Report {
    Report::ok(format!("{}\n", p.expose()), json!({ "password": p.expose() }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::change_report;
    use crate::testing::step;
    use crate::testing::user;
    use corenas_proto::api::Change;

    #[test]
    fn the_users_table_has_the_documented_columns() {
        let out = users_table(&[user("alice", &["staff", "media"], "Alice Example"), user("bob", &[], "")]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME   UID    KIND   GROUPS       LOCKED  SMB      FULL NAME");
        assert_eq!(lines[1], "alice  50001  share  staff,media  no      enabled  Alice Example");
        assert_eq!(lines[2], "bob    50001  share  -            no      enabled");
    }

    #[test]
    fn the_groups_table_has_the_documented_columns() {
        let g = GroupInfo {
            name: "staff".into(),
            gid: 10000,
            kind: Some(AccountKind::Admin),
            members: vec!["alice".into()],
        };
        assert_eq!(groups_table(&[g]), "NAME   GID    KIND   MEMBERS\nstaff  10000  admin  alice\n");
    }

    #[test]
    fn key_value_blocks_align() {
        let out = key_values(&[("uid", "1".into()), ("full name", "A".into())]);
        assert_eq!(out, "uid:        1\nfull name:  A\n");
        assert!(user_block(&user("alice", &[], "")).contains("groups:     -\n"));
    }

    #[test]
    fn a_dry_run_lists_the_steps_it_would_run() {
        let change: Change<UserInfo> = Change {
            dry_run: true,
            steps: vec![step()],
            result: Some(user("alice", &[], "")),
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, json, exit } = change_report(&change, user_block).unwrap() else { panic!() };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(human, "dry run: nothing changed; would run:\n  /usr/sbin/useradd --uid 50001 alice\n");
        assert_eq!(exit, 0);
        assert_eq!(json["dry_run"], true);
        assert!(json.get("password").is_none());
    }

    #[test]
    fn a_generated_password_is_shown_once_in_an_explicit_field() {
        let password = Password::new("Correct-Horse-9".into()).unwrap();
        let change = Change {
            dry_run: false,
            steps: vec![step()],
            result: Some(user("alice", &[], "")),
            generated_password: Some(password),
            warnings: vec![],
        };
        let Report::Answer { human, json, .. } = change_report(&change, user_block).unwrap() else { panic!() };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(human.starts_with("done; ran:\n  /usr/sbin/useradd --uid 50001 alice\nname:"), "{human}");
        assert!(human.ends_with("generated password (shown once; corenasd keeps no copy): Correct-Horse-9\n"));
        assert_eq!(json["generated_password"], "<redacted>");
        assert_eq!(json["password"], "Correct-Horse-9");
        assert_eq!(json["result"]["name"], "alice");
        assert_eq!(json["steps"][0]["Exec"]["program"], "/usr/sbin/useradd");
    }
}
