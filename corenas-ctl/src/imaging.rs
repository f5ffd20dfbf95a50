//! The imaging commands: jobs (`image`), the archive (`archive`) and block devices (`device`).
//! Requests are built from values clap already parsed into their proto types; the answers are
//! rendered by `output`. `image follow` and `archive verify --wait` long-poll corenasd
//! (`image_wait`) until the job ends; `archive export` pages through the whole archive.

use crate::cli::{self, ArchiveCommand, ByteRate, DeviceCommand, ExportFormat, ImageCommand, OnOff};
use crate::client::{Daemon, call};
use crate::commands::{create_export_file, finish_export_file};
use crate::error::{CtlError, EXIT_FAILED};
use crate::output::{self, Report};
use corenas_proto::ErrorCode;
use corenas_proto::imaging::{
    ArchiveEdit, ArchiveInfo, ArchiveList, ArchiveQuery, ArchiveSort, ImageCreate, JobInfo, JobOptions, JobQuery,
    JobState, LIST_MAX,
};
use serde_json::json;
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

/// How long one `image_wait` may wait for a change before corenasd answers with the job as is.
const WAIT_MS: u32 = 2000;

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
            return Ok(Report::ok(output::jobs_table(&list), output::to_json(&list)?));
        }
        ImageCommand::Show { id } => {
            let job = call!(d, image_show(id.into()))?;
            return Ok(Report::ok(output::job_block(&job), output::to_json(&job)?));
        }
        ImageCommand::Follow { id } => {
            let job = follow(&d, id.into(), output::progress_printer(json, output::progress_line)).await?;
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
            let delete = cli::delete_partial(delete_partial, keep_partial);
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
            return Ok(Report::ok(output::policy_block(&policy), output::to_json(&policy)?));
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
            return output::imaging_change_report(&change, &action, output::policy_block);
        }
    };
    output::imaging_change_report(&change, &action, output::job_line)
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
            Ok(Report::ok(output::archives_table(&list), output::to_json(&list)?))
        }
        ArchiveCommand::Show { id } => {
            let entry = call!(d, archive_show(id.into()))?;
            Ok(Report::ok(output::archive_block(&entry), output::to_json(&entry)?))
        }
        ArchiveCommand::Verify { id, wait } => {
            let action = format!("start a job verifying archive entry {id}");
            let change = call!(d, archive_verify(id.into(), dry_run))?;
            let started = output::imaging_change_report(&change, &action, output::job_line)?;
            // A dry run started nothing, so there is nothing to follow.
            if !wait || change.dry_run {
                return Ok(started);
            }
            let job =
                change.result.ok_or_else(|| CtlError::failed(ErrorCode::Protocol, "corenasd started no verify job"))?;
            if let (false, Report::Answer { human, .. }) = (json, &started) {
                output::print_stdout(human);
            }
            let end = follow(&d, job.id, output::progress_printer(json, output::progress_line)).await?;
            follow_report(&end)
        }
        ArchiveCommand::Delete { id, .. } => {
            let action = format!("delete archive entry {id} and its image");
            let change = call!(d, archive_delete(id.into(), dry_run))?;
            output::imaging_change_report(&change, &action, output::nothing)
        }
        ArchiveCommand::Tag { id, add, remove, notes } => {
            let action = format!("edit archive entry {id}");
            let edit = ArchiveEdit { add_tags: add, remove_tags: remove, notes };
            let change = call!(d, archive_edit(id.into(), edit, dry_run))?;
            output::imaging_change_report(&change, &action, output::archive_block)
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

pub async fn device(cmd: DeviceCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        DeviceCommand::List => {
            let devices = call!(d, device_list())?;
            Ok(Report::ok(output::devices_table(&devices), output::to_json(&devices)?))
        }
        DeviceCommand::Eject { device } => {
            let action = format!("eject {device}");
            let change = call!(d, device_eject(device, dry_run))?;
            output::imaging_change_report(&change, &action, output::nothing)
        }
    }
}

/// Long-polls the job until it ends (a terminal state) or is paused, calling `on_change` once per
/// new version, the first answer included. Returns the job as it was last seen.
pub(crate) async fn follow(d: &Daemon, id: String, mut on_change: impl FnMut(&JobInfo)) -> Result<JobInfo, CtlError> {
    let mut seen = None;
    loop {
        let job = call!(d, image_wait(id.clone(), seen.unwrap_or(0), WAIT_MS))?;
        if seen != Some(job.version) {
            on_change(&job);
            seen = Some(job.version);
        }
        if job.status.is_terminal() || job.status == JobState::Paused {
            return Ok(job);
        }
    }
}

/// The end of a follow: exit 0 only when the job completed.
fn follow_report(job: &JobInfo) -> Result<Report, CtlError> {
    let exit = if job.status == JobState::Completed { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human: output::follow_end(job), json: output::to_json(job)?, exit })
}

/// One page of the export: oldest first, so entries added meanwhile land after the pages read.
fn page(offset: u32) -> ArchiveQuery {
    ArchiveQuery { search: None, tag: None, sort: ArchiveSort::Created, descending: false, limit: LIST_MAX, offset }
}

/// Every archive entry, page by page, until an empty page or `total` entries.
async fn fetch_archive(
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

fn write_export(format: ExportFormat, entries: &[ArchiveInfo], out: &mut impl Write) -> Result<(), CtlError> {
    let write_err = |e: io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}"));
    match format {
        ExportFormat::Json => {
            serde_json::to_writer(&mut *out, entries)
                .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")))?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        ExportFormat::Csv => {
            out.write_all(csv_row(CSV_HEADER.iter().map(|h| Cow::Borrowed(*h))).as_bytes()).map_err(write_err)?;
            for a in entries {
                out.write_all(csv_row(csv_cells(a)).as_bytes()).map_err(write_err)?;
            }
        }
    }
    out.flush().map_err(write_err)
}

const CSV_HEADER: [&str; 14] = [
    "id",
    "name",
    "filename",
    "size_bytes",
    "created_at",
    "sha256",
    "md5",
    "bad_bytes",
    "source_device",
    "source_model",
    "source_serial",
    "label",
    "tags",
    "notes",
];

fn csv_cells(a: &ArchiveInfo) -> [Cow<'_, str>; 14] {
    fn opt(v: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(v.as_deref().unwrap_or(""))
    }
    [
        Cow::Borrowed(a.id.as_str()),
        Cow::Borrowed(a.name.as_str()),
        Cow::Borrowed(a.filename.as_str()),
        Cow::Owned(a.size_bytes.to_string()),
        Cow::Borrowed(a.created_at.as_str()),
        Cow::Borrowed(a.checksums.sha256.as_str()),
        opt(&a.checksums.md5),
        Cow::Owned(a.bad_bytes.to_string()),
        Cow::Borrowed(a.source_device.as_str()),
        opt(&a.source_model),
        opt(&a.source_serial),
        opt(&a.label),
        Cow::Owned(a.tags.join(";")),
        Cow::Borrowed(a.notes.as_str()),
    ]
}

/// One CSV record (RFC 4180: comma-separated, CRLF-terminated).
fn csv_row<'a>(cells: impl IntoIterator<Item = Cow<'a, str>>) -> String {
    let mut row = cells.into_iter().map(|c| csv_cell(&c).into_owned()).collect::<Vec<_>>().join(",");
    row.push_str("\r\n");
    row
}

/// One cell: a value a spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, tab or
/// CR) gets a leading apostrophe; a cell with a comma, quote or line break is quoted, its quotes
/// doubled (RFC 4180).
fn csv_cell(value: &str) -> Cow<'_, str> {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::imaging::{Checksums, Verification};

    fn entry(id: &str, label: Option<&str>) -> ArchiveInfo {
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

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("=1+1,2"), "\"'=1+1,2\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(lead).starts_with(['\'', '"']), "{lead:?}");
        }
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn csv_export_has_the_documented_header_and_escapes_untrusted_text() {
        let mut a = entry("a1", Some("=cmd|' /C calc'!A0"));
        a.checksums.md5 = Some("0123".into());
        a.notes = "-5 discs, @home".into();
        let b = entry("b2", Some("The \"Best\" Of\nDisc 2"));
        let mut out = Vec::new();
        write_export(ExportFormat::Csv, &[a, b], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let records: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(records.len(), 3, "{text}");
        assert_eq!(
            records[0],
            "id,name,filename,size_bytes,created_at,sha256,md5,bad_bytes,source_device,source_model,source_serial,\
             label,tags,notes"
        );
        let sha = "ab".repeat(32);
        assert_eq!(
            records[1],
            format!(
                "a1,movie_disc,job-a1.iso,4700000000,2025-01-02T03:04:05Z,{sha},0123,0,/dev/sr0,\"DVD-RW, USB\",,\
                 '=cmd|' /C calc'!A0,movies;2025,\"'-5 discs, @home\""
            )
        );
        // The line break inside the quoted label is data, not the end of the record.
        assert!(records[2].ends_with(",\"The \"\"Best\"\" Of\nDisc 2\",movies;2025,"), "{}", records[2]);
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn json_export_is_one_array() {
        let mut out = Vec::new();
        write_export(ExportFormat::Json, &[entry("a1", None), entry("b2", Some("X"))], &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2));
        assert_eq!(v[1]["label"], "X");
        assert_eq!(v[0]["checksums"]["sha256"], "ab".repeat(32));
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn fetching_the_archive_pages_until_the_total() {
        let all: Vec<ArchiveInfo> = (0..450).map(|i| entry(&format!("a{i}"), None)).collect();
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
            let archives = if offset == 0 { vec![entry("a", None), entry("b", None)] } else { vec![] };
            Ok(ArchiveList { archives, total: 99, limit: 200, offset })
        }))
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(calls, 2);
    }
}
