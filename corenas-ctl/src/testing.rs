//! Test scaffolding shared by every group's tests: a corenasd stand-in that speaks the real
//! handshake and frames ([`fake_daemon`]), a temporary socket, and [`ctl`], which runs a
//! command line through the real parser and dispatcher.
//!
//! Compiled for tests only. It is the one module below the groups that may call the dispatcher,
//! because what the tests pin is the command line end to end.

use crate::commands::{Cli, execute};
use crate::error::CtlError;
use crate::report::Report;
use clap::{CommandFactory, Parser};
use corenas_proto::WireError;
use corenas_proto::api::{Change, CorenasRequest, CorenasResponse, UserInfo};
use corenas_proto::devices::DeviceKind;
use corenas_proto::helper::{SmbAccountState, StdinPlan, Step};
use corenas_proto::imaging::{
    ArchiveInfo, ArchiveList, Checksums, DeviceInfo, ImagingPolicy, JobInfo, JobKind, JobList, JobOptions, JobState,
    Medium, Phase, Priority, Progress, Verification,
};
use corenas_proto::names::AccountKind;
use corenas_proto::names::DevicePath;
use corenas_proto::wire::{self, Service};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tarpc::tokio_serde::{Deserializer as _, Serializer as _};
use tarpc::tokio_util::bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) type Seen = Arc<Mutex<Vec<CorenasRequest>>>;

/// A corenasd stand-in that speaks the real handshake and frames for one connection,
/// answers every request with `reply`, and records the requests it received.
pub(crate) fn fake_daemon(
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

pub(crate) fn ctl(socket: &Path, args: &[&str]) -> Result<Report, CtlError> {
    let mut argv = vec!["corenas-ctl", "--socket", socket.to_str().unwrap()];
    argv.extend_from_slice(args);
    execute(Cli::try_parse_from(argv).unwrap())
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

pub(crate) fn temp_socket(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corenas-ctl-test-{}-{name}.sock", std::process::id()))
}

pub(crate) fn answered(r: Result<Report, CtlError>) -> (String, String, u8) {
    match r {
        Ok(Report::Answer { human, json, exit }) => (human, json, exit),
        other => panic!("expected an answer, got {other:?}"),
    }
}

pub(crate) fn changed<T>(dry_run: bool, result: Option<T>) -> Change<T> {
    Change { dry_run, steps: vec![], result, generated_password: None, warnings: vec![] }
}

/// A command line through the real parser, for tests that expect clap to refuse it.
pub(crate) fn try_parse<I, T>(argv: I) -> Result<(), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(argv).map(drop)
}

/// A group's arguments, parsed through the real command line (so clap sees every global flag
/// and every rule) and taken from the group's level of the tree.
pub(crate) fn parse<T: clap::FromArgMatches>(args: &[&str]) -> T {
    let mut argv = vec!["corenas-ctl"];
    argv.extend_from_slice(args);
    let matches = Cli::command().try_get_matches_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let (_, group) = matches.subcommand().unwrap_or_else(|| panic!("{args:?}: no command"));
    T::from_arg_matches(group).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The whole command tree, for tests of what is generated from it (completions, the manual).
pub(crate) fn command_tree() -> clap::Command {
    Cli::command()
}

pub(crate) fn step() -> Step {
    Step::Exec {
        program: "/usr/sbin/useradd".into(),
        args: vec!["--uid".into(), "50001".into(), "alice".into()],
        stdin: StdinPlan::Nothing,
    }
}

pub(crate) fn user(name: &str, groups: &[&str], full_name: &str) -> UserInfo {
    UserInfo {
        name: name.into(),
        uid: 50001,
        gid: 50001,
        kind: Some(AccountKind::ShareUser),
        full_name: full_name.into(),
        home: format!("/home/{name}"),
        shell: "/usr/sbin/nologin".into(),
        locked: false,
        smb: SmbAccountState::Enabled,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    }
}

pub(crate) fn disk(name: &str, gib: u64, rotational: bool) -> corenas_proto::devices::DeviceInfo {
    corenas_proto::devices::DeviceInfo {
        name: name.into(),
        path: format!("/dev/{name}"),
        by_id: vec![format!("/dev/disk/by-id/ata-Disk_{name}")],
        model: Some(format!("Disk {name}")),
        serial: Some(format!("SN-{name}")),
        vendor: None,
        size_bytes: gib << 30,
        logical_sector: 512,
        physical_sector: 4096,
        rotational,
        transport: Some("sata".into()),
        removable: false,
        read_only: false,
        kind: DeviceKind::Disk,
        backing_file: None,
        partitions: vec![],
        fs_type: None,
        fs_label: None,
        fs_uuid: None,
        uses: vec![],
    }
}

pub(crate) fn dev(s: &str) -> DevicePath {
    s.parse().unwrap()
}

pub(crate) fn archive_info(id: &str, label: Option<&str>) -> ArchiveInfo {
    ArchiveInfo {
        id: id.into(),
        job_id: format!("job-{id}"),
        name: "movie_disc".into(),
        filename: format!("job-{id}.iso"),
        path: format!("/srv/corenas/archive/job-{id}.iso"),
        size_bytes: 4_700_000_000,
        created_at: "2025-01-02T03:04:05Z".into(),
        checksums: Checksums { sha256: "ab".repeat(32), md5: None },
        bad_bytes: 0,
        source_device: "/dev/sr0".into(),
        source_model: Some("DVD-RW, USB".into()),
        source_serial: None,
        label: label.map(str::to_owned),
        tags: vec!["movies".into(), "2025".into()],
        notes: String::new(),
        verifications: vec![Verification { time: "t".into(), result: "ok".into(), detail: String::new() }],
    }
}

pub(crate) fn usage_field<T: std::fmt::Debug>(r: Result<T, CtlError>) -> String {
    match r {
        Err(CtlError::Usage(e)) => e.field.unwrap_or_default(),
        other => panic!("expected a usage error, got {other:?}"),
    }
}

pub(crate) fn job(id: &str, status: JobState, version: u64) -> JobInfo {
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

pub(crate) fn archive_entry(id: &str, label: Option<&str>) -> ArchiveInfo {
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

/// The imaging half of the fake corenasd: a canned answer for every imaging method of the
/// `Corenas` trait. Jobs are `j1`; an id `missing` is not found.
pub(crate) fn imaging_reply(req: &CorenasRequest) -> CorenasResponse {
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
            archives: if query.offset == 0 { vec![archive_entry("a1", Some("=cmd|' /C calc'!A0"))] } else { vec![] },
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
        CorenasRequest::ArchiveDelete { dry_run, .. } => CorenasResponse::ArchiveDelete(Ok(changed(*dry_run, None))),
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

pub(crate) fn usage_field_and_message<T: std::fmt::Debug>(r: Result<T, CtlError>) -> (String, String) {
    match r {
        Err(CtlError::Usage(e)) => (e.field.unwrap_or_default(), e.message),
        other => panic!("expected a usage error, got {other:?}"),
    }
}
