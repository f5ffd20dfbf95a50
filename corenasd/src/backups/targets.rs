//! Backup targets: where restic repositories are. Creating one checks the location, makes a
//! local directory or an SFTP key pair, and then proves the repository: `restic init` where
//! there is none, otherwise it must open with the given password (a wrong password stores
//! nothing and never makes a second repository). Reads never return a secret; deleting a target
//! leaves its repository where it is.

use super::restic::{self, ResticError};
use super::store::{self, StoredTarget};
use crate::daemon::Daemon;
use corenas_proto::api::Change;
use corenas_proto::backup::{BackupName, RepoAccess, RepoLock, TargetInfo, TargetLocation, TargetSpec};
use corenas_proto::helper::{StdinPlan, Step};
use corenas_proto::{ErrorCode, WireError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Where a local repository may be: a pool or a disk CoreNAS mounted (the storage helper's
/// runner refuses any other place too).
pub const LOCAL_ROOT: &str = "/mnt/corenas/";

fn invalid(field: &str, message: String) -> WireError {
    WireError::invalid(field, message)
}

pub fn no_target(name: &str) -> WireError {
    let mut e = WireError::not_found(format!("no backup target '{name}': see `corenas-ctl backup target list`"));
    e.field = Some("target".into());
    e
}

/// What a spec must hold for its kind, before anything is touched.
pub fn check_spec(spec: &TargetSpec) -> Result<(), WireError> {
    let s = &spec.secrets;
    let kind = spec.location.kind();
    match (&spec.location, &spec.host_key) {
        (TargetLocation::Sftp { .. }, None) => {
            return Err(invalid(
                "host_key",
                "an SFTP target needs the server's host key ('ssh-ed25519 AAAA…', as `ssh-keyscan -t ed25519 HOST` prints it after the host name; check it against the server's own /etc/ssh/ssh_host_ed25519_key.pub)".into(),
            ));
        }
        (TargetLocation::Sftp { .. }, Some(_)) => {}
        (_, Some(_)) => return Err(invalid("host_key", format!("a {kind} target takes no host key (SFTP only)"))),
        (_, None) => {}
    }
    match &spec.location {
        TargetLocation::Rest { user, .. } => match (user, &s.rest_password) {
            (Some(_), None) => {
                return Err(invalid("rest_password", "a REST login needs its password (--rest-password-file)".into()));
            }
            (None, Some(_)) => {
                return Err(invalid("user", "a REST password needs the login's user name (--user)".into()));
            }
            _ => {}
        },
        _ if s.rest_password.is_some() => {
            return Err(invalid("rest_password", format!("a {kind} target takes no REST password")));
        }
        _ => {}
    }
    match &spec.location {
        TargetLocation::S3 { .. } if s.s3_access_key_id.is_none() || s.s3_secret_access_key.is_none() => {
            return Err(invalid(
                "s3_access_key_id",
                "an S3 target needs an access key id and a secret access key (CORENAS_S3_ACCESS_KEY_ID and CORENAS_S3_SECRET_ACCESS_KEY, or their files)".into(),
            ));
        }
        TargetLocation::S3 { .. } => {}
        _ if s.s3_access_key_id.is_some() || s.s3_secret_access_key.is_some() => {
            return Err(invalid("s3_access_key_id", format!("a {kind} target takes no S3 keys")));
        }
        _ => {}
    }
    if let TargetLocation::Local { path } = &spec.location {
        check_local_path(path.as_str())?;
    }
    Ok(())
}

/// A local repository is beneath `/mnt/corenas/<pool or disk>/`, never the mount point itself.
pub fn check_local_path(p: &str) -> Result<(), WireError> {
    let below = p.strip_prefix(LOCAL_ROOT).unwrap_or_default();
    if below.split('/').filter(|c| !c.is_empty()).count() < 2 {
        return Err(invalid(
            "path",
            format!(
                "local repository path '{p}' is not accepted: use a directory beneath {LOCAL_ROOT}<pool or disk>/ (for example {LOCAL_ROOT}usb1/restic), not a pool's or disk's top"
            ),
        ));
    }
    Ok(())
}

/// Whether one absolute path is the other or inside it.
pub fn overlaps(a: &str, b: &str) -> bool {
    let inside = |x: &str, outer: &str| x == outer || x.starts_with(&format!("{}/", outer.trim_end_matches('/')));
    inside(a, b) || inside(b, a)
}

pub fn repo_access(t: &StoredTarget) -> RepoAccess {
    RepoAccess {
        target: t.name.clone(),
        location: t.location.clone(),
        secrets: t.secrets.clone(),
        host_key: t.host_key.clone(),
    }
}

fn info(t: &StoredTarget) -> TargetInfo {
    TargetInfo {
        name: t.name.clone(),
        location: t.location.clone(),
        host_key: t.host_key.clone(),
        public_key: t.public_key.clone(),
        created_at: t.created.clone(),
    }
}

pub fn list(d: &Daemon) -> Result<Vec<TargetInfo>, WireError> {
    Ok(d.with_state(|s| store::targets(s.conn()))?.iter().map(info).collect())
}

pub fn show(d: &Daemon, name: &BackupName) -> Result<TargetInfo, WireError> {
    d.with_state(|s| store::target(s.conn(), name.as_str()))?.map(|t| info(&t)).ok_or_else(|| no_target(name.as_str()))
}

/// The stored target with its secrets, for restic only.
pub fn stored(d: &Daemon, name: &BackupName) -> Result<StoredTarget, WireError> {
    d.with_state(|s| store::target(s.conn(), name.as_str()))?.ok_or_else(|| no_target(name.as_str()))
}

/// The locks in a target's repository (a stale one is reported with its age; never removed).
pub async fn locks(d: &Daemon, name: &BackupName) -> Result<Vec<RepoLock>, WireError> {
    let t = stored(d, name)?;
    Ok(d.backups.restic.locks(&repo_access(&t)).await?)
}

/// The source roots of the tasks (pools and datasets by their mount point, shares by their
/// directory), with the task's name: a local repository inside one would back itself up.
fn task_roots(d: &Daemon) -> Result<Vec<(String, String)>, WireError> {
    let tasks = d.with_state(|s| store::tasks(s.conn()))?;
    Ok(tasks.into_iter().map(|t| (t.spec.name.to_string(), super::tasks::source_root(d, &t.spec.source))).collect())
}

/// The restic command line a step shows (no secret is in it).
fn restic_step(d: &Daemon, repo: &RepoAccess, args: &[&str]) -> Result<Step, WireError> {
    let a: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let inv = d.backups.restic.invocation(repo, &a)?;
    let names: Vec<&str> =
        inv.env.iter().map(|(k, _)| *k).filter(|k| k.starts_with("RESTIC_") || k.starts_with("AWS_")).collect();
    Ok(Step::Exec {
        program: inv.program.display().to_string(),
        args: inv.args,
        stdin: if names.is_empty() {
            StdinPlan::Nothing
        } else {
            StdinPlan::Secret(format!("environment: {}", names.join(", ")))
        },
    })
}

pub async fn create(d: &Daemon, spec: &TargetSpec, dry_run: bool) -> Result<Change<TargetInfo>, WireError> {
    let _one_at_a_time = d.backups.lock.lock().await;
    check_spec(spec)?;
    if d.with_state(|s| store::target(s.conn(), spec.name.as_str()))?.is_some() {
        return Err(WireError::new(ErrorCode::AlreadyExists, format!("backup target {} already exists", spec.name)));
    }
    let restic = &d.backups.restic;
    let repo = RepoAccess {
        target: spec.name.clone(),
        location: spec.location.clone(),
        secrets: spec.secrets.clone(),
        host_key: spec.host_key.clone(),
    };
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let (mut ssh_key, mut public_key) = (None, None);
    if let TargetLocation::Local { path } = &spec.location {
        for (task, root) in task_roots(d)? {
            if overlaps(path.as_str(), &root) {
                return Err(invalid(
                    "path",
                    format!(
                        "local repository path '{path}' overlaps the source of backup task {task} ({root}): a backup would contain its own repository"
                    ),
                ));
            }
        }
        let dir = restic.local_dir(path.as_str());
        steps.push(Step::Check { what: format!("create {} (corenasd's user, 0700) unless it exists", dir.display()) });
        if !dry_run {
            make_local_dir(&dir)?;
        }
    }
    if let (TargetLocation::Sftp { .. }, Some(host_key)) = (&spec.location, &spec.host_key) {
        let key = restic.private_key(&spec.name);
        steps.push(Step::Exec {
            program: SSH_KEYGEN.into(),
            args: keygen_args(&spec.name, &key),
            stdin: StdinPlan::Nothing,
        });
        steps.push(Step::WriteFile {
            path: restic.known_hosts(&spec.name).display().to_string(),
            diff: format!("+{}", known_hosts_line(&spec.name, host_key.as_str()).trim_end()),
        });
        if !dry_run {
            public_key = Some(ensure_key_pair(restic, &spec.name).await?);
            write_private(&restic.known_hosts(&spec.name), known_hosts_line(&spec.name, host_key.as_str()).as_bytes())?;
            ssh_key = Some(key.display().to_string());
        }
    }
    steps.push(restic_step(d, &repo, &["--no-lock", "cat", "config"])?);
    steps.push(restic_step(d, &repo, &["init", "--repository-version", "2"])?);
    if dry_run {
        warnings.push("restic opens the repository if there is one (with this password), else creates it".into());
        let t = StoredTarget {
            name: spec.name.clone(),
            location: spec.location.clone(),
            secrets: spec.secrets.clone(),
            host_key: spec.host_key.clone(),
            ssh_key: None,
            public_key: None,
            created: String::new(),
        };
        return Ok(Change { warnings, ..Change::planned(true, steps, Some(info(&t))) });
    }
    let created = match restic.init_or_open(&repo).await {
        Ok(created) => created,
        Err(e) => {
            let hint = match (&e, &public_key) {
                (ResticError::LoginRefused { .. } | ResticError::Unreachable { .. }, Some(pk))
                    if matches!(spec.location, TargetLocation::Sftp { .. }) =>
                {
                    format!(
                        "; if the server does not know CoreNAS's key yet, add this line to the authorized_keys of the login on the server, then run the same command again (the key is kept): {pk}"
                    )
                }
                _ => String::new(),
            };
            let mut w = WireError::from(e);
            w.message.push_str(&hint);
            return Err(w);
        }
    };
    warnings.push(if created {
        format!("a new restic repository was created at {}", restic::describe_location(&spec.location))
    } else {
        format!(
            "an existing restic repository at {} was opened with the given password; its snapshots are kept",
            restic::describe_location(&spec.location)
        )
    });
    let t = StoredTarget {
        name: spec.name.clone(),
        location: spec.location.clone(),
        secrets: spec.secrets.clone(),
        host_key: spec.host_key.clone(),
        ssh_key,
        public_key,
        created: crate::state::now_rfc3339().map_err(WireError::from)?,
    };
    d.with_state(|s| store::insert_target(s.conn(), &t))?;
    if let Some(pk) = &t.public_key {
        warnings.push(format!("CoreNAS's public key for this target (in the server's authorized_keys): {pk}"));
    }
    Ok(Change { warnings, ..Change::planned(false, steps, Some(info(&t))) })
}

/// Removes a target that no task uses; its repository stays where it is, with every snapshot.
pub async fn delete(d: &Daemon, name: &BackupName, dry_run: bool) -> Result<Change<()>, WireError> {
    let _one_at_a_time = d.backups.lock.lock().await;
    let t = stored(d, name)?;
    let users = d.with_state(|s| store::tasks_of_target(s.conn(), name.as_str()))?;
    if !users.is_empty() {
        return Err(WireError::new(
            ErrorCode::Busy,
            format!(
                "backup target {name} is used by task(s) {}: remove them or move them to another target first",
                users.join(", ")
            ),
        ));
    }
    let ssh_dir = d.backups.restic.ssh_dir(name);
    let mut steps = vec![Step::Check { what: format!("forget target {name} (its repository is not touched)") }];
    if t.ssh_key.is_some() || ssh_dir.exists() {
        steps.push(Step::RemoveFile { path: ssh_dir.display().to_string() });
    }
    if !dry_run {
        d.with_state(|s| store::delete_target(s.conn(), name.as_str()))?;
        if ssh_dir.exists() {
            std::fs::remove_dir_all(&ssh_dir).map_err(|e| {
                WireError::internal(format!(
                    "target {name} is removed, but its key directory {} is left: {e}",
                    ssh_dir.display()
                ))
            })?;
        }
    }
    let warnings = vec![format!(
        "the repository at {} is left in place with all its snapshots; delete it there if it is no longer needed",
        restic::describe_location(&t.location)
    )];
    Ok(Change { warnings, ..Change::planned(dry_run, steps, None) })
}

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

fn keygen_args(name: &BackupName, key: &Path) -> Vec<String> {
    [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        &format!("corenas-backup-{}", name.as_str()),
        "-f",
        &key.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn known_hosts_line(name: &BackupName, host_key: &str) -> String {
    format!("{} {host_key}\n", restic::host_key_alias(name))
}

/// The target's key pair (made now unless a previous attempt with this name left one); returns
/// the public key's line.
async fn ensure_key_pair(r: &restic::Restic, name: &BackupName) -> Result<String, WireError> {
    let dir = r.ssh_dir(name);
    let key = r.private_key(name);
    let public = key.with_extension("pub");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| WireError::internal(format!("cannot create {}: {e}", dir.display())))?;
    if !(key.exists() && public.exists()) {
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(&public);
        let out = tokio::process::Command::new(SSH_KEYGEN)
            .args(keygen_args(name, &key))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| WireError::new(ErrorCode::ToolFailed, format!("{SSH_KEYGEN} could not be started: {e}")))?;
        if !out.status.success() {
            return Err(WireError::new(
                ErrorCode::ToolFailed,
                format!("ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
    }
    let line = std::fs::read_to_string(&public)
        .map_err(|e| WireError::internal(format!("cannot read {}: {e}", public.display())))?;
    Ok(line.trim().to_owned())
}

/// Writes a file only corenasd's user reads (0600), replacing what was there.
fn write_private(path: &Path, content: &[u8]) -> Result<(), WireError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| WireError::internal(format!("cannot write {}: {e}", tmp.display())))?;
    f.write_all(content)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| WireError::internal(format!("cannot write {}: {e}", path.display())))
}

/// A local repository's directory, made by corenasd's user (restic then writes into it as that
/// user). An existing directory must be empty or hold a restic repository.
fn make_local_dir(dir: &Path) -> Result<(), WireError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            let uid = rustix::process::getuid().as_raw();
            let parent = dir.parent().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(WireError::new(
                ErrorCode::NotAllowed,
                format!(
                    "corenasd (uid {uid}) cannot create {} ({e}): its parent {parent} must exist and be writable by corenasd's user. Make the directory for it first, e.g. `install -d -o corenas -g corenas -m 0700 {}`, then run this again",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| WireError::internal(format!("{}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(invalid("path", format!("{} exists and is not a directory", dir.display())));
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| WireError::new(ErrorCode::NotAllowed, format!("cannot read {}: {e}", dir.display())))?;
    let empty = entries.next().is_none();
    if !empty && !dir.join("config").exists() {
        return Err(invalid(
            "path",
            format!(
                "{} holds files but no restic repository: use an empty directory or an existing repository",
                dir.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(location: &str, host_key: Option<&str>, extra: &str) -> Result<TargetSpec, serde_json::Error> {
        let hk = host_key.map_or("null".to_owned(), |k| format!("\"{k}\""));
        serde_json::from_str(&format!(
            r#"{{"name":"t1","location":{location},"host_key":{hk},
                "secrets":{{"repository_password":"correct horse battery"{extra}}}}}"#
        ))
    }

    const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn each_kind_needs_its_own_credentials_and_no_others() {
        let local = r#"{"local":{"path":"/mnt/corenas/usb1/restic"}}"#;
        let sftp = r#"{"sftp":{"host":"nas2.example.net","port":22,"user":"nas","path":"restic"}}"#;
        let rest = r#"{"rest":{"url":"https://rest.example.net/","user":"nas","append_only":false}}"#;
        let s3 = r#"{"s3":{"endpoint":"http://127.0.0.1:9000","bucket":"nas","prefix":null,"region":null}}"#;
        let field = |s: TargetSpec| check_spec(&s).err().and_then(|e| e.field);
        assert_eq!(field(spec(local, None, "").unwrap()), None);
        assert_eq!(field(spec(sftp, None, "").unwrap()).as_deref(), Some("host_key"));
        assert_eq!(field(spec(sftp, Some(HOST_KEY), "").unwrap()), None);
        assert_eq!(field(spec(local, Some(HOST_KEY), "").unwrap()).as_deref(), Some("host_key"));
        assert_eq!(field(spec(rest, None, "").unwrap()).as_deref(), Some("rest_password"));
        assert_eq!(field(spec(rest, None, r#","rest_password":"pw""#).unwrap()), None);
        assert_eq!(field(spec(local, None, r#","rest_password":"pw""#).unwrap()).as_deref(), Some("rest_password"));
        assert_eq!(field(spec(s3, None, r#","s3_access_key_id":"K""#).unwrap()).as_deref(), Some("s3_access_key_id"));
        assert_eq!(field(spec(s3, None, r#","s3_access_key_id":"K","s3_secret_access_key":"S""#).unwrap()), None);
        assert_eq!(
            field(spec(local, None, r#","s3_access_key_id":"K""#).unwrap()).as_deref(),
            Some("s3_access_key_id")
        );
    }

    #[test]
    fn a_local_repository_is_beneath_a_pool_or_disk_and_never_its_top() {
        for good in ["/mnt/corenas/usb1/restic", "/mnt/corenas/tank/backups/nas1"] {
            assert!(check_local_path(good).is_ok(), "{good}");
        }
        for bad in
            ["/etc/restic", "/", "/mnt/corenas/usb1", "/mnt/corenasx/a/b", "/storage/docs/repo", "/var/lib/corenas/r"]
        {
            let e = check_local_path(bad).expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("path"), "{bad}");
        }
    }

    #[test]
    fn overlap_is_either_way_and_by_whole_components() {
        assert!(overlaps("/mnt/corenas/tank/repo", "/mnt/corenas/tank"));
        assert!(overlaps("/mnt/corenas/tank", "/mnt/corenas/tank/docs"));
        assert!(overlaps("/mnt/corenas/tank", "/mnt/corenas/tank"));
        assert!(!overlaps("/mnt/corenas/tank2/repo", "/mnt/corenas/tank"));
        assert!(!overlaps("/mnt/corenas/usb/repo", "/mnt/corenas/tank/docs"));
    }

    #[test]
    fn the_pinned_host_key_is_filed_under_the_targets_alias() {
        let name: BackupName = "offsite".parse().unwrap();
        assert_eq!(known_hosts_line(&name, HOST_KEY), format!("corenas-backup-offsite {HOST_KEY}\n"));
        let args = keygen_args(&name, Path::new("/s/backup/ssh/offsite/id_ed25519"));
        assert_eq!(args[..5], ["-q", "-t", "ed25519", "-N", ""], "no passphrase: corenasd's runs are unattended");
    }
}
