//! `/etc/corenas/corenas.conf`: the one configuration file every CoreNAS daemon reads at start
//! (TOML). Each value's type checks its range or shape while it is decoded, so a daemon either
//! holds a whole valid configuration or exits with an error naming the file, the line and the
//! key, and what is accepted. Command-line flags override the file; that choice is the
//! binaries' (`main.rs`), not this module's.
//!
//! The root helper must not trust anything corenasd could write: it loads with
//! [`load_trusted`], which refuses a file (or directory) that is not root's or is writable by
//! group or others.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the package installs the file (a conffile) and where every daemon looks by default.
pub const DEFAULT_PATH: &str = "/etc/corenas/corenas.conf";

/// A larger file is not a configuration file; it is refused before it is parsed.
const MAX_BYTES: u64 = 64 * 1024;

/// The whole file. Every section and key is optional; what is absent takes the built-in default
/// (the values in `packaging/corenas.conf`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub log: Log,
    pub daemon: Daemon,
    pub storage: Storage,
    pub imaging: Imaging,
    pub mounts: Mounts,
    pub monitor: Monitor,
    pub web: Web,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// The lowest level that reaches the journal (or stderr); `CORENAS_LOG` overrides it.
    pub level: LogLevel,
}

/// `[daemon]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Daemon {
    /// The account corenasd runs as (the unit's `User=`): the helpers resolve its uid and gid by
    /// name at start, and only root and that uid may talk to them.
    pub user: AccountName,
}

impl Default for Daemon {
    fn default() -> Self {
        Self { user: AccountName("corenas".into()) }
    }
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Directories beneath which the accounts helper may set ACLs and write (its landlock
    /// rules). Shares are created at `/storage/<name>`, so `/storage` belongs in the list.
    pub share_roots: RootList,
}

impl Default for Storage {
    fn default() -> Self {
        Self { share_roots: RootList(vec![RootPath("/storage".into())]) }
    }
}

/// `[imaging]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imaging {
    /// Where imaging jobs write their images (one directory per job), owned by corenasd's user.
    pub images_dir: RootPath,
    /// Imaging and verify jobs that may run at the same time (one per device in any case).
    pub concurrency: Ranged<1, 16>,
}

impl Default for Imaging {
    fn default() -> Self {
        Self { images_dir: RootPath("/srv/corenas/images".into()), concurrency: Ranged(1) }
    }
}

/// `[mounts]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mounts {
    /// Seconds between two looks at the managed mounts (the retry backoff scales with it).
    pub watch_interval: Ranged<5, 3600>,
}

impl Default for Mounts {
    fn default() -> Self {
        Self { watch_interval: Ranged(30) }
    }
}

/// `[monitor]`: seconds between two runs of each health collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitor {
    pub system: Ranged<10, 86400>,
    pub helper: Ranged<10, 86400>,
    pub mounts: Ranged<10, 86400>,
    pub jobs: Ranged<10, 86400>,
    /// Backup tasks' last results (corenasd's own records; no restic runs).
    pub backups: Ranged<10, 86400>,
    pub pools: Ranged<10, 86400>,
    pub datasets: Ranged<10, 86400>,
    pub audit: Ranged<10, 86400>,
    /// SMART: more often than a disk's standby timer keeps it from sleeping.
    pub disks: Ranged<10, 86400>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            system: Ranged(60),
            helper: Ranged(60),
            mounts: Ranged(60),
            jobs: Ranged(60),
            backups: Ranged(60),
            pools: Ranged(300),
            datasets: Ranged(300),
            audit: Ranged(3600),
            disks: Ranged(1800),
        }
    }
}

impl Monitor {
    /// A collector's interval by its name (corenasd's `Collector::name`); None for a name this
    /// section does not know.
    pub fn interval(&self, collector: &str) -> Option<u64> {
        let r = match collector {
            "system" => self.system,
            "helper" => self.helper,
            "mounts" => self.mounts,
            "jobs" => self.jobs,
            "backups" => self.backups,
            "pools" => self.pools,
            "datasets" => self.datasets,
            "audit" => self.audit,
            "disks" => self.disks,
            _ => return None,
        };
        Some(r.get())
    }
}

/// `[web]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// The account corenas-web runs as (its unit's `User=`): corenasd gives connections from
    /// its uid the web gate.
    pub user: AccountName,
    /// The unix socket corenas-web listens on and nginx proxies to.
    pub socket: RootPath,
    /// Also listen on this loopback TCP address (off by default; nginx does the network side).
    pub listen_tcp: Option<LoopbackAddr>,
}

impl Default for Web {
    fn default() -> Self {
        Self {
            user: AccountName("corenas-web".into()),
            socket: RootPath("/run/corenas/web/web.sock".into()),
            listen_tcp: None,
        }
    }
}

/// `log.level`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// An integer in `MIN..=MAX`, checked while it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u64")]
pub struct Ranged<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Ranged<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<const MIN: u64, const MAX: u64> TryFrom<i64> for Ranged<MIN, MAX> {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        match u64::try_from(v) {
            Ok(u) if (MIN..=MAX).contains(&u) => Ok(Self(u)),
            _ => Err(format!("{v} is not accepted: use {MIN}-{MAX}")),
        }
    }
}

impl<const MIN: u64, const MAX: u64> From<Ranged<MIN, MAX>> for u64 {
    fn from(r: Ranged<MIN, MAX>) -> u64 {
        r.0
    }
}

/// An absolute, normalised path other than `/`: no empty, `.` or `..` components, no trailing
/// slash, plain ASCII components (A-Z, a-z, 0-9, `.`, `_`, `-`, `+`, `@`, not starting with `.`),
/// at most 1024 bytes. What a root a helper grants rights beneath must look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RootPath(String);

impl RootPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl TryFrom<String> for RootPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        const ACCEPTED: &str = "use an absolute path other than / with components of A-Z, a-z, 0-9, '.', '_', '-', '+', '@' (not starting with '.'), no '..', no '//' and no trailing '/'";
        let shown: String = s.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
        if s.len() > 1024 {
            return Err(format!("path longer than 1024 bytes: {ACCEPTED}"));
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(format!("'{shown}' is not absolute: {ACCEPTED}"));
        };
        if rest.is_empty() {
            return Err(format!("'/' is not accepted: {ACCEPTED}"));
        }
        for c in rest.split('/') {
            let plain = !c.is_empty()
                && !c.starts_with('.')
                && c.len() <= 255
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+@".contains(&b));
            if !plain {
                return Err(format!("'{shown}' is not accepted: {ACCEPTED}"));
            }
        }
        Ok(Self(s))
    }
}

impl From<RootPath> for String {
    fn from(p: RootPath) -> String {
        p.0
    }
}

/// One to 16 [`RootPath`]s, none twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct RootList(Vec<RootPath>);

impl RootList {
    pub fn paths(&self) -> &[RootPath] {
        &self.0
    }
    pub fn strings(&self) -> Vec<String> {
        self.0.iter().map(|p| p.0.clone()).collect()
    }
}

impl TryFrom<Vec<String>> for RootList {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Self, String> {
        if v.is_empty() || v.len() > 16 {
            return Err(format!("{} paths are not accepted: list 1-16 paths", v.len()));
        }
        let mut out: Vec<RootPath> = Vec::with_capacity(v.len());
        for s in v {
            let p = RootPath::try_from(s)?;
            if out.contains(&p) {
                return Err(format!("'{}' is listed twice: list each path once", p.0));
            }
            out.push(p);
        }
        Ok(Self(out))
    }
}

impl From<RootList> for Vec<String> {
    fn from(l: RootList) -> Vec<String> {
        l.0.into_iter().map(String::from).collect()
    }
}

/// A system account name: 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'
/// (Debian's default NAME_REGEX for system users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s))
        } else {
            let shown: String = s.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect();
            Err(format!(
                "account name '{shown}' is invalid: use 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'"
            ))
        }
    }
}

impl From<AccountName> for String {
    fn from(a: AccountName) -> String {
        a.0
    }
}

/// A loopback TCP address with its port, e.g. `127.0.0.1:8080`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoopbackAddr(std::net::SocketAddr);

impl LoopbackAddr {
    pub fn get(self) -> std::net::SocketAddr {
        self.0
    }
}

impl TryFrom<String> for LoopbackAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() && a.port() != 0 => Ok(Self(a)),
            _ => Err(format!(
                "'{}' is not accepted: use a loopback address with a port, e.g. 127.0.0.1:8080 or [::1]:8080 (the network side is nginx's)",
                s.chars().take(64).collect::<String>()
            )),
        }
    }
}

impl From<LoopbackAddr> for String {
    fn from(a: LoopbackAddr) -> String {
        a.0.to_string()
    }
}

/// Why a configuration cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot be read: {error}")]
    Read { file: String, error: std::io::Error },
    /// The helper's check: a file corenasd (or anyone but root) could change.
    #[error("{file}: not trusted: {why}")]
    Untrusted { file: String, why: String },
    #[error("{}", invalid_text(file, *line, key, message))]
    Invalid { file: String, line: Option<usize>, key: String, message: String },
}

fn invalid_text(file: &str, line: Option<usize>, key: &str, message: &str) -> String {
    let at = line.map_or_else(|| file.to_owned(), |l| format!("{file}, line {l}"));
    if key.is_empty() { format!("{at}: {message}") } else { format!("{at}: {key}: {message}") }
}

impl ConfigError {
    /// The dotted key the error is about (`imaging.concurrency`), when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } if !key.is_empty() => Some(key),
            _ => None,
        }
    }
}

/// What a daemon loaded: the configuration and where it came from (None: built-in defaults,
/// the default file being absent).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
}

impl Config {
    /// Decodes `text` (the contents of `file`, named in errors).
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        toml::from_str::<Config>(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => {
                    let (line, key) = locate(text, span.start);
                    (Some(line), key)
                }
                None => (None, String::new()),
            };
            let message = e
                .message()
                .trim()
                .replace("unknown field", "unknown key")
                .replace(", expected one of", "; the keys accepted here are")
                .replace(", expected i64", "; accepted: an integer")
                .replace(", expected a sequence", "; accepted: a list such as [\"/a\", \"/b\"]")
                .replace(", expected", "; accepted:");
            ConfigError::Invalid { file: file.to_owned(), line, key, message }
        })
    }
}

/// Loads the file for an unprivileged daemon: `path` given (`--config`): it must exist; not
/// given: [`DEFAULT_PATH`], whose absence means the built-in defaults.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    load_with(path, false)
}

/// As [`load`], for the root helper: the file must be a regular file owned by root and not
/// writable by group or others, in a directory owned by root that only root may write (or
/// sticky), so nothing corenasd can write decides what the helper grants.
pub fn load_trusted(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    load_with(path, true)
}

fn load_with(path: Option<&Path>, trusted: bool) -> Result<Loaded, ConfigError> {
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    let file = path.display().to_string();
    let read_err = |error: std::io::Error| ConfigError::Read { file: file.clone(), error };
    use rustix::fs::{Mode, OFlags};
    let fd = match rustix::fs::open(&path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) if !explicit => return Ok(Loaded { config: Config::default(), file: None }),
        Err(rustix::io::Errno::LOOP) => {
            return Err(ConfigError::Untrusted { file, why: "a symbolic link: name the file itself".into() });
        }
        Err(e) => return Err(read_err(e.into())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| read_err(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(ConfigError::Untrusted { file, why: "not a regular file".into() });
    }
    if trusted {
        check_owner(st.st_uid, st.st_mode, false).map_err(|why| ConfigError::Untrusted { file: file.clone(), why })?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = rustix::fs::lstat(parent).map_err(|e| read_err(e.into()))?;
        check_owner(dir.st_uid, dir.st_mode, true).map_err(|why| ConfigError::Untrusted {
            file: file.clone(),
            why: format!("its directory {}: {why}", parent.display()),
        })?;
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > MAX_BYTES {
        return Err(ConfigError::Invalid {
            file,
            line: None,
            key: String::new(),
            message: format!("larger than {MAX_BYTES} bytes: a configuration file is a few lines of TOML"),
        });
    }
    let mut text = String::new();
    use std::io::Read as _;
    std::fs::File::from(fd).take(MAX_BYTES).read_to_string(&mut text).map_err(read_err)?;
    let config = Config::parse(&text, &file)?;
    Ok(Loaded { config, file: Some(path) })
}

/// Root's, and writable by no one else (a directory may be sticky-writable, as /tmp is: nobody
/// else can replace root's file there).
fn check_owner(uid: u32, mode: u32, dir: bool) -> Result<(), String> {
    if uid != 0 {
        return Err(format!("owned by uid {uid}: it must be root's (chown root:root)"));
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !(dir && sticky) {
        return Err(format!("mode {:04o} lets group or others write: use 0644 (chmod go-w)", mode & 0o7777));
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`, and the dotted key written there: the line's
/// key under the last `[section]` header above it (or the header itself). Good enough for the
/// file's own shape (sections of `key = value` lines); an inline table names its outer key.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let mut section = String::new();
    let mut key = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            section = l.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_owned();
            if i + 1 == line_no {
                return (line_no, section);
            }
        } else if i + 1 == line_no {
            key = l.split('=').next().unwrap_or("").trim().trim_matches(['"', '\'']).to_owned();
            break;
        }
    }
    let path = match (section.is_empty(), key.is_empty()) {
        (_, true) => section,
        (true, false) => key,
        (false, false) => format!("{section}.{key}"),
    };
    (line_no, path)
}

/// The uid and primary gid of a local account, from `passwd` (e.g. /etc/passwd). Not NSS's
/// getpwnam: the binaries are static (decision 0008), and static glibc cannot load NSS modules;
/// the package's accounts come from sysusers.d, which writes /etc/passwd. Err says why, naming
/// the account.
pub fn account_ids(name: &AccountName, passwd: &Path) -> Result<(u32, u32), String> {
    let text = std::fs::read_to_string(passwd).map_err(|e| format!("{} cannot be read: {e}", passwd.display()))?;
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name.0 {
            return match (f[2].parse::<u32>(), f[3].parse::<u32>()) {
                (Ok(uid), Ok(gid)) => Ok((uid, gid)),
                _ => Err(format!("account '{}' in {} has no numeric uid and gid", name.0, passwd.display())),
            };
        }
    }
    Err(format!(
        "no account '{}' in {}: create it (the package's sysusers.d does) or name an existing one",
        name.0,
        passwd.display()
    ))
}

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let all = [Self::Error, Self::Warn, Self::Info, Self::Debug, Self::Trace];
        all.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            let shown: String = s.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect();
            format!("'{shown}' is not accepted: use \"error\", \"warn\", \"info\", \"debug\" or \"trace\"")
        })
    }
}

impl From<LogLevel> for &'static str {
    fn from(l: LogLevel) -> &'static str {
        l.as_str()
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
