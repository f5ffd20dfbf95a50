//! The sample restore (decision 0020, "Proven restorability"). At the end of each backup, while
//! the job's source snapshot still exists, corenasd picks K random regular files of the new
//! restic snapshot (`restic ls`) and the storage helper hashes the same paths in the source
//! snapshot (`StorageQuery::BackupSampleHashes`); the digests are kept with the backup job. The
//! sample restore (weekly, or when asked) restores those files from that restic snapshot into a
//! scratch directory under corenasd's state directory (`restic restore --include`) and compares
//! SHA-256 and size. A damaged pack fails it by name (restic: "ciphertext verification failed"),
//! and so does a file whose bytes differ.
//! Must not: restore anywhere but its own scratch directory, or keep what it restored.

use super::jobs::{self, JobRecord, SampleFile};
use super::run::{self, Plan, Trigger};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::backup::{BackupJobId, BackupJobInfo, BackupJobKind, BackupJobState, BackupName, SnapshotPath};
use corenas_proto::helper::{SAMPLE_FILE_BYTES_MAX, SAMPLE_FILES_MAX, StorageQuery};
use corenas_proto::{ErrorCode, WireError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Entries of a snapshot read to choose from (a larger snapshot is sampled among its first).
const LS_MAX: usize = 200_000;
const LS_TIMEOUT: Duration = Duration::from_secs(1800);
const RESTORE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

#[derive(serde::Deserialize)]
struct Node {
    #[serde(default)]
    struct_type: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    size: Option<u64>,
}

/// The regular files of a `restic ls --json` listing small enough to hash: (path, size).
pub fn files_of(ls: &str) -> Vec<(SnapshotPath, u64)> {
    ls.lines()
        .filter_map(|l| serde_json::from_str::<Node>(l).ok())
        .filter(|n| n.struct_type == "node" && n.kind == "file")
        .filter_map(|n| {
            let size = n.size.unwrap_or(0);
            (size <= SAMPLE_FILE_BYTES_MAX).then_some((n.path.parse().ok()?, size))
        })
        .collect()
}

/// `k` of `items` chosen at random (reservoir sampling: every item equally likely).
pub fn choose<T>(items: Vec<T>, k: usize, random: &mut dyn FnMut(usize) -> usize) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(k);
    for (i, item) in items.into_iter().enumerate() {
        if out.len() < k {
            out.push(item);
        } else {
            let j = random(i + 1);
            if j < k {
                out[j] = item;
            }
        }
    }
    out
}

/// A uniform number below `n` from the kernel's generator (the clock if it has none yet).
fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b.copy_from_slice(&t.as_nanos().to_le_bytes()[..8]);
    }
    let n64 = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    usize::try_from(u64::from_le_bytes(b) % n64).unwrap_or(0)
}

/// The helper's answer: one `<sha256> <size>` or `- <why>` line per path, in order.
pub fn parse_hashes(paths: &[(SnapshotPath, u64)], out: &str) -> Result<Vec<SampleFile>, String> {
    let lines: Vec<&str> = out.lines().collect();
    if lines.len() != paths.len() {
        return Err(format!("the helper hashed {} of {} files", lines.len(), paths.len()));
    }
    let mut files = Vec::new();
    for ((path, _), line) in paths.iter().zip(lines) {
        let mut it = line.split(' ');
        match (it.next(), it.next()) {
            (Some(h), Some(size)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                let size = size.parse().map_err(|_| format!("the helper's line '{line}' has no size"))?;
                files.push(SampleFile { path: path.to_string(), size, sha256: h.to_owned() });
            }
            // Not hashable (gone, a link): not sampled.
            (Some("-"), _) => {}
            _ => return Err(format!("the helper's line '{}' does not read", super::follow::clean(line, 100))),
        }
    }
    Ok(files)
}

/// At the end of a backup, before BackupFinish: the sample's digests from the source snapshot.
pub async fn hash_sample(
    d: &Daemon,
    plan: &Plan,
    job: &BackupJobId,
    snapshot: &str,
) -> Result<Vec<SampleFile>, WireError> {
    let k = usize::from(plan.task.sample_files).min(SAMPLE_FILES_MAX);
    if k == 0 {
        return Ok(Vec::new());
    }
    let args: Vec<String> = ["--no-lock", "--json", "ls", "--", snapshot].iter().map(|s| (*s).to_owned()).collect();
    let ran = d.backups.restic.run(&plan.repo, "ls", &args, LS_TIMEOUT, Some(LS_MAX)).await?;
    let chosen = choose(files_of(&ran.stdout), k, &mut random_below);
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let q = StorageQuery::BackupSampleHashes {
        job: job.clone(),
        source: plan.source.clone(),
        subpath: plan.subpath.clone(),
        paths: chosen.iter().map(|(p, _)| p.clone()).collect(),
    };
    let out = d.helper.storage().await?.storage_query(q).await?;
    parse_hashes(&chosen, &out.stdout).map_err(|e| WireError::new(ErrorCode::ToolFailed, e))
}

/// A path as restic's `--include` takes it: its pattern characters escaped.
pub fn include_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The latest backup of the task with a sample: (its job, its snapshot, the files).
fn latest_sample(d: &Daemon, task: &str) -> Result<Option<(String, String, Vec<SampleFile>)>, WireError> {
    let recent = d.with_state(|s| jobs::recent(s.conn(), task, BackupJobKind::Backup, 100))?;
    Ok(recent.into_iter().find_map(|r| {
        let snap = r.info.snapshot.clone()?;
        (!r.outcome.sample.is_empty()).then(|| (r.info.id.to_string(), snap, r.outcome.sample))
    }))
}

/// `backup verify TASK`: restore the last backup's sample and compare.
pub async fn start(
    d: &Arc<Daemon>,
    task: &BackupName,
    dry_run: bool,
    trigger: Trigger,
) -> Result<Change<BackupJobInfo>, WireError> {
    let plan = run::plan(d, task).await?;
    let Some((job, snapshot, files)) = latest_sample(d, task.as_str())? else {
        return Err(WireError::new(
            ErrorCode::InvalidState,
            format!(
                "task {task} has no backup with a sample yet (a backup samples {} files when it ends): run a backup first",
                plan.task.sample_files
            ),
        ));
    };
    if dry_run {
        let what = format!(
            "corenasd restores {} files of snapshot {snapshot} (backup job {job}) into its scratch directory and compares their SHA-256 with the source's",
            files.len()
        );
        let steps = vec![corenas_proto::helper::Step::Check { what }];
        return Ok(Change { dry_run: true, steps, result: None, generated_password: None, warnings: vec![] });
    }
    let rec =
        d.with_state(|s| Ok(d.backups.jobs.create(s.conn(), task, &plan.repo.target, BackupJobKind::SampleRestore)))??;
    let info = rec.info.clone();
    let d2 = Arc::clone(d);
    let _ = trigger;
    d.in_flight.spawn(async move { run_sample(d2, rec, plan, snapshot, files).await });
    Ok(Change { dry_run: false, steps: vec![], result: Some(info), generated_password: None, warnings: vec![] })
}

fn scratch(d: &Daemon, job: &BackupJobId) -> PathBuf {
    d.backups.restic.dir.join("sample").join(job.as_str())
}

async fn run_sample(d: Arc<Daemon>, rec: JobRecord, plan: Plan, snapshot: String, files: Vec<SampleFile>) {
    let id = rec.info.id.clone();
    let _repo = match run::take_repo(&d, &rec).await {
        Ok(g) => g,
        Err(e) => {
            run::end(&d, id.as_str(), |r| fail(r, &e.message));
            return;
        }
    };
    d.backups.jobs.update(id.as_str(), |r| r.info.snapshot = Some(snapshot.clone()));
    let dir = scratch(&d, &id);
    let result = restore_and_compare(&d, &plan, &snapshot, &files, &dir).await;
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "the sample restore's scratch directory stays");
        }
    }
    let n = files.len() as u64;
    run::end(&d, id.as_str(), |r| {
        r.outcome.compared = Some(n);
        match result {
            Ok(()) => {
                r.info.state = BackupJobState::Done;
                r.info.detail = Some(format!(
                    "sample restore: {n} files of snapshot {snapshot} restored and equal to the source (SHA-256)"
                ));
            }
            Err(why) => {
                r.info.detail = Some(format!("sample restore: {n} files of snapshot {snapshot}"));
                fail(r, &why);
            }
        }
    });
}

fn fail(r: &mut JobRecord, why: &str) {
    r.info.state = BackupJobState::Failed;
    r.info.error = Some(super::follow::clean(why, 1000));
}

/// Restores `files` into `dir` and compares; the error names each file that failed.
async fn restore_and_compare(
    d: &Daemon,
    plan: &Plan,
    snapshot: &str,
    files: &[SampleFile],
    dir: &Path,
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let target = dir.to_str().ok_or("the scratch directory is not UTF-8")?;
    let mut args: Vec<String> = ["restore", snapshot, "--target", target].iter().map(|s| (*s).to_owned()).collect();
    for f in files {
        args.push("--include".into());
        args.push(include_pattern(&f.path));
    }
    let restic_said = match d.backups.restic.run(&plan.repo, "restore", &args, RESTORE_TIMEOUT, None).await {
        Ok(_) => String::new(),
        Err(super::restic::ResticError::Failed { stderr, .. }) => stderr,
        Err(e) => return Err(format!("the sample could not be restored: {}", WireError::from(e).message)),
    };
    let mut bad = Vec::new();
    for f in files {
        let restic_error = restic_said
            .split(['\n', ';'])
            .find(|l| l.contains(&format!("ignoring error for {}:", f.path)))
            .and_then(|l| l.split_once(": ").map(|(_, why)| why.trim().to_owned()));
        let got = hash_file(&dir.join(f.path.trim_start_matches('/')));
        let verdict = match (&got, restic_error) {
            (_, Some(why)) => Some(format!("restic: {why}")),
            (Err(e), None) => Some(format!("not restored ({e})")),
            (Ok((h, size)), None) if *h != f.sha256 || *size != f.size => {
                Some(format!("SHA-256 differs from the source ({size} bytes restored, {} in the source)", f.size))
            }
            (Ok(_), None) => None,
        };
        if let Some(v) = verdict {
            bad.push(format!("{} ({v})", super::follow::clean(&f.path, 200)));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!("{} of {} sampled files do not restore as backed up: {}", bad.len(), files.len(), bad.join("; ")))
}

fn hash_file(p: &Path) -> Result<(String, u64), String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf).map_err(|e| e.to_string())?;
        if r == 0 {
            break;
        }
        n += r as u64;
        h.update(&buf[..r]);
    }
    Ok((hex::encode(h.finalize()), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_from_a_real_listing() {
        // restic 0.14.0's `ls --json` on this machine (a snapshot of `backup .`).
        let ls = concat!(
            r#"{"time":"2026-12-08T00:41:44.9140198Z","tree":"1b1b","paths":["/tmp/e-restic/src"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"],"id":"3b683d2f820232e0f98865c170448feba5d2738be645d64ead9ab424e9f07012","short_id":"3b683d2f","struct_type":"snapshot"}"#,
            "\n",
            r#"{"name":"f1","type":"file","path":"/f1","uid":0,"gid":0,"size":42660,"mode":420,"permissions":"-rw-r--r--","mtime":"2026-12-08T00:40:48.384453409Z","atime":"2026-12-08T00:40:48.384453409Z","ctime":"2026-12-08T00:40:48.384453409Z","struct_type":"node"}"#,
            "\n",
            r#"{"name":"big","type":"dir","path":"/big","uid":0,"gid":0,"mode":2147484141,"permissions":"drwxr-xr-x","mtime":"2026-12-08T00:40:55.551289377Z","atime":"2026-12-08T00:40:55.551289377Z","ctime":"2026-12-08T00:40:55.551289377Z","struct_type":"node"}"#,
            "\n",
            r#"{"name":"large","type":"file","path":"/big/large","uid":0,"gid":0,"size":838860800,"mode":420,"permissions":"-rw-r--r--","mtime":"2026-12-08T00:40:58.602125814Z","atime":"2026-12-08T00:40:58.602125814Z","ctime":"2026-12-08T00:40:58.602125814Z","struct_type":"node"}"#,
            "\n"
        );
        let f = files_of(ls);
        assert_eq!(f.len(), 1, "the directory and the 800 MiB file are not sampled: {f:?}");
        assert_eq!((f[0].0.as_str(), f[0].1), ("/f1", 42660));
    }

    #[test]
    fn a_sample_has_k_distinct_items_and_every_item_can_be_chosen() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            let c = choose((0..10).collect(), 3, &mut random_below);
            assert_eq!(c.len(), 3);
            assert_eq!(c.iter().collect::<std::collections::HashSet<_>>().len(), 3, "{c:?}");
            seen.extend(c);
        }
        assert_eq!(seen.len(), 10, "every item is chosen sometimes");
        assert_eq!(choose(vec![1, 2], 5, &mut random_below), [1, 2]);
    }

    #[test]
    fn the_helpers_digests_are_matched_to_their_paths() {
        let paths: Vec<(SnapshotPath, u64)> = vec![("/a".parse().unwrap(), 6), ("/l".parse().unwrap(), 0)];
        let h = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let out = format!("{h} 6\n- a symbolic link is on the way\n");
        let files = parse_hashes(&paths, &out).unwrap();
        assert_eq!(files, [SampleFile { path: "/a".into(), size: 6, sha256: h.into() }]);
        assert!(parse_hashes(&paths, &format!("{h} 6\n")).is_err(), "a missing line");
        assert!(parse_hashes(&paths[..1], "nothex 6\n").is_err());
    }

    #[test]
    fn include_patterns_match_only_their_path() {
        assert_eq!(include_pattern("/docs/a.txt"), "/docs/a.txt");
        assert_eq!(include_pattern("/x/*[?]\\"), "/x/\\*\\[\\?\\]\\\\");
    }
}
