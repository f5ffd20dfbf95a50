//! The runner: restic as corenasd's user with CAP_DAC_READ_SEARCH only. With systemd as PID 1 a
//! transient unit (transient.rs) started by PID 1 with its own sandbox; in the lab the servant
//! (lab_mounts.rs) starts it through `setpriv`, since the sandboxed helper cannot change uid.

use super::repo::{self, BackupArgs};
use super::{JobDirs, new_file};
use crate::ops::Ctx;
use crate::transient::{self, Kind, Sandbox, Target};
use corenas_proto::backup::{BackupJobId, BackupRunSpec, TargetLocation};
use corenas_proto::helper::{Step, ToolOutput};
use corenas_proto::{ErrorCode, WireError};
use std::path::{Path, PathBuf};

/// Where the runners' restic cache is (systemd's CacheDirectory=corenas/restic in production).
fn cache_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths.backup_cache_dir()
}

/// corenasd keeps an SFTP target's private key here (as the managed system sees it).
fn ssh_key(ctx: &Ctx, spec: &BackupRunSpec) -> PathBuf {
    ctx.paths.inside(&format!("/var/lib/corenas/backup/ssh/{}", spec.repo.target))
}

fn args(ctx: &Ctx, spec: &BackupRunSpec, root: &Path, dirs: &JobDirs) -> Vec<String> {
    let host = repo::hostname();
    let cache = cache_dir(ctx);
    let ssh_config = dirs.credentials.join("ssh_config");
    repo::backup_argv(&BackupArgs {
        task: &spec.task,
        job: &spec.job,
        host: &host,
        cache: &cache,
        parent: spec.parent.as_ref(),
        excludes: &spec.excludes,
        root,
        repo: &spec.repo,
        ssh_config: matches!(spec.repo.location, TargetLocation::Sftp { .. }).then_some(ssh_config.as_path()),
    })
}

/// The step a dry run shows for starting the runner.
pub fn plan_step(ctx: &Ctx, spec: &BackupRunSpec) -> Step {
    let dirs = JobDirs::of(ctx, &spec.job);
    let root = PathBuf::from("<snapshot>");
    let argv = args(ctx, spec, &root, &dirs);
    let how = if transient::systemd_is_pid1() {
        format!(
            "systemd-run --unit=corenas-backup-{}-{}.service (User=corenasd's, CAP_DAC_READ_SEARCH only, \
             LoadCredential= the credential files, WorkingDirectory=<snapshot>)",
            transient::escape(spec.task.as_str()),
            spec.job
        )
    } else {
        "lab servant: setpriv --reuid=<corenasd> --regid=<corenasd> --clear-groups --inh-caps=-all,+dac_read_search \
         --ambient-caps=-all,+dac_read_search --bounding-set=-all,+dac_read_search --no-new-privs (in <snapshot>)"
            .to_owned()
    };
    Step::Exec {
        program: "/usr/bin/restic".into(),
        args: argv,
        stdin: corenas_proto::helper::StdinPlan::Secret(format!(
            "none; secrets in {} (RESTIC_*_FILE); started by {how}",
            dirs.credentials.display()
        )),
    }
}

/// Writes the credential files and starts the runner.
pub async fn start(
    ctx: &Ctx,
    spec: &BackupRunSpec,
    dirs: &JobDirs,
    root: &Path,
    repo_dir: Option<&Path>,
    (uid, gid): (u32, u32),
) -> Result<(), WireError> {
    let local = |p: &str| ctx.paths.inside(p);
    let key = ssh_key(ctx, spec);
    let known_hosts = dirs.credentials.join("known_hosts");
    let files = repo::credential_files(&spec.repo, &local, Some((key.as_path(), known_hosts.as_path())))?;
    for f in &files {
        new_file(&dirs.credentials.join(f.name), (0, 0), 0o600, &f.content)?;
    }
    let argv = args(ctx, spec, root, dirs);
    let cache = cache_dir(ctx);
    prepare_cache(&cache, uid, gid)?;
    if transient::systemd_is_pid1() {
        let mut work = crate::exec::Invocation::of(crate::exec::Program::Restic).args(argv);
        work.env = Vec::new();
        let sandbox = Sandbox {
            capabilities: vec!["CAP_DAC_READ_SEARCH"],
            read_write: repo_dir.map(|d| vec![d.display().to_string()]).unwrap_or_default(),
            user: Some(uid.to_string()),
            network: !matches!(spec.repo.location, TargetLocation::Local { .. }),
            credentials: files
                .iter()
                .filter(|f| f.env.is_some())
                .map(|f| (f.name, dirs.credentials.join(f.name).display().to_string(), f.env))
                .collect(),
            environment: vec![("RESTIC_PROGRESS_FPS", "0.5".into())],
            working_directory: Some(root.display().to_string()),
            output: Some((dirs.status().display().to_string(), dirs.stderr().display().to_string())),
            cache_directory: Some("corenas/restic"),
            spaces_in_args: true,
            ..Default::default()
        };
        let plan = transient::plan_job(Kind::Backup, Target::Task(&spec.task), &work, &sandbox, &spec.job)?;
        return plan.start().await;
    }
    let Some(servant) = &ctx.lab_mounter else {
        return Err(WireError::new(ErrorCode::InvalidState, "no backup runner here (no systemd, no --lab-mounts)"));
    };
    let mut env: Vec<(String, String)> = files
        .iter()
        .filter_map(|f| f.env.map(|e| (e.to_owned(), dirs.credentials.join(f.name).display().to_string())))
        .collect();
    env.push(("RESTIC_PROGRESS_FPS".into(), "0.5".into()));
    let pid = servant.start_runner(crate::lab_mounts::LabRunner {
        uid,
        gid,
        cwd: root.to_path_buf(),
        args: argv,
        env,
        stdout: dirs.status(),
        stderr: dirs.stderr(),
        exit_status: dirs.credentials.join("exit-status"),
    })?;
    let started = start_time(pid).unwrap_or_default();
    new_file(&dirs.credentials.join("runner"), (0, 0), 0o600, format!("{pid} {started}\n").as_bytes())?;
    tracing::info!(runner = "lab servant (setpriv)", pid, job = %spec.job, "started");
    Ok(())
}

/// `/var/cache/corenas/restic`, owned by corenasd's user (systemd makes it for a unit; the lab
/// runner needs it made). The parent is root's.
fn prepare_cache(cache: &Path, uid: u32, gid: u32) -> Result<(), WireError> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    if transient::systemd_is_pid1() {
        return Ok(());
    }
    match std::fs::DirBuilder::new().mode(0o700).create(cache) {
        Ok(()) => std::os::unix::fs::chown(cache, Some(uid), Some(gid))
            .map_err(|e| WireError::internal(format!("{}: {e}", cache.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match std::fs::symlink_metadata(cache) {
            Ok(m) if m.is_dir() && m.uid() == uid => Ok(()),
            _ => Err(WireError::not_allowed(format!("{} is not corenasd's directory; refusing", cache.display()))),
        },
        Err(e) => Err(WireError::internal(format!("{}: {e}", cache.display()))),
    }
}

/// A process's start time (field 22 of /proc/<pid>/stat): a pid alone may be reused.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The lab runner's state from the helper's own record.
fn lab_state(ctx: &Ctx, job: &BackupJobId) -> String {
    let creds = JobDirs::of(ctx, job).credentials;
    if let Ok(s) = std::fs::read_to_string(creds.join("exit-status")) {
        return format!("exited status={}", s.trim());
    }
    let Ok(rec) = std::fs::read_to_string(creds.join("runner")) else { return "unknown".into() };
    let mut f = rec.split_whitespace();
    let (Some(pid), Some(started)) = (f.next().and_then(|p| p.parse::<u32>().ok()), f.next()) else {
        return "unknown".into();
    };
    match start_time(pid) {
        Some(t) if t.to_string() == started => format!("running pid={pid}"),
        _ => "gone".into(),
    }
}

/// `StorageQuery::BackupRunner`.
pub async fn runner_state(ctx: &Ctx, job: &BackupJobId) -> Result<ToolOutput, WireError> {
    if transient::systemd_is_pid1() {
        return transient::job_unit_status(Kind::Backup, job.as_str()).await;
    }
    Ok(ToolOutput { code: Some(0), stdout: format!("{}\n", lab_state(ctx, job)), stderr: String::new() })
}

pub async fn is_running(ctx: &Ctx, job: &BackupJobId) -> Result<bool, WireError> {
    if transient::systemd_is_pid1() {
        let out = transient::job_unit_status(Kind::Backup, job.as_str()).await?;
        return Ok(out.stdout.lines().any(|l| {
            ["ActiveState=active", "ActiveState=activating", "ActiveState=deactivating"].contains(&l.trim())
        }));
    }
    Ok(lab_state(ctx, job).starts_with("running"))
}
