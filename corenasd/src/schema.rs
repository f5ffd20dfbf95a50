//! Every schema migration of the state database, in one place and in order. `MIGRATIONS[i]`
//! takes the schema from version `i` to `i + 1` (`PRAGMA user_version`); `state.rs` runs them.
//!
//! Append only: a released migration is never edited or reordered, because a database that has
//! run it never runs it again. A new table gets a new `migrate_N` at the end, even when it
//! belongs to one domain; the domain's `store.rs` then holds the SQL that reads and writes it.
//! This module imports nothing of corenasd: it is the bottom floor.

use rusqlite::Transaction;

/// One function per schema version, in order.
pub(crate) const MIGRATIONS: &[fn(&Transaction<'_>) -> rusqlite::Result<()>] = &[
    migrate_1, migrate_2, migrate_3, migrate_4, migrate_5, migrate_6, migrate_7, migrate_8, migrate_9, migrate_10,
    migrate_11, migrate_12,
];

/// The `prev_hash` of the audit log's first entry, and the head hash of an empty log
/// (`migrate_1` writes it as the first head).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The schema version this build knows and creates.
pub fn schema_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Schema 1: the audit chain, its head, and the accounts CoreNAS created.
fn migrate_1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE audit(
             seq INTEGER PRIMARY KEY,
             time TEXT NOT NULL,
             principal TEXT NOT NULL,
             channel TEXT NOT NULL,
             peer_uid INTEGER NOT NULL,
             action TEXT NOT NULL,
             args TEXT NOT NULL,
             result TEXT NOT NULL,
             error_code TEXT,
             prev_hash TEXT NOT NULL,
             hash TEXT NOT NULL
         );
         -- Updated in the same transaction as every append: without it, deleting the newest
         -- entries would leave a chain that is still internally consistent.
         CREATE TABLE audit_head(
             id INTEGER PRIMARY KEY CHECK (id = 1),
             entries INTEGER NOT NULL,
             hash TEXT NOT NULL
         );
         CREATE TABLE accounts(
             name TEXT NOT NULL,
             is_group INTEGER NOT NULL,
             kind TEXT NOT NULL,
             id INTEGER NOT NULL,
             created TEXT NOT NULL,
             PRIMARY KEY(name, is_group)
         );",
    )?;
    tx.execute("INSERT INTO audit_head(id, entries, hash) VALUES (1, 0, ?1)", [GENESIS_HASH])?;
    Ok(())
}

/// Deleted accounts stay as tombstones so their ids are never handed out again: files and ACL
/// entries are numeric, and a new user must not inherit a former user's access.
fn migrate_2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE accounts ADD COLUMN deleted TEXT;
         CREATE TABLE allocated_ids(id INTEGER PRIMARY KEY);
         INSERT OR IGNORE INTO allocated_ids(id) SELECT id FROM accounts;",
    )
}

fn migrate_3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE image_jobs(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            device TEXT,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            options TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            progress TEXT NOT NULL,
            medium TEXT,
            source_model TEXT,
            source_serial TEXT,
            output_file TEXT,
            archive_id TEXT,
            target_archive TEXT,
            retry_direct INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            error TEXT,
            error_code TEXT);
         CREATE INDEX image_jobs_status ON image_jobs(status, priority, seq);
         CREATE TABLE archives(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            job_id TEXT NOT NULL,
            name TEXT NOT NULL,
            filename TEXT NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            md5 TEXT,
            bad_bytes INTEGER NOT NULL,
            source_device TEXT NOT NULL,
            source_model TEXT,
            source_serial TEXT,
            label TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '');
         CREATE TABLE archive_verifications(
            archive_id TEXT NOT NULL,
            time TEXT NOT NULL,
            result TEXT NOT NULL,
            detail TEXT NOT NULL);
         CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )
}

/// Schema 4: shares and mounts.
fn migrate_4(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE shares(
             name TEXT PRIMARY KEY,
             def TEXT NOT NULL,
             access TEXT,
             created TEXT NOT NULL,
             modified TEXT NOT NULL);
         CREATE TABLE mounts(
             target TEXT PRIMARY KEY,
             def TEXT NOT NULL,
             retries INTEGER NOT NULL DEFAULT 0,
             last_error TEXT,
             next_retry TEXT,
             created TEXT NOT NULL);",
    )
}

/// Schema 5: pools, snapshot schedules, storage jobs, SMART history.
fn migrate_5(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE pools(
             name TEXT PRIMARY KEY,
             backend TEXT NOT NULL,
             spec TEXT NOT NULL,
             created TEXT NOT NULL);
         CREATE TABLE snapshot_schedules(
             dataset TEXT PRIMARY KEY,
             keep TEXT NOT NULL,
             last_run TEXT,
             last_result TEXT);
         CREATE TABLE storage_jobs(
             id TEXT PRIMARY KEY,
             kind TEXT NOT NULL,
             target TEXT NOT NULL,
             state TEXT NOT NULL,
             percent REAL,
             message TEXT,
             started TEXT NOT NULL,
             finished TEXT);
         CREATE TABLE smart_reports(
             device TEXT NOT NULL,
             time TEXT NOT NULL,
             report TEXT NOT NULL);
         CREATE INDEX smart_reports_device ON smart_reports(device, time);",
    )
}

fn migrate_6(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE web_accounts(
             user TEXT PRIMARY KEY,
             role TEXT NOT NULL,
             totp_secret BLOB,
             totp_confirmed INTEGER NOT NULL DEFAULT 0,
             totp_last_step INTEGER NOT NULL DEFAULT 0,
             recovery TEXT NOT NULL DEFAULT '[]'
         );
         CREATE TABLE api_keys(
             id TEXT PRIMARY KEY,
             hash TEXT NOT NULL UNIQUE,
             owner TEXT NOT NULL,
             role TEXT NOT NULL,
             label TEXT NOT NULL,
             created TEXT NOT NULL,
             expires INTEGER NOT NULL,
             revoked INTEGER NOT NULL DEFAULT 0
         );",
    )
}

/// A second secret while an enrolled account renews its authenticator: the old one keeps working
/// until the new one is confirmed, so an abandoned renewal locks nobody out.
fn migrate_7(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE web_accounts ADD COLUMN totp_pending BLOB;")
}

/// A web account belongs to one Unix account, not to a name: the uid it was given to. A name
/// deleted and created again (at the shell, behind CoreNAS's back) must not inherit the old
/// account's role, second factor or keys. NULL: a row from before this migration, bound to the
/// account that next uses it.
fn migrate_8(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE web_accounts ADD COLUMN uid INTEGER;")
}

/// Whether an admin allowed an imaging job to read a fixed (non-removable) disk: the engine
/// passes it to the helper's read grant, which otherwise grants only optical and removable media.
/// A column rather than a key in `options`, because `options` is what the caller sends.
fn migrate_9(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE image_jobs ADD COLUMN fixed_disk_allowed INTEGER NOT NULL DEFAULT 0;")
}

/// Monitoring and alerts (issue 19): the collectors' cache and history, alerts with their
/// dedup key, silences, delivery policies, channels, the durable outbox and health schedules.
fn migrate_10(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE monitor_cache (
             collector TEXT PRIMARY KEY,
             data TEXT,
             last_run INTEGER,
             last_success INTEGER,
             last_error TEXT,
             runs INTEGER NOT NULL DEFAULT 0,
             failures INTEGER NOT NULL DEFAULT 0
         );
         CREATE TABLE metric_history (
             series TEXT NOT NULL,
             t INTEGER NOT NULL,
             v REAL NOT NULL,
             PRIMARY KEY (series, t)
         ) WITHOUT ROWID;
         CREATE TABLE metric_history_hourly (
             series TEXT NOT NULL,
             t INTEGER NOT NULL,
             v REAL NOT NULL,
             vmin REAL NOT NULL,
             vmax REAL NOT NULL,
             PRIMARY KEY (series, t)
         ) WITHOUT ROWID;
         CREATE TABLE alerts (
             id TEXT PRIMARY KEY,
             class TEXT NOT NULL,
             subject TEXT NOT NULL,
             level TEXT NOT NULL,
             state TEXT NOT NULL,
             summary TEXT NOT NULL,
             action TEXT NOT NULL,
             first_seen INTEGER NOT NULL,
             last_seen INTEGER NOT NULL,
             resolved_at INTEGER,
             dismissed_by TEXT,
             dismissed_at INTEGER
         );
         CREATE UNIQUE INDEX alerts_one_active ON alerts (class, subject) WHERE state = 'active';
         CREATE TABLE alert_pending (
             class TEXT NOT NULL,
             subject TEXT NOT NULL,
             since INTEGER NOT NULL,
             PRIMARY KEY (class, subject)
         );
         CREATE TABLE alert_baselines (
             subject TEXT NOT NULL,
             attribute TEXT NOT NULL,
             value INTEGER NOT NULL,
             since INTEGER NOT NULL,
             PRIMARY KEY (subject, attribute)
         );
         CREATE TABLE silences (
             id TEXT PRIMARY KEY,
             class TEXT,
             subject TEXT,
             until INTEGER NOT NULL,
             reason TEXT NOT NULL,
             created_by TEXT NOT NULL,
             created_at INTEGER NOT NULL
         );
         CREATE TABLE alert_policies (
             class TEXT PRIMARY KEY,
             delivery TEXT NOT NULL
         );
         CREATE TABLE alert_channels (
             name TEXT PRIMARY KEY,
             spec TEXT NOT NULL,
             secret TEXT,
             min_level TEXT NOT NULL,
             created INTEGER NOT NULL,
             last_delivered INTEGER,
             last_error TEXT
         );
         CREATE TABLE outbox (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             channel TEXT NOT NULL,
             alert_id TEXT,
             class TEXT,
             event TEXT NOT NULL,
             payload TEXT NOT NULL,
             created INTEGER NOT NULL,
             attempts INTEGER NOT NULL DEFAULT 0,
             next_attempt INTEGER NOT NULL,
             delivered_at INTEGER,
             last_error TEXT
         );
         CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt);
         CREATE TABLE health_schedules (
             work TEXT PRIMARY KEY,
             spec TEXT NOT NULL,
             last_run INTEGER,
             last_job TEXT
         );",
    )
}

/// Backups (issue 21): targets (where restic repositories are; the secrets apart, as the alert
/// channels keep theirs) and tasks (what is backed up where; the jobs record their last runs).
fn migrate_11(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE backup_targets (
             name TEXT PRIMARY KEY,
             location TEXT NOT NULL,
             secrets TEXT NOT NULL,
             host_key TEXT,
             ssh_key TEXT,
             public_key TEXT,
             created TEXT NOT NULL
         );
         CREATE TABLE backup_tasks (
             name TEXT PRIMARY KEY,
             spec TEXT NOT NULL,
             created TEXT NOT NULL,
             modified TEXT NOT NULL,
             last_backup TEXT,
             last_check TEXT,
             last_sample_restore TEXT
         );",
    )
}

/// Backup jobs (issue 21): backups, checks, sample restores and restores, each a row from its
/// creation (`outcome`: the figures metrics and alerts read), and per task and kind of work
/// the schedule's last run and the run count (the rolling check's k comes from it).
fn migrate_12(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE backup_jobs (
             id TEXT PRIMARY KEY,
             task TEXT NOT NULL,
             target TEXT NOT NULL,
             kind TEXT NOT NULL,
             state TEXT NOT NULL,
             progress TEXT NOT NULL,
             created TEXT NOT NULL,
             finished TEXT,
             snapshot TEXT,
             detail TEXT,
             error TEXT,
             outcome TEXT NOT NULL DEFAULT '{}'
         );
         CREATE INDEX backup_jobs_task ON backup_jobs (task, kind, id);
         CREATE TABLE backup_work (
             task TEXT NOT NULL,
             work TEXT NOT NULL,
             runs INTEGER NOT NULL DEFAULT 0,
             last_run INTEGER,
             last_job TEXT,
             PRIMARY KEY (task, work)
         );",
    )
}
