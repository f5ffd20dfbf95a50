//! The daily copies: corenasd seals an archive of its configuration once a day into
//! `<state dir>/config-backups/` and keeps the newest [`KEEP`]. The schedule is the newest copy's
//! time plus a day, so a restart neither skips a day nor makes a copy per start.
//!
//! Sealed with a key corenasd keeps beside them (`.key`, 0600, 32 random bytes), not an admin's
//! passphrase: copies must exist from the first day without anyone setting one, and they stay on
//! the box whose state database holds the same secrets already. They undo a bad change or a
//! damaged database here; archives that leave the box are `config backup` with a passphrase.

use crate::daemon::Daemon;
use corenas_proto::WireError;
use corenas_proto::config_backup::{ArchivePassphrase, LocalCopy};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const KEEP: usize = 14;
const EVERY: Duration = Duration::from_secs(24 * 3600);
const SUFFIX: &str = ".cnbak";

pub fn dir(shared: &Daemon) -> PathBuf {
    Path::new(&shared.state_db).parent().unwrap_or(Path::new(".")).join("config-backups")
}

fn copies(dir: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut out: Vec<(PathBuf, SystemTime, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(SUFFIX))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.modified().ok()?, m.len()))
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.1));
    out
}

pub fn list(shared: &Daemon) -> Result<Vec<LocalCopy>, WireError> {
    Ok(copies(&dir(shared))
        .into_iter()
        .map(|(p, t, bytes)| LocalCopy {
            file_name: p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes,
            created: time::OffsetDateTime::from(t)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        })
        .collect())
}

/// The key the daily copies are sealed with, made on first use.
pub fn key(dir: &Path) -> Result<ArchivePassphrase, WireError> {
    let path = dir.join(".key");
    let io = |e: std::io::Error| WireError::internal(format!("the daily copies' key {}: {e}", path.display()));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io)?;
    match std::fs::read_to_string(&path) {
        Ok(k) => return ArchivePassphrase::new(k.trim().to_owned()).map_err(|e| WireError::internal(e.message)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| WireError::internal(format!("no randomness: {e}")))?;
    let k = hex::encode(raw);
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
    f.write_all(k.as_bytes()).and_then(|()| f.sync_all()).map_err(io)?;
    ArchivePassphrase::new(k).map_err(|e| WireError::internal(e.message))
}

/// Makes one copy now and prunes to [`KEEP`].
pub async fn make_copy(shared: &Daemon) -> Result<PathBuf, WireError> {
    let dir = dir(shared);
    let pass = key(&dir)?;
    let a = super::create(shared, &pass).await?;
    let path = dir.join(&a.file_name);
    let tmp = dir.join(format!(".{}.new", a.file_name));
    let io = |e: std::io::Error| WireError::internal(format!("writing {}: {e}", path.display()));
    {
        use std::io::Write as _;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
        f.write_all(&a.bytes).and_then(|()| f.sync_all()).map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    for (old, _, _) in copies(&dir).into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// Opens a daily copy by name with the kept key (for `config restore --local NAME`).
pub fn read_copy(shared: &Daemon, name: &str) -> Result<(Vec<u8>, ArchivePassphrase), WireError> {
    if !name.ends_with(SUFFIX) || name.starts_with('.') || name.contains('/') || name.len() > 200 {
        return Err(WireError::invalid(
            "name",
            format!("'{name}' is not a daily copy's name: use one `config backups` lists"),
        ));
    }
    let dir = dir(shared);
    let bytes = std::fs::read(dir.join(name))
        .map_err(|e| WireError::not_found(format!("daily copy {name}: {e}; `config backups` lists them")))?;
    Ok((bytes, key(&dir)?))
}

/// The loop: a copy when the newest is a day old (or there is none), checked every
/// `check_every`; the first look comes after one interval, so a daemon that only starts and
/// stops (a test, a failing unit) does not make a copy each time.
pub async fn run(shared: Arc<Daemon>, check_every: Duration) {
    loop {
        tokio::time::sleep(check_every).await;
        let newest = copies(&dir(&shared)).first().map(|c| c.1);
        let due = newest.is_none_or(|t| SystemTime::now().duration_since(t).is_ok_and(|age| age >= EVERY));
        if due {
            match make_copy(&shared).await {
                Ok(p) => tracing::info!(copy = %p.display(), "configuration copy made"),
                Err(e) => tracing::warn!(error = %e.message, "the daily configuration copy failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_copy_is_named_by_its_file_name_only() {
        let tmp = crate::state::test_support::TestDir::new("cfgbak-local");
        let shared = crate::daemon::for_tests(&tmp);
        for bad in ["../state.db", "/etc/shadow", ".key", "x/../y.cnbak", "state.db"] {
            let e = read_copy(&shared, bad).err().unwrap();
            assert_eq!(e.field.as_deref(), Some("name"), "{bad}: {e:?}");
        }
        let e = read_copy(&shared, "corenas-config-x-20260101T000000Z.cnbak").err().unwrap();
        assert_eq!(e.code, corenas_proto::ErrorCode::NotFound);
        assert!(list(&shared).unwrap().is_empty());
    }

    #[test]
    fn the_key_is_made_once_and_private() {
        let tmp = crate::state::test_support::TestDir::new("cfgbak-key");
        let d = tmp.path().join("config-backups");
        let a = key(&d).unwrap();
        let b = key(&d).unwrap();
        assert_eq!(a.expose(), b.expose());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(d.join(".key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
