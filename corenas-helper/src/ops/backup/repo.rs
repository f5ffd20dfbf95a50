//! What restic needs to open a repository, split into what may be shown (argv, file paths) and
//! the credential files' contents (secrets), which only ever go to root-only files.

use corenas_proto::backup::{BackupJobId, BackupName, ExcludePattern, RepoAccess, ResticSnapshotId, TargetLocation};
use corenas_proto::{ErrorCode, WireError};
use std::path::{Path, PathBuf};

/// One credential file: its fixed name, the environment variable restic reads its path from
/// (None: a file another tool reads through an option, e.g. ssh's), and its content.
pub struct CredentialFile {
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub content: Vec<u8>,
}

impl Drop for CredentialFile {
    fn drop(&mut self) {
        self.content.iter_mut().for_each(|b| *b = 0);
    }
}

/// Percent-encodes a URL's user or password (RFC 3986 userinfo, unreserved bytes kept).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The repository string restic gets from RESTIC_REPOSITORY_FILE (a REST login is in it).
/// `local_root`: where a local repository is on disk (the lab's prefix applied).
pub fn repository(repo: &RepoAccess, local_root: &dyn Fn(&str) -> PathBuf) -> Result<String, WireError> {
    Ok(match &repo.location {
        TargetLocation::Local { path } => local_root(path.as_str()).display().to_string(),
        TargetLocation::Sftp { path, .. } => format!("sftp:corenas-target:{}", path.as_str()),
        TargetLocation::Rest { url, user, .. } => {
            let u = url.as_str();
            let (scheme, rest) = u.split_once("://").ok_or_else(|| WireError::invalid("url", "no scheme"))?;
            let login = match (user, &repo.secrets.rest_password) {
                (Some(user), Some(pw)) => format!("{}:{}@", pct(user.as_str()), pct(pw.expose())),
                (Some(user), None) => format!("{}@", pct(user.as_str())),
                (None, Some(_)) => return Err(WireError::invalid("user", "a REST password needs a user")),
                (None, None) => String::new(),
            };
            format!("rest:{scheme}://{login}{rest}")
        }
        TargetLocation::S3 { endpoint, bucket, prefix, .. } => {
            let base = endpoint.as_str().trim_end_matches('/');
            match prefix {
                Some(p) => format!("s3:{base}/{bucket}/{}", p.as_str().trim_start_matches('/')),
                None => format!("s3:{base}/{bucket}"),
            }
        }
    })
}

/// Every credential file for this repository (secrets inside; never logged).
pub fn credential_files(
    repo: &RepoAccess,
    local_root: &dyn Fn(&str) -> PathBuf,
    ssh: Option<(&Path, &Path)>,
) -> Result<Vec<CredentialFile>, WireError> {
    let mut out = vec![
        CredentialFile {
            name: "repository",
            env: Some("RESTIC_REPOSITORY_FILE"),
            content: repository(repo, local_root)?.into_bytes(),
        },
        CredentialFile {
            name: "password",
            env: Some("RESTIC_PASSWORD_FILE"),
            content: repo.secrets.repository_password.expose().as_bytes().to_vec(),
        },
    ];
    if let TargetLocation::S3 { .. } = repo.location {
        let (Some(id), Some(key)) = (&repo.secrets.s3_access_key_id, &repo.secrets.s3_secret_access_key) else {
            return Err(WireError::invalid("secrets", "an S3 target needs an access key id and a secret key"));
        };
        // minio-go (restic's S3 client) reads an AWS shared-credentials file when the
        // environment has no keys: the keys stay out of the environment.
        let text =
            format!("[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n", id.expose(), key.expose());
        out.push(CredentialFile {
            name: "s3-credentials",
            env: Some("AWS_SHARED_CREDENTIALS_FILE"),
            content: text.into_bytes(),
        });
    }
    if let TargetLocation::Sftp { host, port, user, .. } = &repo.location {
        let Some(host_key) = &repo.host_key else {
            return Err(WireError::invalid("host_key", "an SFTP target needs its pinned host key"));
        };
        let Some((key, known_hosts)) = ssh else {
            return Err(WireError::internal("no key path for the SFTP target"));
        };
        let host = host.as_str();
        let shown_host = if *port == 22 { host.to_owned() } else { format!("[{host}]:{port}") };
        out.push(CredentialFile {
            name: "known_hosts",
            env: None,
            content: format!("{shown_host} {host_key}\n").into_bytes(),
        });
        let config = format!(
            "Host corenas-target\n  HostName {host}\n  Port {port}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ServerAliveInterval 30\n",
            key.display(),
            known_hosts.display()
        );
        out.push(CredentialFile { name: "ssh_config", env: None, content: config.into_bytes() });
    }
    Ok(out)
}

/// A restic filter pattern for an exclude: anchored ones (`/tmp`) are anchored at the backed-up
/// directory (restic matches them against absolute paths), others match anywhere below it.
fn exclude_arg(root: &Path, e: &ExcludePattern) -> String {
    match e.as_str().strip_prefix('/') {
        Some(rest) => format!("--exclude={}/{rest}", root.display()),
        None => format!("--exclude={}", e.as_str()),
    }
}

pub struct BackupArgs<'a> {
    pub task: &'a BackupName,
    pub job: &'a BackupJobId,
    pub host: &'a str,
    pub cache: &'a Path,
    pub parent: Option<&'a ResticSnapshotId>,
    pub excludes: &'a [ExcludePattern],
    /// The directory restic runs in and backs up as `.`.
    pub root: &'a Path,
    pub repo: &'a RepoAccess,
    /// The ssh_config credential (SFTP).
    pub ssh_config: Option<&'a Path>,
}

/// restic's argv for a backup (no secret: they are in the credential files).
pub fn backup_argv(a: &BackupArgs<'_>) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "backup".into(),
        "--json".into(),
        "--tag".into(),
        format!("corenas-task={}", a.task),
        "--tag".into(),
        format!("corenas-job={}", a.job),
        "--host".into(),
        a.host.to_owned(),
        "--cache-dir".into(),
        a.cache.display().to_string(),
    ];
    if let Some(p) = a.parent {
        v.extend(["--parent".into(), p.to_string()]);
    }
    v.extend(a.excludes.iter().map(|e| exclude_arg(a.root, e)));
    v.extend(location_options(a.repo, a.ssh_config));
    v.extend(["--".into(), ".".into()]);
    v
}

/// `-o` options a location needs (shown; no secret).
pub fn location_options(repo: &RepoAccess, ssh_config: Option<&Path>) -> Vec<String> {
    match (&repo.location, ssh_config) {
        (TargetLocation::Sftp { .. }, Some(cfg)) => {
            vec!["-o".into(), format!("sftp.command=/usr/bin/ssh -F {} corenas-target -s sftp", cfg.display())]
        }
        (TargetLocation::S3 { region: Some(r), .. }, _) => vec!["-o".into(), format!("s3.region={r}")],
        _ => Vec::new(),
    }
}

/// This machine's name for `--host` (restic's default would be the same; said explicitly so a
/// renamed host is visible). Only a plain name is used.
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h = h.trim();
    if !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        h.to_owned()
    } else {
        "corenas".to_owned()
    }
}

/// A local repository must be beneath `/mnt/corenas/` (a pool or a disk CoreNAS mounted) and
/// not inside the source: never `/etc`, `/`, or the data being backed up.
pub fn check_local_repo(repo: &RepoAccess, source_root: &str) -> Result<(), WireError> {
    let TargetLocation::Local { path } = &repo.location else { return Ok(()) };
    let p = path.as_str();
    let refuse = |why: String| {
        let mut e = WireError::new(ErrorCode::NotAllowed, format!("local repository {p}: {why}; refusing"));
        e.field = Some("path".into());
        e
    };
    if !p.starts_with("/mnt/corenas/") || p.split('/').nth(3).is_none_or(str::is_empty) {
        return Err(refuse("a local repository must be beneath /mnt/corenas/<pool or mount>/".into()));
    }
    let inside = |outer: &str| p == outer || p.starts_with(&format!("{}/", outer.trim_end_matches('/')));
    if inside(source_root) {
        return Err(refuse(format!("it is inside the backup's source {source_root}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::backup::TargetSecrets;

    const PW: &str = "Pw-of-the-repo:/@ 1";

    fn access(location: TargetLocation) -> RepoAccess {
        RepoAccess {
            target: "t1".parse().unwrap(),
            location,
            secrets: TargetSecrets {
                repository_password: PW.parse().unwrap(),
                rest_password: Some("rest:p@ss/w".parse().unwrap()),
                s3_access_key_id: Some("AKIDEXAMPLE".parse().unwrap()),
                s3_secret_access_key: Some("s3-Secret-key".parse().unwrap()),
            },
            host_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample".parse().unwrap()),
        }
    }

    fn local(p: &str) -> RepoAccess {
        access(TargetLocation::Local { path: p.parse().unwrap() })
    }

    #[test]
    fn backup_argv_carries_no_secret_and_backs_up_the_current_directory() {
        let repo = local("/mnt/corenas/usb/restic");
        let excludes: Vec<ExcludePattern> = vec!["/tmp".parse().unwrap(), "*.iso".parse().unwrap()];
        let root = Path::new("/mnt/corenas/tank/.corenas-backup/bkp_000007");
        let parent: ResticSnapshotId = "0123abcd".parse().unwrap();
        let argv = backup_argv(&BackupArgs {
            task: &"nightly".parse().unwrap(),
            job: &"bkp_000007".parse().unwrap(),
            host: "nas",
            cache: Path::new("/var/cache/corenas/restic"),
            parent: Some(&parent),
            excludes: &excludes,
            root,
            repo: &repo,
            ssh_config: None,
        });
        assert_eq!(
            argv,
            [
                "backup",
                "--json",
                "--tag",
                "corenas-task=nightly",
                "--tag",
                "corenas-job=bkp_000007",
                "--host",
                "nas",
                "--cache-dir",
                "/var/cache/corenas/restic",
                "--parent",
                "0123abcd",
                "--exclude=/mnt/corenas/tank/.corenas-backup/bkp_000007/tmp",
                "--exclude=*.iso",
                "--",
                "."
            ]
        );
        assert!(argv.iter().all(|a| !a.contains("Pw-of")));
    }

    #[test]
    fn secrets_are_only_in_credential_files() {
        let rest = access(TargetLocation::Rest {
            url: "https://backup.example:8000/repo".parse().unwrap(),
            user: Some("nas".parse().unwrap()),
            append_only: true,
        });
        let files = credential_files(&rest, &|p| PathBuf::from(p), None).unwrap();
        let text = |n: &str| String::from_utf8(files.iter().find(|f| f.name == n).unwrap().content.clone()).unwrap();
        // The REST password is percent-encoded into the URL restic reads from a file.
        assert_eq!(text("repository"), "rest:https://nas:rest%3Ap%40ss%2Fw@backup.example:8000/repo");
        assert_eq!(text("password"), PW);
        assert!(location_options(&rest, None).is_empty());

        let s3 = access(TargetLocation::S3 {
            endpoint: "http://127.0.0.1:9000".parse().unwrap(),
            bucket: "bkt".parse().unwrap(),
            prefix: Some("nas/a".parse().unwrap()),
            region: Some("eu-1".parse().unwrap()),
        });
        let files = credential_files(&s3, &|p| PathBuf::from(p), None).unwrap();
        let creds = files.iter().find(|f| f.name == "s3-credentials").unwrap();
        assert_eq!(creds.env, Some("AWS_SHARED_CREDENTIALS_FILE"));
        let c = String::from_utf8(creds.content.clone()).unwrap();
        assert!(c.contains("aws_access_key_id = AKIDEXAMPLE") && c.contains("aws_secret_access_key = s3-Secret-key"));
        assert_eq!(String::from_utf8(files[0].content.clone()).unwrap(), "s3:http://127.0.0.1:9000/bkt/nas/a");
        assert_eq!(location_options(&s3, None), ["-o", "s3.region=eu-1"]);

        let sftp = access(TargetLocation::Sftp {
            host: "backup.example".parse().unwrap(),
            port: 2222,
            user: "nas".parse().unwrap(),
            path: "restic/nas".parse().unwrap(),
        });
        let key = Path::new("/var/lib/corenas/backup/ssh/t1");
        let kh = Path::new("/run/corenas-backup/bkp_000001/credentials/known_hosts");
        let files = credential_files(&sftp, &|p| PathBuf::from(p), Some((key, kh))).unwrap();
        let text = |n: &str| String::from_utf8(files.iter().find(|f| f.name == n).unwrap().content.clone()).unwrap();
        assert_eq!(text("repository"), "sftp:corenas-target:restic/nas");
        assert_eq!(text("known_hosts"), "[backup.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n");
        let cfg = text("ssh_config");
        assert!(
            cfg.contains("StrictHostKeyChecking yes") && cfg.contains("IdentityFile /var/lib/corenas/backup/ssh/t1")
        );
        let cfg_path = Path::new("/run/corenas-backup/bkp_000001/credentials/ssh_config");
        assert_eq!(
            location_options(&sftp, Some(cfg_path)),
            [
                "-o",
                "sftp.command=/usr/bin/ssh -F /run/corenas-backup/bkp_000001/credentials/ssh_config corenas-target -s sftp"
            ]
        );
    }

    /// Attacker: a local repository at /etc, at the top of /mnt/corenas, or inside the source.
    #[test]
    fn local_repositories_outside_corenas_mounts_or_inside_the_source_are_refused() {
        for bad in ["/etc/restic", "/mnt/corenas", "/root/r", "/mnt/corenasx/r"] {
            let Ok(repo) = std::panic::catch_unwind(|| local(bad)) else { continue };
            let e = check_local_repo(&repo, "/mnt/corenas/tank/data").unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (ErrorCode::NotAllowed, Some("path")), "{bad}: {}", e.message);
        }
        for inside in ["/mnt/corenas/tank/data", "/mnt/corenas/tank/data/repo"] {
            let e = check_local_repo(&local(inside), "/mnt/corenas/tank/data").unwrap_err();
            assert!(e.message.contains("inside the backup's source"), "{inside}: {}", e.message);
        }
        check_local_repo(&local("/mnt/corenas/tank/datarepo"), "/mnt/corenas/tank/data").unwrap();
        check_local_repo(&local("/mnt/corenas/usb1/restic"), "/mnt/corenas/tank").unwrap();
    }
}
