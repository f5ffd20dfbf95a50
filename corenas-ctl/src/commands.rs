//! Runs a parsed command: reads a password if one is needed, connects to corenasd, makes one
//! call (or a few: an export pages, `share mod` reads the share first), and hands the answer to
//! `output`.
//!
//! Nothing here decides policy; corenasd does. This module only turns command lines into
//! requests and transport failures into messages.

use crate::cli::{AclCommand, Cli, Command, CompletionShell, GroupCommand, LogCommand, SystemCommand, UserCommand};
use crate::client::{Daemon, call};
use crate::error::CtlError;
use crate::imaging;
use crate::output::{self, Report};
use crate::password::{self, Source};
use crate::shares;
use crate::storage;
use clap::CommandFactory;
use corenas_proto::api::{AUDIT_PAGE_MAX, AclRemove, AclSet, AuditEntry, GroupAdd, UserAdd, UserMod};
use corenas_proto::secret::Password;
use corenas_proto::{ErrorCode, WireError};
use serde_json::json;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

pub fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    output::finish(json, execute(cli))
}

fn execute(cli: Cli) -> Result<Report, CtlError> {
    match cli.command {
        Command::Completions { shell } => return Ok(Report::Raw(completions(shell))),
        Command::Man { dir: None } => return man().map(Report::Raw),
        Command::Man { dir: Some(dir) } => return man_pages(&dir),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli))
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
            let status = call!(socket => system_status())?;
            Ok(Report::ok(output::status_block(&status), output::to_json(&status)?))
        }
        Command::System(SystemCommand::SetupToken) => crate::web::setup_token(socket).await,
        Command::Web(cmd) => crate::web::web(cmd, socket, dry_run).await,
        Command::Image(cmd) => imaging::image(cmd, socket, dry_run, json).await,
        Command::Archive(cmd) => imaging::archive(cmd, socket, dry_run, json).await,
        Command::Device(cmd) => storage::device(cmd, socket, dry_run, json).await,
        Command::Storage(cmd) => storage::storage(cmd, socket, dry_run, json).await,
        Command::Raid(cmd) => crate::volumes::raid(cmd, socket, dry_run, json).await,
        Command::Lvm(cmd) => crate::volumes::lvm(cmd, socket, dry_run).await,
        Command::Share(cmd) => shares::share(cmd, socket, dry_run).await,
        Command::Mount(cmd) => shares::mount(cmd, socket, dry_run).await,
        Command::Completions { shell } => Ok(Report::Raw(completions(shell))),
        Command::Man { .. } => unreachable!("answered before connecting"),
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
            let change = call!(socket => user_add(req, dry_run))?;
            output::change_report(&change, output::user_block)
        }
        UserCommand::Del { name, remove_home } => {
            let change = call!(socket => user_del(name, remove_home, dry_run))?;
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
            let change = call!(socket => user_mod(m.name, change, dry_run))?;
            output::change_report(&change, output::user_block)
        }
        UserCommand::List => {
            let users = call!(socket => user_list())?;
            Ok(Report::ok(output::users_table(&users), output::to_json(&users)?))
        }
        UserCommand::Show { name } => {
            let user = call!(socket => user_show(name))?;
            Ok(Report::ok(output::user_block(&user), output::to_json(&user)?))
        }
        UserCommand::SetPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("password for {name}"))?;
            let change = call!(socket => user_set_password(name, password, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::SetSmbPassword { name, password } => {
            let password = required_password(password.password_stdin, &format!("SMB password for {name}"))?;
            let change = call!(socket => user_set_smb_password(name, password, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::Smb { name, action } => {
            let change = call!(socket => user_smb(name, action.into(), dry_run))?;
            output::change_report(&change, output::nothing)
        }
        UserCommand::GenPassword => {
            let password = call!(socket => password_generate())?;
            Ok(output::password_report(&password))
        }
    }
}

async fn group(cmd: GroupCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        GroupCommand::Add { name, kind, gid } => {
            let change = call!(d, group_add(GroupAdd { name, kind, gid }, dry_run))?;
            output::change_report(&change, output::group_block)
        }
        GroupCommand::Del { name } => {
            let change = call!(d, group_del(name, dry_run))?;
            output::change_report(&change, output::nothing)
        }
        GroupCommand::List => {
            let groups = call!(d, group_list())?;
            Ok(Report::ok(output::groups_table(&groups), output::to_json(&groups)?))
        }
        GroupCommand::Mod { name, add, remove } => {
            let change = call!(d, group_mod(name, add, remove, dry_run))?;
            output::change_report(&change, output::group_block)
        }
    }
}

async fn acl(cmd: AclCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let change = match cmd {
        AclCommand::Get { path } => {
            let listing = call!(d, acl_get(path))?;
            return Ok(Report::ok(output::acl_text(&listing), output::to_json(&listing)?));
        }
        AclCommand::Set { path, entries, recursive } => {
            call!(d, acl_set(AclSet { path, entries, recursive }, dry_run))?
        }
        AclCommand::Remove { path, targets, recursive } => {
            call!(d, acl_remove(AclRemove { path, targets, recursive }, dry_run))?
        }
    };
    output::change_report(&change, output::acl_text)
}

async fn log(cmd: LogCommand, socket: &Path) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        LogCommand::View { limit, before } => {
            let entries = call!(d, log_view(before, limit))?;
            Ok(Report::ok(output::audit_table(&entries), output::to_json(&entries)?))
        }
        LogCommand::Verify => {
            let verdict = call!(d, log_verify())?;
            output::verify_report(&verdict)
        }
        LogCommand::Export { output: None } => {
            let mut stdout = io::stdout().lock();
            export(async |after| call!(d, log_page(after, AUDIT_PAGE_MAX)), &mut stdout).await?;
            Ok(Report::Written)
        }
        LogCommand::Export { output: Some(path) } => {
            let mut out = create_export_file(&path)?;
            let written = export(async |after| call!(d, log_page(after, AUDIT_PAGE_MAX)), &mut out).await;
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
        let code =
            if e.kind() == io::ErrorKind::AlreadyExists { ErrorCode::AlreadyExists } else { ErrorCode::Internal };
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

/// The whole manual: corenas-ctl.1 and one page per command at every level
/// (corenas-ctl-raid.1, corenas-ctl-raid-create.1, ...), as the pages' SEE ALSO name them.
fn man_pages(dir: &Path) -> Result<Report, CtlError> {
    let render_err =
        |e: std::io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write a manual page: {e}"));
    let mut pages = Vec::new();
    collect_pages(Cli::command(), &mut pages);
    let mut written = Vec::new();
    for page in pages {
        let name = page.get_name().to_owned();
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out).map_err(render_err)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, out).map_err(render_err)?;
        written.push(path.display().to_string());
    }
    Ok(Report::ok(format!("{}\n", written.join("\n")), serde_json::to_string(&written).unwrap_or_default()))
}

fn collect_pages(cmd: clap::Command, pages: &mut Vec<clap::Command>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // clap names are &'static str (no "string" feature); a one-shot command may leak a few.
        let name: &'static str = Box::leak(format!("{}-{}", cmd.get_name(), sub.get_name()).into_boxed_str());
        collect_pages(sub.clone().name(name), pages);
    }
    pages.push(cmd);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::answer;
    use clap::Parser;
    use corenas_proto::api::{AuditVerify, Change, CorenasRequest, CorenasResponse, UserInfo};
    use corenas_proto::helper::{SmbAccountState, StdinPlan, Step};
    use corenas_proto::imaging::{
        ArchiveInfo, ArchiveList, Checksums, DeviceInfo, ImagingPolicy, JobInfo, JobKind, JobList, JobOptions,
        JobState, Medium, Phase, Priority, Progress, Verification,
    };
    use corenas_proto::names::AccountKind;
    use corenas_proto::wire::{self, Service};
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
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
            call!(d, user_list())
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
            for word in [
                "follow",
                "keep-partial",
                "delete-partial",
                "completed_with_errors",
                "eject",
                "nfs-client",
                "automount",
            ] {
                assert!(script.contains(word), "{shell:?} completions lack {word}");
            }
        }
        let page = String::from_utf8(man().unwrap()).unwrap();
        assert!(page.contains(".TH") && page.contains("corenas"));
        assert!(page.contains("image") && page.contains("archive") && page.contains("device"), "{page}");
        assert!(page.contains("share") && page.contains("mount"), "{page}");
        let cli = Cli::try_parse_from(["corenas-ctl", "--socket", "/nonexistent", "completions", "bash"]).unwrap();
        assert!(matches!(execute(cli), Ok(Report::Raw(_))));
        let dir = std::env::temp_dir().join(format!("corenas-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        man_pages(&dir).unwrap();
        let raid = std::fs::read_to_string(dir.join("corenas-ctl-raid.1")).unwrap();
        assert!(raid.contains(".TH corenas-ctl-raid") && raid.contains("rebuil"), "{raid}");
        let create = std::fs::read_to_string(dir.join("corenas-ctl-raid-create.1")).unwrap();
        assert!(create.contains("\\-\\-level") && create.contains("\\-\\-spare"), "{create}");
        assert!(dir.join("corenas-ctl-lvm-lv-extend.1").exists() && dir.join("corenas-ctl.1").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
    // ---- imaging -------------------------------------------------------------------------

    fn job(id: &str, status: JobState, version: u64) -> JobInfo {
        let done = status.is_terminal();
        JobInfo {
            id: id.into(),
            kind: JobKind::Image,
            name: "movie_disc".into(),
            device: Some("/dev/sr0".into()),
            status,
            priority: Priority::Normal,
            position: (status == JobState::Queued).then_some(1),
            created_at: "2025-01-02T03:04:05Z".into(),
            updated_at: "2025-01-02T03:04:06Z".into(),
            started_at: None,
            finished_at: None,
            options: JobOptions::default(),
            progress: Progress {
                domain_bytes: 4 << 30,
                rescued_bytes: if done { 4 << 30 } else { version << 30 },
                phase: Some(Phase::Copying),
                pass: Some(1),
                percent: if done { 100.0 } else { 25.0 * version as f64 },
                rate_bps: Some(12 << 20),
                eta_seconds: Some(3723),
                ..Progress::default()
            },
            medium: Some(Medium {
                format: "iso9660".into(),
                label: Some("MOVIE\u{1b}[2J".into()),
                size_bytes: 4 << 30,
                fingerprint: "f".into(),
            }),
            output_file: done.then(|| format!("/srv/corenas/archive/{id}.iso")),
            archive_id: (status == JobState::Completed).then(|| "a1".to_owned()),
            error: None,
            error_code: None,
            version,
        }
    }

    fn archive_entry(id: &str, label: Option<&str>) -> ArchiveInfo {
        ArchiveInfo {
            id: id.into(),
            job_id: "j1".into(),
            name: "movie_disc".into(),
            filename: "j1.iso".into(),
            path: "/srv/corenas/archive/j1.iso".into(),
            size_bytes: 4 << 30,
            created_at: "2025-01-02T03:04:05Z".into(),
            checksums: Checksums { sha256: "0123456789abcdef".repeat(4), md5: None },
            bad_bytes: 0,
            source_device: "/dev/sr0".into(),
            source_model: None,
            source_serial: None,
            label: label.map(str::to_owned),
            tags: vec!["movies".into()],
            notes: String::new(),
            verifications: vec![Verification { time: "t".into(), result: "ok".into(), detail: "match".into() }],
        }
    }

    fn changed<T>(dry_run: bool, result: Option<T>) -> Change<T> {
        Change { dry_run, steps: vec![], result, generated_password: None, warnings: vec![] }
    }

    /// The imaging half of the fake corenasd: a canned answer for every imaging method of the
    /// `Corenas` trait. Jobs are `j1`; an id `missing` is not found.
    fn imaging_reply(req: &CorenasRequest) -> CorenasResponse {
        let not_found = || WireError::not_found("no job or archive entry 'missing'");
        let job_change = |id: &str, dry_run: bool, status| {
            if id == "missing" { Err(not_found()) } else { Ok(changed(dry_run, Some(job(id, status, 7)))) }
        };
        match req {
            CorenasRequest::ImageCreate { dry_run, .. } => {
                CorenasResponse::ImageCreate(Ok(changed(*dry_run, Some(job("j1", JobState::Queued, 1)))))
            }
            CorenasRequest::ImageList { query } => CorenasResponse::ImageList(Ok(JobList {
                jobs: vec![job("j1", JobState::Running, 2), job("j2", JobState::Queued, 1)],
                total: 3,
                limit: query.limit,
                offset: query.offset,
            })),
            CorenasRequest::ImageShow { id } if id == "missing" => CorenasResponse::ImageShow(Err(not_found())),
            CorenasRequest::ImageShow { id } => CorenasResponse::ImageShow(Ok(job(id, JobState::Running, 2))),
            CorenasRequest::ImageWait { id, after_version, .. } => {
                CorenasResponse::ImageWait(Ok(job(id, JobState::Completed, after_version + 1)))
            }
            CorenasRequest::ImagePause { id, dry_run } => {
                CorenasResponse::ImagePause(job_change(id, *dry_run, JobState::Paused))
            }
            CorenasRequest::ImageResume { id, dry_run } => {
                CorenasResponse::ImageResume(job_change(id, *dry_run, JobState::Queued))
            }
            CorenasRequest::ImageCancel { id, dry_run, .. } => {
                CorenasResponse::ImageCancel(job_change(id, *dry_run, JobState::Cancelled))
            }
            CorenasRequest::ImageRetry { id, dry_run } => {
                CorenasResponse::ImageRetry(job_change(id, *dry_run, JobState::Queued))
            }
            CorenasRequest::ImagePriority { id, dry_run, .. } => {
                CorenasResponse::ImagePriority(job_change(id, *dry_run, JobState::Queued))
            }
            CorenasRequest::ImagingPolicy { set, dry_run } => {
                let policy = match set {
                    None => ImagingPolicy { auto_start: false, watch: vec!["/dev/loop0".into()] },
                    Some((on, watch)) => {
                        ImagingPolicy { auto_start: *on, watch: watch.iter().map(|d| d.as_str().to_owned()).collect() }
                    }
                };
                CorenasResponse::ImagingPolicy(Ok(changed(*dry_run, Some(policy))))
            }
            CorenasRequest::ArchiveList { query } => CorenasResponse::ArchiveList(Ok(ArchiveList {
                archives: if query.offset == 0 {
                    vec![archive_entry("a1", Some("=cmd|' /C calc'!A0"))]
                } else {
                    vec![]
                },
                total: 1,
                limit: query.limit,
                offset: query.offset,
            })),
            CorenasRequest::ArchiveShow { id } if id == "missing" => CorenasResponse::ArchiveShow(Err(not_found())),
            CorenasRequest::ArchiveShow { id } => CorenasResponse::ArchiveShow(Ok(archive_entry(id, Some("DISC")))),
            CorenasRequest::ArchiveVerify { dry_run, .. } => {
                let mut verify = job("v1", JobState::Queued, 1);
                verify.kind = JobKind::Verify;
                CorenasResponse::ArchiveVerify(Ok(changed(*dry_run, (!dry_run).then_some(verify))))
            }
            CorenasRequest::ArchiveDelete { dry_run, .. } => {
                CorenasResponse::ArchiveDelete(Ok(changed(*dry_run, None)))
            }
            CorenasRequest::ArchiveEdit { id, edit, dry_run } => {
                let mut entry = archive_entry(id, None);
                entry.tags = edit.add_tags.iter().map(|t| t.as_str().to_owned()).collect();
                entry.notes = edit.notes.as_ref().map_or_else(String::new, |n| n.as_str().to_owned());
                CorenasResponse::ArchiveEdit(Ok(changed(*dry_run, Some(entry))))
            }
            CorenasRequest::DeviceList {} => CorenasResponse::DeviceList(Ok(vec![DeviceInfo {
                path: "/dev/sr0".into(),
                kind: "optical".into(),
                model: Some("DVD-RW".into()),
                serial: None,
                size_bytes: 4 << 30,
                removable: true,
                has_media: true,
                medium: Some(Medium {
                    format: "iso9660".into(),
                    label: Some("\u{202e}gpj.exe".into()),
                    size_bytes: 4 << 30,
                    fingerprint: "f".into(),
                }),
                in_use: vec!["mounted at /media/x".into(), "imaging".into()],
                job: Some("j1".into()),
            }])),
            CorenasRequest::DeviceEject { dry_run, .. } => CorenasResponse::DeviceEject(Ok(changed(*dry_run, None))),
            other => panic!("not an imaging request: {other:?}"),
        }
    }

    fn answered(r: Result<Report, CtlError>) -> (String, String, u8) {
        match r {
            Ok(Report::Answer { human, json, exit }) => (human, json, exit),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn image_create_sends_the_typed_request() {
        let (socket, seen) = fake_daemon("imagecreate", imaging_reply);
        let args = [
            "image",
            "create",
            "movie_disc",
            "--device",
            "/dev/sr0",
            "--retries",
            "3",
            "--verify",
            "--md5",
            "--priority",
            "high",
            "--keep-partial",
            "--eject",
            "--max-rate",
            "10485760",
        ];
        let (human, json, exit) = answered(ctl(&socket, &args));
        assert_eq!(exit, 0);
        assert!(human.contains("job j1: queued (normal priority, position 1 in the queue)"), "{human}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["result"]["id"], "j1");
        assert_eq!(json["result"]["status"], "queued");
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ImageCreate { req, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(req.name.as_str(), "movie_disc");
        assert_eq!(req.device.as_str(), "/dev/sr0");
        let o = &req.options;
        assert_eq!(o.retries.get(), 3);
        assert!(o.verify && o.md5 && o.keep_partial_on_cancel && o.eject);
        assert_eq!(o.priority, Priority::High);
        assert_eq!(o.max_rate, Some(10 << 20));
        drop(seen);
        let _ = std::fs::remove_file(&socket);

        // The defaults, and --dry-run.
        let (socket, seen) = fake_daemon("imagecreate2", imaging_reply);
        let (human, _, _) = answered(ctl(&socket, &["--dry-run", "image", "create", "d1", "--device", "/dev/loop3"]));
        assert!(human.starts_with("dry run: nothing changed"), "{human}");
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ImageCreate { req, dry_run: true }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(req.options.retries.get(), 1);
        assert_eq!(req.options.priority, Priority::Normal);
        assert!(!req.options.verify && !req.options.md5 && !req.options.keep_partial_on_cancel);
        assert_eq!(req.options.max_rate, None);
        drop(seen);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn hostile_imaging_values_are_refused_with_exit_2_before_connecting() {
        let socket = temp_socket("hostile");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let long_tag = "x".repeat(80);
        let sql = "name); DROP TABLE jobs;--";
        let create = |extra: &[&'static str]| {
            let mut v = vec!["image", "create", "movie", "--device", "/dev/sr0"];
            v.extend_from_slice(extra);
            v
        };
        let device = |d: &'static str| vec!["image", "create", "movie", "--device", d];
        for (args, field) in [
            (create(&["--retries", "-1"]), "retries"),
            (create(&["--retries=-1"]), "retries"),
            (create(&["--retries", "99999999999999999999"]), "retries"),
            (create(&["--retries", "6"]), "retries"),
            (create(&["--priority", "urgent"]), "priority"),
            (create(&["--max-rate", "-5"]), "max_rate"),
            (create(&["--max-rate", "0"]), "max_rate"),
            (vec!["image", "create", "--fill-mode=+", "--device", "/dev/sr0"], "name"),
            (vec!["image", "create", "../../etc/x", "--device", "/dev/sr0"], "name"),
            (device("/dev/fd/3"), "device"),
            (device("/proc/self/fd/0"), "device"),
            (device("/dev/mem"), "device"),
            (device("/dev/sdb --assume-clean"), "device"),
            (device("--verify"), "device"),
            (vec!["archive", "tag", "a1", "--add", long_tag.as_str()], "tag"),
            (vec!["archive", "tag", "a1", "--remove", "Movies"], "tag"),
            (vec!["archive", "tag", "a1", "--notes", "evil\u{202e}txt"], "notes"),
            (vec!["archive", "list", "--tag", long_tag.as_str()], "tag"),
            (vec!["archive", "list", "--search", "a\u{1b}[2J"], "search"),
            (vec!["archive", "list", "--sort", sql], "sort"),
            (vec!["image", "list", "--sort", sql], "sort"),
            (vec!["image", "list", "--status", "done"], "status"),
            (vec!["image", "show", "--fill-mode=+"], "id"),
            (vec!["image", "follow", "../../etc/passwd"], "id"),
            (vec!["image", "priority", "j1", "urgent"], "priority"),
            (vec!["image", "policy", "--auto-start", "on", "--watch", "/dev/fd/3"], "device"),
            (vec!["archive", "delete", "a1;rm", "--force"], "id"),
            (vec!["device", "eject", "/dev/mem"], "device"),
        ] {
            let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
            argv.extend_from_slice(&args);
            let err = Cli::try_parse_from(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = crate::cli::validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}");
        }
        for args in [
            &["image", "list", "--limit", "201"][..],
            &["image", "list", "--limit", "0"],
            &["archive", "list", "--offset", "-1"],
            &["image", "cancel", "j1", "--delete-partial", "--keep-partial"],
            &["image", "policy", "--watch", "/dev/loop0"],
            &["image", "policy", "--auto-start", "maybe"],
            &["archive", "tag", "a1"],
            &["archive", "export", "--format", "xlsx"],
        ] {
            let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
            argv.extend_from_slice(args);
            assert_eq!(Cli::try_parse_from(&argv).expect_err("accepted").exit_code(), 2, "{args:?}");
        }
        // Parsed, but refused before connecting: a real delete needs --force.
        let err = ctl(&socket, &["archive", "delete", "a1"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.wire().field.as_deref(), Some("force"));
        assert!(err.to_string().contains("--force"), "{err}");
        // Nobody knocked.
        assert_eq!(listener.accept().map(|_| ()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn archive_delete_is_sent_with_force_or_as_a_dry_run() {
        for (args, dry) in
            [(&["archive", "delete", "a1", "--force"][..], false), (&["--dry-run", "archive", "delete", "a1"], true)]
        {
            let (socket, seen) = fake_daemon(if dry { "deldry" } else { "delforce" }, imaging_reply);
            let (human, _, exit) = answered(ctl(&socket, args));
            assert_eq!(exit, 0);
            assert_eq!(human.starts_with("dry run"), dry, "{human}");
            let seen = seen.lock().unwrap();
            let [CorenasRequest::ArchiveDelete { id, dry_run }] = &seen[..] else { panic!("{seen:?}") };
            assert_eq!((id.as_str(), *dry_run), ("a1", dry));
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
    }

    #[test]
    fn cancel_policy_and_tag_map_to_their_requests() {
        type Expected = fn(&CorenasRequest) -> bool;
        let cases: [(&[&str], Expected); 7] = [
            (&["image", "cancel", "j1"], |r| matches!(r, CorenasRequest::ImageCancel { delete_partial: None, .. })),
            (&["image", "cancel", "j1", "--delete-partial"], |r| {
                matches!(r, CorenasRequest::ImageCancel { delete_partial: Some(true), .. })
            }),
            (&["image", "cancel", "j1", "--keep-partial"], |r| {
                matches!(r, CorenasRequest::ImageCancel { delete_partial: Some(false), .. })
            }),
            (&["image", "priority", "j1", "low"], |r| {
                matches!(r, CorenasRequest::ImagePriority { priority: Priority::Low, dry_run: false, .. })
            }),
            (&["image", "policy"], |r| matches!(r, CorenasRequest::ImagingPolicy { set: None, .. })),
            (&["image", "policy", "--auto-start", "on", "--watch", "/dev/loop0", "--watch", "/dev/loop1"], |r| {
                matches!(r, CorenasRequest::ImagingPolicy { set: Some((true, w)), .. }
                    if w.iter().map(|d| d.as_str()).collect::<Vec<_>>() == ["/dev/loop0", "/dev/loop1"])
            }),
            (&["archive", "tag", "a1", "--add", "movies", "--remove", "old", "--notes", "- shelf 3"], |r| {
                matches!(r, CorenasRequest::ArchiveEdit { id, edit, dry_run: false }
                    if id == "a1" && edit.add_tags.len() == 1 && edit.remove_tags[0].as_str() == "old"
                        && edit.notes.as_ref().map(|n| n.as_str()) == Some("- shelf 3"))
            }),
        ];
        for (i, (args, expected)) in cases.into_iter().enumerate() {
            let (socket, seen) = fake_daemon(&format!("map{i}"), imaging_reply);
            answered(ctl(&socket, args));
            let seen = seen.lock().unwrap();
            assert!(seen.len() == 1 && expected(&seen[0]), "{args:?}: {seen:?}");
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
    }

    #[test]
    fn every_imaging_command_answers_in_human_form_and_as_one_json_document() {
        let commands: [&[&str]; 17] = [
            &["image", "create", "d1", "--device", "/dev/disk/by-id/usb-Drive_1:0"],
            &["image", "list", "--status", "running", "--sort", "updated", "--limit", "2"],
            &["image", "show", "j1"],
            &["image", "follow", "j1"],
            &["image", "pause", "j1"],
            &["image", "resume", "j1"],
            &["image", "retry", "j1"],
            &["image", "cancel", "j1"],
            &["image", "priority", "j1", "high"],
            &["image", "policy"],
            &["image", "policy", "--auto-start", "off"],
            &["archive", "list", "--search", "movie", "--tag", "movies", "--sort", "size", "--desc"],
            &["archive", "show", "a1"],
            &["archive", "verify", "a1"],
            &["archive", "tag", "a1", "--notes", ""],
            &["device", "media"],
            &["device", "eject", "/dev/sr0"],
        ];
        for (i, args) in commands.into_iter().enumerate() {
            // A follow for people prints its progress lines to stdout as they come; not here.
            let modes: &[bool] = if args[1] == "follow" { &[true] } else { &[false, true] };
            for &json in modes {
                let (socket, _) = fake_daemon(&format!("all{i}{json}"), imaging_reply);
                let mut argv = vec!["--json"];
                argv.extend_from_slice(args);
                let (human, doc, exit) = answered(ctl(&socket, if json { &argv } else { args }));
                assert_eq!(exit, 0, "{args:?}");
                assert!(!human.is_empty(), "{args:?}");
                assert!(!human.contains('\u{1b}') && !human.contains('\u{202e}'), "{args:?}: {human}");
                let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert!(parsed.is_object() || parsed.is_array(), "{args:?}");
                assert!(!doc.contains('\n'), "{args:?}");
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    #[test]
    fn human_output_escapes_labels_and_shows_units() {
        let (socket, _) = fake_daemon("showjob", imaging_reply);
        let (human, _, _) = answered(ctl(&socket, &["image", "show", "j1"]));
        assert!(human.contains("medium label:   MOVIE\\u{1b}[2J\n"), "{human}");
        assert!(
            human.contains("rescued:        2.0 GiB\n") && human.contains("rate:           12.0 MiB/s\n"),
            "{human}"
        );
        assert!(human.contains("eta:            1:02:03\n") && human.contains("bad bytes:      0 B\n"), "{human}");
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("devlist", imaging_reply);
        let (human, _, _) = answered(ctl(&socket, &["device", "media"]));
        assert!(human.contains("\\u{202e}gpj.exe (iso9660, 4.0 GiB)"), "{human}");
        assert!(human.contains("mounted at /media/x; imaging"), "{human}");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn a_missing_job_is_exit_1_not_found() {
        let (socket, _) = fake_daemon("missingjob", imaging_reply);
        let err = ctl(&socket, &["image", "pause", "missing"]).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.wire().code, ErrorCode::NotFound);
        let _ = std::fs::remove_file(&socket);
    }

    /// A job that moves one step per `image_wait`, answering twice per version (the second time
    /// as if the wait timed out), through `states`; asking past the last state is a failure.
    fn stepping_daemon(name: &str, states: &'static [JobState]) -> (std::path::PathBuf, Seen) {
        fake_daemon(name, move |req| {
            let CorenasRequest::ImageWait { id, after_version, wait_ms } = req else { panic!("unexpected {req:?}") };
            assert_eq!(*wait_ms, 2000);
            // Versions 1, 1, 2, 2, 3, ...: each new version once, then the same one again.
            let asked = usize::try_from(*after_version).unwrap();
            let last = states.len();
            assert!(asked < last || (asked == last && !states[last - 1].is_terminal()), "asked after the end");
            let version = (asked + 1).min(last);
            CorenasResponse::ImageWait(Ok(job(id, states[version - 1], u64::try_from(version).unwrap())))
        })
    }

    #[test]
    fn follow_stops_at_a_terminal_state_and_exits_by_outcome() {
        use JobState::*;
        for (states, exit) in [
            (&[Queued, Running, Running, Hashing, Completed][..], 0),
            (&[Running, CompletedWithErrors][..], 1),
            (&[Running, Failed][..], 1),
            (&[Queued, Cancelled][..], 1),
            (&[Running, Paused][..], 1),
            (&[Completed][..], 0),
        ] {
            let states: &'static [JobState] = Box::leak(states.to_vec().into_boxed_slice());
            let name = format!("follow{}{exit}", states.len());
            let (socket, seen) = stepping_daemon(&name, states);
            let (human, doc, code) = answered(ctl(&socket, &["--json", "image", "follow", "j1"]));
            assert_eq!(code, exit, "{states:?}");
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
            let last = *states.last().unwrap();
            assert_eq!(doc["status"], last.as_str());
            assert_eq!(doc["version"], states.len());
            assert_eq!(seen.lock().unwrap().len(), states.len(), "{states:?}: one wait per version, none after");
            if last == Paused {
                assert!(human.contains("is paused; `corenas-ctl image resume j1`"), "{human}");
            }
            let _ = std::fs::remove_file(&socket);
        }
    }

    #[test]
    fn follow_prints_one_line_per_version() {
        // Versions 1, 1, 2, 2, 3: a wait that timed out answers the same version again, which
        // prints nothing. Three lines, not five.
        let calls = std::sync::atomic::AtomicU64::new(0);
        let (socket, seen) = fake_daemon("followlines", move |req| {
            let CorenasRequest::ImageWait { id, .. } = req else { panic!("unexpected {req:?}") };
            let version = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) / 2 + 1;
            assert!(version <= 3, "asked after the end");
            let status = if version == 3 { JobState::Completed } else { JobState::Running };
            CorenasResponse::ImageWait(Ok(job(id, status, version)))
        });
        let mut lines = Vec::new();
        let end = block_on(async {
            let d = Daemon::connect(&socket).await.unwrap();
            crate::imaging::follow(&d, "j1".into(), |j| lines.push(output::progress_line(j))).await
        })
        .unwrap();
        assert_eq!(end.status, JobState::Completed);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("25.0%  1.0 GiB / 4.0 GiB  12.0 MiB/s  ETA 1:02:03  copying  running"), "{lines:?}");
        assert!(lines[2].ends_with("completed\n"), "{lines:?}");
        assert_eq!(seen.lock().unwrap().len(), 5, "the repeated answers were asked for and skipped");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn archive_verify_wait_follows_the_new_job() {
        let (socket, seen) = fake_daemon("verifywait", imaging_reply);
        let (_, doc, exit) = answered(ctl(&socket, &["--json", "archive", "verify", "a1", "--wait"]));
        assert_eq!(exit, 0);
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["id"], "v1");
        assert_eq!(doc["status"], "completed");
        let seen = seen.lock().unwrap();
        assert!(
            matches!(&seen[..], [CorenasRequest::ArchiveVerify { dry_run: false, .. }, CorenasRequest::ImageWait { id, .. }] if id == "v1"),
            "{seen:?}"
        );
        drop(seen);
        let _ = std::fs::remove_file(&socket);

        // A dry run starts nothing and follows nothing.
        let (socket, seen) = fake_daemon("verifydry", imaging_reply);
        let (human, _, exit) = answered(ctl(&socket, &["--dry-run", "archive", "verify", "a1", "--wait"]));
        assert_eq!(exit, 0);
        assert!(human.starts_with("dry run"), "{human}");
        assert_eq!(seen.lock().unwrap().len(), 1);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn archive_export_pages_writes_csv_safely_and_never_overwrites() {
        let (socket, seen) = fake_daemon("archexport", |req| {
            let CorenasRequest::ArchiveList { query } = req else { panic!("unexpected {req:?}") };
            assert_eq!(query.limit, 200);
            assert!(query.search.is_none() && query.tag.is_none() && !query.descending);
            let all = [
                archive_entry("a1", Some("=cmd|' /C calc'!A0")),
                archive_entry("a2", Some("say \"hi\"\nline 2")),
                archive_entry("a3", None),
            ];
            // Pages of two, so the export has to move its offset.
            let start = usize::try_from(query.offset).unwrap().min(all.len());
            let archives = all[start..(start + 2).min(all.len())].to_vec();
            CorenasResponse::ArchiveList(Ok(ArchiveList { archives, total: 3, limit: 2, offset: query.offset }))
        });
        let out = std::env::temp_dir().join(format!("corenas-ctl-test-{}-archive.csv", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let (human, doc, _) = answered(ctl(
            &socket,
            &["--json", "archive", "export", "--format", "csv", "--output", out.to_str().unwrap()],
        ));
        assert!(human.starts_with("exported 3 archive entries as csv to "), "{human}");
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["exported"], 3);
        assert_eq!(doc["format"], "csv");
        let offsets: Vec<u32> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| match r {
                CorenasRequest::ArchiveList { query } => query.offset,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(offsets, [0, 2]);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("id,name,filename,size_bytes,created_at,sha256,md5,bad_bytes,"), "{text}");
        assert!(text.contains(",'=cmd|' /C calc'!A0,movies,\r\n"), "{text}");
        assert!(text.contains(",\"say \"\"hi\"\"\nline 2\",movies,\r\n"), "{text}");
        assert_eq!(text.matches("\r\n").count(), 4, "a header and three records");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

        let (socket2, _) = fake_daemon("archexport2", imaging_reply);
        let err = ctl(&socket2, &["archive", "export", "--output", out.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "the existing file is untouched");
        for f in [&socket, &socket2, &out] {
            let _ = std::fs::remove_file(f);
        }
    }

    // ---- shares and mounts ------------------------------------------------------------------

    fn share_info(name: &str) -> corenas_proto::shares::ShareInfo {
        use corenas_proto::shares::{AccessTemplate, NfsOptions, NfsRule, ShareDef, ShareInfo, SmbOptions};
        ShareInfo {
            def: ShareDef {
                name: name.parse().unwrap(),
                path: format!("/storage/{name}").parse().unwrap(),
                smb: Some(SmbOptions { read_only: true, recycle: true, ..SmbOptions::default() }),
                nfs: Some(NfsOptions {
                    rules: vec![NfsRule {
                        client: "10.0.0.0/8".parse().unwrap(),
                        read_only: false,
                        no_root_squash: true,
                    }],
                }),
            },
            access: Some(AccessTemplate::GroupReadWrite { group: "staff".parse().unwrap() }),
            created: "2026-01-02T03:04:05Z".into(),
            modified: "2026-01-02T03:04:05Z".into(),
        }
    }

    fn mount_info(def: corenas_proto::mounts::MountDef) -> corenas_proto::mounts::MountInfo {
        use corenas_proto::mounts::{MountInfo, UnitState};
        let unit = def.unit_name();
        MountInfo {
            unit_file: format!("/etc/systemd/system/{unit}"),
            unit: unit.clone(),
            state: Ok(UnitState {
                unit,
                load_state: "loaded".into(),
                active_state: "active".into(),
                sub_state: "mounted".into(),
                result: "success".into(),
            }),
            retries: 0,
            last_error: None,
            created: "2026-01-02T03:04:05Z".into(),
            def,
        }
    }

    fn a_mount() -> corenas_proto::mounts::MountDef {
        use corenas_proto::mounts::{MountDef, MountSource};
        MountDef {
            source: MountSource::Nfs {
                server: "nas.lan".parse().unwrap(),
                export: "/export/backup".parse().unwrap(),
                version: None,
            },
            target: "/mnt/corenas/backup".parse().unwrap(),
            flags: vec![],
            automount: false,
            temporary: false,
            timeout_secs: 30,
        }
    }

    fn write_step() -> Step {
        Step::WriteFile {
            path: "/etc/samba/corenas-shares.conf".into(),
            diff: "--- a\n+++ b\n+[media]\n+\tcomment = \u{1b}[2J\n".into(),
        }
    }

    /// The share and mount half of the fake corenasd. Share `missing` is not found; changes
    /// come with one file written and a warning.
    fn share_reply(req: &CorenasRequest) -> CorenasResponse {
        fn warned<T>(dry_run: bool, result: Option<T>) -> Change<T> {
            Change {
                dry_run,
                steps: vec![write_step()],
                result,
                generated_password: None,
                warnings: vec!["NFS client 10.0.0.0/8 of share media is not root-squashed".into()],
            }
        }
        match req {
            CorenasRequest::ShareCreate { req, dry_run } => {
                CorenasResponse::ShareCreate(Ok(warned(*dry_run, Some(share_info(req.name.as_str())))))
            }
            CorenasRequest::ShareModify { name, dry_run, .. } => {
                CorenasResponse::ShareModify(Ok(warned(*dry_run, Some(share_info(name.as_str())))))
            }
            CorenasRequest::ShareDelete { dry_run, .. } => CorenasResponse::ShareDelete(Ok(warned(*dry_run, None))),
            CorenasRequest::ShareList {} => {
                CorenasResponse::ShareList(Ok(vec![share_info("media"), share_info("backup")]))
            }
            CorenasRequest::ShareShow { name } if name.as_str() == "missing" => {
                CorenasResponse::ShareShow(Err(WireError::not_found("share missing does not exist")))
            }
            CorenasRequest::ShareShow { name } => CorenasResponse::ShareShow(Ok(share_info(name.as_str()))),
            CorenasRequest::ShareHomes { enabled, dry_run } => {
                CorenasResponse::ShareHomes(Ok(warned(*dry_run, Some(*enabled))))
            }
            CorenasRequest::ShareConfig {} => CorenasResponse::ShareConfig(Ok(corenas_proto::shares::ShareConfig {
                smb_file: "/etc/samba/corenas-shares.conf".into(),
                smb_text: "[media]\n\tpath = /storage/media\n".into(),
                nfs_file: "/etc/exports.d/corenas.exports".into(),
                nfs_text: String::new(),
                nfs_exported: Err("exportfs is not installed".into()),
            })),
            CorenasRequest::ShareApply { dry_run } => CorenasResponse::ShareApply(Ok(warned(*dry_run, None))),
            CorenasRequest::MountAdd { def, dry_run } => {
                CorenasResponse::MountAdd(Ok(warned(*dry_run, Some(mount_info(def.clone())))))
            }
            CorenasRequest::MountRemove { dry_run, .. } => CorenasResponse::MountRemove(Ok(warned(*dry_run, None))),
            CorenasRequest::MountList {} => {
                let mut failed = mount_info(a_mount());
                failed.state = Err("systemd did not answer: Connection refused, and more text after that".into());
                failed.retries = 3;
                CorenasResponse::MountList(Ok(vec![mount_info(a_mount()), failed]))
            }
            CorenasRequest::MountStatus { .. } => CorenasResponse::MountStatus(Ok(mount_info(a_mount()))),
            CorenasRequest::MountReload { dry_run } => {
                CorenasResponse::MountReload(Ok(warned(*dry_run, Some(vec![mount_info(a_mount())]))))
            }
            other => panic!("not a share or mount request: {other:?}"),
        }
    }

    #[test]
    fn share_create_sends_the_typed_request_and_prints_steps_and_warnings() {
        use corenas_proto::shares::{AccessTemplate, NfsRule, SmbOptions};
        let (socket, seen) = fake_daemon("sharecreate", share_reply);
        let args = [
            "share",
            "create",
            "media",
            "--smb",
            "--nfs",
            "--read-only",
            "--valid-group",
            "staff",
            "--nfs-client",
            "192.168.1.0/24",
            "--nfs-client",
            "backup.lan:ro",
            "--nfs-client",
            "10.0.0.5:ro:no_root_squash",
            "--public-read",
            "--writers",
            "staff",
        ];
        let (human, json, exit) = answered(ctl(&socket, &args));
        assert_eq!(exit, 0);
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ShareCreate { req, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(req.name.as_str(), "media");
        assert!(req.path.is_none() && !req.force);
        assert_eq!(
            req.smb,
            Some(SmbOptions { read_only: true, valid_groups: vec!["staff".parse().unwrap()], ..SmbOptions::default() })
        );
        let rule =
            |c: &str, read_only, no_root_squash| NfsRule { client: c.parse().unwrap(), read_only, no_root_squash };
        assert_eq!(
            req.nfs.as_ref().unwrap().rules,
            [rule("192.168.1.0/24", false, false), rule("backup.lan", true, false), rule("10.0.0.5", true, true)]
        );
        assert_eq!(req.access, Some(AccessTemplate::PublicRead { writers: Some("staff".parse().unwrap()) }));
        drop(seen);

        // The file step keeps its lines, indented under its first; the escape is shown, not sent.
        assert!(
            human.starts_with(
                "done; ran:\n  (in-process) write /etc/samba/corenas-shares.conf\n    --- a\n    +++ b\n    +[media]\n    \
                 +\tcomment = \\u{1b}[2J\n"
            ),
            "{human}"
        );
        assert!(!human.contains('\u{1b}'), "{human}");
        assert!(human.contains("name:       media\n") && human.contains("nfs clients:\n"), "{human}");
        assert!(human.ends_with("warning: NFS client 10.0.0.0/8 of share media is not root-squashed\n"), "{human}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["warnings"][0], "NFS client 10.0.0.0/8 of share media is not root-squashed");
        assert_eq!(json["result"]["def"]["name"], "media");
        assert_eq!(json["result"]["access"]["GroupReadWrite"]["group"], "staff");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn share_mod_reads_the_share_and_sends_only_the_changed_parts() {
        let (socket, seen) = fake_daemon("sharemod", share_reply);
        let (_, _, exit) = answered(ctl(&socket, &["--dry-run", "share", "mod", "media", "--writable", "--force"]));
        assert_eq!(exit, 0);
        let seen = seen.lock().unwrap();
        let [CorenasRequest::ShareShow { name }, CorenasRequest::ShareModify { name: modified, change, dry_run: true }] =
            &seen[..]
        else {
            panic!("{seen:?}")
        };
        assert_eq!((name.as_str(), modified.as_str()), ("media", "media"));
        let smb = change.smb.clone().flatten().expect("the SMB part is sent whole");
        assert!(!smb.read_only, "changed");
        assert!(smb.recycle, "kept from the current share");
        assert!(change.nfs.is_none() && change.access.is_none() && change.force);
        drop(seen);
        let _ = std::fs::remove_file(&socket);

        // An access template alone needs no read; `share acl` is the same request.
        for (i, args) in
            [&["share", "mod", "media", "--private", "alice"][..], &["share", "acl", "media", "--private", "alice"]]
                .into_iter()
                .enumerate()
        {
            let (socket, seen) = fake_daemon(&format!("shareacl{i}"), share_reply);
            answered(ctl(&socket, args));
            let seen = seen.lock().unwrap();
            let [CorenasRequest::ShareModify { change, .. }] = &seen[..] else { panic!("{args:?}: {seen:?}") };
            assert!(change.smb.is_none() && change.nfs.is_none() && !change.force);
            assert_eq!(
                change.access,
                Some(corenas_proto::shares::AccessTemplate::Private { user: "alice".parse().unwrap() })
            );
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }

        // A share that does not exist stops at the read.
        let (socket, seen) = fake_daemon("sharemodmissing", share_reply);
        let err = ctl(&socket, &["share", "mod", "missing", "--guest"]).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::NotFound);
        assert_eq!(seen.lock().unwrap().len(), 1);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn mount_add_sends_the_definition() {
        use corenas_proto::mounts::{MountFlag, MountSource, NfsVersion};
        let (socket, seen) = fake_daemon("mountadd", share_reply);
        let args = [
            "mount",
            "add",
            "--target",
            "/mnt/corenas/backup",
            "--type",
            "nfs",
            "--source",
            "[fd00::10]:/export/backup",
            "--nfs-version",
            "4.2",
            "--option",
            "noatime",
            "--option",
            "ro",
            "--automount",
            "--timeout",
            "90",
        ];
        let (human, json, _) = answered(ctl(&socket, &args));
        let seen = seen.lock().unwrap();
        let [CorenasRequest::MountAdd { def, dry_run: false }] = &seen[..] else { panic!("{seen:?}") };
        assert_eq!(
            def.source,
            MountSource::Nfs {
                server: "fd00::10".parse().unwrap(),
                export: "/export/backup".parse().unwrap(),
                version: Some(NfsVersion::V42)
            }
        );
        assert_eq!(def.target.as_str(), "/mnt/corenas/backup");
        assert_eq!(def.flags, [MountFlag::NoAtime, MountFlag::ReadOnly]);
        assert!(def.automount && !def.temporary && def.timeout_secs == 90);
        drop(seen);
        assert!(human.contains("source:       [fd00::10]:/export/backup\n"), "{human}");
        assert!(human.contains("nfs version:  4.2\n") && human.contains("state:        active/mounted\n"), "{human}");
        assert!(human.contains("\nwarning: "), "{human}");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["result"]["def"]["source"]["Nfs"]["version"], "V42");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn hostile_share_and_mount_values_are_refused_before_connecting() {
        let socket = temp_socket("hostileshare");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let add = |extra: &[&'static str]| {
            let mut v = vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "h:/x"];
            v.extend_from_slice(extra);
            v
        };
        // Refused by clap: the proto type (or the CLI's own parser) names the field.
        for (args, field) in [
            (vec!["share", "create", "Media", "--smb"], "name"),
            (vec!["share", "create", "homes", "--smb"], "name"),
            (vec!["share", "create", "a%u", "--smb"], "name"),
            (vec!["share", "create", "-x", "--smb"], "name"),
            (vec!["share", "show", "[global]"], "name"),
            (vec!["share", "del", "../etc"], "name"),
            (vec!["share", "create", "m", "--smb", "--path", "/etc"], "path"),
            (vec!["share", "create", "m", "--smb", "--path", "/storage/a b"], "path"),
            (vec!["share", "create", "m", "--smb", "--path", "/storage/%U"], "path"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "*"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "x(rw,no_root_squash)"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "10.0.0.0/33"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h1 h2"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h:rw:ro"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "h:insecure"], "client"),
            (vec!["share", "create", "m", "--nfs", "--nfs-client", "[fd00::1:ro"], "client"),
            (vec!["share", "create", "m", "--smb", "--valid-user", "Bob"], "user"),
            (vec!["share", "create", "m", "--smb", "--valid-group", "@staff"], "group"),
            (vec!["share", "create", "m", "--smb", "--admin-user", "root;x"], "user"),
            (vec!["share", "create", "m", "--smb", "--previous-versions", "lvm"], "previous_versions"),
            (vec!["share", "create", "m", "--smb", "--create-mask", "0999"], "create_mask"),
            (vec!["share", "create", "m", "--smb", "--directory-mask", "17777"], "directory_mask"),
            (vec!["share", "acl", "m", "--private", "%U"], "user"),
            (vec!["share", "acl", "m", "--group-rw", "x\ny"], "group"),
            (vec!["mount", "remove", "/mnt/other"], "target"),
            (vec!["mount", "status", "/mnt/corenas/../../etc"], "target"),
            (vec!["mount", "add", "--target", "/etc", "--type", "bind", "--source", "/storage/x"], "target"),
            (vec!["mount", "add", "--target", "/mnt/corenas/.x", "--type", "bind", "--source", "/storage/x"], "target"),
            (add(&["--option", "exec"]), "options"),
            (add(&["--option", "ro,exec"]), "options"),
            (add(&["--timeout", "0"]), "timeout"),
            (add(&["--timeout", "-5"]), "timeout"),
            (add(&["--timeout", "99999"]), "timeout"),
            (add(&["--nfs-version", "4.3"]), "nfs_version"),
            (add(&["--user", "-oremount"]), "remote_user"),
            (vec!["mount", "add", "--target", "/mnt/corenas/x", "--type", "zfs", "--source", "/dev/sdb"], "type"),
        ] {
            let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
            argv.extend_from_slice(&args);
            let err = Cli::try_parse_from(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = crate::cli::validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
            assert_eq!(v.field, field, "{args:?}");
        }
        // Parsed, but refused by corenas-ctl before connecting.
        for (args, field) in [
            (&["share", "create", "m"][..], "protocol"),
            (&["share", "create", "m", "--nfs"], "client"),
            (&["share", "create", "m", "--nfs", "--guest", "--nfs-client", "h"], "protocol"),
            (&["share", "mod", "m"], "change"),
            (&["share", "mod", "m", "--force"], "change"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "ext4", "--source", "/dev/mem"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "nfs", "--source", "//h/s"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "cifs", "--source", "h:/x"], "source"),
            (&["mount", "add", "--target", "/mnt/corenas/x", "--type", "bind", "--source", "/home/x"], "source"),
            (
                &["mount", "add", "--target", "/mnt/corenas/x", "--type", "cifs", "--source", "//h/s", "--user", "u"],
                "password",
            ),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.wire().field.as_deref(), Some(field), "{args:?}: {err}");
        }
        // Nobody knocked.
        assert_eq!(listener.accept().map(|_| ()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn every_share_and_mount_command_answers_in_human_form_and_as_one_json_document() {
        let commands: [&[&str]; 15] = [
            &["share", "create", "media", "--smb"],
            &["share", "mod", "media", "--no-nfs"],
            &["share", "acl", "media", "--group-rw", "staff"],
            &["share", "del", "media"],
            &["share", "list"],
            &["share", "show", "media"],
            &["share", "homes", "on"],
            &["share", "config"],
            &["share", "apply"],
            &["mount", "add", "--target", "/storage/media", "--type", "bind", "--source", "/mnt/corenas/p/media"],
            &["mount", "add", "--target", "/mnt/corenas/win", "--type", "cifs", "--source", "//fs/public"],
            &["mount", "remove", "/mnt/corenas/backup"],
            &["mount", "list"],
            &["mount", "status", "/mnt/corenas/backup"],
            &["mount", "reload"],
        ];
        for (i, args) in commands.into_iter().enumerate() {
            for json in [false, true] {
                let (socket, seen) = fake_daemon(&format!("shareall{i}{json}"), share_reply);
                let mut argv = vec!["--json"];
                argv.extend_from_slice(args);
                let (human, doc, exit) = answered(ctl(&socket, if json { &argv } else { args }));
                assert_eq!(exit, 0, "{args:?}");
                assert!(!human.is_empty(), "{args:?}");
                assert!(!human.contains('\u{1b}'), "{args:?}: {human}");
                let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert!(parsed.is_object() || parsed.is_array(), "{args:?}");
                assert!(!doc.contains('\n'), "{args:?}");
                assert!(!seen.lock().unwrap().is_empty(), "{args:?}");
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    #[test]
    fn share_and_mount_listings_read_like_tables() {
        let (socket, _) = fake_daemon("sharelist", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["share", "list"]));
        assert_eq!(
            human,
            "NAME    PATH             PROTOCOLS  FLAGS                      ACCESS\n\
             media   /storage/media   smb,nfs    ro,recycle,no_root_squash  read-write for group staff\n\
             backup  /storage/backup  smb,nfs    ro,recycle,no_root_squash  read-write for group staff\n"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("mountlist", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["mount", "list"]));
        let lines: Vec<&str> = human.lines().collect();
        assert_eq!(
            lines[0],
            "TARGET               TYPE  SOURCE                  UNIT                      STATE                                      RETRIES"
        );
        assert_eq!(
            lines[1],
            "/mnt/corenas/backup  nfs   nas.lan:/export/backup  mnt-corenas-backup.mount  active/mounted                             0"
        );
        assert_eq!(
            lines[2],
            "/mnt/corenas/backup  nfs   nas.lan:/export/backup  mnt-corenas-backup.mount  systemd did not answer: Connection refus…  3"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("shareconfig", share_reply);
        let (human, _, _) = answered(ctl(&socket, &["share", "config"]));
        assert_eq!(
            human,
            "SMB include file: /etc/samba/corenas-shares.conf\n  [media]\n  \tpath = /storage/media\n\
             NFS exports file: /etc/exports.d/corenas.exports\n  (empty)\n\
             NFS exported now: unknown (exportfs is not installed)\n"
        );
        let _ = std::fs::remove_file(&socket);
    }

    // ---- storage and devices -------------------------------------------------------------

    fn storage_job(id: &str, kind: &str, state: &str, version: u64) -> corenas_proto::storage::StorageJob {
        corenas_proto::storage::StorageJob {
            id: id.into(),
            kind: kind.into(),
            target: "tank".into(),
            state: state.into(),
            percent: Some(25.0 * version as f64),
            message: (state == "failed").then(|| "read error on sdb\u{1b}[2J".to_owned()),
            started: "2026-11-24T12:00:00Z".into(),
            finished: (state != "running").then(|| "2026-11-24T13:00:00Z".to_owned()),
            version,
        }
    }

    fn inventory_disk(name: &str, serial: Option<&str>) -> corenas_proto::devices::DeviceInfo {
        use corenas_proto::devices::{DeviceInfo, DeviceKind, DeviceUse, PartitionInfo};
        DeviceInfo {
            name: name.into(),
            path: format!("/dev/{name}"),
            by_id: vec![],
            model: Some("WDC\u{1b}[2J WD40EFRX".into()),
            serial: serial.map(str::to_owned),
            vendor: None,
            size_bytes: 4 << 40,
            logical_sector: 512,
            physical_sector: 4096,
            rotational: true,
            transport: Some("sata".into()),
            removable: false,
            read_only: false,
            kind: DeviceKind::Disk,
            backing_file: None,
            partitions: vec![PartitionInfo {
                name: format!("{name}1"),
                path: format!("/dev/{name}1"),
                size_bytes: 4 << 40,
                number: 1,
                fs_type: Some("ext4".into()),
                fs_label: Some("\u{202e}gpj.exe".into()),
                fs_uuid: None,
                uses: vec![DeviceUse::Mounted { at: "/srv/old".into() }],
            }],
            fs_type: None,
            fs_label: None,
            fs_uuid: None,
            uses: vec![],
        }
    }

    fn smart_report() -> corenas_proto::devices::SmartReport {
        corenas_proto::devices::SmartReport {
            device: "/dev/sdb".into(),
            available: true,
            message: None,
            protocol: Some("ATA".into()),
            collected_at: Some(1_795_000_000),
            health_passed: Some(true),
            model: Some("WDC WD40EFRX".into()),
            serial: Some("WD-1".into()),
            firmware: None,
            capacity_bytes: Some(4 << 40),
            temperature_c: Some(34),
            power_on_hours: Some(12_000),
            reallocated_sectors: Some(8),
            pending_sectors: Some(0),
            offline_uncorrectable: None,
            nvme_critical_warning: None,
            nvme_percentage_used: None,
            nvme_media_errors: None,
            self_test: None,
            self_test_log: vec![corenas_proto::devices::SelfTestEntry {
                kind: "Short offline".into(),
                status: "Completed without error".into(),
                passed: true,
                lifetime_hours: Some(11_990),
            }],
            smartctl_exit_bits: 0,
            exit_problems: vec![],
        }
    }

    fn pool_info(name: &str) -> corenas_proto::storage::PoolInfo {
        use corenas_proto::storage::{Backend, PoolInfo, PoolLayout, PoolMember, ScrubStatus, ZfsLayout};
        PoolInfo {
            name: name.into(),
            backend: Backend::Zfs,
            layout: Some(PoolLayout::Zfs { layout: ZfsLayout::Mirror, ashift: None, properties: vec![] }),
            health: "degraded".into(),
            size_bytes: Some(4 << 40),
            used_bytes: Some(1 << 40),
            free_bytes: Some(3 << 40),
            mountpoint: format!("/mnt/corenas/{name}"),
            mounted: true,
            members: vec![
                PoolMember { device: "sdb".into(), state: "ONLINE".into(), errors: Some([0, 0, 0]) },
                PoolMember { device: "sdc".into(), state: "FAULTED".into(), errors: Some([3, 1, 7]) },
            ],
            scrub: Some(ScrubStatus {
                running: false,
                percent: None,
                summary: Some("scrub repaired 0B".into()),
                errors: Some(0),
            }),
            notes: vec!["errors: No known data errors".into()],
            created: Some("2026-11-24T12:00:00Z".into()),
        }
    }

    fn dataset_info(name: &str) -> corenas_proto::storage::DatasetInfo {
        corenas_proto::storage::DatasetInfo {
            name: name.into(),
            used_bytes: Some(1 << 30),
            available_bytes: Some(3 << 40),
            referenced_bytes: Some(1 << 30),
            mountpoint: format!("/mnt/corenas/{name}"),
            properties: vec![("compression".into(), "lz4".into())],
        }
    }

    /// The storage half of the fake corenasd. Jobs step through versions: `show` answers version 1
    /// (running), each wait one version more, the third is done (`fail` ends failed instead).
    fn storage_reply(req: &CorenasRequest) -> CorenasResponse {
        use corenas_proto::storage::{Retention, ScheduleInfo, SnapshotInfo};
        let step = || Step::Exec {
            program: "/usr/sbin/zpool".into(),
            args: vec!["create".into(), "--".into(), "tank".into()],
            stdin: StdinPlan::Nothing,
        };
        let ran = |dry_run: bool| Change {
            dry_run,
            steps: vec![step()],
            result: Some(()),
            generated_password: None,
            warnings: vec![],
        };
        let job_change = |dry_run: bool, kind: &str| Change {
            dry_run,
            steps: vec![step()],
            result: (!dry_run).then(|| storage_job("s-1", kind, "running", 1)),
            generated_password: None,
            warnings: vec![],
        };
        match req {
            CorenasRequest::DeviceInventory {} => {
                // sdb has a mounted partition; loop3 is free but holds a partition table.
                let mut free = inventory_disk("loop3", None);
                free.kind = corenas_proto::devices::DeviceKind::Loop;
                free.partitions[0].uses.clear();
                CorenasResponse::DeviceInventory(Ok(vec![inventory_disk("sdb", Some("WD-1")), free]))
            }
            CorenasRequest::DeviceShow { device } => {
                CorenasResponse::DeviceShow(Ok(if device.as_str() == "/dev/loop3" {
                    inventory_disk("loop3", None)
                } else {
                    inventory_disk("sdb", Some("WD-1"))
                }))
            }
            CorenasRequest::DeviceSmart { .. } => CorenasResponse::DeviceSmart(Ok(smart_report())),
            CorenasRequest::DeviceSmartHistory { .. } => {
                CorenasResponse::DeviceSmartHistory(Ok(vec![smart_report(), smart_report()]))
            }
            CorenasRequest::DeviceSelftest { dry_run, .. } => {
                CorenasResponse::DeviceSelftest(Ok(job_change(*dry_run, "selftest")))
            }
            CorenasRequest::DeviceWipe { dry_run, .. } => CorenasResponse::DeviceWipe(Ok(job_change(*dry_run, "wipe"))),
            CorenasRequest::PoolCreate { spec, dry_run } => CorenasResponse::PoolCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: (!dry_run).then(|| pool_info(spec.name.as_str())),
                generated_password: None,
                warnings: vec!["this layout has no redundancy: one failed disk loses the pool".into()],
            })),
            CorenasRequest::PoolList {} => CorenasResponse::PoolList(Ok(vec![pool_info("tank"), pool_info("backup")])),
            CorenasRequest::PoolShow { name } => CorenasResponse::PoolShow(Ok(pool_info(name.as_str()))),
            CorenasRequest::PoolDestroy { dry_run, .. } => CorenasResponse::PoolDestroy(Ok(ran(*dry_run))),
            CorenasRequest::PoolScrub { dry_run, .. } => CorenasResponse::PoolScrub(Ok(job_change(*dry_run, "scrub"))),
            CorenasRequest::PoolScrubStop { dry_run, .. } => CorenasResponse::PoolScrubStop(Ok(ran(*dry_run))),
            CorenasRequest::DatasetCreate { spec, dry_run } => CorenasResponse::DatasetCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(dataset_info(spec.name.as_str())),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::DatasetList { pool } => {
                CorenasResponse::DatasetList(Ok(vec![dataset_info(&format!("{pool}/media"))]))
            }
            CorenasRequest::DatasetSet { name, dry_run, .. } => CorenasResponse::DatasetSet(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(dataset_info(name.as_str())),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::DatasetDestroy { dry_run, .. } => CorenasResponse::DatasetDestroy(Ok(ran(*dry_run))),
            CorenasRequest::SnapshotCreate { dataset, dry_run, .. } => CorenasResponse::SnapshotCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(SnapshotInfo {
                    dataset: dataset.to_string(),
                    name: "auto-2026-11-24_12-00".into(),
                    created: Some(1_795_000_000),
                    used_bytes: Some(0),
                }),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::SnapshotList { dataset } => CorenasResponse::SnapshotList(Ok(vec![SnapshotInfo {
                dataset: dataset.to_string(),
                name: "before-upgrade".into(),
                created: None,
                used_bytes: None,
            }])),
            CorenasRequest::SnapshotDestroy { dry_run, .. } => CorenasResponse::SnapshotDestroy(Ok(ran(*dry_run))),
            CorenasRequest::SnapshotRollback { dry_run, .. } => CorenasResponse::SnapshotRollback(Ok(ran(*dry_run))),
            CorenasRequest::ScheduleSet { dataset, keep, dry_run } => CorenasResponse::ScheduleSet(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(ScheduleInfo {
                    dataset: dataset.to_string(),
                    keep: *keep,
                    last_run: None,
                    last_result: None,
                }),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::ScheduleList {} => CorenasResponse::ScheduleList(Ok(vec![ScheduleInfo {
                dataset: "tank/media".into(),
                keep: Retention { hourly: 24, daily: 7, weekly: 4, monthly: 0 },
                last_run: Some("2026-11-24T12:00:00Z".into()),
                last_result: Some("ok".into()),
            }])),
            CorenasRequest::ScheduleRun { dry_run } => CorenasResponse::ScheduleRun(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(vec!["tank/media@auto-2026-11-24_12-00 taken".into()]),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::StorageJobList {} => {
                CorenasResponse::StorageJobList(Ok(vec![storage_job("s-1", "scrub", "running", 1)]))
            }
            CorenasRequest::StorageJobShow { id } => {
                CorenasResponse::StorageJobShow(Ok(storage_job(id, "scrub", "running", 1)))
            }
            CorenasRequest::StorageJobWait { id, after_version, wait_ms } => {
                assert_eq!(*wait_ms, 5000);
                let version = after_version + 1;
                let state = match (version, id.as_str()) {
                    (3, "fail") => "failed",
                    (3, _) => "done",
                    _ => "running",
                };
                CorenasResponse::StorageJobWait(Ok(storage_job(id, "scrub", state, version)))
            }
            CorenasRequest::StorageJobCancel { id, dry_run } => CorenasResponse::StorageJobCancel(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(storage_job(id, "scrub", "cancelled", 2)),
                generated_password: None,
                warnings: vec![],
            })),
            other => panic!("not a storage request: {other:?}"),
        }
    }

    #[test]
    fn every_storage_and_device_command_answers_in_human_form_and_as_one_json_document() {
        let commands: [&[&str]; 28] = [
            &["device", "list"],
            &["device", "show", "/dev/sdb"],
            &["device", "smart", "/dev/sdb"],
            &["device", "smart", "/dev/sdb", "--history", "--limit", "5"],
            &["device", "selftest", "/dev/sdb", "--long"],
            &["device", "wipe", "/dev/sdb", "--method", "quick", "--force"],
            &[
                "storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--device", "/dev/sdc",
                "--layout", "mirror",
            ],
            &["storage", "list"],
            &["storage", "show", "tank"],
            &["storage", "destroy", "tank", "--force"],
            &["storage", "scrub", "tank"],
            &["storage", "scrub", "tank", "--stop"],
            &["storage", "dataset", "create", "tank/media", "--property", "compression=lz4"],
            &["storage", "dataset", "list", "tank"],
            &["storage", "dataset", "set", "tank/media", "atime=off", "quota=10G"],
            &["storage", "dataset", "destroy", "tank/media", "--recursive", "--force"],
            &["storage", "snapshot", "create", "tank/media"],
            &["storage", "snapshot", "list", "tank/media"],
            &["storage", "snapshot", "destroy", "tank/media", "before-upgrade"],
            &["storage", "snapshot", "rollback", "tank/media", "before-upgrade", "--force"],
            &["storage", "snapshot", "schedule", "tank/media", "--daily", "7"],
            &["storage", "snapshot", "schedules"],
            &["storage", "snapshot", "run-schedules"],
            &["storage", "job", "list"],
            &["storage", "job", "show", "s-1"],
            &["storage", "job", "wait", "s-1"],
            &["storage", "job", "cancel", "s-1"],
            &["device", "eject", "/dev/sr0"],
        ];
        for (i, args) in commands.into_iter().enumerate() {
            // A wait for people prints its progress lines to stdout as they come; not here.
            let modes: &[bool] = if args.contains(&"wait") { &[true] } else { &[false, true] };
            for &json in modes {
                let reply = if args[1] == "eject" { imaging_reply } else { storage_reply };
                let (socket, seen) = fake_daemon(&format!("storageall{i}{json}"), reply);
                let mut argv = vec!["--json"];
                argv.extend_from_slice(args);
                let (human, doc, exit) = answered(ctl(&socket, if json { &argv } else { args }));
                assert_eq!(exit, 0, "{args:?}");
                assert!(!human.is_empty(), "{args:?}");
                assert!(!human.contains('\u{1b}') && !human.contains('\u{202e}'), "{args:?}: {human}");
                let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert!(parsed.is_object() || parsed.is_array(), "{args:?}");
                assert!(!doc.contains('\n'), "{args:?}");
                assert!(!seen.lock().unwrap().is_empty(), "{args:?}");
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    #[test]
    fn wipe_reads_the_device_and_confirms_with_its_serial() {
        for (device, confirm) in [("/dev/sdb", "WD-1"), ("/dev/loop3", "loop3")] {
            let (socket, seen) = fake_daemon(&format!("wipe{confirm}"), storage_reply);
            let (human, _, exit) =
                answered(ctl(&socket, &["device", "wipe", device, "--method", "zero", "--samples", "8", "--force"]));
            assert_eq!(exit, 0);
            assert!(human.starts_with(&format!("device {device}: WDC\\u{{1b}}[2J WD40EFRX")), "{human}");
            assert!(human.contains("job s-1: wipe of tank, running"), "{human}");
            let seen = seen.lock().unwrap();
            let [CorenasRequest::DeviceShow { .. }, CorenasRequest::DeviceWipe { req, dry_run: false }] = &seen[..]
            else {
                panic!("{seen:?}")
            };
            assert_eq!(
                (req.device.as_str(), req.method, req.confirm.as_str(), req.samples),
                (device, corenas_proto::storage::WipeMethod::Zero, confirm, 8)
            );
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
        // A dry run needs no --force and changes nothing.
        let (socket, seen) = fake_daemon("wipedry", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["--dry-run", "device", "wipe", "/dev/sdb", "--method", "secure"]));
        assert!(human.contains("dry run: nothing changed"), "{human}");
        assert!(
            matches!(&seen.lock().unwrap()[..], [_, CorenasRequest::DeviceWipe { dry_run: true, req }] if req.samples == 64)
        );
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn destructive_storage_commands_need_force_and_are_refused_before_connecting() {
        let socket = temp_socket("storageforce");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        for (args, says) in [
            (&["device", "wipe", "/dev/sdb", "--method", "quick"][..], "device wipe destroys all data on /dev/sdb"),
            (&["storage", "destroy", "tank"], "removes pool tank"),
            (&["storage", "dataset", "destroy", "tank/media"], "removes tank/media"),
            (&["storage", "dataset", "destroy", "tank/media", "--recursive"], "the datasets beneath it"),
            (&["storage", "snapshot", "rollback", "tank/media", "s1"], "later snapshot is destroyed"),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.wire().field.as_deref(), Some("force"), "{args:?}");
            let text = err.to_string();
            assert!(text.contains(says) && text.contains("add --force"), "{args:?}: {text}");
        }
        for (args, field) in [
            (&["storage", "create", "tank", "--type", "lvm", "--device", "/dev/sdb"][..], "type"),
            (&["storage", "create", "tank", "--type", "mdadm", "--device", "/dev/sdb", "--device", "/dev/sdc"], "type"),
            (&["storage", "wizard", "--type", "lvm"], "type"),
            (&["storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--fs", "xfs"], "fs"),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!((err.exit_code(), err.wire().field.as_deref()), (2, Some(field)), "{args:?}: {err}");
        }
        // Nobody knocked.
        assert_eq!(listener.accept().map(|_| ()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn storage_requests_carry_what_was_asked() {
        use corenas_proto::storage::{PoolLayout, Retention, ZfsLayout};
        type Expected = fn(&[CorenasRequest]) -> bool;
        let cases: [(&[&str], Expected); 8] = [
            (&["storage", "destroy", "tank", "--force"], |r| {
                matches!(r, [CorenasRequest::PoolDestroy { name, confirm, dry_run: false }]
                    if name.as_str() == "tank" && confirm == "tank")
            }),
            (&["--dry-run", "storage", "destroy", "tank"], |r| {
                matches!(r, [CorenasRequest::PoolDestroy { dry_run: true, .. }])
            }),
            (
                &[
                    "storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--device", "/dev/sdc",
                    "--layout", "mirror",
                ],
                |r| {
                    matches!(r, [CorenasRequest::PoolCreate { spec, dry_run: false }]
                    if spec.layout == PoolLayout::Zfs { layout: ZfsLayout::Mirror, ashift: None, properties: vec![] }
                        && spec.devices.len() == 2 && !spec.force)
                },
            ),
            (&["storage", "snapshot", "schedule", "tank/media", "--hourly", "24", "--monthly", "3"], |r| {
                matches!(r, [CorenasRequest::ScheduleSet { keep, .. }]
                    if *keep == Retention { hourly: 24, daily: 0, weekly: 0, monthly: 3 })
            }),
            (
                &["storage", "snapshot", "create", "tank/media", "--name", "before-upgrade"],
                |r| matches!(r, [CorenasRequest::SnapshotCreate { name: Some(n), .. }] if n.as_str() == "before-upgrade"),
            ),
            (&["storage", "dataset", "destroy", "tank/media", "--recursive", "--force"], |r| {
                matches!(r, [CorenasRequest::DatasetDestroy { recursive: true, dry_run: false, .. }])
            }),
            (&["storage", "scrub", "tank", "--stop"], |r| matches!(r, [CorenasRequest::PoolScrubStop { .. }])),
            (&["device", "smart", "/dev/sdb", "--history"], |r| {
                matches!(r, [CorenasRequest::DeviceSmartHistory { limit: 20, .. }])
            }),
        ];
        for (i, (args, expected)) in cases.into_iter().enumerate() {
            let (socket, seen) = fake_daemon(&format!("storagemap{i}"), storage_reply);
            answered(ctl(&socket, args));
            let seen = seen.lock().unwrap();
            assert!(expected(&seen), "{args:?}: {seen:?}");
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
    }

    #[test]
    fn a_storage_job_is_followed_until_it_ends_and_exits_by_outcome() {
        for (id, exit, state) in [("s-1", 0, "done"), ("fail", 1, "failed")] {
            let (socket, seen) = fake_daemon(&format!("jobwait{id}"), storage_reply);
            let (human, doc, code) = answered(ctl(&socket, &["--json", "storage", "job", "wait", id]));
            assert_eq!(code, exit, "{id}");
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
            assert_eq!((doc["state"].as_str(), doc["version"].as_u64()), (Some(state), Some(3)));
            assert!(human.starts_with(&format!("job {id} (scrub of tank) {state}\n")), "{human}");
            if state == "failed" {
                assert!(human.contains("message: read error on sdb\\u{1b}[2J"), "{human}");
            }
            let seen = seen.lock().unwrap();
            let versions: Vec<u64> = seen
                .iter()
                .filter_map(|r| match r {
                    CorenasRequest::StorageJobWait { after_version, .. } => Some(*after_version),
                    _ => None,
                })
                .collect();
            assert!(matches!(seen[0], CorenasRequest::StorageJobShow { .. }), "{seen:?}");
            assert_eq!(versions, [1, 2], "one wait per version, none after the end");
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
        // --wait on a started job follows it the same way; a dry run follows nothing.
        let (socket, seen) = fake_daemon("scrubwait", storage_reply);
        let (_, doc, code) = answered(ctl(&socket, &["--json", "storage", "scrub", "tank", "--wait"]));
        assert_eq!(code, 0);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&doc).unwrap()["state"], "done");
        assert_eq!(seen.lock().unwrap().len(), 4, "scrub, show, two waits");
        let _ = std::fs::remove_file(&socket);
        let (socket, seen) = fake_daemon("scrubwaitdry", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["--dry-run", "storage", "scrub", "tank", "--wait"]));
        assert!(human.starts_with("dry run"), "{human}");
        assert_eq!(seen.lock().unwrap().len(), 1);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn storage_listings_read_like_tables() {
        let (socket, _) = fake_daemon("poollist", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["storage", "list"]));
        assert_eq!(
            human,
            "NAME    TYPE  HEALTH    SIZE     USED     FREE     MOUNTPOINT\n\
             tank    zfs   degraded  4.0 TiB  1.0 TiB  3.0 TiB  /mnt/corenas/tank\n\
             backup  zfs   degraded  4.0 TiB  1.0 TiB  3.0 TiB  /mnt/corenas/backup\n"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("poolshow", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["storage", "show", "tank"]));
        assert!(human.contains("layout:      mirror\n") && human.contains("health:      degraded\n"), "{human}");
        assert!(human.contains("scrub:       scrub repaired 0B; 0 errors\n"), "{human}");
        assert!(human.contains("members:\n  DEVICE  STATE    READ  WRITE  CKSUM\n"), "{human}");
        assert!(human.contains("  sdc     FAULTED  3     1      7\n"), "{human}");
        assert!(human.ends_with("notes:\n  errors: No known data errors\n"), "{human}");
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("devlist2", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["device", "list"]));
        let lines: Vec<&str> = human.lines().collect();
        assert_eq!(
            lines[0],
            "NAME      SIZE     MODEL                  SERIAL  TYPE  TRANSPORT  FS                      USES"
        );
        assert_eq!(
            lines[1],
            "sdb       4.0 TiB  WDC\\u{1b}[2J WD40EFRX  WD-1    HDD   sata       -                       -"
        );
        assert_eq!(
            lines[2],
            "  sdb1    4.0 TiB                                                  ext4 (\\u{202e}gpj.exe)  mounted at /srv/old"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("smart", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["device", "smart", "/dev/sdb"]));
        assert!(human.contains("health:                 passed; needs attention\n"), "{human}");
        assert!(
            human.contains("reallocated sectors:    8\n") && human.contains("temperature:            34 °C\n"),
            "{human}"
        );
        assert!(human.contains("collected:              2026-11-18 11:06 UTC\n"), "{human}");
        let _ = std::fs::remove_file(&socket);
    }

    fn wizard_with(
        name: &str,
        save_template: Option<std::path::PathBuf>,
        dry_run: bool,
        answers: &[&str],
    ) -> (Result<Report, CtlError>, String, Vec<CorenasRequest>) {
        let (socket, seen) = fake_daemon(name, storage_reply);
        let args =
            crate::cli::WizardArgs { kind: Some(corenas_proto::storage::Backend::Zfs), save_template, force: false };
        let mut lines = answers.iter().map(|a| (*a).to_owned());
        let mut out = String::new();
        let r = block_on(async {
            let d = Daemon::connect(&socket).await?;
            storage::wizard_session(&d, &args, dry_run, &mut lines, &mut out).await
        });
        let _ = std::fs::remove_file(&socket);
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        (r, out, seen)
    }

    #[test]
    fn the_wizard_shows_corenasds_plan_and_creates_only_on_yes() {
        // Free device: loop3 (sdb has a mounted partition). One device: stripe, lz4, a name.
        let (r, out, seen) = wizard_with("wizyes", None, false, &["1", "", "", "tank", "y", "y"]);
        let (human, _, exit) = answered(r);
        assert_eq!(exit, 0);
        assert!(out.contains("-  sdb ") && out.contains("1  loop3 "), "{out}");
        assert!(
            out.contains("warning: loop3 has 1 partition (ext4 \"\\u{202e}gpj.exe\"); creating the pool erases it"),
            "{out}"
        );
        assert!(out.contains("dry run: nothing changed; would run:\n  /usr/sbin/zpool create -- tank\n"), "{out}");
        assert!(out.ends_with("Create? [y/N] "), "{out}");
        assert!(human.starts_with("done; ran:") && human.contains("name:        tank\n"), "{human}");
        let [
            CorenasRequest::DeviceInventory {},
            CorenasRequest::PoolCreate { dry_run: true, spec: planned },
            CorenasRequest::PoolCreate { dry_run: false, spec },
        ] = &seen[..]
        else {
            panic!("{seen:?}")
        };
        assert_eq!(planned, spec);
        assert_eq!((spec.name.as_str(), spec.devices[0].as_str(), spec.force), ("tank", "/dev/loop3", true));

        // No: nothing is created, exit 1, the plan is the JSON.
        let (r, _, seen) = wizard_with("wizno", None, false, &["1", "", "", "tank", "y", ""]);
        let (human, json, exit) = answered(r);
        assert_eq!((human.as_str(), exit), ("not created: nothing was changed\n", 1));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["dry_run"], true);
        assert_eq!(seen.len(), 2, "{seen:?}");

        // --dry-run: the plan, and no last question.
        let (r, out, seen) = wizard_with("wizdry", None, true, &["1", "", "", "tank", "y"]);
        assert_eq!(answered(r).2, 0);
        assert!(!out.contains("Create?"), "{out}");
        assert_eq!(seen.len(), 2, "{seen:?}");

        // --save-template: saved instead of created.
        let path = std::env::temp_dir().join(format!("corenas-ctl-test-{}-wizard.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (r, out, seen) = wizard_with("wizsave", Some(path.clone()), false, &["1", "", "", "tank", "y", "yes"]);
        let (human, json, _) = answered(r);
        assert!(out.ends_with(&format!("Save the template {}? [y/N] ", path.display())), "{out}");
        assert!(human.starts_with("saved the template"), "{human}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["saved"], true);
        assert_eq!(seen.len(), 2, "{seen:?}");
        let saved = storage::load_template(&path).unwrap();
        assert!(saved.name.as_str() == "tank" && !saved.force, "{saved:?}");
        let _ = std::fs::remove_file(&path);
    }
}
