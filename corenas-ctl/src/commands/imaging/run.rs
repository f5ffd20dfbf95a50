//! Runs `image` and `archive`. `image follow` and `archive verify --wait` follow the job;
//! `archive export` pages through the whole archive.

use crate::client::{Daemon, call};
use crate::commands::imaging::args::ExportFormat;
use crate::commands::imaging::args::{ArchiveCommand, ImageCommand};
use crate::commands::imaging::csv::write_export;
use crate::commands::imaging::show::archive_block;
use crate::commands::imaging::show::archives_table;
use crate::commands::imaging::show::follow_end;
use crate::commands::imaging::show::{job_block, job_line, jobs_table, policy_block, progress_line};
use crate::error::{CtlError, EXIT_FAILED};
use crate::export::create_export_file;
use crate::export::finish_export_file;
use crate::follow::{follow_imaging_job, progress_printer};
use crate::report::nothing;
use crate::report::print_stdout;
use crate::report::{Report, imaging_change_report, to_json};
use crate::values::{ByteRate, OnOff};
use corenas_proto::ErrorCode;
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, ArchiveSort, ImageCreate, JobInfo, JobOptions, JobQuery,
    JobState, LIST_MAX,
};
use serde_json::json;
use std::io::{self};
use std::path::Path;

pub async fn image(cmd: ImageCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    let (change, action) = match cmd {
        ImageCommand::Create(a) => {
            let action = format!("queue a job imaging {}", a.device);
            let req = ImageCreate {
                name: a.name,
                device: a.device,
                options: JobOptions {
                    retries: a.retries,
                    verify: a.verify,
                    md5: a.md5,
                    priority: a.priority,
                    keep_partial_on_cancel: a.keep_partial,
                    eject: a.eject,
                    max_rate: a.max_rate.map(ByteRate::get),
                },
            };
            (call!(d, image_create(req, dry_run))?, action)
        }
        ImageCommand::List { status, sort, page } => {
            let query = JobQuery { status, sort, limit: page.limit, offset: page.offset };
            let list = call!(d, image_list(query))?;
            return Ok(Report::ok(jobs_table(&list), to_json(&list)?));
        }
        ImageCommand::Show { id } => {
            let job = call!(d, image_show(id.into()))?;
            return Ok(Report::ok(job_block(&job), to_json(&job)?));
        }
        ImageCommand::Follow { id } => {
            let job = follow_imaging_job(&d, id.into(), progress_printer(json, progress_line)).await?;
            return follow_report(&job);
        }
        ImageCommand::Pause { id } => {
            let action = format!("pause job {id}");
            (call!(d, image_pause(id.into(), dry_run))?, action)
        }
        ImageCommand::Resume { id } => {
            let action = format!("resume job {id}");
            (call!(d, image_resume(id.into(), dry_run))?, action)
        }
        ImageCommand::Retry { id } => {
            let action = format!("queue job {id} for another pass over its bad areas");
            (call!(d, image_retry(id.into(), dry_run))?, action)
        }
        ImageCommand::Cancel { id, delete_partial, keep_partial } => {
            let delete = super::args::delete_partial(delete_partial, keep_partial);
            let action = match delete {
                Some(true) => format!("cancel job {id} and delete its partial image"),
                Some(false) => format!("cancel job {id} and keep its partial image"),
                None => format!("cancel job {id}"),
            };
            (call!(d, image_cancel(id.into(), delete, dry_run))?, action)
        }
        ImageCommand::Priority { id, priority } => {
            let action = format!("give job {id} {} priority", priority.as_str());
            (call!(d, image_priority(id.into(), priority, dry_run))?, action)
        }
        ImageCommand::Policy { auto_start: None, .. } => {
            // Without a change this is a read: the answer is the policy itself.
            let change = call!(d, imaging_policy(None, dry_run))?;
            let policy = change
                .result
                .ok_or_else(|| CtlError::failed(ErrorCode::Protocol, "corenasd answered without the imaging policy"))?;
            return Ok(Report::ok(policy_block(&policy), to_json(&policy)?));
        }
        ImageCommand::Policy { auto_start: Some(state), watch } => {
            let on = state == OnOff::On;
            let action = format!(
                "turn auto-start {} and watch {}",
                if on { "on" } else { "off" },
                if watch.is_empty() {
                    "optical drives only".to_owned()
                } else {
                    watch.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
                }
            );
            let change = call!(d, imaging_policy(Some((on, watch)), dry_run))?;
            return imaging_change_report(&change, &action, policy_block);
        }
    };
    imaging_change_report(&change, &action, job_line)
}

pub async fn archive(cmd: ArchiveCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    // Refused before connecting: a real delete needs --force; a dry run shows what would happen.
    if let ArchiveCommand::Delete { force: false, id } = &cmd {
        if !dry_run {
            return Err(CtlError::usage(
                "force",
                format!(
                    "archive delete removes entry {id} and its image file for good: add --force to delete it \
                     (or --dry-run to see what would happen)"
                ),
            ));
        }
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        ArchiveCommand::List { search, tag, sort, desc, page } => {
            let query = ArchiveQuery { search, tag, sort, descending: desc, limit: page.limit, offset: page.offset };
            let list = call!(d, archive_list(query))?;
            Ok(Report::ok(archives_table(&list), to_json(&list)?))
        }
        ArchiveCommand::Show { id } => {
            let entry = call!(d, archive_show(id.into()))?;
            Ok(Report::ok(archive_block(&entry), to_json(&entry)?))
        }
        ArchiveCommand::Verify { id, wait } => {
            let action = format!("start a job verifying archive entry {id}");
            let change = call!(d, archive_verify(id.into(), dry_run))?;
            let started = imaging_change_report(&change, &action, job_line)?;
            // A dry run started nothing, so there is nothing to follow.
            if !wait || change.dry_run {
                return Ok(started);
            }
            let job =
                change.result.ok_or_else(|| CtlError::failed(ErrorCode::Protocol, "corenasd started no verify job"))?;
            if let (false, Report::Answer { human, .. }) = (json, &started) {
                print_stdout(human);
            }
            let end = follow_imaging_job(&d, job.id, progress_printer(json, progress_line)).await?;
            follow_report(&end)
        }
        ArchiveCommand::Delete { id, .. } => {
            let action = format!("delete archive entry {id} and its image");
            let change = call!(d, archive_delete(id.into(), dry_run))?;
            imaging_change_report(&change, &action, nothing)
        }
        ArchiveCommand::Tag { id, add, remove, notes } => {
            let action = format!("edit archive entry {id}");
            let edit = ArchiveEdit { add_tags: add, remove_tags: remove, notes };
            let change = call!(d, archive_edit(id.into(), edit, dry_run))?;
            imaging_change_report(&change, &action, archive_block)
        }
        ArchiveCommand::Export { format, output: None } => {
            let entries = fetch_archive(async |offset| call!(d, archive_list(page(offset)))).await?;
            let mut stdout = io::stdout().lock();
            write_export(format, &entries, &mut stdout)?;
            Ok(Report::Written)
        }
        ArchiveCommand::Export { format, output: Some(path) } => {
            let mut out = create_export_file(&path)?;
            let written = match fetch_archive(async |offset| call!(d, archive_list(page(offset)))).await {
                Ok(entries) => write_export(format, &entries, &mut out).map(|()| entries.len()),
                Err(e) => Err(e),
            };
            let exported = finish_export_file(out, written, &path)?;
            let format = match format {
                ExportFormat::Json => "json",
                ExportFormat::Csv => "csv",
            };
            let human = format!("exported {exported} archive entries as {format} to {}\n", path.display());
            let json = json!({ "exported": exported, "format": format, "output": path.to_string_lossy() });
            Ok(Report::ok(human, json.to_string()))
        }
    }
}

/// The end of a follow: exit 0 only when the job completed.
pub(crate) fn follow_report(job: &JobInfo) -> Result<Report, CtlError> {
    let exit = if job.status == JobState::Completed { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human: follow_end(job), json: to_json(job)?, exit })
}

/// One page of the export: oldest first, so entries added meanwhile land after the pages read.
pub(crate) fn page(offset: u32) -> ArchiveQuery {
    ArchiveQuery { search: None, tag: None, sort: ArchiveSort::Created, descending: false, limit: LIST_MAX, offset }
}

/// Every archive entry, page by page, until an empty page or `total` entries.
pub(crate) async fn fetch_archive(
    mut page_at: impl AsyncFnMut(u32) -> Result<ArchiveList, CtlError>,
) -> Result<Vec<ArchiveInfo>, CtlError> {
    let mut entries = Vec::new();
    let mut offset: u32 = 0;
    loop {
        let page = page_at(offset).await?;
        if page.archives.is_empty() {
            break;
        }
        let advance = u32::try_from(page.archives.len()).ok().and_then(|n| offset.checked_add(n));
        entries.extend(page.archives);
        if entries.len() as u64 >= page.total {
            break;
        }
        offset = advance.ok_or_else(|| {
            CtlError::failed(ErrorCode::Protocol, "corenasd returned more archive entries than can be paged")
        })?;
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use crate::testing::archive_entry;
    use crate::testing::archive_info;
    use crate::testing::imaging_reply;
    use crate::testing::job;
    use crate::testing::try_parse;

    use super::*;

    use corenas_proto::api::{CorenasRequest, CorenasResponse};

    use corenas_proto::imaging::{ArchiveInfo, ArchiveList, JobState, Priority};

    use crate::client::Daemon;

    use crate::commands::imaging::show::progress_line;
    use crate::follow::follow_imaging_job;
    use crate::testing::{Seen, answered, block_on, ctl, fake_daemon, temp_socket};

    use crate::values::validation_error;

    // ---- imaging -------------------------------------------------------------------------
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
            let err = try_parse(&argv).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
            let v = validation_error(&err).unwrap_or_else(|| panic!("{args:?}: {err}"));
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
            assert_eq!(try_parse(&argv).expect_err("accepted").exit_code(), 2, "{args:?}");
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
            follow_imaging_job(&d, "j1".into(), |j| lines.push(progress_line(j))).await
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

    #[test]
    fn fetching_the_archive_pages_until_the_total() {
        let all: Vec<ArchiveInfo> = (0..450).map(|i| archive_info(&format!("a{i}"), None)).collect();
        let mut asked = Vec::new();
        let got = block_on(fetch_archive(async |offset| {
            asked.push(offset);
            let start = usize::try_from(offset).unwrap().min(all.len());
            let end = (start + 200).min(all.len());
            Ok(ArchiveList { archives: all[start..end].to_vec(), total: 450, limit: 200, offset })
        }))
        .unwrap();
        assert_eq!(asked, [0, 200, 400]);
        assert_eq!(got.len(), 450);
        assert_eq!(got[449].id, "a449");
    }

    #[test]
    fn fetching_the_archive_stops_at_an_empty_page() {
        let mut calls = 0;
        let got = block_on(fetch_archive(async |offset| {
            calls += 1;
            // A total that claims more than there is must not loop forever.
            let archives = if offset == 0 { vec![archive_info("a", None), archive_info("b", None)] } else { vec![] };
            Ok(ArchiveList { archives, total: 99, limit: 200, offset })
        }))
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(calls, 2);
    }
}
