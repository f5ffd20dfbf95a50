//! Runs `alert`: one request per command. A channel's password is read here, from
//! `--password-file` or a prompt on the terminal, and travels only inside `SmtpSpec` (redacted in
//! every human-readable form, the audit log included).

use crate::client::{Daemon, call};
use crate::commands::alert::args::{AlertCommand, ChannelAddArgs, ChannelCommand, PolicyCommand, SilenceArgs};
use crate::commands::alert::show::{
    alert_block, alerts_table, channel_line, channels_table, delivery_block, policies_table, policy_line, silence_line,
    silences_table,
};
use crate::error::{CtlError, EXIT_FAILED};
use crate::password::{LINE_CAP, prompt_remote};
use crate::report::{Report, change_report, nothing, to_json};
use corenas_proto::monitor::{ChannelKind, ChannelSpec, SilenceSpec, SmtpSecurity, SmtpSpec};
use corenas_proto::secret::RemoteSecret;
use std::io::{IsTerminal, Read};
use std::path::Path;

pub async fn alert(cmd: AlertCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        AlertCommand::List { all } => {
            let alerts = call!(socket => alert_list(all))?;
            Ok(Report::ok(alerts_table(&alerts), to_json(&alerts)?))
        }
        AlertCommand::Show { id } => {
            let a = call!(socket => alert_show(id.into()))?;
            Ok(Report::ok(alert_block(&a), to_json(&a)?))
        }
        AlertCommand::Dismiss { id } => {
            let change = call!(socket => alert_dismiss(id.into(), dry_run))?;
            change_report(&change, alert_block)
        }
        AlertCommand::Silence(a) => silence(a, socket, dry_run).await,
        AlertCommand::Silences => {
            let silences = call!(socket => silence_list())?;
            Ok(Report::ok(silences_table(&silences), to_json(&silences)?))
        }
        AlertCommand::Unsilence { id } => {
            let change = call!(socket => silence_remove(id.into(), dry_run))?;
            change_report(&change, nothing)
        }
        AlertCommand::Policy(PolicyCommand::List) => {
            let policies = call!(socket => alert_policy_list())?;
            Ok(Report::ok(policies_table(&policies), to_json(&policies)?))
        }
        AlertCommand::Policy(PolicyCommand::Set { class, delivery }) => {
            let change = call!(socket => alert_policy_set(class, delivery, dry_run))?;
            change_report(&change, policy_line)
        }
        AlertCommand::Channel(cmd) => channel(cmd, socket, dry_run).await,
    }
}

async fn silence(a: SilenceArgs, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let spec = SilenceSpec { class: a.class, subject: a.subject, minutes: a.minutes, reason: a.reason };
    let change = call!(socket => alert_silence(spec, dry_run))?;
    change_report(&change, silence_line)
}

async fn channel(cmd: ChannelCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        ChannelCommand::Add(a) => {
            // Before connecting: a prompt must not hold a connection open, and a bad file
            // changes nothing.
            let spec = channel_spec(*a)?;
            let change = call!(socket => channel_add(spec, dry_run))?;
            change_report(&change, channel_line)
        }
        ChannelCommand::List => {
            let channels = call!(socket => channel_list())?;
            Ok(Report::ok(channels_table(&channels), to_json(&channels)?))
        }
        ChannelCommand::Test { name } => {
            let d = Daemon::connect(socket).await?;
            let change = call!(d, channel_test(name, dry_run))?;
            let failed = change.result.as_ref().is_some_and(|r| !r.ok);
            match change_report(&change, delivery_block)? {
                Report::Answer { human, json, .. } if failed => Ok(Report::Answer { human, json, exit: EXIT_FAILED }),
                other => Ok(other),
            }
        }
        ChannelCommand::Remove { name } => {
            let change = call!(socket => channel_remove(name, dry_run))?;
            change_report(&change, nothing)
        }
    }
}

fn channel_spec(a: ChannelAddArgs) -> Result<ChannelSpec, CtlError> {
    let kind = if let Some(url) = a.webhook {
        ChannelKind::Webhook { url }
    } else if let Some(url) = a.alertmanager {
        ChannelKind::Alertmanager { url }
    } else if let Some(target) = a.smtp {
        // clap requires these with --smtp; the messages are for a definition that changed.
        let security = a.security.ok_or_else(|| CtlError::usage("security", "--smtp needs --security"))?;
        let from = a.from.ok_or_else(|| CtlError::usage("from", "--smtp needs --from"))?;
        if a.to.is_empty() {
            return Err(CtlError::usage("to", "--smtp needs at least one --to"));
        }
        let password = match (&a.user, &a.password_file) {
            (None, _) => None,
            (Some(_), Some(file)) => Some(password_from_file(file)?),
            (Some(user), None) => Some(password_prompt(&format!("SMTP password for {user}"))?),
        };
        let port = target.port.unwrap_or(match security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        ChannelKind::Smtp(SmtpSpec {
            host: target.host,
            port,
            security,
            from,
            to: a.to,
            username: a.user,
            password,
            ca_file: a.ca_file,
        })
    } else {
        return Err(CtlError::usage("kind", "give --smtp, --webhook or --alertmanager"));
    };
    Ok(ChannelSpec { name: a.name, kind, min_level: a.min_level })
}

/// The first line of a file, without its newline, checked by the password policy.
fn password_from_file(path: &Path) -> Result<RemoteSecret, CtlError> {
    let cannot = |e: std::io::Error| {
        CtlError::usage("password_file", format!("cannot read the password file {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(CtlError::usage("password_file", format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    file.take(LINE_CAP as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
    let line = match bytes.iter().position(|b| *b == b'\n') {
        Some(end) => &bytes[..end],
        None if bytes.len() > LINE_CAP => {
            return Err(CtlError::usage("password_file", "the first line of the password file is too long"));
        }
        None => &bytes[..],
    };
    Ok(RemoteSecret::new(String::from_utf8_lossy(line).into_owned())?)
}

fn password_prompt(label: &str) -> Result<RemoteSecret, CtlError> {
    if !std::io::stdin().is_terminal() {
        return Err(CtlError::usage(
            "password",
            "--user needs a password: give --password-file FILE, or run on a terminal to be asked",
        ));
    }
    prompt_remote(label)?.ok_or_else(|| CtlError::usage("password", "no password was given; nothing was changed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::alert::args::SmtpTarget;
    use corenas_proto::monitor::AlertLevel;

    fn smtp_args(user: bool, file: Option<std::path::PathBuf>) -> ChannelAddArgs {
        ChannelAddArgs {
            name: "ops".parse().unwrap(),
            smtp: Some("127.0.0.1".parse::<SmtpTarget>().unwrap()),
            webhook: None,
            alertmanager: None,
            security: Some(SmtpSecurity::Tls),
            from: Some("nas@example.org".parse().unwrap()),
            to: vec!["ops@example.org".parse().unwrap()],
            user: user.then(|| "nas".parse().unwrap()),
            password_file: file,
            ca_file: None,
            min_level: AlertLevel::Warning,
        }
    }

    #[test]
    fn the_password_comes_from_the_file_and_the_port_from_the_security() {
        let dir = std::env::temp_dir().join(format!("corenas-ctl-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "Correct-Horse-9\nignored\n").unwrap();
        let spec = channel_spec(smtp_args(true, Some(good))).unwrap();
        let ChannelKind::Smtp(s) = &spec.kind else { panic!() };
        assert_eq!(s.password.as_ref().map(RemoteSecret::expose), Some("Correct-Horse-9"));
        assert_eq!(s.port, 465);
        // The spec as JSON (what --json and the audit log see) carries no password.
        let json = serde_json::to_string(&spec).unwrap();
        assert!(!json.contains("Correct-Horse-9") && json.contains("<redacted>"), "{json}");

        let crlf = dir.join("crlf");
        std::fs::write(&crlf, "Correct-Horse-9\r\n").unwrap();
        assert!(
            matches!(channel_spec(smtp_args(true, Some(crlf))), Err(CtlError::Failed(e)) if e.field.as_deref() == Some("password"))
        );
        let missing = dir.join("missing");
        assert!(
            matches!(channel_spec(smtp_args(true, Some(missing))), Err(CtlError::Usage(e)) if e.field.as_deref() == Some("password_file"))
        );
        assert!(matches!(channel_spec(smtp_args(true, Some(dir.clone()))), Err(CtlError::Usage(_))));
        std::fs::remove_dir_all(&dir).unwrap();

        // Without --user there is no password to ask for.
        let spec = channel_spec(smtp_args(false, None)).unwrap();
        let ChannelKind::Smtp(s) = &spec.kind else { panic!() };
        assert!(s.password.is_none() && s.username.is_none());
    }

    use crate::testing::{answered, changed, fake_daemon, try_parse};
    use crate::values::validation_error;
    use corenas_proto::api::{CorenasRequest, CorenasResponse};
    use corenas_proto::monitor::{AlertClass, DeliveryReport, Silence};

    #[test]
    fn hostile_values_are_refused_before_connecting_naming_their_field() {
        let base = ["corenas-ctl", "alert"];
        for (args, field) in [
            (&["silence", "--class", "pool_degraded", "--for", "100d"][..], "for"),
            (&["silence", "--class", "no_such_class", "--for", "2h"], "class"),
            (&["silence", "--subject", "tank\u{7}", "--for", "2h"], "subject"),
            (&["policy", "set", "pool_degraded", "sometimes"], "delivery"),
            (&["channel", "add", "Ops", "--webhook", "http://127.0.0.1/"], "name"),
            (&["channel", "add", "ops", "--webhook", "http://user:pw@127.0.0.1/"], "url"),
            (&["channel", "add", "ops", "--alertmanager", "ftp://127.0.0.1/"], "url"),
            (
                &[
                    "channel",
                    "add",
                    "ops",
                    "--smtp",
                    "127.0.0.1",
                    "--security",
                    "tls",
                    "--from",
                    "a@b.org\r\nRCPT TO:<x@evil.org>",
                    "--to",
                    "c@d.org",
                ],
                "address",
            ),
            (
                &[
                    "channel",
                    "add",
                    "ops",
                    "--smtp",
                    "127.0.0.1",
                    "--security",
                    "ssl",
                    "--from",
                    "a@b.org",
                    "--to",
                    "c@d.org",
                ],
                "security",
            ),
            (&["channel", "add", "ops", "--webhook", "http://127.0.0.1/", "--min-level", "loud"], "level"),
        ] {
            let argv: Vec<&str> = base.iter().chain(args).copied().collect();
            let err = try_parse(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let v = validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}: {}", v.message);
        }
        // Usage mistakes: no kind, two kinds, mail options without --smtp, a password as a value.
        for args in [
            &["channel", "add", "ops"][..],
            &["channel", "add", "ops", "--webhook", "http://a/", "--alertmanager", "http://b/"],
            &["channel", "add", "ops", "--webhook", "http://a/", "--from", "a@b.org"],
            &["channel", "add", "ops", "--smtp", "mail", "--from", "a@b.org", "--to", "c@d.org"],
            &[
                "channel",
                "add",
                "ops",
                "--smtp",
                "mail",
                "--security",
                "tls",
                "--from",
                "a@b.org",
                "--to",
                "c@d.org",
                "--password",
                "Correct-Horse-9",
            ],
            &[
                "channel",
                "add",
                "ops",
                "--smtp",
                "mail",
                "--security",
                "tls",
                "--from",
                "a@b.org",
                "--to",
                "c@d.org",
                "--password-file",
                "/x",
            ],
            &["silence", "--for", "2h"],
            &["silence", "--class", "pool_degraded"],
        ] {
            let argv: Vec<&str> = base.iter().chain(args).copied().collect();
            assert_eq!(try_parse(&argv).expect_err(&format!("{args:?} was accepted")).exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn silence_and_test_send_typed_requests_and_a_failed_test_exits_1() {
        let (socket, seen) = fake_daemon("alert-silence", |req| match req {
            CorenasRequest::AlertSilence { spec, dry_run } => CorenasResponse::AlertSilence(Ok(changed(
                *dry_run,
                Some(Silence {
                    id: "s1".into(),
                    class: spec.class,
                    subject: None,
                    until: 7200,
                    reason: String::new(),
                    created_by: "root@ctl".into(),
                    created_at: 0,
                }),
            ))),
            other => panic!("unexpected {other:?}"),
        });
        let (human, json, exit) = answered(crate::testing::ctl(
            &socket,
            &["alert", "silence", "--class", "pool_degraded", "--for", "2h", "--reason", "disk swap"],
        ));
        assert_eq!(exit, 0);
        let until = crate::text::local_time(7200);
        assert!(human.contains(&format!("silence s1 until {until}: class pool_degraded")), "{human}");
        assert!(json.contains("\"id\":\"s1\""), "{json}");
        let seen = seen.lock().unwrap();
        let [CorenasRequest::AlertSilence { spec, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!((spec.class, spec.minutes), (Some(AlertClass::PoolDegraded), 120));

        let (socket, _) = fake_daemon("alert-test", |_| {
            CorenasResponse::ChannelTest(Ok(changed(
                false,
                Some(DeliveryReport {
                    channel: "ops".into(),
                    ok: false,
                    transcript: vec!["POST /hook".into(), "HTTP 500".into()],
                    error: Some("the server answered 500".into()),
                }),
            )))
        });
        let (human, _, exit) = answered(crate::testing::ctl(&socket, &["alert", "channel", "test", "ops"]));
        assert_eq!(exit, EXIT_FAILED, "{human}");
        assert!(human.contains("  HTTP 500\n") && human.contains("FAILED: the server answered 500"), "{human}");
    }

    #[test]
    fn completions_offer_the_new_groups() {
        let Ok(Report::Raw(script)) = crate::testing::ctl(Path::new("/nonexistent"), &["completions", "bash"]) else {
            panic!("no completions")
        };
        let script = String::from_utf8(script).unwrap();
        for word in [
            "alert",
            "silence",
            "unsilence",
            "channel",
            "monitor",
            "schedules",
            "scrub-schedule",
            "selftest-schedule",
            "pool_degraded",
            "starttls",
        ] {
            assert!(script.contains(word), "bash completions lack {word}");
        }
    }
}
