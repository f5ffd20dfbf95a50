//! corenasd's restic runner: the one place in corenasd that builds a restic command line
//! (decision 0020). It runs the repository work that reads no source (init, snapshots, the
//! retention preview, ls, locks) as corenasd's own user.
//!
//! Secrets never reach argv: the repository password, S3 keys and a REST login travel in the
//! environment (`/proc/<pid>/environ` is readable by the same uid only), and an SFTP target's
//! private key and pinned host key are files named in ssh's options. restic runs with a clean
//! environment, a timeout, and is killed when its future is dropped. Its stderr is scrubbed of
//! every secret before it reaches an error.

use corenas_proto::backup::{
    BackupName, KeepPolicy, RepoAccess, RepoLock, ResticSnapshotId, RetentionPreview, SnapshotEntry, SnapshotInfo,
    SnapshotListing, SnapshotPath, TargetLocation,
};
use corenas_proto::{ErrorCode, WireError};
use serde::Deserialize;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Debian 12's restic (0.14.0).
pub const RESTIC: &str = "/usr/bin/restic";
/// Debian's OpenSSH client, which restic starts for an SFTP repository.
pub const SSH: &str = "/usr/bin/ssh";

/// restic 0.14 has no exit codes for these (0.17 added 10, 11, 12), so its stderr texts are
/// recognised: decision 0020's "Test targets" lists them per backend as the tests saw them.
const WRONG_PASSWORD: &str = "wrong password or no key found";
const NO_REPOSITORY: &str = "Is there a repository at the following location?";
const LOCK_FAILED: &str = "unable to create lock";
const ALREADY_LOCKED: &str = "repository is already locked";
/// What a transport says when the other side cannot be reached (Go's net package, ssh, DNS).
const UNREACHABLE: &[&str] = &[
    "connection refused",
    "no route to host",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "Connection refused",
    "Connection timed out",
    "Could not resolve hostname",
    "No route to host",
    "ssh command exited",
    "unable to start the sftp session",
    "dial tcp",
];

/// What a server says when it refuses CoreNAS's login (REST 401, S3 signature or key id, ssh key).
const REFUSED: &[&str] = &[
    "401 Unauthorized",
    "The request signature we calculated does not match",
    "The AWS Access Key Id you provided does not exist",
    "Permission denied (publickey",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
];
/// ssh's answer when the server's host key is not the pinned one.
const HOST_KEY_MISMATCH: &str = "Host key verification failed";

/// Longest stderr tail kept in an error (after scrubbing).
const STDERR_TAIL: usize = 1500;
/// Longest stderr kept while restic runs.
const STDERR_KEEP: usize = 64 * 1024;
/// Largest stdout read (a `snapshots` listing of a busy repository is a few MiB at most).
const STDOUT_MAX: usize = 64 * 1024 * 1024;

/// How long each kind of repository work may take before restic is killed. restic retries a
/// failing backend for minutes; a client waits 60 s for an answer, so corenasd answers first,
/// with restic's words.
pub const QUICK: Duration = Duration::from_secs(45);
pub const SLOW: Duration = Duration::from_secs(55);

/// Why a restic run failed, in the words an admin acts on.
#[derive(Debug, thiserror::Error)]
pub enum ResticError {
    #[error("{program} could not be started: {error}")]
    NotStarted { program: String, error: String },
    #[error("restic {what} did not finish within {secs} s and was stopped{said}")]
    Timeout { what: String, secs: u64, said: String },
    #[error(
        "the repository of target {target} does not open with the stored password (restic: wrong password or no key found)"
    )]
    WrongPassword { target: String },
    #[error("there is no restic repository at target {target}'s location {location} ({detail})")]
    NoRepository { target: String, location: String, detail: String },
    #[error(
        "the repository of target {target} is locked by another restic (a backup, check or prune running, or a stale lock): {detail}; CoreNAS never removes a lock by itself"
    )]
    Locked { target: String, detail: String },
    #[error(
        "the SFTP server of target {target} did not show the pinned host key (ssh: Host key verification failed); if the server's key was changed on purpose, create the target again with the new key"
    )]
    HostKeyMismatch { target: String },
    #[error("the server of target {target} refused CoreNAS's login or keys: {detail}")]
    LoginRefused { target: String, detail: String },
    #[error("target {target} cannot be reached: {detail}")]
    Unreachable { target: String, detail: String },
    #[error("restic {what} failed (exit {code}): {stderr}")]
    Failed { what: String, code: String, stderr: String },
    #[error("restic {what} answered what CoreNAS cannot read: {error}")]
    BadOutput { what: String, error: String },
    #[error("{0}")]
    Setup(String),
}

impl From<ResticError> for WireError {
    fn from(e: ResticError) -> Self {
        let code = match &e {
            ResticError::NotStarted { .. } | ResticError::Failed { .. } | ResticError::BadOutput { .. } => {
                ErrorCode::ToolFailed
            }
            ResticError::Timeout { .. } => ErrorCode::ToolTimeout,
            ResticError::WrongPassword { .. } => {
                return WireError::invalid("repository_password", e.to_string());
            }
            ResticError::NoRepository { .. } => ErrorCode::NotFound,
            ResticError::Locked { .. } => ErrorCode::Busy,
            ResticError::Unreachable { .. }
            | ResticError::HostKeyMismatch { .. }
            | ResticError::LoginRefused { .. } => ErrorCode::ToolFailed,
            ResticError::Setup(_) => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

/// A command line ready to run: argv holds no secret, env holds all of them.
#[derive(Clone)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(&'static str, String)>,
    /// Every secret value in `env` (and its URL-encoded form), scrubbed from what restic says.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Invocation {
    // The environment holds the secrets: only its names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| *k).collect();
        f.debug_struct("Invocation")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &names)
            .finish()
    }
}

/// corenasd's restic: the program and the directory it keeps restic's cache, home and the SFTP
/// keys in (`<state>/backup`).
#[derive(Debug, Clone)]
pub struct Restic {
    pub program: PathBuf,
    pub ssh: PathBuf,
    pub dir: PathBuf,
    /// The managed system's root (the lab's prefix; `/` in production): a local repository's
    /// path is beneath it.
    pub root: PathBuf,
}

impl Restic {
    pub fn new(dir: PathBuf) -> Self {
        Self { program: PathBuf::from(RESTIC), ssh: PathBuf::from(SSH), dir, root: PathBuf::from("/") }
    }

    /// Where a local repository is on disk (its path beneath the managed system's root).
    pub fn local_dir(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// An SFTP target's key pair and pinned host key live here (names are validated
    /// `BackupName`s: plain, no '/').
    pub fn ssh_dir(&self, target: &BackupName) -> PathBuf {
        self.dir.join("ssh").join(target.as_str())
    }

    pub fn private_key(&self, target: &BackupName) -> PathBuf {
        self.ssh_dir(target).join("id_ed25519")
    }

    pub fn known_hosts(&self, target: &BackupName) -> PathBuf {
        self.ssh_dir(target).join("known_hosts")
    }

    /// The command line for `args` against `repo`: `-r` (unless the location carries a login),
    /// the cache, extended options, then `args`.
    pub fn invocation(&self, repo: &RepoAccess, args: &[String]) -> Result<Invocation, ResticError> {
        let mut argv: Vec<String> = Vec::new();
        let mut env: Vec<(&'static str, String)> = vec![
            ("PATH", "/usr/bin:/bin".into()),
            ("HOME", plain_path(&self.dir)?.to_owned()),
            ("XDG_CACHE_HOME", plain_path(&self.cache_dir())?.to_owned()),
            ("LC_ALL", "C".into()),
            ("RESTIC_PASSWORD", repo.secrets.repository_password.expose().to_owned()),
        ];
        let mut secrets = vec![repo.secrets.repository_password.expose().to_owned()];
        match &repo.location {
            TargetLocation::Local { path } => {
                argv.extend(["-r".into(), self.local_dir(path.as_str()).display().to_string()]);
            }
            TargetLocation::Sftp { host, port, user, path } => {
                let host = host.as_str();
                // restic needs the host in the location even though the command names it.
                let shown_host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
                argv.extend(["-r".into(), format!("sftp:{}@{shown_host}:{}", user.as_str(), path.as_str())]);
                argv.extend([
                    "-o".into(),
                    format!("sftp.command={}", self.ssh_command(&repo.target, host, *port, user.as_str())?),
                ]);
            }
            TargetLocation::Rest { url, user, .. } => {
                let base = url.as_str();
                match (user, &repo.secrets.rest_password) {
                    (Some(user), Some(password)) => {
                        // The login is part of the URL, so the whole location goes in the environment.
                        let (scheme, rest) = base.split_once("://").ok_or_else(|| {
                            ResticError::Setup(format!("target {}: the REST URL has no scheme", repo.target))
                        })?;
                        let encoded = percent_encode(password.expose());
                        env.push(("RESTIC_REPOSITORY", format!("rest:{scheme}://{}:{encoded}@{rest}", user.as_str())));
                        secrets.push(password.expose().to_owned());
                        secrets.push(encoded);
                    }
                    (Some(_), None) => {
                        return Err(ResticError::Setup(format!(
                            "target {}: a REST login needs its password (none is stored)",
                            repo.target
                        )));
                    }
                    (None, _) => argv.extend(["-r".into(), format!("rest:{base}")]),
                }
            }
            TargetLocation::S3 { endpoint, bucket, prefix, region } => {
                let base = endpoint.as_str().trim_end_matches('/');
                let mut location = format!("s3:{base}/{}", bucket.as_str());
                if let Some(p) = prefix {
                    location.push('/');
                    location.push_str(p.as_str().trim_start_matches('/'));
                }
                argv.extend(["-r".into(), location]);
                if let Some(r) = region {
                    argv.extend(["-o".into(), format!("s3.region={}", r.as_str())]);
                }
                for (name, value) in [
                    ("AWS_ACCESS_KEY_ID", &repo.secrets.s3_access_key_id),
                    ("AWS_SECRET_ACCESS_KEY", &repo.secrets.s3_secret_access_key),
                ] {
                    let value = value.as_ref().ok_or_else(|| {
                        ResticError::Setup(format!("target {}: S3 needs {name} (none is stored)", repo.target))
                    })?;
                    env.push((name, value.expose().to_owned()));
                    secrets.push(value.expose().to_owned());
                }
            }
        }
        argv.extend(["--cache-dir".into(), plain_path(&self.cache_dir())?.to_owned()]);
        argv.extend(args.iter().cloned());
        secrets.retain(|s| !s.is_empty());
        Ok(Invocation { program: self.program.clone(), args: argv, env, secrets })
    }

    /// ssh for restic's SFTP transport: this target's key only, the pinned host key only (no
    /// global or user known_hosts, no config file, no agent, no prompt). restic splits the
    /// option's value at spaces, so every path in it is plain.
    fn ssh_command(&self, target: &BackupName, host: &str, port: u16, user: &str) -> Result<String, ResticError> {
        let key = self.private_key(target);
        let known = self.known_hosts(target);
        Ok([
            plain_path(&self.ssh)?,
            "-F",
            "/dev/null",
            "-i",
            plain_path(&key)?,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            &format!("UserKnownHostsFile={}", plain_path(&known)?),
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            &format!("HostKeyAlias={}", host_key_alias(target)),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            "-o",
            "ServerAliveInterval=30",
            "-p",
            &port.to_string(),
            "-l",
            user,
            "-s",
            "--",
            host,
            "sftp",
        ]
        .join(" "))
    }

    /// Runs restic; `max_lines` stops reading stdout (and restic) after that many lines.
    /// (crate-wide: the jobs run check, forget and restore through it.)
    pub(crate) async fn run(
        &self,
        repo: &RepoAccess,
        what: &str,
        args: &[String],
        timeout: Duration,
        max_lines: Option<usize>,
    ) -> Result<Ran, ResticError> {
        let inv = self.invocation(repo, args)?;
        // restic's cache holds repository metadata: corenasd's user only.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.cache_dir())
            .map_err(|e| ResticError::Setup(format!("cannot create {}: {e}", self.cache_dir().display())))?;
        tracing::debug!(target = %repo.target, ?inv, "restic");
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let run = execute(&inv, max_lines, std::sync::Arc::clone(&said));
        let ran = match tokio::time::timeout(timeout, run).await {
            Ok(r) => r?,
            Err(_) => {
                // restic retries a failing backend quietly for minutes: what it said so far is
                // the reason (a permission, a name that does not resolve).
                let so_far = said.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                let t = tail(&scrub(&so_far, &inv.secrets));
                let said = if t.is_empty() { String::new() } else { format!("; restic said: {t}") };
                return Err(ResticError::Timeout { what: what.to_owned(), secs: timeout.as_secs(), said });
            }
        };
        if ran.success || ran.truncated {
            return Ok(ran);
        }
        Err(classify(
            &repo.target,
            &describe_location(&repo.location),
            what,
            &ran.code,
            &scrub(&ran.stderr, &inv.secrets),
        ))
    }

    /// Creates the repository (format 2: compressed) unless one is there already, in which
    /// case it must open with the password: a wrong password is an error, never a second
    /// repository. Returns whether it was created.
    pub async fn init_or_open(&self, repo: &RepoAccess) -> Result<bool, ResticError> {
        match self.run(repo, "cat config", &args(&["--no-lock", "cat", "config"]), QUICK, None).await {
            Ok(_) => return Ok(false),
            Err(ResticError::NoRepository { .. }) => {}
            Err(e) => return Err(e),
        }
        self.run(repo, "init", &args(&["init", "--repository-version", "2"]), SLOW, None).await?;
        Ok(true)
    }

    /// The snapshots tagged with `tag` (all when None), oldest first.
    pub async fn snapshots(&self, repo: &RepoAccess, tag: Option<&str>) -> Result<Vec<SnapshotInfo>, ResticError> {
        let mut a = args(&["--no-lock", "--json", "snapshots"]);
        if let Some(t) = tag {
            a.extend(["--tag".into(), t.to_owned()]);
        }
        let ran = self.run(repo, "snapshots", &a, QUICK, None).await?;
        parse_snapshots(&ran.stdout).map_err(|error| ResticError::BadOutput { what: "snapshots".into(), error })
    }

    /// What `forget` with `keep` would do to the snapshots tagged `tag`: restic's own dry run.
    /// All-zero keeps everything (restic refuses an empty policy), so nothing goes.
    pub async fn retention_preview(
        &self,
        repo: &RepoAccess,
        tag: &str,
        keep: &KeepPolicy,
    ) -> Result<RetentionPreview, ResticError> {
        if keep.keeps_everything() {
            let all = self.snapshots(repo, Some(tag)).await?;
            let why = vec!["no retention policy: every snapshot is kept".to_owned()];
            return Ok(RetentionPreview {
                keep: all.into_iter().rev().map(|s| (s, why.clone())).collect(),
                remove: vec![],
            });
        }
        let mut a = args(&["--no-lock", "--json", "forget", "--dry-run"]);
        a.extend(forget_selection(tag, keep));
        let ran = self.run(repo, "forget --dry-run", &a, QUICK, None).await?;
        parse_forget(&ran.stdout).map_err(|error| ResticError::BadOutput { what: "forget --dry-run".into(), error })
    }

    /// One directory of a snapshot (`/`: its top), at most `limit` entries.
    pub async fn ls(
        &self,
        repo: &RepoAccess,
        snapshot: &ResticSnapshotId,
        path: &SnapshotPath,
        limit: usize,
    ) -> Result<SnapshotListing, ResticError> {
        let a = args(&["--no-lock", "--json", "ls", "--", snapshot.as_str(), path.as_str()]);
        // One line is the snapshot, one the directory itself.
        let ran = self.run(repo, "ls", &a, SLOW, Some(limit.saturating_add(2))).await?;
        parse_ls(&ran.stdout, path.as_str(), limit, ran.truncated)
            .map_err(|error| ResticError::BadOutput { what: "ls".into(), error })
    }

    /// The repository's locks (`list locks`, then `cat lock` each), reported, never removed.
    pub async fn locks(&self, repo: &RepoAccess) -> Result<Vec<RepoLock>, ResticError> {
        let ran = self.run(repo, "list locks", &args(&["--no-lock", "list", "locks"]), QUICK, None).await?;
        let mut out = Vec::new();
        for id in ran.stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ResticError::BadOutput {
                    what: "list locks".into(),
                    error: format!("'{id}' is not a lock id"),
                });
            }
            let ran = match self.run(repo, "cat lock", &args(&["--no-lock", "cat", "lock", id]), QUICK, None).await {
                Ok(r) => r,
                // Released between the listing and now.
                Err(ResticError::Failed { .. }) => continue,
                Err(e) => return Err(e),
            };
            out.push(
                parse_lock(id, &ran.stdout)
                    .map_err(|error| ResticError::BadOutput { what: "cat lock".into(), error })?,
            );
        }
        Ok(out)
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// Which snapshots `forget` looks at and what it keeps: the task's (by its tag) as one group,
/// then the policy. The preview and the real forget must use the same selection. Not grouped by
/// path: the runner backs up each job's own snapshot directory, so every snapshot's path differs.
pub fn forget_selection(tag: &str, keep: &KeepPolicy) -> Vec<String> {
    let mut a = args(&["--group-by", "", "--tag", tag]);
    a.extend(keep_args(keep));
    a
}

/// `--keep-*` for each non-zero count.
pub fn keep_args(keep: &KeepPolicy) -> Vec<String> {
    [
        ("--keep-last", keep.last),
        ("--keep-hourly", keep.hourly),
        ("--keep-daily", keep.daily),
        ("--keep-weekly", keep.weekly),
        ("--keep-monthly", keep.monthly),
        ("--keep-yearly", keep.yearly),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .flat_map(|(flag, n)| [flag.to_owned(), n.to_string()])
    .collect()
}

/// The name the pinned host key is filed under: the key is checked for this target whatever
/// address or port reaches the server.
pub fn host_key_alias(target: &BackupName) -> String {
    format!("corenas-backup-{}", target.as_str())
}

/// A path that goes into an ssh command restic splits at spaces, or into the environment: no
/// spaces, quotes or control characters.
fn plain_path(p: &Path) -> Result<&str, ResticError> {
    let s = p.to_str().ok_or_else(|| ResticError::Setup(format!("{} is not UTF-8", p.display())))?;
    if s.bytes().all(|b| b.is_ascii_graphic() && !b"'\"\\`$".contains(&b)) {
        Ok(s)
    } else {
        Err(ResticError::Setup(format!(
            "{s} cannot be used for restic: its state directory must be a path without spaces or quotes"
        )))
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (a password in a URL).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every secret replaced by `<redacted>` (restic prints its location, which may carry a login).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    // Longest first, so a secret that contains another is replaced whole.
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in sorted {
        out = out.replace(s.as_str(), corenas_proto::secret::REDACTED);
    }
    out
}

/// Where the repository is, as an error shows it (no secret is part of a location).
pub fn describe_location(l: &TargetLocation) -> String {
    match l {
        TargetLocation::Local { path } => path.as_str().to_owned(),
        TargetLocation::Sftp { host, port, user, path } => {
            format!("sftp://{}@{}:{port}/{}", user.as_str(), host.as_str(), path.as_str().trim_start_matches('/'))
        }
        TargetLocation::Rest { url, user, .. } => match user {
            Some(u) => format!("{} (as {})", url.as_str(), u.as_str()),
            None => url.as_str().to_owned(),
        },
        TargetLocation::S3 { endpoint, bucket, prefix, .. } => format!(
            "{}/{}{}",
            endpoint.as_str().trim_end_matches('/'),
            bucket.as_str(),
            prefix.as_ref().map(|p| format!("/{}", p.as_str().trim_start_matches('/'))).unwrap_or_default()
        ),
    }
}

/// The last lines of what restic said, short enough for an error message.
fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    let start = t.len().saturating_sub(STDERR_TAIL);
    let start = (start..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
    t[start..].lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// restic 0.14's stderr to the error an admin acts on (`stderr` already scrubbed).
pub fn classify(target: &BackupName, location: &str, what: &str, code: &str, stderr: &str) -> ResticError {
    let target = target.to_string();
    let detail = tail(stderr);
    if stderr.contains(WRONG_PASSWORD) {
        return ResticError::WrongPassword { target };
    }
    if stderr.contains(ALREADY_LOCKED) || stderr.contains(LOCK_FAILED) {
        let first = stderr.lines().find(|l| l.contains(ALREADY_LOCKED) || l.contains(LOCK_FAILED)).unwrap_or("");
        return ResticError::Locked { target, detail: first.trim().to_owned() };
    }
    if stderr.contains(HOST_KEY_MISMATCH) {
        return ResticError::HostKeyMismatch { target };
    }
    if REFUSED.iter().any(|r| stderr.contains(r)) {
        let first = stderr.lines().find(|l| REFUSED.iter().any(|r| l.contains(r))).unwrap_or("");
        return ResticError::LoginRefused { target, detail: first.trim().to_owned() };
    }
    // A transport failure also ends in "Is there a repository...": reachability first.
    if UNREACHABLE.iter().any(|u| stderr.contains(u)) {
        return ResticError::Unreachable { target, detail };
    }
    if stderr.contains(NO_REPOSITORY) {
        return ResticError::NoRepository { target, location: location.to_owned(), detail };
    }
    ResticError::Failed { what: what.to_owned(), code: code.to_owned(), stderr: detail }
}

pub(crate) struct Ran {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) success: bool,
    pub(crate) code: String,
    pub(crate) truncated: bool,
}

/// Starts restic and collects what it says. Dropping this future kills restic.
async fn execute(
    inv: &Invocation,
    max_lines: Option<usize>,
    said: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> Result<Ran, ResticError> {
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| ResticError::NotStarted { program: inv.program.display().to_string(), error: e.to_string() })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ResticError::Setup("restic's output pipes are missing".into()));
    };
    let read_err = async move {
        let mut stderr = stderr;
        let mut chunk = [0u8; 4096];
        // Kept as it comes, so a run stopped by its timeout still has what restic said.
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = said.lock()
                && b.len() < STDERR_KEEP
            {
                b.extend_from_slice(&chunk[..n]);
            }
        }
        said.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    };
    let read_out = async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut out = String::new();
        let mut n = 0usize;
        while let Ok(Some(line)) = lines.next_line().await {
            if max_lines.is_some_and(|m| n >= m) || out.len() > STDOUT_MAX {
                return (out, true);
            }
            out.push_str(&line);
            out.push('\n');
            n += 1;
        }
        (out, false)
    };
    let ((stdout, truncated), stderr) = tokio::join!(read_out, read_err);
    if truncated {
        let _ = child.start_kill();
    }
    let status = child.wait().await.map_err(|e| ResticError::Setup(format!("waiting for restic: {e}")))?;
    let code = status.code().map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
    Ok(Ran { stdout, stderr, success: status.success(), code, truncated })
}

// ---- restic's JSON ----

#[derive(Deserialize)]
struct ResticSnapshot {
    time: String,
    #[serde(default)]
    tree: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    short_id: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl ResticSnapshot {
    fn info(self) -> SnapshotInfo {
        SnapshotInfo {
            id: self.id,
            short_id: self.short_id,
            time: self.time,
            hostname: self.hostname,
            paths: self.paths,
            tags: self.tags.unwrap_or_default(),
        }
    }
}

pub fn parse_snapshots(json: &str) -> Result<Vec<SnapshotInfo>, String> {
    let list: Vec<ResticSnapshot> = serde_json::from_str(json.trim()).map_err(|e| e.to_string())?;
    Ok(list.into_iter().map(ResticSnapshot::info).collect())
}

#[derive(Deserialize)]
struct ForgetGroup {
    #[serde(default)]
    keep: Option<Vec<ResticSnapshot>>,
    #[serde(default)]
    remove: Option<Vec<ResticSnapshot>>,
    #[serde(default)]
    reasons: Option<Vec<KeepReason>>,
}

#[derive(Deserialize)]
struct KeepReason {
    snapshot: ResticSnapshot,
    #[serde(default)]
    matches: Vec<String>,
}

/// `forget --dry-run --json`: restic 0.14's reasons name a snapshot without its id, so they are
/// matched to the kept ones by time and tree.
pub fn parse_forget(json: &str) -> Result<RetentionPreview, String> {
    // restic 0.14 prints nothing at all when no snapshot matched.
    if json.trim().is_empty() {
        return Ok(RetentionPreview { keep: vec![], remove: vec![] });
    }
    let groups: Vec<ForgetGroup> = serde_json::from_str(json.trim()).map_err(|e| e.to_string())?;
    let mut preview = RetentionPreview { keep: vec![], remove: vec![] };
    for g in groups {
        let reasons: Vec<KeepReason> = g.reasons.unwrap_or_default();
        for s in g.keep.unwrap_or_default() {
            let why = reasons
                .iter()
                .find(|r| r.snapshot.time == s.time && r.snapshot.tree == s.tree)
                .map(|r| r.matches.clone())
                .unwrap_or_default();
            preview.keep.push((s.info(), why));
        }
        preview.remove.extend(g.remove.unwrap_or_default().into_iter().map(ResticSnapshot::info));
    }
    Ok(preview)
}

#[derive(Deserialize)]
struct LsLine {
    struct_type: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    mtime: String,
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    uid: u32,
    #[serde(default)]
    gid: u32,
}

/// `ls --json <snapshot> <dir>`: the snapshot line, then the directory itself and its children.
pub fn parse_ls(out: &str, dir: &str, limit: usize, truncated: bool) -> Result<SnapshotListing, String> {
    let mut snapshot = None;
    let mut entries = Vec::new();
    let mut more = truncated;
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if v.get("struct_type").and_then(|t| t.as_str()) == Some("snapshot") {
            let s: ResticSnapshot = serde_json::from_value(v).map_err(|e| e.to_string())?;
            snapshot = Some(s.info());
            continue;
        }
        let n: LsLine = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if n.struct_type != "node" || n.path == dir {
            continue;
        }
        if entries.len() >= limit {
            more = true;
            break;
        }
        entries.push(SnapshotEntry {
            path: n.path,
            name: n.name,
            kind: n.kind,
            size: n.size,
            mtime: n.mtime,
            permissions: n.permissions,
            uid: n.uid,
            gid: n.gid,
        });
    }
    let snapshot = snapshot.ok_or("no snapshot line")?;
    Ok(SnapshotListing { snapshot, entries, truncated: more })
}

#[derive(Deserialize)]
struct ResticLock {
    time: String,
    #[serde(default)]
    exclusive: bool,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    pid: u32,
}

pub fn parse_lock(id: &str, json: &str) -> Result<RepoLock, String> {
    let l: ResticLock = serde_json::from_str(json.trim()).map_err(|e| e.to_string())?;
    Ok(RepoLock {
        id: id.to_owned(),
        time: l.time,
        exclusive: l.exclusive,
        hostname: l.hostname,
        username: l.username,
        pid: l.pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::backup::TargetSecrets;
    use corenas_proto::secret::RemoteSecret;

    const PASSWORD: &str = "repo-pass word!'\"$x";
    const REST_PASSWORD: &str = "rest:p@ss/w0rd";
    const KEY_ID: &str = "AKIAEXAMPLEKEYID";
    const SECRET_KEY: &str = "s3-secret/Key+value";

    fn secret(s: &str) -> RemoteSecret {
        RemoteSecret::new(s.to_owned()).expect("secret")
    }

    fn repo(location: &str) -> RepoAccess {
        RepoAccess {
            target: "offsite".parse().expect("name"),
            location: serde_json::from_str(location).expect("location"),
            secrets: TargetSecrets {
                repository_password: secret(PASSWORD),
                rest_password: Some(secret(REST_PASSWORD)),
                s3_access_key_id: Some(secret(KEY_ID)),
                s3_secret_access_key: Some(secret(SECRET_KEY)),
            },
            host_key: None,
        }
    }

    fn restic() -> Restic {
        Restic::new(PathBuf::from("/var/lib/corenas/backup"))
    }

    fn env<'a>(inv: &'a Invocation, name: &str) -> Option<&'a str> {
        inv.env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    const LOCATIONS: [&str; 5] = [
        r#"{"local":{"path":"/mnt/corenas/usb1/restic"}}"#,
        r#"{"sftp":{"host":"backup.example.net","port":2222,"user":"nas","path":"/srv/restic"}}"#,
        r#"{"rest":{"url":"https://rest.example.net:8000/nas","user":"nas","append_only":true}}"#,
        r#"{"rest":{"url":"http://127.0.0.1:8000/","user":null,"append_only":false}}"#,
        r#"{"s3":{"endpoint":"https://s3.example.net/","bucket":"nas-backup","prefix":"box1","region":"eu-1"}}"#,
    ];

    #[test]
    fn no_secret_is_ever_in_argv_and_every_one_is_in_the_environment() {
        for loc in LOCATIONS {
            let inv = restic().invocation(&repo(loc), &args(&["snapshots"])).expect("argv");
            let argv = inv.args.join(" ");
            for s in [PASSWORD, REST_PASSWORD, KEY_ID, SECRET_KEY, "p%40ss", "rest%3Ap"] {
                assert!(!argv.contains(s), "{loc}: '{s}' is in argv: {argv}");
            }
            assert!(!format!("{inv:?}").contains(PASSWORD), "Debug shows no secret");
            assert_eq!(env(&inv, "RESTIC_PASSWORD"), Some(PASSWORD), "{loc}");
            assert_eq!(env(&inv, "HOME"), Some("/var/lib/corenas/backup"));
            assert_eq!(env(&inv, "XDG_CACHE_HOME"), Some("/var/lib/corenas/backup/cache"));
            assert_eq!(inv.args.last().map(String::as_str), Some("snapshots"), "the command comes last");
            let cache = inv.args.iter().position(|a| a == "--cache-dir").expect("--cache-dir");
            assert_eq!(inv.args[cache + 1], "/var/lib/corenas/backup/cache");
        }
    }

    #[test]
    fn each_location_becomes_restics_repository_string() {
        let r = |i: usize| restic().invocation(&repo(LOCATIONS[i]), &[]).expect("argv");
        assert_eq!(r(0).args[..2], ["-r", "/mnt/corenas/usb1/restic"]);
        assert_eq!(r(1).args[..2], ["-r", "sftp:nas@backup.example.net:/srv/restic"]);
        assert_eq!(r(3).args[..2], ["-r", "rest:http://127.0.0.1:8000/"]);
        assert_eq!(r(4).args[..4], ["-r", "s3:https://s3.example.net/nas-backup/box1", "-o", "s3.region=eu-1"]);
        assert_eq!(env(&r(4), "AWS_ACCESS_KEY_ID"), Some(KEY_ID));
        assert_eq!(env(&r(4), "AWS_SECRET_ACCESS_KEY"), Some(SECRET_KEY));
        assert_eq!(env(&r(0), "AWS_ACCESS_KEY_ID"), None, "S3 keys only for S3");
        // A login is part of the URL: the whole location is in the environment, encoded.
        let rest = r(2);
        assert!(!rest.args.iter().any(|a| a == "-r"), "{:?}", rest.args);
        assert_eq!(
            env(&rest, "RESTIC_REPOSITORY"),
            Some("rest:https://nas:rest%3Ap%40ss%2Fw0rd@rest.example.net:8000/nas")
        );
        assert_eq!(env(&r(3), "RESTIC_REPOSITORY"), None);
    }

    #[test]
    fn sftp_runs_ssh_with_this_targets_key_and_only_the_pinned_host_key() {
        let inv = restic().invocation(&repo(LOCATIONS[1]), &[]).expect("argv");
        let o = inv.args.iter().position(|a| a == "-o").expect("-o");
        let cmd = inv.args[o + 1].strip_prefix("sftp.command=").expect("sftp.command");
        let words: Vec<&str> = cmd.split(' ').collect();
        assert_eq!(words[0], "/usr/bin/ssh");
        for w in [
            "-i /var/lib/corenas/backup/ssh/offsite/id_ed25519",
            "-o UserKnownHostsFile=/var/lib/corenas/backup/ssh/offsite/known_hosts",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o StrictHostKeyChecking=yes",
            "-o BatchMode=yes",
            "-o HostKeyAlias=corenas-backup-offsite",
            "-F /dev/null",
            "-p 2222 -l nas -s -- backup.example.net sftp",
        ] {
            assert!(cmd.contains(w), "'{w}' missing from {cmd}");
        }
        // restic splits the value at spaces: a state directory with one is refused, not split.
        let spaced = Restic::new(PathBuf::from("/var/lib/core nas/backup"));
        assert!(matches!(spaced.invocation(&repo(LOCATIONS[1]), &[]), Err(ResticError::Setup(_))));
    }

    #[test]
    fn a_missing_credential_is_named() {
        let mut r = repo(LOCATIONS[4]);
        r.secrets.s3_secret_access_key = None;
        let e = restic().invocation(&r, &[]).expect_err("no key");
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
        let mut r = repo(LOCATIONS[2]);
        r.secrets.rest_password = None;
        assert!(restic().invocation(&r, &[]).is_err());
    }

    #[test]
    fn secrets_are_scrubbed_from_what_restic_says() {
        let inv = restic().invocation(&repo(LOCATIONS[2]), &[]).expect("argv");
        let said = "Fatal: unable to open config file: Head \"https://nas:rest%3Ap%40ss%2Fw0rd@rest.example.net:8000/nas/config\": 401\nIs there a repository at the following location?\nrest:https://nas:rest:p@ss/w0rd@rest.example.net:8000/nas";
        let clean = scrub(said, &inv.secrets);
        assert!(!clean.contains("p%40ss") && !clean.contains("p@ss"), "{clean}");
        assert!(clean.contains("https://nas:<redacted>@rest.example.net"), "{clean}");
    }

    #[test]
    fn restic_0_14s_words_become_errors_an_admin_acts_on() {
        let t: BackupName = "usb".parse().expect("name");
        let c = |stderr: &str| classify(&t, "/mnt/x", "snapshots", "1", stderr);
        assert!(matches!(c("Fatal: wrong password or no key found\n"), ResticError::WrongPassword { .. }));
        let none = c(
            "Fatal: unable to open config file: stat /mnt/x/config: no such file or directory\nIs there a repository at the following location?\n/mnt/x\n",
        );
        assert!(matches!(&none, ResticError::NoRepository { location, .. } if location == "/mnt/x"), "{none:?}");
        let locked = c(
            "unable to create lock in backend: repository is already locked by PID 5994 on vm by root (UID 0, GID 0)\nlock was created at 2026-12-08 00:41:16 (2.96s ago)\nstorage ID e61eb4ad\nthe `unlock` command can be used to remove stale locks\n",
        );
        assert!(matches!(&locked, ResticError::Locked { detail, .. } if detail.contains("PID 5994")), "{locked:?}");
        assert!(locked.to_string().contains("never removes a lock"), "{locked}");
        let refused = c(
            "Fatal: unable to open config file: client.Head: Head \"http://127.0.0.1:1/config\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://127.0.0.1:1/\n",
        );
        assert!(matches!(refused, ResticError::Unreachable { .. }), "unreachable before 'no repository': {refused:?}");
        assert!(matches!(c("Fatal: something else\n"), ResticError::Failed { .. }));
        let sftp_down = c(
            "subprocess ssh: ssh: connect to host 127.0.0.1 port 2: Connection refused\nFatal: unable to open repository at sftp:u@127.0.0.1:/r: unable to start the sftp session, error: EOF\n",
        );
        assert!(matches!(sftp_down, ResticError::Unreachable { .. }), "{sftp_down:?}");
        let s3_down = c(
            "Fatal: unable to open config file: Stat: Get \"http://127.0.0.1:9/b/?location=\": dial tcp 127.0.0.1:9: connect: connection refused\nIs there a repository at the following location?\ns3:http://127.0.0.1:9/b\n",
        );
        assert!(matches!(s3_down, ResticError::Unreachable { .. }), "{s3_down:?}");
        let mitm = c(
            "subprocess ssh: Host key verification failed.\nFatal: unable to open repository at sftp:u@h:/r: unable to start the sftp session, error: EOF\n",
        );
        assert!(matches!(mitm, ResticError::HostKeyMismatch { .. }), "{mitm:?}");
        for refused in [
            "Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\nIs there a repository at the following location?\n",
            "Fatal: unable to open config file: Stat: The request signature we calculated does not match the signature you provided.\n",
            "Fatal: unable to open config file: Stat: The AWS Access Key Id you provided does not exist in our records.\n",
        ] {
            assert!(matches!(c(refused), ResticError::LoginRefused { .. }), "{refused}");
        }
        let sftp_none = c(
            "Fatal: unable to open config file: Lstat: file does not exist\nIs there a repository at the following location?\nsftp:u@h:/r\n",
        );
        assert!(matches!(sftp_none, ResticError::NoRepository { .. }), "{sftp_none:?}");
        let w: WireError = c("Fatal: wrong password or no key found").into();
        assert_eq!(w.field.as_deref(), Some("repository_password"));
        let w: WireError = locked.into();
        assert_eq!(w.code, ErrorCode::Busy);
    }

    #[test]
    fn forget_previews_match_restics_reasons_to_the_kept_snapshots() {
        let out = r#"[{"tags":null,"host":"","paths":null,"keep":[{"time":"2026-12-08T00:41:01.87Z","tree":"a7","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"],"id":"4f7b","short_id":"4f7b31d8"},{"time":"2026-12-07T00:41:01.87Z","tree":"b8","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"],"id":"5a5a","short_id":"5a5a5a5a"}],"remove":[{"time":"2026-12-08T00:41:00.64Z","tree":"a7","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"],"id":"ce62","short_id":"ce62f4e9"}],"reasons":[{"snapshot":{"time":"2026-12-07T00:41:01.87Z","tree":"b8","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"]},"matches":["daily snapshot"],"counters":{}},{"snapshot":{"time":"2026-12-08T00:41:01.87Z","tree":"a7","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"]},"matches":["last snapshot","daily snapshot"],"counters":{}}]}]"#;
        let p = parse_forget(out).expect("parse");
        assert_eq!(p.keep.len(), 2);
        assert_eq!(p.keep[0].0.short_id, "4f7b31d8");
        assert_eq!(p.keep[0].1, ["last snapshot", "daily snapshot"]);
        assert_eq!(p.keep[1].1, ["daily snapshot"]);
        assert_eq!(p.remove.iter().map(|s| s.short_id.as_str()).collect::<Vec<_>>(), ["ce62f4e9"]);
        // An empty repository: restic says null for both.
        let p = parse_forget(r#"[{"tags":null,"host":"","paths":null,"keep":null,"remove":null,"reasons":null}]"#)
            .expect("empty");
        assert!(p.keep.is_empty() && p.remove.is_empty());
        assert!(parse_forget("[]").expect("no groups").keep.is_empty());
        assert!(parse_forget("").expect("no snapshots at all").keep.is_empty());
        assert!(parse_forget("Fatal").is_err());
    }

    #[test]
    fn keep_arguments_name_only_the_counts_set() {
        let keep = KeepPolicy { last: 3, daily: 7, yearly: 1, ..KeepPolicy::default() };
        assert_eq!(keep_args(&keep), ["--keep-last", "3", "--keep-daily", "7", "--keep-yearly", "1"]);
        assert_eq!(forget_selection("corenas-task=a", &keep)[..4], ["--group-by", "", "--tag", "corenas-task=a"]);
    }

    #[test]
    fn ls_lists_one_directory_without_itself_and_stops_at_the_cap() {
        let out = concat!(
            r#"{"time":"2026-12-08T00:41:01Z","tree":"a7","paths":["/s"],"hostname":"corenas","username":"root","tags":["corenas-task=t1"],"id":"4f7b","short_id":"4f7b31d8","struct_type":"snapshot"}"#,
            "\n",
            r#"{"name":"src","type":"dir","path":"/src","uid":0,"gid":0,"mode":2147484141,"permissions":"drwxr-xr-x","mtime":"2026-12-08T00:40:59Z","struct_type":"node"}"#,
            "\n",
            r#"{"name":"a","type":"dir","path":"/src/a","uid":0,"gid":0,"permissions":"drwxr-xr-x","mtime":"2026-12-08T00:40:59Z","struct_type":"node"}"#,
            "\n",
            r#"{"name":"f","type":"file","path":"/src/f","uid":1000,"gid":100,"size":3,"permissions":"-rw-r--r--","mtime":"2026-12-08T00:40:59Z","struct_type":"node"}"#,
            "\n",
        );
        let l = parse_ls(out, "/src", 10, false).expect("parse");
        assert_eq!(l.snapshot.short_id, "4f7b31d8");
        assert_eq!(l.entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["/src/a", "/src/f"]);
        assert_eq!(l.entries[1].size, Some(3));
        assert!(!l.truncated);
        let l = parse_ls(out, "/src", 1, false).expect("parse");
        assert_eq!(l.entries.len(), 1);
        assert!(l.truncated);
    }

    #[test]
    fn a_lock_is_read_from_cat_lock() {
        let l = parse_lock("e61e", "{\n  \"time\": \"2026-12-08T00:41:16Z\",\n  \"exclusive\": false,\n  \"hostname\": \"vm\",\n  \"username\": \"root\",\n  \"pid\": 5994\n}").expect("lock");
        assert_eq!((l.pid, l.exclusive, l.hostname.as_str()), (5994, false, "vm"));
    }

    /// Against the real restic: a repository is made once, opened after, refused with a wrong
    /// password, and an empty one lists, previews and reports no locks.
    #[test]
    fn real_restic_inits_once_and_names_a_wrong_password() {
        if !crate::test_prerequisites::require_program("real_restic_inits_once", RESTIC, "restic") {
            return;
        }
        let dir = crate::state::test_support::TestDir::new("restic-real");
        let r = Restic::new(dir.path().join("backup"));
        let path = dir.path().join("repo");
        let mut access = repo(&format!(r#"{{"local":{{"path":"{}"}}}}"#, path.display()));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            assert!(r.init_or_open(&access).await.expect("init"), "a new repository is created");
            assert!(path.join("config").exists());
            assert!(!r.init_or_open(&access).await.expect("open"), "an existing one is opened, not made again");
            let tag = "corenas-task=docs";
            assert!(r.snapshots(&access, Some(tag)).await.expect("snapshots").is_empty());
            let keep = KeepPolicy { last: 2, ..KeepPolicy::default() };
            let p = r.retention_preview(&access, tag, &keep).await.expect("preview");
            assert!(p.keep.is_empty() && p.remove.is_empty(), "{p:?}");
            assert!(r.locks(&access).await.expect("locks").is_empty());
            access.secrets.repository_password = secret("not the password");
            let e = r.init_or_open(&access).await.expect_err("wrong password");
            assert!(matches!(e, ResticError::WrongPassword { .. }), "{e:?}");
            let missing = repo(&format!(r#"{{"local":{{"path":"{}"}}}}"#, dir.path().join("none").display()));
            let e = r.snapshots(&missing, None).await.expect_err("no repository");
            assert!(matches!(e, ResticError::NoRepository { .. }), "{e:?}");
        });
    }
}
