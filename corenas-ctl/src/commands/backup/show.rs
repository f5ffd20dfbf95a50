//! How targets, tasks, snapshots, previews and listings read on a terminal. Every text from
//! corenasd (and from restic through it) goes through the floor's escaping; no secret is in
//! any of these types.

use crate::text::{Table, key_values, size};
use corenas_proto::backup::{
    BackupSource, KeepPolicy, RepoLock, RetentionPreview, RunSummary, SnapshotInfo, SnapshotListing, TargetInfo,
    TargetLocation, TaskInfo,
};
use std::fmt::Write as _;

fn location(l: &TargetLocation) -> String {
    match l {
        TargetLocation::Local { path } => path.to_string(),
        TargetLocation::Sftp { host, port, user, path } => format!("{user}@{}:{port}:{path}", host.as_str()),
        TargetLocation::Rest { url, user, append_only } => {
            let mut s = url.as_str().to_owned();
            if let Some(u) = user {
                let _ = write!(s, " (as {u})");
            }
            if *append_only {
                s.push_str(" append-only");
            }
            s
        }
        TargetLocation::S3 { endpoint, bucket, prefix, region } => {
            let mut s = format!("{} bucket {bucket}", endpoint.as_str());
            if let Some(p) = prefix {
                let _ = write!(s, " prefix {p}");
            }
            if let Some(r) = region {
                let _ = write!(s, " region {r}");
            }
            s
        }
    }
}

/// restic's RFC 3339 time (UTC, nanoseconds) to the second.
fn restic_time(t: &str) -> String {
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(h)) if t.ends_with('Z') => format!("{d} {h} UTC"),
        _ => t.to_owned(),
    }
}

pub(crate) fn targets_table(list: &[TargetInfo]) -> String {
    if list.is_empty() {
        return "no backup targets\n".to_owned();
    }
    let mut t = Table::new(&["NAME", "KIND", "LOCATION"]);
    for x in list {
        t.row([x.name.to_string(), x.location.kind().to_owned(), location(&x.location)]);
    }
    t.render()
}

pub(crate) fn target_block(x: &TargetInfo) -> String {
    let mut pairs = vec![
        ("target", x.name.to_string()),
        ("kind", x.location.kind().to_owned()),
        ("location", location(&x.location)),
    ];
    if let Some(k) = &x.host_key {
        pairs.push(("pinned host key", k.to_string()));
    }
    if let Some(k) = &x.public_key {
        pairs.push(("CoreNAS's key", k.clone()));
    }
    if !x.created_at.is_empty() {
        pairs.push(("created", x.created_at.clone()));
    }
    key_values(&pairs)
}

fn source(s: &BackupSource) -> String {
    match s {
        BackupSource::Pool(p) => format!("pool:{p}"),
        BackupSource::Dataset(d) => format!("dataset:{d}"),
        BackupSource::Share(s) => format!("share:{s}"),
    }
}

pub(crate) fn keep_text(k: &KeepPolicy) -> String {
    if k.keeps_everything() {
        return "everything".to_owned();
    }
    [
        ("last", k.last),
        ("hourly", k.hourly),
        ("daily", k.daily),
        ("weekly", k.weekly),
        ("monthly", k.monthly),
        ("yearly", k.yearly),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{what} {n}"))
    .collect::<Vec<_>>()
    .join(", ")
}

fn run_text(r: &Option<RunSummary>) -> String {
    match r {
        None => "-".to_owned(),
        Some(r) => format!("{} {} ({})", if r.ok { "ok" } else { "FAILED" }, r.job, r.detail),
    }
}

pub(crate) fn tasks_table(list: &[TaskInfo]) -> String {
    if list.is_empty() {
        return "no backup tasks\n".to_owned();
    }
    let mut t = Table::new(&["NAME", "SOURCE", "TARGET", "EVERY", "KEEP", "LAST BACKUP"]);
    for x in list {
        let s = &x.spec;
        let every = format!("{} {:02}:00", s.every, s.hour);
        t.row([
            s.name.to_string(),
            source(&s.source),
            s.target.to_string(),
            every,
            keep_text(&s.keep),
            run_text(&x.last_backup),
        ]);
    }
    t.render()
}

pub(crate) fn task_block(x: &TaskInfo) -> String {
    let s = &x.spec;
    let excludes = if s.excludes.is_empty() {
        "-".to_owned()
    } else {
        s.excludes.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(" ")
    };
    let check = if s.check_subset == 0 {
        "structure only".to_owned()
    } else {
        format!("1/{} of the data per run", s.check_subset)
    };
    let mut pairs = vec![
        ("task", s.name.to_string()),
        ("source", source(&s.source)),
        ("target", s.target.to_string()),
        ("runs", format!("{} at {:02}:00", s.every, s.hour)),
        ("keeps", keep_text(&s.keep)),
        ("excludes", excludes),
        ("check", check),
        ("sample restore", format!("{} files", s.sample_files)),
    ];
    if s.live {
        pairs.push(("live tree", "yes (the source cannot be snapshotted)".to_owned()));
    }
    pairs.push(("last backup", run_text(&x.last_backup)));
    pairs.push(("last check", run_text(&x.last_check)));
    pairs.push(("last sample restore", run_text(&x.last_sample_restore)));
    if !x.created_at.is_empty() {
        pairs.push(("created", x.created_at.clone()));
    }
    key_values(&pairs)
}

pub(crate) fn preview_text(p: &RetentionPreview) -> String {
    if p.keep.is_empty() && p.remove.is_empty() {
        return "  no snapshots yet: nothing to keep or remove\n".to_owned();
    }
    let mut t = Table::new(&["", "SNAPSHOT", "TIME", "WHY"]);
    for (s, why) in &p.keep {
        t.row(["keep".to_owned(), s.short_id.clone(), restic_time(&s.time), why.join(", ")]);
    }
    for s in &p.remove {
        t.row(["remove".to_owned(), s.short_id.clone(), restic_time(&s.time), "matches no rule".to_owned()]);
    }
    let mut out = t.render();
    let _ = writeln!(out, "{} kept, {} removed", p.keep.len(), p.remove.len());
    out
}

pub(crate) fn snapshots_table(list: &[SnapshotInfo]) -> String {
    if list.is_empty() {
        return "no snapshots\n".to_owned();
    }
    let mut t = Table::new(&["ID", "TIME", "HOST", "TAGS"]);
    for s in list {
        t.row([s.short_id.clone(), restic_time(&s.time), s.hostname.clone(), s.tags.join(",")]);
    }
    t.render()
}

pub(crate) fn listing_table(l: &SnapshotListing) -> String {
    let mut out = format!("snapshot {} of {}\n", l.snapshot.short_id, restic_time(&l.snapshot.time));
    if l.entries.is_empty() {
        out.push_str("  (empty)\n");
        return out;
    }
    let mut t = Table::new(&["TYPE", "PERMISSIONS", "SIZE", "MODIFIED", "PATH"]);
    for e in &l.entries {
        let sz = e.size.map(size).unwrap_or_else(|| "-".to_owned());
        t.row([e.kind.clone(), e.permissions.clone(), sz, restic_time(&e.mtime), e.path.clone()]);
    }
    out.push_str(&t.render());
    if l.truncated {
        let _ = writeln!(out, "(only the first {} entries are shown)", l.entries.len());
    }
    out
}

pub(crate) fn locks_table(locks: &[RepoLock]) -> String {
    if locks.is_empty() {
        return "no locks\n".to_owned();
    }
    let mut t = Table::new(&["LOCK", "KIND", "SINCE", "HOLDER"]);
    for l in locks {
        let kind = if l.exclusive { "exclusive" } else { "shared" };
        let holder = format!("pid {} on {} by {}", l.pid, l.hostname, l.username);
        t.row([l.id.chars().take(8).collect::<String>(), kind.to_owned(), restic_time(&l.time), holder]);
    }
    let mut out = t.render();
    out.push_str("CoreNAS never removes a lock: if its holder is gone, remove it with restic's unlock yourself\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_policies_read_plainly() {
        assert_eq!(restic_time("2026-12-08T00:41:01.872659393Z"), "2026-12-08 00:41:01 UTC");
        assert_eq!(keep_text(&KeepPolicy::default()), "everything");
        assert_eq!(keep_text(&KeepPolicy { last: 3, daily: 7, ..KeepPolicy::default() }), "last 3, daily 7");
    }

    #[test]
    fn a_preview_says_what_goes_and_why_the_rest_stays() {
        let snap = |id: &str| SnapshotInfo {
            id: id.repeat(8),
            short_id: id.repeat(8),
            time: "2026-12-08T00:41:01Z".into(),
            hostname: "nas".into(),
            paths: vec![],
            tags: vec![],
        };
        let p = RetentionPreview { keep: vec![(snap("a"), vec!["last snapshot".into()])], remove: vec![snap("b")] };
        let text = preview_text(&p);
        assert!(text.contains("keep    aaaaaaaa") && text.contains("last snapshot"), "{text}");
        assert!(text.contains("remove  bbbbbbbb"), "{text}");
        assert!(text.ends_with("1 kept, 1 removed\n"), "{text}");
    }
}
