//! The daemon's SQLite state: opening the database with the durability settings CoreNAS relies
//! on, the migrations (in `schema.rs`) run in order, and the settings table.
//!
//! This module owns the file and the schema; it knows nothing about what the audit chain means
//! (see `audit.rs`) and must not hold policy. Migrations are code, numbered by
//! `PRAGMA user_version`, and only ever appended to: a released migration is never edited.

use crate::schema::schema_version;
use corenas_proto::{ErrorCode, WireError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("state database: {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{path} is not a SQLite database (or is damaged); move it aside or restore it from a backup")]
    NotADatabase { path: PathBuf },

    #[error(
        "state database schema version {found} is newer than this corenasd knows ({known}); run a newer corenasd or restore a backup taken by this version"
    )]
    NewerSchema { found: i64, known: i64 },

    #[error("state database refused PRAGMA {pragma} = {wanted} (it reports {got})")]
    Pragma { pragma: &'static str, wanted: &'static str, got: String },

    /// Stored data contradicts itself in a way the code must not paper over.
    #[error("state database is inconsistent: {detail}")]
    Corrupt { detail: String },

    /// A value handed to the state layer breaks its contract (a bug in the caller).
    #[error("refused to store an invalid record: {detail}")]
    InvalidRecord { detail: String },

    #[error("could not format the current time as RFC 3339: {source}")]
    Clock {
        #[source]
        source: time::error::Format,
    },
}

impl StateError {
    /// Wraps a rusqlite error with what was being done.
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
        move |source| StateError::Sqlite { context, source }
    }
}

impl From<StateError> for WireError {
    fn from(e: StateError) -> Self {
        let code = match &e {
            StateError::NotADatabase { .. } | StateError::Corrupt { .. } => ErrorCode::StateCorrupt,
            StateError::Sqlite { source, .. }
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
                ) =>
            {
                ErrorCode::StateCorrupt
            }
            _ => ErrorCode::Internal,
        };
        WireError::new(code, e.to_string())
    }
}

/// The current time as RFC 3339 in UTC, the one time format stored in the database.
/// Maps a SQLite error to a `StateError` that says what was being done.
pub(crate) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    StateError::sqlite(context)
}

pub(crate) fn now_rfc3339() -> Result<String, StateError> {
    OffsetDateTime::now_utc().format(&Rfc3339).map_err(|source| StateError::Clock { source })
}

pub struct State {
    conn: Connection,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("path", &self.conn.path()).finish()
    }
}

impl State {
    /// Opens (creating if needed) the state database at `path` and brings its schema up to date.
    ///
    /// The parent directory is created 0700 and the file 0600: the database holds the audit log
    /// and session material, readable by the `corenas` user alone. SQLite creates the `-wal` and
    /// `-shm` files with the database file's mode.
    pub fn open(path: &Path) -> Result<State, StateError> {
        prepare_file(path)?;
        let conn = Connection::open(path).map_err(StateError::sqlite("opening the database"))?;
        let not_a_db = |context: &'static str| {
            move |source: rusqlite::Error| {
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                    StateError::NotADatabase { path: path.to_owned() }
                } else {
                    StateError::Sqlite { context, source }
                }
            }
        };

        conn.busy_timeout(BUSY_TIMEOUT).map_err(StateError::sqlite("setting busy_timeout"))?;
        // The first statement that reads the file: a file that is not SQLite fails here.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(not_a_db("setting journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::Pragma { pragma: "journal_mode", wanted: "WAL", got: mode });
        }
        // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and an
        // audit entry that was acknowledged must survive.
        conn.pragma_update(None, "synchronous", "FULL").map_err(StateError::sqlite("setting synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(StateError::sqlite("setting foreign_keys"))?;
        // A deleted row is overwritten, not left in a free page: a removed alert channel's SMTP
        // password, an ended session or a revoked key must not stay readable in the file.
        conn.pragma_update(None, "secure_delete", "ON").map_err(StateError::sqlite("setting secure_delete"))?;
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .map_err(StateError::sqlite("reading foreign_keys"))?;
        if fk != 1 {
            return Err(StateError::Pragma { pragma: "foreign_keys", wanted: "ON", got: fk.to_string() });
        }

        let mut state = State { conn };
        state.migrate()?;
        Ok(state)
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Applies every migration the database has not seen, each in its own transaction together
    /// with the `user_version` bump, so a crash leaves the schema at a whole version.
    fn migrate(&mut self) -> Result<(), StateError> {
        let known = schema_version();
        loop {
            // IMMEDIATE: two daemons starting at once must not both run the same migration.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StateError::sqlite("starting a migration"))?;
            let found: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(StateError::sqlite("reading user_version"))?;
            if found > known {
                return Err(StateError::NewerSchema { found, known });
            }
            let Ok(index) = usize::try_from(found) else {
                return Err(StateError::Corrupt {
                    detail: format!("user_version is {found}, which no CoreNAS version writes"),
                });
            };
            let Some(step) = crate::schema::MIGRATIONS.get(index) else {
                // Up to date; dropping `tx` ends the empty transaction.
                return Ok(());
            };
            step(&tx).map_err(StateError::sqlite("applying a schema migration"))?;
            tx.pragma_update(None, "user_version", found + 1)
                .map_err(StateError::sqlite("recording the schema version"))?;
            tx.commit().map_err(StateError::sqlite("committing a schema migration"))?;
        }
    }
}

/// A new database at an older schema `version`, as the CoreNAS of that version made it: for
/// tests that prove a configuration restore migrates an older archive.
pub fn create_at_version(path: &Path, version: i64) -> Result<(), StateError> {
    let mut conn = Connection::open(path).map_err(StateError::sqlite("creating a database"))?;
    let wanted = usize::try_from(version).unwrap_or(0);
    for (i, step) in crate::schema::MIGRATIONS.iter().take(wanted).enumerate() {
        let tx = conn.transaction().map_err(StateError::sqlite("starting a migration"))?;
        step(&tx).map_err(StateError::sqlite("applying a schema migration"))?;
        let v = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.pragma_update(None, "user_version", v).map_err(StateError::sqlite("recording the schema version"))?;
        tx.commit().map_err(StateError::sqlite("committing a schema migration"))?;
    }
    Ok(())
}

/// Creates the parent directory (0700) and the database file (0600) before SQLite does, so the
/// file never exists with the umask's mode; tightens an existing file that is group- or
/// world-accessible.
fn prepare_file(path: &Path) -> Result<(), StateError> {
    let io = |context: &'static str, p: &Path| {
        let path = p.to_owned();
        move |source| StateError::Io { context, path, source }
    };
    let missing_parent = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists());
    if let Some(parent) = missing_parent {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io("creating the state directory", parent))?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating the state database", path)(e)),
    }
    let meta = std::fs::metadata(path).map_err(io("inspecting the state database", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(0o600))
            .map_err(io("restricting the mode of the state database", path))?;
    }
    Ok(())
}

/// Temporary directories for tests that need a real database file.
pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>, StateError> {
    conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(sql("reading a setting"))
}

pub fn set_setting(conn: &Connection, key: &str, value: &str) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(sql("saving a setting"))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct TestDir(PathBuf);

    impl TestDir {
        pub(crate) fn new(tag: &str) -> TestDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "corenasd-{tag}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create test dir");
            TestDir(dir)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::TestDir;
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// The attacker reads a copy of state.db (a backup, a disk sold on): a removed channel's
    /// SMTP password must not be in it.
    #[test]
    fn a_deleted_secret_is_not_left_in_the_file() {
        let tmp = TestDir::new("state-secure-delete");
        let db = tmp.path().join("state.db");
        let state = State::open(&db).unwrap();
        let secret = "Relay-Secret-7f3a9c";
        state
            .conn()
            .execute(
                "INSERT INTO alert_channels (name, spec, secret, min_level, created) VALUES ('m', '{}', ?1, 'warning', 0)",
                [secret],
            )
            .unwrap();
        state.conn().execute("DELETE FROM alert_channels WHERE name = 'm'", []).unwrap();
        state.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        drop(state);
        for f in ["state.db", "state.db-wal"] {
            let bytes = std::fs::read(tmp.path().join(f)).unwrap_or_default();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{f} still holds the secret");
        }
    }

    #[test]
    fn open_creates_private_dir_and_file_with_durable_settings() {
        let tmp = TestDir::new("state-open");
        let dir = tmp.path().join("var/lib/corenas");
        let db = dir.join("state.db");
        let state = State::open(&db).unwrap();

        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&db), 0o600);
        let c = state.conn();
        let q = |p: &str| c.pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
        assert_eq!(q("journal_mode"), rusqlite::types::Value::Text("wal".into()));
        assert_eq!(q("synchronous"), rusqlite::types::Value::Integer(2), "FULL");
        assert_eq!(q("foreign_keys"), rusqlite::types::Value::Integer(1));
        assert_eq!(q("busy_timeout"), rusqlite::types::Value::Integer(5000));
        assert_eq!(q("user_version"), rusqlite::types::Value::Integer(schema_version()));
        // The WAL file inherits the database's mode.
        let wal = dir.join("state.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[test]
    fn existing_loose_file_mode_is_tightened() {
        let tmp = TestDir::new("state-mode");
        let db = tmp.path().join("state.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        State::open(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn reopening_keeps_schema_and_data() {
        let tmp = TestDir::new("state-reopen");
        let db = tmp.path().join("state.db");
        crate::accounts::store::record(State::open(&db).unwrap().conn(), "alice", false, "user", 1001).unwrap();
        let state = State::open(&db).unwrap();
        assert_eq!(crate::accounts::store::kind(state.conn(), "alice", false).unwrap().as_deref(), Some("user"));
        let v: i64 = state.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, schema_version());
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_clear_error() {
        let tmp = TestDir::new("state-notdb");
        let db = tmp.path().join("state.db");
        std::fs::write(&db, vec![b'x'; 4096]).unwrap();
        let err = State::open(&db).unwrap_err();
        assert!(matches!(err, StateError::NotADatabase { .. }), "{err:?}");
        assert!(err.to_string().contains("is not a SQLite database"), "{err}");
        assert_eq!(WireError::from(err).code, ErrorCode::StateCorrupt);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let tmp = TestDir::new("state-newer");
        let db = tmp.path().join("state.db");
        {
            let c = Connection::open(&db).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = State::open(&db).unwrap_err();
        assert!(matches!(err, StateError::NewerSchema { found: 99, known } if known == schema_version()), "{err:?}");
        assert!(err.to_string().contains("newer than this corenasd knows"), "{err}");
        assert_eq!(WireError::from(err).code, ErrorCode::Internal);
    }

    #[test]
    fn errors_map_to_wire_codes() {
        let corrupt = StateError::Corrupt { detail: "x".into() };
        assert_eq!(WireError::from(corrupt).code, ErrorCode::StateCorrupt);
        let io = StateError::Io {
            context: "creating",
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let w = WireError::from(io);
        assert_eq!(w.code, ErrorCode::Internal);
        assert!(w.message.starts_with("creating /x: "), "{}", w.message);
    }
}
