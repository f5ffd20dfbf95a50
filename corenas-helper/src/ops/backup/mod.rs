//! Backups, the storage helper's side (decision 0020, "Runner"): snapshot a CoreNAS source,
//! start restic as a least-privilege runner (corenasd's user, CAP_DAC_READ_SEARCH only) that
//! reads the read-only snapshot, report the runner's state, and clean up after it. The helper
//! trusts no path from corenasd: the source, the snapshot's name and every file are derived from
//! validated names and the system's own answers.
//!
//! Must not: put a secret in argv, the environment of a process or a log; follow a link on the
//! way to anything it writes; start a runner with more than CAP_DAC_READ_SEARCH.

mod repo;
mod restore;
mod runner;
pub mod sample;
pub mod source;

use crate::exec::{Invocation, Program};
use crate::ops::{Action, Ctx};
use corenas_proto::backup::{BackupJobId, BackupRunSpec, SnapshotSource, TargetLocation};
use corenas_proto::helper::{HelperOp, Step};
use corenas_proto::{ErrorCode, WireError};
use source::Resolved;
use std::path::PathBuf;

pub use runner::runner_state;

/// A backup operation, planned; `run` re-checks what it depends on.
pub enum Plan {
    Run(Box<BackupRunSpec>),
    Finish { job: BackupJobId, source: SnapshotSource },
    Restore(Box<restore::RestorePlan>),
}

/// The source's root as the managed system sees it (for the repository check).
fn source_root(source: &SnapshotSource) -> String {
    match source {
        SnapshotSource::Pool(p) => p.mount_target().as_str().to_owned(),
        SnapshotSource::Dataset(d) => d.mount_target().as_str().to_owned(),
    }
}

pub fn plan(ctx: &Ctx, op: &HelperOp) -> Result<Vec<Action>, WireError> {
    match op {
        HelperOp::BackupRun(spec) => {
            repo::check_local_repo(&spec.repo, &source_root(&spec.source))?;
            if !crate::transient::systemd_is_pid1() && ctx.lab_mounter.is_none() {
                return Err(WireError::new(
                    ErrorCode::InvalidState,
                    "no backup runner here: it needs systemd as PID 1 (a transient unit) or, in a lab, --lab-mounts",
                ));
            }
            Ok(vec![Action::Backup(Plan::Run(Box::new(spec.clone())))])
        }
        HelperOp::BackupFinish { job, source } => {
            Ok(vec![Action::Backup(Plan::Finish { job: job.clone(), source: source.clone() })])
        }
        HelperOp::BackupRestore { job, repo, snapshot, paths, destination, mode } => {
            if paths.is_empty() {
                return Err(WireError::invalid("paths", "name at least one path to restore ('/' for everything)"));
            }
            Ok(vec![Action::Backup(Plan::Restore(Box::new(restore::RestorePlan {
                job: job.clone(),
                repo: repo.clone(),
                snapshot: snapshot.clone(),
                paths: paths.clone(),
                destination: destination.clone(),
                mode: *mode,
            })))])
        }
        _ => Err(WireError::internal(format!("{} is not a backup operation", op.name()))),
    }
}

/// Per job: `/run/corenas-backup/<job>` and its `credentials`.
pub struct JobDirs {
    pub dir: PathBuf,
    pub credentials: PathBuf,
}

impl JobDirs {
    pub fn of(ctx: &Ctx, job: &BackupJobId) -> Self {
        let dir = ctx.paths.backup_runs_dir().join(job.as_str());
        Self { credentials: dir.join("credentials"), dir }
    }
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.jsonl")
    }
    pub fn stderr(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }
}

impl Plan {
    pub fn steps(&self, ctx: &Ctx) -> Vec<Step> {
        let check = |what: String| Step::Check { what };
        match self {
            Plan::Run(spec) => {
                let dirs = JobDirs::of(ctx, &spec.job);
                let snap = Resolved::snapshot_name(&spec.job);
                let mut s = vec![
                    check(format!(
                        "resolve {} as a btrfs pool/subvolume CoreNAS mounted or a ZFS filesystem mounted beneath /mnt/corenas; \
                         refuse anything else",
                        match &spec.source {
                            SnapshotSource::Pool(p) => format!("pool {p}"),
                            SnapshotSource::Dataset(d) => format!("dataset {d}"),
                        }
                    )),
                    check(format!(
                        "snapshot read-only: btrfs subvolume snapshot -r <subvolume> <pool>/{}/{}, or zfs snapshot <fs>@{snap}",
                        source::BTRFS_DIR,
                        spec.job
                    )),
                ];
                if let Some(sub) = &spec.subpath {
                    s.push(check(format!("open {sub} beneath the snapshot (no links, no other mounts)")));
                }
                s.push(Step::PrepareDir {
                    path: dirs.dir.display().to_string(),
                    owner: "root".into(),
                    group: "corenasd's group".into(),
                    mode: "0750".into(),
                });
                s.push(check(format!(
                    "create {} and {} (owned by corenasd's user, 0640)",
                    dirs.status().display(),
                    dirs.stderr().display()
                )));
                s.push(Step::PrepareDir {
                    path: dirs.credentials.display().to_string(),
                    owner: "root".into(),
                    group: "root".into(),
                    mode: "0700".into(),
                });
                let mut files = vec!["repository", "password"];
                match &spec.repo.location {
                    TargetLocation::S3 { .. } => files.push("s3-credentials"),
                    TargetLocation::Sftp { .. } => files.extend(["known_hosts", "ssh_config"]),
                    _ => {}
                }
                for f in files {
                    s.push(Step::WriteFile {
                        path: dirs.credentials.join(f).display().to_string(),
                        diff: "<redacted>".into(),
                    });
                }
                s.push(runner::plan_step(ctx, spec));
                s
            }
            Plan::Finish { job, source } => vec![
                check(format!("refuse while the runner of {job} still runs")),
                check(format!(
                    "destroy the snapshot of {job} of {}: btrfs subvolume delete --subvolid <id of {}/{job}>, or zfs destroy <fs>@{}",
                    source_root(source),
                    source::BTRFS_DIR,
                    Resolved::snapshot_name(job)
                )),
                Step::RemoveFile { path: JobDirs::of(ctx, job).dir.display().to_string() },
            ],
            Plan::Restore(r) => r.steps(ctx),
        }
    }

    pub async fn run(self, ctx: &Ctx) -> Result<Vec<String>, WireError> {
        match self {
            Plan::Run(spec) => run_backup(ctx, &spec).await,
            Plan::Finish { job, source } => finish(ctx, &job, &source).await,
            Plan::Restore(r) => r.run(ctx).await,
        }
    }
}

/// corenasd's uid and primary gid (the runner's identity and the status files' owner).
fn daemon_ids(ctx: &Ctx) -> Result<(u32, u32), WireError> {
    let uid = ctx.daemon_uid.ok_or_else(|| WireError::not_allowed("the helper was started without corenasd's uid"))?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let gid = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[2].parse() == Ok(uid)).then(|| f[3].parse::<u32>().ok()).flatten()
        })
        .next()
        .unwrap_or(uid);
    Ok((uid, gid))
}

fn io(what: &std::path::Path, e: impl std::fmt::Display) -> WireError {
    WireError::internal(format!("{}: {e}", what.display()))
}

/// Makes a directory that must not exist yet (a job's), root-owned, and refuses anything else
/// in its place (a leftover of the same job id, a link).
fn fresh_dir(path: &std::path::Path, mode: u32, gid: Option<u32>) -> Result<(), WireError> {
    use std::os::unix::fs::DirBuilderExt as _;
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(WireError::new(
                ErrorCode::AlreadyExists,
                format!("{} exists: this job ran already (finish it first)", path.display()),
            ));
        }
        Err(e) => return Err(io(path, e)),
    }
    std::os::unix::fs::chown(path, Some(0), gid).map_err(|e| io(path, e))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|e| io(path, e))
}

/// Creates a new file (never through a link), owned and moded as asked, with `content`.
fn new_file(path: &std::path::Path, owner: (u32, u32), mode: u32, content: &[u8]) -> Result<(), WireError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0))
        .open(path)
        .map_err(|e| io(path, e))?;
    std::os::unix::fs::fchown(&f, Some(owner.0), Some(owner.1)).map_err(|e| io(path, e))?;
    f.write_all(content).map_err(|e| io(path, e))
}

/// Lets corenasd's user read a root-owned file (or list a directory) through a POSIX ACL entry:
/// the storage helper holds no CAP_CHOWN (decision 0014), and the files stay root's, so
/// corenasd can never swap them for links.
fn grant_read(path: &std::path::Path, uid: u32, dir: bool) -> Result<(), WireError> {
    use crate::ops::acl;
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(path, e))?;
    let mode = acl::mode_of(&fd).map_err(|e| io(path, e))?;
    let mut entries = acl::from_mode(mode);
    acl::upsert(&mut entries, acl::RawEntry { tag: acl::USER, perm: if dir { 5 } else { 4 }, id: uid });
    acl::recompute_mask(&mut entries, false);
    acl::write_acl(&fd, acl::XATTR_ACCESS, &entries)
        .map_err(|e| io(path, format!("granting corenasd read access: {e}")))
}

/// A dir only root may change, made if missing (`.corenas-backup` in a btrfs pool).
fn root_only_dir(path: &std::path::Path) -> Result<(), WireError> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(path, e)),
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && m.uid() == 0 && m.mode() & 0o022 == 0 => Ok(()),
        Ok(_) => Err(WireError::not_allowed(format!(
            "{} is not a directory only root can change; refusing to put a snapshot there",
            path.display()
        ))),
        Err(e) => Err(io(path, e)),
    }
}

async fn snapshot(resolved: &Resolved, job: &BackupJobId) -> Result<(), WireError> {
    let cmd = match resolved {
        Resolved::Btrfs { mnt, subvol, .. } => {
            root_only_dir(&mnt.join(source::BTRFS_DIR))?;
            Invocation::of(Program::Btrfs)
                .args(["subvolume", "snapshot", "-r", "--"])
                .args([subvol.display().to_string(), resolved.snapshot_dir(job).display().to_string()])
        }
        Resolved::Zfs { name, .. } => Invocation::of(Program::Zfs)
            .args(["snapshot", "--"])
            .arg(format!("{name}@{}", Resolved::snapshot_name(job))),
    };
    crate::exec::run(&cmd).await.map(|_| ())
}

async fn run_backup(ctx: &Ctx, spec: &BackupRunSpec) -> Result<Vec<String>, WireError> {
    let (uid, gid) = daemon_ids(ctx)?;
    let resolved = source::resolve(ctx, &spec.source).await?;
    // Refused before anything is made: a subpath that is a link or another mount.
    drop(source::open_beneath(resolved.live_dir(), spec.subpath.as_ref())?);
    let repo_dir = local_repo_dir(ctx, spec)?;
    let dirs = JobDirs::of(ctx, &spec.job);
    fresh_dir(&dirs.dir, 0o750, Some(0))?;
    let made = async {
        grant_read(&dirs.dir, uid, true)?;
        for f in [dirs.status(), dirs.stderr()] {
            new_file(&f, (0, 0), 0o640, b"")?;
            grant_read(&f, uid, false)?;
        }
        fresh_dir(&dirs.credentials, 0o700, Some(0))?;
        snapshot(&resolved, &spec.job).await?;
        // Through the snapshot now: it is read-only and beneath root's directories.
        let root = resolved.snapshot_dir(&spec.job);
        let root = match &spec.subpath {
            Some(sub) => {
                drop(source::open_beneath(&root, Some(sub))?);
                root.join(sub.as_str().trim_start_matches('/'))
            }
            None => root,
        };
        runner::start(ctx, spec, &dirs, &root, repo_dir.as_deref(), (uid, gid)).await
    }
    .await;
    if let Err(e) = made {
        // Nothing half-made stays but the snapshot (BackupFinish destroys it) and the status
        // files, which now say why.
        let _ = std::fs::remove_dir_all(&dirs.credentials);
        let _ = std::fs::write(dirs.stderr(), format!("corenas-helper: {}\n", e.message));
        return Err(e);
    }
    Ok(Vec::new())
}

/// A local repository's directory on disk, resolved beneath /mnt/corenas without links.
fn local_repo_dir(ctx: &Ctx, spec: &BackupRunSpec) -> Result<Option<PathBuf>, WireError> {
    let TargetLocation::Local { path } = &spec.repo.location else { return Ok(None) };
    let base = ctx.paths.inside("/mnt/corenas");
    let rel = path.as_str().trim_start_matches("/mnt/corenas/");
    let fd =
        rustix::fs::open(&base, rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY, rustix::fs::Mode::empty())
            .map_err(|e| io(&base, e))?;
    let flags = rustix::fs::ResolveFlags::BENEATH.union(rustix::fs::ResolveFlags::NO_SYMLINKS);
    rustix::fs::openat2(
        &fd,
        rel,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        flags,
    )
    .map_err(|e| {
        let mut w = WireError::not_allowed(format!(
            "local repository {path}: {e} (it must be an existing directory, no symbolic link on the way); refusing"
        ));
        w.field = Some("path".into());
        w
    })?;
    Ok(Some(ctx.paths.inside(path.as_str())))
}

async fn finish(ctx: &Ctx, job: &BackupJobId, source: &SnapshotSource) -> Result<Vec<String>, WireError> {
    if runner::is_running(ctx, job).await? {
        return Err(WireError::new(
            ErrorCode::Busy,
            format!("the runner of {job} is still running; finish the job after it has ended"),
        ));
    }
    let resolved = source::resolve(ctx, source).await?;
    let name = Resolved::snapshot_name(job);
    match &resolved {
        Resolved::Btrfs { mnt, .. } => {
            // By the id btrfs lists for this exact path (never by following a path: pool.rs
            // BtrfsDelete says why); absent: already destroyed.
            let m = mnt.display().to_string();
            let list = Invocation::of(Program::Btrfs).args(["subvolume", "list", "--"]).arg(m.clone());
            let out = String::from_utf8_lossy(&crate::exec::run(&list).await?.stdout).into_owned();
            let want = format!("{}/{job}", source::BTRFS_DIR);
            let id = out.lines().find_map(|l| {
                let (head, path) = l.split_once(" path ")?;
                (path == want).then(|| head.strip_prefix("ID ")?.split_whitespace().next()?.parse::<u64>().ok())?
            });
            if let Some(id) = id {
                let del =
                    Invocation::of(Program::Btrfs).args(["subvolume", "delete", "--subvolid"]).arg(id.to_string());
                crate::exec::run(&del.arg(m)).await?;
            }
        }
        Resolved::Zfs { name: fs, .. } => {
            let snap = format!("{fs}@{name}");
            let q = Invocation::of(Program::Zfs).args(["list", "-H", "-o", "name", "-t", "snapshot", "--"]).arg(&snap);
            let (code, _) = crate::exec::run_raw(&q, std::time::Duration::from_secs(30)).await?;
            if code == Some(0) {
                crate::exec::run(&Invocation::of(Program::Zfs).args(["destroy", "--"]).arg(snap)).await?;
            }
        }
    }
    let dirs = JobDirs::of(ctx, job);
    match std::fs::remove_dir_all(&dirs.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&dirs.dir, e)),
    }
    Ok(Vec::new())
}
