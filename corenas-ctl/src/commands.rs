//! Runs a parsed command: reads a password if one is needed, connects to corenasd, makes one
//! call (or a few, for an export), and hands the answer to `output`.
//!
//! Nothing here decides policy; corenasd does. This module only turns command lines into
//! requests and transport failures into messages.

use crate::cli::{AclCommand, Cli, Command, CompletionShell, GroupCommand, LogCommand, SystemCommand, UserCommand};
use crate::error::CtlError;
use crate::imaging;
use crate::output::{self, Report};
use crate::password::{self, Source};
use clap::CommandFactory;
use corenas_proto::api::{AUDIT_PAGE_MAX, AclRemove, AclSet, AuditEntry, CorenasClient, GroupAdd, UserAdd, UserMod};
use corenas_proto::secret::Password;
use corenas_proto::wire::{self, Service};
use corenas_proto::{ErrorCode, WireError};
use serde_json::json;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long one call may take before corenas-ctl gives up waiting.
const CALL_DEADLINE: Duration = Duration::from_secs(60);

pub fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    output::finish(json, execute(cli))
}

fn execute(cli: Cli) -> Result<Report, CtlError> {
    match cli.command {
        Command::Completions { shell } => return Ok(Report::Raw(completions(shell))),
        Command::Man => return man().map(Report::Raw),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli))
}

/// A connection to corenasd.
pub(crate) struct Daemon {
    pub(crate) client: CorenasClient,
}

impl Daemon {
    pub(crate) async fn connect(socket: &Path) -> Result<Self, CtlError> {
        let stream = wire::connect(socket, Service::Daemon).await.map_err(|mut e| {
            if e.code == ErrorCode::HelperUnavailable {
                e.message.push_str("; is corenasd running? (systemctl status corenasd)");
            }
            CtlError::Failed(e)
        })?;
        let transport = wire::client_transport(stream);
        let client = CorenasClient::new(tarpc::client::Config::default(), transport).spawn();
        Ok(Self { client })
    }
}

pub(crate) fn ctx() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + CALL_DEADLINE;
    ctx
}

/// Flattens a call's two layers of failure: the transport's and corenasd's own answer.
pub(crate) fn answer<T>(reply: Result<Result<T, WireError>, tarpc::client::RpcError>) -> Result<T, CtlError> {
    match reply {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CtlError::Failed(e)),
        Err(tarpc::client::RpcError::DeadlineExceeded) => Err(CtlError::failed(
            ErrorCode::HelperUnavailable,
            format!(
                "corenasd did not answer within {} s; a change may still complete: check `corenas-ctl log view`",
                CALL_DEADLINE.as_secs()
            ),
        )),
        Err(e) => Err(CtlError::failed(
            ErrorCode::HelperUnavailable,
            format!("corenasd closed the connection: {}", chain(&e)),
        )),
    }
}

/// An error with its sources, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A new password from stdin or the terminal. `None` only when `allow_absent` (user add) and
/// there is neither a flag nor a terminal, or the prompt was answered with an empty line.
fn new_password(password_stdin: bool, label: &str, allow_absent: bool) -> Result<Option<Password>, CtlError> {
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

fn required_password(password_stdin: bool, label: &str) -> Result<Password, CtlError> {
    new_password(password_stdin, label, false)?
        .ok_or_else(|| CtlError::usage("password", format!("no {label} was given")))
}

async fn dispatch(cli: Cli) -> Result<Report, CtlError> {
    let dry_run = cli.dry_run;
    let json = cli.json;
    let socket = cli.socket.as_path();
    match cli.command {
        Command::User(cmd) => user(cmd, socket, dry_run).await,
        Command::Group(cmd) => group(cmd, socket, dry_run).await,
        Command::Acl(cmd) => acl(cmd, socket, dry_run).await,
        Command::Log(cmd) => log(cmd, socket).await,
        Command::System(SystemCommand::Status) => {
            let d = Daemon::connect(socket).await?;
            let status = answer(d.client.system_status(ctx()).await)?;
            Ok(Report::ok(output::status_block(&status), output::to_json(&status)?))
        }
        Command::Image(cmd) => imaging::image(cmd, socket, dry_run, json).await,
        Command::Archive(cmd) => imaging::archive(cmd, socket, dry_run, json).await,
        Command::Device(cmd) => imaging::device(cmd, socket, dry_run).await,
        Command::Completions { shell } => Ok(Report::Raw(completions(shell))),
        Command::Man => man().map(Report::Raw),
    }
}

async fn user(cmd: UserCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
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
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_add(ctx(), req, dry_run).await)?;
            output::change_report(&change, output::user_block)
        }
        UserCommand::Del { name, remove_home } => {
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_del(ctx(), name, remove_home, dry_run).await)?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::Mod(m) => {
            let change = UserMod {
                full_name: m.full_name.clone(),
                shell: m.shell.clone(),
                add_groups: m.add_groups.clone(),
                remove_groups: m.remove_groups.clone(),
                lock: m.lock_change(),
            };
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_mod(ctx(), m.name, change, dry_run).await)?;
            output::change_report(&change, output::user_block)
        }
        UserCommand::List => {
            let d = Daemon::connect(socket).await?;
            let users = answer(d.client.user_list(ctx()).await)?;
            Ok(Report::ok(output::users_table(&users), output::to_json(&users)?))
        }
        UserCommand::Show { name } => {
            let d = Daemon::connect(socket).await?;
            let user = answer(d.client.user_show(ctx(), name).await)?;
            Ok(Report::ok(output::user_block(&user), output::to_json(&user)?))
        }
        UserCommand::SetPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("password for {name}"))?;
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_set_password(ctx(), name, password, dry_run).await)?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::SetSmbPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("SMB password for {name}"))?;
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_set_smb_password(ctx(), name, password, dry_run).await)?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::Smb { name, action } => {
            let d = Daemon::connect(socket).await?;
            let change = answer(d.client.user_smb(ctx(), name, action.into(), dry_run).await)?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::GenPassword => {
            let d = Daemon::connect(socket).await?;
            let password = answer(d.client.password_generate(ctx()).await)?;
            Ok(output::password_report(&password))
        }
    }
}

async fn group(cmd: GroupCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        GroupCommand::Add { name, kind, gid } => {
            let change = answer(d.client.group_add(ctx(), GroupAdd { name, kind, gid }, dry_run).await)?;
            output::change_report(&change, output::group_block)
        }
        GroupCommand::Del { name } => {
            let change = answer(d.client.group_del(ctx(), name, dry_run).await)?;
            output::change_report(&change, output::nothing)
        }
        GroupCommand::List => {
            let groups = answer(d.client.group_list(ctx()).await)?;
            Ok(Report::ok(output::groups_table(&groups), output::to_json(&groups)?))
        }
        GroupCommand::Mod { name, add, remove } => {
            let change = answer(d.client.group_mod(ctx(), name, add, remove, dry_run).await)?;
            output::change_report(&change, output::group_block)
        }
    }
}

async fn acl(cmd: AclCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let change = match cmd {
        AclCommand::Get { path } => {
            let listing = answer(d.client.acl_get(ctx(), path).await)?;
            return Ok(Report::ok(output::acl_text(&listing), output::to_json(&listing)?));
        }
        AclCommand::Set { path, entries, recursive } => {
            answer(d.client.acl_set(ctx(), AclSet { path, entries, recursive }, dry_run).await)?
        }
        AclCommand::Remove { path, targets, recursive } => {
            answer(d.client.acl_remove(ctx(), AclRemove { path, targets, recursive }, dry_run).await)?
        }
    };
    output::change_report(&change, output::acl_text)
}

async fn log(cmd: LogCommand, socket: &Path) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        LogCommand::View { limit, before } => {
            let entries = answer(d.client.log_view(ctx(), before, limit).await)?;
            Ok(Report::ok(output::audit_table(&entries), output::to_json(&entries)?))
        }
        LogCommand::Verify => {
            let verdict = answer(d.client.log_verify(ctx()).await)?;
            output::verify_report(&verdict)
        }
        LogCommand::Export { output: None } => {
            let mut stdout = io::stdout().lock();
            export(async |after| answer(d.client.log_page(ctx(), after, AUDIT_PAGE_MAX).await), &mut stdout).await?;
            Ok(Report::Written)
        }
        LogCommand::Export { output: Some(path) } => {
            let mut out = create_export_file(&path)?;
            let written =
                export(async |after| answer(d.client.log_page(ctx(), after, AUDIT_PAGE_MAX).await), &mut out).await;
            let summary = finish_export_file(out, written, &path)?;
            let human = format!("exported {} entries to {}\n", summary.entries, path.display());
            let json =
                json!({ "exported": summary.entries, "last_seq": summary.last_seq, "output": path.to_string_lossy() });
            Ok(Report::ok(human, json.to_string()))
        }
    }
}

/// A new file for an export, mode 0600. O_EXCL: never overwrite, never follow a symlink planted
/// where the export goes.
pub(crate) fn create_export_file(path: &Path) -> Result<io::BufWriter<std::fs::File>, CtlError> {
    let file = std::fs::File::options().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        let code = if e.kind() == io::ErrorKind::AlreadyExists { ErrorCode::AlreadyExists } else { ErrorCode::Internal };
        CtlError::failed(code, format!("cannot create {}: {e}; the export never overwrites a file", path.display()))
    })?;
    Ok(io::BufWriter::new(file))
}

/// Flushes and syncs an export file; any failure, the export's own included, says the file is
/// incomplete.
pub(crate) fn finish_export_file<S>(
    out: io::BufWriter<std::fs::File>,
    written: Result<S, CtlError>,
    path: &Path,
) -> Result<S, CtlError> {
    let synced = out
        .into_inner()
        .map_err(io::IntoInnerError::into_error)
        .and_then(|f| f.sync_all())
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")));
    written.and_then(|s| synced.map(|()| s)).map_err(|e| {
        let wire = e.wire();
        CtlError::Failed(WireError { message: format!("{} ({} is incomplete)", wire.message, path.display()), ..wire })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExportSummary {
    entries: u64,
    last_seq: Option<i64>,
}

/// Writes every entry as one JSON line, oldest first, fetching pages after the last seq seen.
/// Stops at the first empty page; refuses a page that does not move forward (which would loop).
async fn export(
    mut page_after: impl AsyncFnMut(i64) -> Result<Vec<AuditEntry>, CtlError>,
    out: &mut impl Write,
) -> Result<ExportSummary, CtlError> {
    let write_err = |e: io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}"));
    let mut summary = ExportSummary { entries: 0, last_seq: None };
    // Start below any sequence number, so even a misnumbered (tampered) entry is exported.
    let mut after = i64::MIN;
    loop {
        let page = page_after(after).await?;
        if page.is_empty() {
            break;
        }
        for entry in &page {
            if entry.seq <= after {
                return Err(CtlError::failed(
                    ErrorCode::Protocol,
                    format!("corenasd returned entry {} after entry {after}; export stopped", entry.seq),
                ));
            }
            after = entry.seq;
            serde_json::to_writer(&mut *out, entry)
                .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")))?;
            out.write_all(b"\n").map_err(write_err)?;
            summary.entries += 1;
            summary.last_seq = Some(entry.seq);
        }
    }
    out.flush().map_err(write_err)?;
    Ok(summary)
}

fn completions(shell: CompletionShell) -> Vec<u8> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    script
}

fn man() -> Result<Vec<u8>, CtlError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot render the manual page: {e}")))?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use corenas_proto::api::{AuditVerify, Change, CorenasRequest, CorenasResponse, UserInfo};
    use corenas_proto::helper::{SmbAccountState, StdinPlan, Step};
    use corenas_proto::names::AccountKind;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use tarpc::tokio_serde::{Deserializer as _, Serializer as _};
    use tarpc::tokio_util::bytes::BytesMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    type Seen = Arc<Mutex<Vec<CorenasRequest>>>;

    /// A corenasd stand-in that speaks the real handshake and frames for one connection,
    /// answers every request with `reply`, and records the requests it received.
    fn fake_daemon(
        name: &str,
        reply: impl Fn(&CorenasRequest) -> CorenasResponse + Send + 'static,
    ) -> (std::path::PathBuf, Seen) {
        let socket = temp_socket(name);
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen: Seen = Arc::default();
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            block_on(async move {
                let listener = tokio::net::UnixListener::from_std(listener).unwrap();
                let (mut stream, _) = listener.accept().await.unwrap();
                wire::server_hello(&mut stream, Service::Daemon, &wire::Verdict::Accepted).await.unwrap();
                let mut codec: wire::Postcard<tarpc::ClientMessage<CorenasRequest>, tarpc::Response<CorenasResponse>> =
                    wire::Postcard::default();
                loop {
                    let mut len = [0u8; 4];
                    if stream.read_exact(&mut len).await.is_err() {
                        break; // corenas-ctl is done
                    }
                    let mut frame = BytesMut::zeroed(usize::try_from(u32::from_be_bytes(len)).unwrap());
                    stream.read_exact(&mut frame).await.unwrap();
                    let tarpc::ClientMessage::Request(req) = Pin::new(&mut codec).deserialize(&frame).unwrap() else {
                        continue;
                    };
                    assert!(req.context.deadline > Instant::now() + Duration::from_secs(50));
                    let message = Ok(reply(&req.message));
                    record.lock().unwrap().push(req.message);
                    let answer = tarpc::Response { request_id: req.id, message };
                    let bytes = Pin::new(&mut codec).serialize(&answer).unwrap();
                    let len = u32::try_from(bytes.len()).unwrap().to_be_bytes();
                    stream.write_all(&len).await.unwrap();
                    stream.write_all(&bytes).await.unwrap();
                }
            });
        });
        (socket, seen)
    }

    fn ctl(socket: &Path, args: &[&str]) -> Result<Report, CtlError> {
        let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
        argv.extend_from_slice(args);
        execute(Cli::try_parse_from(argv).unwrap())
    }

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
            serde_json::from_str::<serde_json::Value>(&output::error_json(&err.wire())).unwrap()["error"]["code"],
            "E_NOT_FOUND"
        );
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn verify_with_problems_is_exit_1() {
        let (socket, _) = fake_daemon("verify", |_| {
            CorenasResponse::LogVerify(Ok(AuditVerify {
                entries: 5,
                head: "h5".into(),
                problems: vec!["entry 2 was changed".into()],
            }))
        });
        let Report::Answer { human, exit, .. } = ctl(&socket, &["log", "verify"]).unwrap() else { panic!() };
        assert_eq!(exit, 1);
        assert!(human.contains("entry 2"), "{human}");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn export_to_a_file_pages_through_corenasd_and_never_overwrites() {
        let (socket, seen) = fake_daemon("export", |req| match req {
            CorenasRequest::LogPage { after, limit } => {
                assert_eq!(*limit, AUDIT_PAGE_MAX);
                CorenasResponse::LogPage(Ok((1..=5).map(entry).filter(|e| e.seq > *after).take(2).collect()))
            }
            other => panic!("unexpected {other:?}"),
        });
        let out = std::env::temp_dir().join(format!("corenas-ctl-test-{}-export.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let Report::Answer { json, .. } = ctl(&socket, &["log", "export", "--output", out.to_str().unwrap()]).unwrap()
        else {
            panic!()
        };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["exported"], 5);
        assert_eq!(json["last_seq"], 5);
        assert_eq!(seen.lock().unwrap().len(), 4, "pages of 2, 2, 1, then an empty one");
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 5);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

        let (socket2, _) = fake_daemon("export2", |_| CorenasResponse::LogPage(Ok(vec![])));
        let err = ctl(&socket2, &["log", "export", "--output", out.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "the existing file is untouched");
        for f in [&socket, &socket2, &out] {
            let _ = std::fs::remove_file(f);
        }
    }

    fn entry(seq: i64) -> AuditEntry {
        AuditEntry {
            seq,
            time: "2025-01-01T00:00:00Z".into(),
            principal: "root".into(),
            channel: "cli".into(),
            peer_uid: 0,
            action: "user.add".into(),
            args: "{}".into(),
            result: "ok".into(),
            error_code: None,
            prev_hash: String::new(),
            hash: format!("h{seq}"),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn export_pages_until_an_empty_page() {
        let log: Vec<AuditEntry> = (1..=7).map(entry).collect();
        let mut asked = Vec::new();
        let mut out = Vec::new();
        let summary = block_on(export(
            async |after| {
                asked.push(after);
                Ok(log.iter().filter(|e| e.seq > after).take(3).cloned().collect())
            },
            &mut out,
        ))
        .unwrap();
        assert_eq!(summary, ExportSummary { entries: 7, last_seq: Some(7) });
        assert_eq!(asked, [i64::MIN, 3, 6, 7]);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[6]["seq"], 7);
        assert_eq!(lines[0]["hash"], "h1");
    }

    #[test]
    fn export_refuses_a_page_that_does_not_move_forward() {
        let mut out = Vec::new();
        let r = block_on(export(async |_| Ok(vec![entry(1)]), &mut out));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::Protocol));
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }

    #[test]
    fn transport_failures_become_clear_messages() {
        let r: Result<(), CtlError> = answer(Err(tarpc::client::RpcError::Shutdown));
        let Err(CtlError::Failed(e)) = r else { panic!() };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.starts_with("corenasd closed the connection: "), "{}", e.message);

        let r: Result<(), CtlError> = answer(Err(tarpc::client::RpcError::DeadlineExceeded));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.message.contains("within 60 s")));

        let r: Result<(), CtlError> = answer(Ok(Err(WireError::not_found("no user bob"))));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::NotFound));
    }

    fn temp_socket(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("corenas-ctl-test-{}-{name}.sock", std::process::id()))
    }

    #[test]
    fn a_missing_daemon_is_reported_with_a_hint() {
        let socket = temp_socket("missing");
        let r = block_on(Daemon::connect(&socket));
        let Err(CtlError::Failed(e)) = r else { panic!("connected to nothing") };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.contains("is corenasd running?"), "{}", e.message);
    }

    #[test]
    fn a_daemon_that_hangs_up_after_the_handshake_is_reported() {
        let socket = temp_socket("hangup");
        let _ = std::fs::remove_file(&socket);
        let r = block_on(async {
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let server = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                wire::server_hello(&mut stream, Service::Daemon, &wire::Verdict::Accepted).await.unwrap();
                drop(stream);
            });
            let d = Daemon::connect(&socket).await?;
            server.await.unwrap();
            answer(d.client.user_list(ctx()).await)
        });
        let _ = std::fs::remove_file(&socket);
        let Err(CtlError::Failed(e)) = r else { panic!("expected a failure, got {r:?}") };
        assert_eq!(e.code, ErrorCode::HelperUnavailable);
        assert!(e.message.starts_with("corenasd closed the connection"), "{}", e.message);
    }

    #[test]
    fn a_refused_handshake_keeps_the_daemons_reason() {
        let socket = temp_socket("refused");
        let _ = std::fs::remove_file(&socket);
        let r = block_on(async {
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let verdict = wire::Verdict::Refused("uid 1000 may not use corenasd".into());
                let _ = wire::server_hello(&mut stream, Service::Daemon, &verdict).await;
            });
            Daemon::connect(&socket).await.map(|_| ())
        });
        let _ = std::fs::remove_file(&socket);
        let Err(CtlError::Failed(e)) = r else { panic!("expected a refusal") };
        assert_eq!(e.code, ErrorCode::NotAllowed);
        assert_eq!(e.message, "uid 1000 may not use corenasd");
    }

    #[test]
    fn completions_and_the_manual_need_no_daemon() {
        for shell in [CompletionShell::Bash, CompletionShell::Zsh, CompletionShell::Fish] {
            let script = String::from_utf8(completions(shell)).unwrap();
            assert!(script.contains("corenas-ctl") && script.contains("set-smb-password"), "{shell:?}");
        }
        let page = String::from_utf8(man().unwrap()).unwrap();
        assert!(page.contains(".TH") && page.contains("corenas"));
        let cli = Cli::try_parse_from(["corenas-ctl", "--socket", "/nonexistent", "completions", "bash"]).unwrap();
        assert!(matches!(execute(cli), Ok(Report::Raw(_))));
    }
}
