//! How imaging jobs, archive entries and the imaging policy read.

use crate::text::{
    Table, eta, key_values, list_or_dash, local_rfc3339, or_dash, percent, printable, rate, size, size_exact, yes_no,
};
use corenas_proto::imaging::{
    ArchiveInfo, ArchiveList, ImagingPolicy, JobInfo, JobKind, JobList, JobState, Medium, Phase, Progress,
};
use std::fmt::Write as _;

pub(crate) fn phase(p: Option<Phase>) -> &'static str {
    match p {
        None => "-",
        Some(Phase::Copying) => "copying",
        Some(Phase::Trimming) => "trimming",
        Some(Phase::Scraping) => "scraping",
        Some(Phase::Retrying) => "retrying",
        Some(Phase::Filling) => "filling",
        Some(Phase::Generating) => "generating",
        Some(Phase::Finished) => "finished",
        Some(Phase::Hashing) => "hashing",
        Some(Phase::Verifying) => "verifying",
    }
}

pub(crate) fn job_kind(k: JobKind) -> &'static str {
    match k {
        JobKind::Image => "image",
        JobKind::Verify => "verify",
    }
}

/// The first 16 hex digits of a checksum, enough to tell entries apart in a table.
pub(crate) fn short_hash(h: &str) -> String {
    if h.chars().count() > 16 { format!("{}…", h.chars().take(16).collect::<String>()) } else { h.to_owned() }
}

pub fn jobs_table(list: &JobList) -> String {
    let mut t = Table::new(&["ID", "NAME", "DEVICE", "STATUS", "PROGRESS", "RATE", "ETA", "POSITION"]);
    for j in &list.jobs {
        t.row([
            j.id.clone(),
            j.name.clone(),
            or_dash(j.device.as_deref()),
            j.status.as_str().to_owned(),
            percent(j.progress.percent),
            rate(j.progress.rate_bps),
            eta(j.progress.eta_seconds),
            j.position.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        ]);
    }
    let mut out = t.render();
    out.push_str(&page_note(list.jobs.len(), list.offset, list.total));
    out
}

/// Says when a listing is one page of more.
pub(crate) fn page_note(shown: usize, offset: u32, total: u64) -> String {
    let shown = shown as u64;
    let offset = u64::from(offset);
    if shown == 0 && total > 0 {
        format!("(no entries at offset {offset}; there are {total})\n")
    } else if offset > 0 || offset + shown < total {
        let more =
            if offset + shown < total { format!("; --offset {} for more", offset + shown) } else { String::new() };
        format!("(entries {}-{} of {total}{more})\n", offset + 1, offset + shown)
    } else {
        String::new()
    }
}

pub(crate) fn medium_pairs(pairs: &mut Vec<(&str, String)>, m: &Medium) {
    pairs.extend([
        ("medium format", m.format.clone()),
        ("medium label", or_dash(m.label.as_deref())),
        ("medium size", size_exact(m.size_bytes)),
    ]);
}

pub(crate) fn progress_pairs(pairs: &mut Vec<(&str, String)>, p: &Progress) {
    pairs.extend([
        ("progress", percent(p.percent)),
        ("domain", size(p.domain_bytes)),
        ("rescued", size(p.rescued_bytes)),
        ("bad bytes", size_exact(p.bad_bytes)),
        ("bad areas", p.bad_areas.to_string()),
        ("phase", phase(p.phase).to_owned()),
        ("pass", p.pass.map_or_else(|| "-".to_owned(), |n| n.to_string())),
        ("rate", rate(p.rate_bps)),
        ("eta", eta(p.eta_seconds)),
    ]);
}

/// `image show`: every field of a job; text from the medium is escaped by `key_values`.
pub fn job_block(j: &JobInfo) -> String {
    let o = &j.options;
    let mut pairs = vec![
        ("id", j.id.clone()),
        ("kind", job_kind(j.kind).to_owned()),
        ("name", j.name.clone()),
        ("device", or_dash(j.device.as_deref())),
        ("status", j.status.as_str().to_owned()),
        ("priority", j.priority.as_str().to_owned()),
        ("position", j.position.map_or_else(|| "-".to_owned(), |p| p.to_string())),
        ("created", local_rfc3339(&j.created_at)),
        ("updated", local_rfc3339(&j.updated_at)),
        ("started", j.started_at.as_deref().map_or_else(|| "-".to_owned(), local_rfc3339)),
        ("finished", j.finished_at.as_deref().map_or_else(|| "-".to_owned(), local_rfc3339)),
        ("retries", o.retries.get().to_string()),
        ("verify", yes_no(o.verify).to_owned()),
        ("md5", yes_no(o.md5).to_owned()),
        ("keep partial", yes_no(o.keep_partial_on_cancel).to_owned()),
        ("eject", yes_no(o.eject).to_owned()),
        ("max rate", o.max_rate.map_or_else(|| "unlimited".to_owned(), |r| rate(Some(r)))),
    ];
    progress_pairs(&mut pairs, &j.progress);
    match &j.medium {
        Some(m) => medium_pairs(&mut pairs, m),
        None => pairs.push(("medium", "-".to_owned())),
    }
    pairs.extend([
        ("output file", or_dash(j.output_file.as_deref())),
        ("archive id", or_dash(j.archive_id.as_deref())),
        ("error", error_text(j)),
    ]);
    key_values(&pairs)
}

pub(crate) fn error_text(j: &JobInfo) -> String {
    match (&j.error, &j.error_code) {
        (Some(e), Some(code)) => format!("{e} ({code})"),
        (Some(e), None) => e.clone(),
        (None, Some(code)) => code.clone(),
        (None, None) => "-".to_owned(),
    }
}

/// One line about a job, for the result of a change (`image create`, `pause`, ...).
pub fn job_line(j: &JobInfo) -> String {
    let mut line = format!("job {}: {} ({}", printable(&j.id), j.status.as_str(), j.priority.as_str());
    if let Some(p) = j.position {
        let _ = write!(line, " priority, position {p} in the queue)");
    } else {
        line.push_str(" priority)");
    }
    line.push('\n');
    line
}

/// `image follow`: one line per change of the job.
pub fn progress_line(j: &JobInfo) -> String {
    let p = &j.progress;
    let mut line = format!(
        "{:>6}  {} / {}  {}  ETA {}  {}  {}",
        percent(p.percent),
        size(p.rescued_bytes),
        size(p.domain_bytes),
        rate(p.rate_bps),
        eta(p.eta_seconds),
        phase(p.phase),
        j.status.as_str()
    );
    if p.bad_bytes > 0 {
        let _ = write!(line, "  bad {} in {} areas", size(p.bad_bytes), p.bad_areas);
    }
    line.push('\n');
    line
}

/// How a followed job ended, for people.
pub fn follow_end(j: &JobInfo) -> String {
    let id = printable(&j.id);
    let mut out = if j.status == JobState::Paused {
        format!("job {id} is paused; `corenas-ctl image resume {id}` continues it\n")
    } else {
        format!("job {id} {}\n", j.status.as_str())
    };
    if let Some(a) = &j.archive_id {
        let _ = writeln!(out, "archive id: {}", printable(a));
    }
    if let Some(f) = &j.output_file {
        let _ = writeln!(out, "output file: {}", printable(f));
    }
    if j.progress.bad_bytes > 0 {
        let _ = writeln!(out, "bad bytes: {} in {} areas", size(j.progress.bad_bytes), j.progress.bad_areas);
    }
    if j.error.is_some() || j.error_code.is_some() {
        let _ = writeln!(out, "error: {}", printable(&error_text(j)));
    }
    out
}

pub fn archives_table(list: &ArchiveList) -> String {
    let mut t = Table::new(&["ID", "NAME", "SIZE", "CREATED", "SHA256", "LABEL", "TAGS"]);
    for a in &list.archives {
        t.row([
            a.id.clone(),
            a.name.clone(),
            size(a.size_bytes),
            local_rfc3339(&a.created_at),
            short_hash(&a.checksums.sha256),
            or_dash(a.label.as_deref()),
            list_or_dash(&a.tags),
        ]);
    }
    let mut out = t.render();
    out.push_str(&page_note(list.archives.len(), list.offset, list.total));
    out
}

/// `archive show`: the entry, then its verification history (oldest first, as corenasd sends it).
pub fn archive_block(a: &ArchiveInfo) -> String {
    let mut out = key_values(&[
        ("id", a.id.clone()),
        ("job id", a.job_id.clone()),
        ("name", a.name.clone()),
        ("filename", a.filename.clone()),
        ("path", a.path.clone()),
        ("size", size_exact(a.size_bytes)),
        ("created", local_rfc3339(&a.created_at)),
        ("sha256", a.checksums.sha256.clone()),
        ("md5", or_dash(a.checksums.md5.as_deref())),
        ("bad bytes", size_exact(a.bad_bytes)),
        ("source device", a.source_device.clone()),
        ("source model", or_dash(a.source_model.as_deref())),
        ("source serial", or_dash(a.source_serial.as_deref())),
        ("label", or_dash(a.label.as_deref())),
        ("tags", if a.tags.is_empty() { "-".to_owned() } else { a.tags.join(", ") }),
        ("notes", if a.notes.is_empty() { "-".to_owned() } else { a.notes.clone() }),
    ]);
    if a.verifications.is_empty() {
        out.push_str("verifications: none\n");
    } else {
        out.push_str("verifications:\n");
        let mut t = Table::new(&["TIME", "RESULT", "DETAIL"]);
        for v in &a.verifications {
            t.row([v.time.clone(), v.result.clone(), v.detail.clone()]);
        }
        for line in t.render().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

pub fn policy_block(p: &ImagingPolicy) -> String {
    key_values(&[
        ("auto start", if p.auto_start { "on" } else { "off" }.to_owned()),
        ("watch", if p.watch.is_empty() { "optical drives only".to_owned() } else { p.watch.join(", ") }),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::report::imaging_change_report;
    use crate::testing::step;
    use corenas_proto::api::Change;

    use crate::report::nothing;

    fn job(label: Option<&str>) -> JobInfo {
        JobInfo {
            id: "j1".into(),
            kind: JobKind::Image,
            name: "movie".into(),
            device: Some("/dev/sr0".into()),
            status: JobState::Running,
            priority: corenas_proto::imaging::Priority::High,
            position: None,
            created_at: "c".into(),
            updated_at: "u".into(),
            started_at: Some("s".into()),
            finished_at: None,
            options: corenas_proto::imaging::JobOptions::default(),
            progress: Progress {
                domain_bytes: 8 << 30,
                rescued_bytes: 2 << 30,
                bad_bytes: 4096,
                bad_areas: 2,
                phase: Some(Phase::Scraping),
                pass: Some(2),
                percent: 25.0,
                rate_bps: Some(3 << 20),
                eta_seconds: Some(61),
                ..Progress::default()
            },
            medium: Some(Medium {
                format: "iso9660".into(),
                label: label.map(str::to_owned),
                size_bytes: 8 << 30,
                fingerprint: "f".into(),
            }),
            output_file: None,
            archive_id: None,
            error: Some("read error\u{1b}[31m".into()),
            error_code: Some("E_TOOL_FAILED".into()),
            version: 4,
        }
    }

    #[test]
    fn the_jobs_table_has_the_documented_columns_and_says_when_there_is_more() {
        let list = JobList { jobs: vec![job(None)], total: 5, limit: 1, offset: 0 };
        assert_eq!(
            jobs_table(&list),
            "ID  NAME   DEVICE    STATUS   PROGRESS  RATE       ETA      POSITION\n\
             j1  movie  /dev/sr0  running  25.0%     3.0 MiB/s  0:01:01  -\n\
             (entries 1-1 of 5; --offset 1 for more)\n"
        );
        let list = JobList { jobs: vec![], total: 0, limit: 50, offset: 0 };
        assert_eq!(jobs_table(&list), "ID  NAME  DEVICE  STATUS  PROGRESS  RATE  ETA  POSITION\n");
        assert_eq!(page_note(0, 10, 3), "(no entries at offset 10; there are 3)\n");
        assert_eq!(page_note(2, 3, 5), "(entries 4-5 of 5)\n");
    }

    #[test]
    fn job_details_escape_the_label_and_the_error() {
        let out = job_block(&job(Some("\u{202e}gpj.exe")));
        assert!(!out.contains('\u{202e}') && !out.contains('\u{1b}'), "{out}");
        assert!(out.contains("medium label:   \\u{202e}gpj.exe\n"), "{out}");
        assert!(out.contains("bad bytes:      4.0 KiB (4096 bytes)\n") && out.contains("bad areas:      2\n"), "{out}");
        assert!(out.contains("phase:          scraping\n") && out.contains("pass:           2\n"), "{out}");
        assert!(out.contains("error:          read error\\u{1b}[31m (E_TOOL_FAILED)\n"), "{out}");
        assert_eq!(
            progress_line(&job(None)),
            " 25.0%  2.0 GiB / 8.0 GiB  3.0 MiB/s  ETA 0:01:01  scraping  running  bad 4.0 KiB in 2 areas\n"
        );
        assert!(!follow_end(&job(None)).contains('\u{1b}'));
    }

    #[test]
    fn the_archive_table_shortens_the_hash_and_escapes_the_label() {
        let a = ArchiveInfo {
            id: "a1".into(),
            job_id: "j1".into(),
            name: "movie".into(),
            filename: "j1.iso".into(),
            path: "/srv/j1.iso".into(),
            size_bytes: 4_700_000_000,
            created_at: "2025-01-02".into(),
            checksums: corenas_proto::imaging::Checksums { sha256: "0123456789abcdef".repeat(4), md5: None },
            bad_bytes: 0,
            source_device: "/dev/sr0".into(),
            source_model: None,
            source_serial: None,
            label: Some("DISC\u{1b}]0;pwned\u{7}".into()),
            tags: vec!["movies".into(), "kids".into()],
            notes: "line 1\nline 2".into(),
            verifications: vec![],
        };
        let list = ArchiveList { archives: vec![a.clone()], total: 1, limit: 50, offset: 0 };
        assert_eq!(
            archives_table(&list),
            "ID  NAME   SIZE     CREATED     SHA256             LABEL                    TAGS\n\
             a1  movie  4.4 GiB  2025-01-02  0123456789abcdef…  DISC\\u{1b}]0;pwned\\u{7}  movies,kids\n"
        );
        let block = archive_block(&a);
        assert!(
            block.contains("notes:          line 1\\u{a}line 2\n") && block.ends_with("verifications: none\n"),
            "{block}"
        );
    }

    #[test]
    fn imaging_changes_say_what_happened_without_helper_steps() {
        let real = Change {
            dry_run: false,
            steps: vec![],
            result: Some(job(None)),
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, json, .. } = imaging_change_report(&real, "pause job j1", job_line).unwrap() else {
            panic!()
        };
        assert_eq!(human, "job j1: running (high priority)\n");
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!((json["dry_run"].clone(), json["result"]["id"].clone()), (false.into(), "j1".into()));

        let dry: Change<JobInfo> =
            Change { dry_run: true, steps: vec![], result: None, generated_password: None, warnings: vec![] };
        let Report::Answer { human, .. } = imaging_change_report(&dry, "pause job j1", job_line).unwrap() else {
            panic!()
        };
        assert_eq!(human, "dry run: nothing changed; would pause job j1\n");

        let dry = Change {
            dry_run: true,
            steps: vec![step()],
            result: None::<()>,
            generated_password: None,
            warnings: vec![],
        };
        let Report::Answer { human, .. } = imaging_change_report(&dry, "eject /dev/sr0", nothing).unwrap() else {
            panic!()
        };
        assert_eq!(
            human,
            "dry run: nothing changed; would eject /dev/sr0, running:\n  /usr/sbin/useradd --uid 50001 alice\n"
        );

        let done =
            Change { dry_run: false, steps: vec![], result: None::<()>, generated_password: None, warnings: vec![] };
        let Report::Answer { human, .. } = imaging_change_report(&done, "delete archive entry a1", nothing).unwrap()
        else {
            panic!()
        };
        assert_eq!(human, "done: delete archive entry a1\n");
    }

    #[test]
    fn sizes_rates_and_etas_read_like_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1_048_575), "1.0 MiB", "rounds up into the next unit, not to 1024.0 KiB");
        assert_eq!(size(4_700_000_000), "4.4 GiB");
        assert_eq!(size(3 << 40), "3.0 TiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
        assert_eq!(rate(Some(12 << 20)), "12.0 MiB/s");
        assert_eq!(rate(Some(512 << 10)), "0.5 MiB/s");
        assert_eq!(rate(None), "-");
        assert_eq!(eta(Some(0)), "0:00:00");
        assert_eq!(eta(Some(3723)), "1:02:03");
        assert_eq!(eta(Some(100 * 3600 + 59)), "100:00:59");
        assert_eq!(eta(None), "-");
        assert_eq!(percent(f64::NAN), "-");
        assert_eq!(percent(123.0), "100.0%");
        assert_eq!(short_hash(&"0123456789abcdef".repeat(4)), "0123456789abcdef…");
    }
}
