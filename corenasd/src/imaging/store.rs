//! Imaging rows in the state database: jobs (the persistent queue), archive entries, their
//! verification history and the imaging policy. Live progress lives in memory (engine.rs); a
//! job's last known progress is written here on every state change.

use crate::state::{StateError, now_rfc3339, sql};
use corenas_proto::imaging::{
    ArchiveInfo, ArchiveQuery, ArchiveSort, Checksums, JobInfo, JobKind, JobOptions, JobQuery, JobSort, JobState,
    Medium, Priority, Progress, Verification,
};
use rusqlite::{Connection, OptionalExtension, params};

/// A job as stored. `JobInfo` is this plus live progress, position and version.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub seq: i64,
    pub id: String,
    pub kind: JobKind,
    pub name: String,
    pub device: Option<String>,
    pub status: JobState,
    pub priority: Priority,
    pub options: JobOptions,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub progress: Progress,
    pub medium: Option<Medium>,
    pub source_model: Option<String>,
    pub source_serial: Option<String>,
    pub output_file: Option<String>,
    pub archive_id: Option<String>,
    pub target_archive: Option<String>,
    pub retry_direct: bool,
    pub pid: Option<u32>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// An admin created the job and may have it read a fixed disk (set once, at creation).
    pub fixed_disk_allowed: bool,
}

impl JobRow {
    pub fn info(&self, position: Option<u32>, version: u64) -> JobInfo {
        JobInfo {
            id: self.id.clone(),
            kind: self.kind,
            name: self.name.clone(),
            device: self.device.clone(),
            status: self.status,
            priority: self.priority,
            position,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            options: self.options.clone(),
            progress: self.progress.clone(),
            medium: self.medium.clone(),
            output_file: self.output_file.clone(),
            archive_id: self.archive_id.clone(),
            error: self.error.clone(),
            error_code: self.error_code.clone(),
            version,
        }
    }
}

fn kind_str(k: JobKind) -> &'static str {
    match k {
        JobKind::Image => "image",
        JobKind::Verify => "verify",
    }
}

fn parse_state(s: &str) -> JobState {
    s.parse().unwrap_or(JobState::Failed)
}

const JOB_COLUMNS: &str = "seq, id, kind, name, device, status, priority, options, created_at, updated_at, started_at,
    finished_at, progress, medium, source_model, source_serial, output_file, archive_id, target_archive, retry_direct,
    pid, error, error_code, fixed_disk_allowed";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let opt_json = |i: usize| -> rusqlite::Result<Option<String>> { r.get(i) };
    Ok(JobRow {
        seq: r.get(0)?,
        id: r.get(1)?,
        kind: if r.get::<_, String>(2)? == "verify" { JobKind::Verify } else { JobKind::Image },
        name: r.get(3)?,
        device: r.get(4)?,
        status: parse_state(&r.get::<_, String>(5)?),
        priority: Priority::from_rank(r.get(6)?),
        options: serde_json::from_str(&json(7)?).unwrap_or_default(),
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        progress: serde_json::from_str(&json(12)?).unwrap_or_default(),
        medium: opt_json(13)?.and_then(|m| serde_json::from_str(&m).ok()),
        source_model: r.get(14)?,
        source_serial: r.get(15)?,
        output_file: r.get(16)?,
        archive_id: r.get(17)?,
        target_archive: r.get(18)?,
        retry_direct: r.get::<_, i64>(19)? != 0,
        pid: r.get::<_, Option<i64>>(20)?.and_then(|p| u32::try_from(p).ok()),
        error: r.get(21)?,
        error_code: r.get(22)?,
        fixed_disk_allowed: r.get::<_, i64>(23)? != 0,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Inserts a new queued job and returns it with its id (`job_<seq>`).
pub fn insert_job(
    conn: &Connection,
    kind: JobKind,
    name: &str,
    device: Option<&str>,
    options: &JobOptions,
    target_archive: Option<&str>,
    fixed_disk_allowed: bool,
) -> Result<JobRow, StateError> {
    let now = now_rfc3339()?;
    let tx = conn.unchecked_transaction().map_err(sql("starting a job insert"))?;
    tx.execute(
        "INSERT INTO image_jobs(id, kind, name, device, status, priority, options, created_at, updated_at, progress,
            target_archive, fixed_disk_allowed) VALUES('', ?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
        params![
            kind_str(kind),
            name,
            device,
            options.priority.rank(),
            to_json(options),
            now,
            to_json(&Progress::default()),
            target_archive,
            i64::from(fixed_disk_allowed)
        ],
    )
    .map_err(sql("inserting a job"))?;
    let seq = tx.last_insert_rowid();
    let id = format!("job_{seq:06}");
    tx.execute("UPDATE image_jobs SET id = ?1 WHERE seq = ?2", params![id, seq]).map_err(sql("naming a job"))?;
    tx.commit().map_err(sql("committing a job insert"))?;
    job(conn, &id)?.ok_or_else(|| StateError::InvalidRecord { detail: "a job vanished after insert".into() })
}

pub fn job(conn: &Connection, id: &str) -> Result<Option<JobRow>, StateError> {
    conn.query_row(&format!("SELECT {JOB_COLUMNS} FROM image_jobs WHERE id = ?1"), [id], job_from_row)
        .optional()
        .map_err(sql("reading a job"))
}

/// Writes every mutable column of `row` back, stamping `updated_at`.
pub fn save_job(conn: &Connection, row: &mut JobRow) -> Result<(), StateError> {
    row.updated_at = now_rfc3339()?;
    conn.execute(
        "UPDATE image_jobs SET status = ?2, priority = ?3, options = ?4, updated_at = ?5, started_at = ?6,
            finished_at = ?7, progress = ?8, medium = ?9, source_model = ?10, source_serial = ?11, output_file = ?12,
            archive_id = ?13, retry_direct = ?14, pid = ?15, error = ?16, error_code = ?17
         WHERE id = ?1",
        params![
            row.id,
            row.status.as_str(),
            row.priority.rank(),
            to_json(&row.options),
            row.updated_at,
            row.started_at,
            row.finished_at,
            to_json(&row.progress),
            row.medium.as_ref().map(to_json),
            row.source_model,
            row.source_serial,
            row.output_file,
            row.archive_id,
            i64::from(row.retry_direct),
            row.pid.map(i64::from),
            row.error,
            row.error_code,
        ],
    )
    .map_err(sql("saving a job"))?;
    Ok(())
}

/// Queued jobs in the order they will run: priority first, then first come first served.
pub fn queued(conn: &Connection) -> Result<Vec<JobRow>, StateError> {
    let mut st = conn
        .prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM image_jobs WHERE status = 'queued' ORDER BY priority DESC, seq ASC"
        ))
        .map_err(sql("listing the queue"))?;
    st.query_map([], job_from_row).map_err(sql("listing the queue"))?.collect::<Result<_, _>>().map_err(sql("queue"))
}

pub fn with_status(conn: &Connection, states: &[JobState]) -> Result<Vec<JobRow>, StateError> {
    let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let mut st = conn
        .prepare(&format!("SELECT {JOB_COLUMNS} FROM image_jobs WHERE status IN ({}) ORDER BY seq", list.join(",")))
        .map_err(sql("listing jobs"))?;
    st.query_map([], job_from_row).map_err(sql("listing jobs"))?.collect::<Result<_, _>>().map_err(sql("jobs"))
}

pub fn list_jobs(conn: &Connection, q: &JobQuery) -> Result<(Vec<JobRow>, u64), StateError> {
    // Sort keys are an enum; the SQL is chosen here, never built from caller text.
    let order = match q.sort {
        JobSort::Created => "seq DESC",
        JobSort::Updated => "updated_at DESC, seq DESC",
        JobSort::Name => "name ASC, seq ASC",
    };
    let status = q.status.map(|s| s.as_str().to_owned());
    let total: i64 = conn
        .query_row("SELECT COUNT(*) FROM image_jobs WHERE ?1 IS NULL OR status = ?1", [&status], |r| r.get(0))
        .map_err(sql("counting jobs"))?;
    let mut st = conn
        .prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM image_jobs WHERE ?1 IS NULL OR status = ?1 ORDER BY {order} LIMIT ?2 OFFSET ?3"
        ))
        .map_err(sql("listing jobs"))?;
    let rows = st
        .query_map(params![status, q.limit, q.offset], job_from_row)
        .map_err(sql("listing jobs"))?
        .collect::<Result<_, _>>()
        .map_err(sql("listing jobs"))?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

/// A finished image as the archive stores it.
pub struct NewArchive<'a> {
    pub job: &'a JobRow,
    pub filename: &'a str,
    pub path: &'a str,
    pub size: u64,
    pub checksums: &'a Checksums,
    pub bad_bytes: u64,
}

pub fn insert_archive(conn: &Connection, a: &NewArchive<'_>) -> Result<String, StateError> {
    let now = now_rfc3339()?;
    let tx = conn.unchecked_transaction().map_err(sql("starting an archive insert"))?;
    tx.execute(
        "INSERT INTO archives(id, job_id, name, filename, path, size, created_at, sha256, md5, bad_bytes, source_device,
            source_model, source_serial, label) VALUES('', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            a.job.id,
            a.job.name,
            a.filename,
            a.path,
            i64::try_from(a.size).unwrap_or(i64::MAX),
            now,
            a.checksums.sha256,
            a.checksums.md5,
            i64::try_from(a.bad_bytes).unwrap_or(i64::MAX),
            a.job.device.clone().unwrap_or_default(),
            a.job.source_model,
            a.job.source_serial,
            a.job.medium.as_ref().and_then(|m| m.label.clone()),
        ],
    )
    .map_err(sql("inserting an archive entry"))?;
    let seq = tx.last_insert_rowid();
    let id = format!("arc_{seq:06}");
    tx.execute("UPDATE archives SET id = ?1 WHERE seq = ?2", params![id, seq]).map_err(sql("naming an archive"))?;
    tx.commit().map_err(sql("committing an archive insert"))?;
    Ok(id)
}

const ARCHIVE_COLUMNS: &str = "id, job_id, name, filename, path, size, created_at, sha256, md5, bad_bytes,
    source_device, source_model, source_serial, label, tags, notes";

fn archive_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArchiveInfo> {
    Ok(ArchiveInfo {
        id: r.get(0)?,
        job_id: r.get(1)?,
        name: r.get(2)?,
        filename: r.get(3)?,
        path: r.get(4)?,
        size_bytes: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
        created_at: r.get(6)?,
        checksums: Checksums { sha256: r.get(7)?, md5: r.get(8)? },
        bad_bytes: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
        source_device: r.get(10)?,
        source_model: r.get(11)?,
        source_serial: r.get(12)?,
        label: r.get(13)?,
        tags: serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default(),
        notes: r.get(15)?,
        verifications: Vec::new(),
    })
}

fn verifications(conn: &Connection, id: &str) -> Result<Vec<Verification>, StateError> {
    let mut st = conn
        .prepare("SELECT time, result, detail FROM archive_verifications WHERE archive_id = ?1 ORDER BY rowid")
        .map_err(sql("reading verifications"))?;
    st.query_map([id], |r| Ok(Verification { time: r.get(0)?, result: r.get(1)?, detail: r.get(2)? }))
        .map_err(sql("reading verifications"))?
        .collect::<Result<_, _>>()
        .map_err(sql("reading verifications"))
}

pub fn archive(conn: &Connection, id: &str) -> Result<Option<ArchiveInfo>, StateError> {
    let a = conn
        .query_row(&format!("SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = ?1"), [id], archive_from_row)
        .optional()
        .map_err(sql("reading an archive entry"))?;
    match a {
        Some(mut a) => {
            a.verifications = verifications(conn, id)?;
            Ok(Some(a))
        }
        None => Ok(None),
    }
}

/// Escapes LIKE's wildcards so a search is plain text.
fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub fn list_archives(conn: &Connection, q: &ArchiveQuery) -> Result<(Vec<ArchiveInfo>, u64), StateError> {
    let column = match q.sort {
        ArchiveSort::Created => "seq",
        ArchiveSort::Name => "name",
        ArchiveSort::Size => "size",
    };
    let dir = if q.descending { "DESC" } else { "ASC" };
    let search = q.search.as_ref().map(|s| like_pattern(s.as_str()));
    let tag = q.tag.as_ref().map(|t| format!("%\"{}\"%", t.as_str()));
    let filter = "(?1 IS NULL OR lower(name) LIKE ?1 ESCAPE '\\' OR lower(coalesce(label, '')) LIKE ?1 ESCAPE '\\'
                   OR lower(notes) LIKE ?1 ESCAPE '\\' OR lower(tags) LIKE ?1 ESCAPE '\\' OR id LIKE ?1 ESCAPE '\\')
                  AND (?2 IS NULL OR tags LIKE ?2)";
    let total: i64 = conn
        .query_row(&format!("SELECT COUNT(*) FROM archives WHERE {filter}"), params![search, tag], |r| r.get(0))
        .map_err(sql("counting archive entries"))?;
    let mut st = conn
        .prepare(&format!(
            "SELECT {ARCHIVE_COLUMNS} FROM archives WHERE {filter} ORDER BY {column} {dir}, seq {dir} LIMIT ?3 OFFSET ?4"
        ))
        .map_err(sql("listing the archive"))?;
    let mut rows: Vec<ArchiveInfo> = st
        .query_map(params![search, tag, q.limit, q.offset], archive_from_row)
        .map_err(sql("listing the archive"))?
        .collect::<Result<_, _>>()
        .map_err(sql("listing the archive"))?;
    for a in &mut rows {
        a.verifications = verifications(conn, &a.id)?;
    }
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub fn save_archive_meta(conn: &Connection, a: &ArchiveInfo) -> Result<(), StateError> {
    conn.execute("UPDATE archives SET tags = ?2, notes = ?3 WHERE id = ?1", params![a.id, to_json(&a.tags), a.notes])
        .map_err(sql("saving archive metadata"))?;
    Ok(())
}

pub fn delete_archive(conn: &Connection, id: &str) -> Result<(), StateError> {
    conn.execute("DELETE FROM archive_verifications WHERE archive_id = ?1", [id]).map_err(sql("deleting"))?;
    conn.execute("DELETE FROM archives WHERE id = ?1", [id]).map_err(sql("deleting an archive entry"))?;
    Ok(())
}

/// A retried job files a new entry for the same image: the old entry's tags, notes and
/// verification history move to the new one, then the old entry goes.
pub fn supersede_archive(conn: &Connection, old_id: &str, new_id: &str) -> Result<(), StateError> {
    conn.execute(
        "UPDATE archives SET tags = (SELECT tags FROM archives WHERE id = ?1),
                             notes = (SELECT notes FROM archives WHERE id = ?1) WHERE id = ?2",
        params![old_id, new_id],
    )
    .map_err(sql("carrying archive metadata over"))?;
    conn.execute("UPDATE archive_verifications SET archive_id = ?2 WHERE archive_id = ?1", params![old_id, new_id])
        .map_err(sql("carrying verifications over"))?;
    delete_archive(conn, old_id)
}

pub fn add_verification(conn: &Connection, id: &str, result: &str, detail: &str) -> Result<(), StateError> {
    conn.execute(
        "INSERT INTO archive_verifications(archive_id, time, result, detail) VALUES(?1, ?2, ?3, ?4)",
        params![id, now_rfc3339()?, result, detail],
    )
    .map_err(sql("recording a verification"))?;
    Ok(())
}
