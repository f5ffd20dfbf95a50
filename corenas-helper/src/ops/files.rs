//! Reading the (prefixed) passwd, group and shadow files, and replacing one shadow hash
//! atomically. The helper trusts these files as much as the host does; the account tools write
//! them, except for the password hash, which no tool can set under `--prefix` without argv.

use corenas_proto::WireError;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct PasswdLine {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone)]
pub struct GroupLine {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

fn read(path: &Path) -> Result<String, WireError> {
    std::fs::read_to_string(path).map_err(|e| WireError::internal(format!("cannot read {}: {e}", path.display())))
}

pub fn parse_passwd(text: &str) -> Vec<PasswdLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 7 {
                return None;
            }
            Some(PasswdLine {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_owned(),
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

pub fn parse_group(text: &str) -> Vec<GroupLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 4 {
                return None;
            }
            Some(GroupLine {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Names whose login is locked: a `!` in front of a hash (`usermod -L`). A lone `!` is an
/// account that never had a password, which is not the same thing.
pub fn parse_locked(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let hash = f.next()?;
            (hash.starts_with('!') && hash != "!").then(|| name.to_owned())
        })
        .collect()
}

pub fn passwd(path: &Path) -> Result<Vec<PasswdLine>, WireError> {
    Ok(parse_passwd(&read(path)?))
}
pub fn groups(path: &Path) -> Result<Vec<GroupLine>, WireError> {
    Ok(parse_group(&read(path)?))
}
pub fn locked(path: &Path) -> Result<Vec<String>, WireError> {
    Ok(parse_locked(&read(path)?))
}

/// Holds both locks the account tools honour: glibc's `lckpwdf` (an fcntl lock on
/// `/etc/.pwd.lock`, used by PAM's `passwd`) and shadow-utils' `<file>.lock` (created by link(2),
/// used by useradd/usermod), so no concurrent password change can interleave with ours.
struct FileLock {
    lock: std::path::PathBuf,
    _pwd_lock: std::fs::File,
}

/// `lckpwdf`: an exclusive fcntl lock on `.pwd.lock` beside the file, waiting up to 5 s.
fn lock_pwd(file: &Path) -> Result<std::fs::File, WireError> {
    let path = file.with_file_name(".pwd.lock");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| WireError::internal(format!("cannot open {}: {e}", path.display())))?;
    for _ in 0..50 {
        match rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(f),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(e) => return Err(WireError::internal(format!("locking {}: {e}", path.display()))),
        }
    }
    Err(WireError::internal(format!("{} stays locked (a password change is in progress)", path.display())))
}

impl FileLock {
    fn take(file: &Path) -> Result<Self, WireError> {
        let pwd_lock = lock_pwd(file)?;
        let lock = file.with_extension("lock");
        let tmp = file.with_extension(format!("{}", std::process::id()));
        std::fs::write(&tmp, format!("{}\0", std::process::id()))
            .map_err(|e| WireError::internal(format!("cannot create {}: {e}", tmp.display())))?;
        let mut last = None;
        for _ in 0..50 {
            match std::fs::hard_link(&tmp, &lock) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(Self { lock, _pwd_lock: pwd_lock });
                }
                Err(e) => last = Some(e),
            }
            // As shadow-utils does: a lock whose owner no longer exists (a killed helper or
            // tool) is stale and is removed.
            if lock_owner_is_gone(&lock) {
                let _ = std::fs::remove_file(&lock);
                continue;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(&tmp);
        Err(WireError::internal(format!(
            "{} stays locked: {}",
            lock.display(),
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }
}

/// The lock file holds its owner's pid ("1234\0", or as text by shadow-utils).
fn lock_owner_is_gone(lock: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(lock) else { return false };
    match text.trim_matches(|c: char| c == '\0' || c.is_whitespace()).parse::<u32>() {
        Ok(pid) if pid > 0 => !Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// Removes the temporary file unless it was renamed into place.
struct TempFile<'a>(&'a Path, bool);

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(self.0);
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// Replaces the password field of `user` with `hash`: temp file with the old mode, fsync,
/// rename, fsync of the directory. A crash leaves either the old or the new file.
pub fn replace_shadow_hash(shadow: &Path, user: &str, hash: &str) -> Result<(), WireError> {
    if hash.is_empty() || hash.contains([':', '\n', '\0']) {
        return Err(WireError::internal("the hash tool returned an unusable hash"));
    }
    write_shadow_hash(shadow, user, hash, true)
}

/// Sets the password field of `user` to exactly `field` (a configuration restore: locked or not
/// as archived); the caller has checked its shape.
pub fn set_shadow_field(shadow: &Path, user: &str, field: &str) -> Result<(), WireError> {
    if field.is_empty() || field.contains([':', '\n', '\0']) {
        return Err(WireError::internal("refused an unusable password field"));
    }
    write_shadow_hash(shadow, user, field, false)
}

fn write_shadow_hash(shadow: &Path, user: &str, hash: &str, keep_lock: bool) -> Result<(), WireError> {
    let _lock = FileLock::take(shadow)?;
    let text = read(shadow)?;
    let mut found = false;
    let mut out = String::with_capacity(text.len() + hash.len());
    // Days since the epoch, as shadow's "last password change" field counts them.
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
        .to_string();
    for line in text.lines() {
        let mut fields: Vec<String> = line.split(':').map(str::to_owned).collect();
        if fields.first().map(String::as_str) == Some(user) && fields.len() >= 3 {
            // A locked account stays locked: the `!` in front of the old hash is kept.
            let locked = keep_lock && fields[1].starts_with('!') && fields[1] != "!";
            fields[1] = if locked { format!("!{hash}") } else { hash.to_owned() };
            fields[2] = today.clone();
            found = true;
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    if !found {
        return Err(WireError::not_found(format!("user '{user}' has no shadow entry")));
    }
    let mode = std::fs::metadata(shadow).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o640);
    // Unique per process; a leftover from a crashed helper is removed, never trusted.
    // A fixed name: both locks serialize writers, and a leftover from a crashed helper is simply
    // replaced.
    let tmp = shadow.with_extension("corenas-new");
    let io = |e: std::io::Error| WireError::internal(format!("writing {}: {e}", tmp.display()));
    let _ = std::fs::remove_file(&tmp);
    let mut guard = TempFile(&tmp, false);
    {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io)?;
        f.write_all(out.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    let meta = std::fs::metadata(shadow).map_err(io)?;
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid())).map_err(io)?;
    std::fs::rename(&tmp, shadow).map_err(io)?;
    guard.1 = true;
    if let Some(dir) = shadow.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// The temporary name a file is written under before it replaces `path` (same directory, so the
/// rename is atomic). A helper killed mid-write leaves only this, never a half `path`.
pub fn temp_path(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.corenas-new"))
}

/// Writes `content` to the temporary name: created fresh (a stale one from a killed helper is
/// removed first), not following links, with `mode`, fsynced. Returns the temporary path.
pub fn write_temp(path: &Path, content: &[u8], mode: u32) -> Result<std::path::PathBuf, WireError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = temp_path(path);
    let fail = |what: &str, e: std::io::Error| WireError::internal(format!("cannot {what} {}: {e}", tmp.display()));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("remove the stale", e)),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0))
        .open(&tmp)
        .map_err(|e| fail("create", e))?;
    // The umask may have narrowed the mode.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|e| fail("chmod", e))?;
    f.write_all(content).map_err(|e| fail("write", e))?;
    f.sync_all().map_err(|e| fail("fsync", e))?;
    Ok(tmp)
}

/// Renames the temporary file over `path` and fsyncs the directory: a crash leaves the old file
/// or the new one, complete.
pub fn commit_temp(tmp: &Path, path: &Path) -> Result<(), WireError> {
    std::fs::rename(tmp, path)
        .map_err(|e| WireError::internal(format!("cannot rename {} to {}: {e}", tmp.display(), path.display())))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Replaces `path` atomically with `content`.
pub fn replace_file(path: &Path, content: &[u8], mode: u32) -> Result<(), WireError> {
    let tmp = write_temp(path, content, mode)?;
    commit_temp(&tmp, path)
}

/// The file's text, or None when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, WireError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WireError::internal(format!("cannot read {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_skips_malformed_lines() {
        let p = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbroken\nalice:x:50000:50000:A:/home/alice:/usr/sbin/nologin\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].uid, 50000);
        let g = parse_group("staff:x:50001:alice,bob\nempty:x:50002:\n");
        assert_eq!(g[0].members, ["alice", "bob"]);
        assert!(g[1].members.is_empty());
        assert_eq!(parse_locked("a:!$y$x:1::::::\nb:$y$z:1::::::\nc:!:1::::::\nd:!!:1::::::\n"), ["a", "d"]);
    }

    #[test]
    fn replaces_one_hash_atomically() {
        let dir = std::env::temp_dir().join(format!("corenas-shadow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shadow = dir.join("shadow");
        std::fs::write(&shadow, "root:*:1:0:99999:7:::\nalice:!:1::::::\nbob:!$y$old:1::::::\n").unwrap();
        replace_shadow_hash(&shadow, "alice", "$y$abc").unwrap();
        replace_shadow_hash(&shadow, "bob", "$y$new").unwrap();
        let text = std::fs::read_to_string(&shadow).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "root:*:1:0:99999:7:::");
        assert!(lines[1].starts_with("alice:$y$abc:") && !lines[1].starts_with("alice:$y$abc:1:"), "{text}");
        assert!(lines[2].starts_with("bob:!$y$new:"), "a locked account stays locked: {text}");
        assert!(replace_shadow_hash(&shadow, "carol", "$y$abc").is_err());
        // A lock left by a process that no longer exists does not block forever.
        std::fs::write(dir.join("shadow.lock"), "999999999\0").unwrap();
        replace_shadow_hash(&shadow, "alice", "$y$def").unwrap();
        assert!(!dir.join("shadow.lock").exists() && !dir.join("shadow.corenas-new").exists());
        assert!(replace_shadow_hash(&shadow, "alice", "x:y").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
