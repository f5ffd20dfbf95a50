//! Runs `user` and `group`: reads a password first if one is needed, then one request.

use crate::client::{Daemon, call};
use crate::commands::accounts::args::{GroupCommand, UserCommand};
use crate::commands::accounts::show::{group_block, groups_table, password_report, user_block, users_table};
use crate::error::CtlError;
use crate::password::{self, Source};
use crate::report::{Report, change_report, nothing, to_json};
use corenas_proto::api::{GroupAdd, UserAdd, UserMod};
use corenas_proto::secret::Password;
use std::path::Path;

pub(crate) async fn user(cmd: UserCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    // Passwords are read before connecting: a refused password costs no request, and no
    // connection sits idle while someone types.
    match cmd {
        UserCommand::Add(a) => {
            let password = if a.generate_password {
                None
            } else {
                new_password(a.password_stdin, &format!("password for {}", a.name), true)?
            };
            let req = UserAdd {
                name: a.name,
                kind: a.kind,
                uid: a.uid,
                full_name: a.full_name,
                shell: a.shell,
                create_home: !a.no_home,
                groups: a.groups,
                password,
                generate_password: a.generate_password,
            };
            let change = call!(socket => user_add(req, dry_run))?;
            change_report(&change, user_block)
        }
        UserCommand::Del { name, remove_home } => {
            let change = call!(socket => user_del(name, remove_home, dry_run))?;
            change_report(&change, nothing)
        }
        UserCommand::Mod(m) => {
            let change = UserMod {
                full_name: m.full_name.clone(),
                shell: m.shell.clone(),
                add_groups: m.add_groups.clone(),
                remove_groups: m.remove_groups.clone(),
                lock: m.lock_change(),
            };
            let change = call!(socket => user_mod(m.name, change, dry_run))?;
            change_report(&change, user_block)
        }
        UserCommand::List => {
            let users = call!(socket => user_list())?;
            Ok(Report::ok(users_table(&users), to_json(&users)?))
        }
        UserCommand::Show { name } => {
            let user = call!(socket => user_show(name))?;
            Ok(Report::ok(user_block(&user), to_json(&user)?))
        }
        UserCommand::SetPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("password for {name}"))?;
            let change = call!(socket => user_set_password(name, password, dry_run))?;
            change_report(&change, nothing)
        }
        UserCommand::SetSmbPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("SMB password for {name}"))?;
            let change = call!(socket => user_set_smb_password(name, password, dry_run))?;
            change_report(&change, nothing)
        }
        UserCommand::Smb { name, action } => {
            let change = call!(socket => user_smb(name, action.into(), dry_run))?;
            change_report(&change, nothing)
        }
        UserCommand::GenPassword => {
            let password = call!(socket => password_generate())?;
            Ok(password_report(&password))
        }
    }
}

pub(crate) async fn group(cmd: GroupCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        GroupCommand::Add { name, kind, gid } => {
            let change = call!(d, group_add(GroupAdd { name, kind, gid }, dry_run))?;
            change_report(&change, group_block)
        }
        GroupCommand::Del { name } => {
            let change = call!(d, group_del(name, dry_run))?;
            change_report(&change, nothing)
        }
        GroupCommand::List => {
            let groups = call!(d, group_list())?;
            Ok(Report::ok(groups_table(&groups), to_json(&groups)?))
        }
        GroupCommand::Mod { name, add, remove } => {
            let change = call!(d, group_mod(name, add, remove, dry_run))?;
            change_report(&change, group_block)
        }
    }
}

/// A new password from stdin or the terminal. `None` only when `allow_absent` (user add) and
/// there is neither a flag nor a terminal, or the prompt was answered with an empty line.
pub(crate) fn new_password(
    password_stdin: bool,
    label: &str,
    allow_absent: bool,
) -> Result<Option<Password>, CtlError> {
    match password::source(password_stdin) {
        Source::Stdin => password::from_stdin().map(Some),
        Source::Prompt => password::prompt_new(label, allow_absent),
        Source::Absent if allow_absent => Ok(None),
        Source::Absent => Err(CtlError::usage(
            "password",
            format!(
                "stdin is not a terminal, so the {label} cannot be asked for: use --password-stdin and write it as the first line of stdin"
            ),
        )),
    }
}

pub(crate) fn required_password(password_stdin: bool, label: &str) -> Result<Password, CtlError> {
    new_password(password_stdin, label, false)?
        .ok_or_else(|| CtlError::usage("password", format!("no {label} was given")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::ErrorCode;
    use corenas_proto::WireError;

    use corenas_proto::api::{Change, CorenasRequest, CorenasResponse, UserInfo};
    use corenas_proto::helper::{SmbAccountState, StdinPlan, Step};

    use corenas_proto::names::AccountKind;

    use crate::report::{Report, error_json};
    use crate::testing::{ctl, fake_daemon};

    fn alice() -> UserInfo {
        UserInfo {
            name: "alice".into(),
            uid: 50001,
            gid: 50001,
            kind: Some(AccountKind::ShareUser),
            full_name: String::new(),
            home: "/home/alice".into(),
            shell: "/usr/sbin/nologin".into(),
            locked: true,
            smb: SmbAccountState::None,
            groups: vec!["staff".into()],
        }
    }

    fn useradd_step() -> Step {
        Step::Exec {
            program: "/usr/sbin/useradd".into(),
            args: vec!["--".into(), "alice".into()],
            stdin: StdinPlan::Nothing,
        }
    }

    #[test]
    fn user_add_sends_the_typed_request_and_shows_the_generated_password_once() {
        let (socket, seen) = fake_daemon("useradd", |_| {
            CorenasResponse::UserAdd(Ok(Change {
                dry_run: false,
                steps: vec![useradd_step()],
                result: Some(alice()),
                generated_password: Some(Password::new("Generated-Pass-42".into()).unwrap()),
                warnings: vec![],
            }))
        });
        let report = ctl(
            &socket,
            &["user", "add", "alice", "--kind", "share", "--group", "staff", "--generate-password", "--no-home"],
        )
        .unwrap();
        let Report::Answer { human, json, exit } = report else { panic!("no answer") };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(exit, 0);
        assert!(human.contains("/usr/sbin/useradd -- alice") && human.contains("Generated-Pass-42"), "{human}");
        assert_eq!(json["password"], "Generated-Pass-42");
        assert_eq!(json["generated_password"], "<redacted>");
        let seen = seen.lock().unwrap();
        let [CorenasRequest::UserAdd { req, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert!(req.generate_password && req.password.is_none() && !req.create_home);
        assert_eq!(req.kind, AccountKind::ShareUser);
        assert_eq!(req.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(), ["staff"]);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn dry_run_and_lock_reach_corenasd() {
        let (socket, seen) = fake_daemon("usermod", |_| {
            CorenasResponse::UserMod(Ok(Change {
                dry_run: true,
                steps: vec![],
                result: None,
                generated_password: None,
                warnings: vec![],
            }))
        });
        let Report::Answer { human, .. } =
            ctl(&socket, &["--dry-run", "user", "mod", "alice", "--lock", "--add-group", "staff"]).unwrap()
        else {
            panic!("no answer")
        };
        assert!(human.starts_with("dry run: nothing changed"), "{human}");
        let seen = seen.lock().unwrap();
        let [CorenasRequest::UserMod { name, change, dry_run: true }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(name.as_str(), "alice");
        assert_eq!(change.lock, Some(true));
        assert_eq!(change.add_groups.len(), 1);
        assert!(change.full_name.is_none() && change.shell.is_none() && change.remove_groups.is_empty());
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn a_refusal_from_corenasd_is_exit_1_with_its_code() {
        let (socket, _) =
            fake_daemon("notfound", |_| CorenasResponse::UserShow(Err(WireError::not_found("no managed user 'bob'"))));
        let err = ctl(&socket, &["user", "show", "bob"]).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.wire().code, ErrorCode::NotFound);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&error_json(&err.wire())).unwrap()["error"]["code"],
            "E_NOT_FOUND"
        );
        let _ = std::fs::remove_file(&socket);
    }
}
