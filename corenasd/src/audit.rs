//! The hash-chained audit log: appending entries, reading them back in pages, and verifying
//! that nothing was edited, deleted, inserted, reordered or cut off.
//!
//! Each entry's hash covers its content and the previous entry's hash; `audit_head` records the
//! number of entries and the newest hash and is updated in the same transaction as every append,
//! so removing the newest entries is detectable too. Someone who can rewrite the whole database
//! can rewrite the whole chain: exporting the head elsewhere is what anchors it.
//!
//! This module stores what callers hand it; redacting secrets is the job of the argument types
//! (`Password` serializes as "<redacted>" in JSON). It never decides whether an action is allowed.

use crate::schema::GENESIS_HASH;
use crate::state::{StateError, now_rfc3339};
use corenas_proto::api::{AUDIT_PAGE_MAX, AuditEntry, AuditFilter, AuditVerify};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// The values `result` may take.
pub const RESULTS: [&str; 4] = ["ok", "refused", "failed", "dry-run"];

/// Versions the hash input, so a future change of encoding cannot be confused with this one.
const HASH_DOMAIN: &[u8] = b"corenas-audit-v1";

/// `verify` lists at most this many problems (plus one summary line), so a mass renumbering of
/// a million entries cannot produce an answer larger than a frame.
const MAX_PROBLEMS: usize = 1000;

/// One mutating request (or refusal) to record.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecord<'a> {
    /// Who asked: `root@ctl`, or the web user behind the session.
    pub principal: &'a str,
    /// How the request arrived (`ctl`, `web`).
    pub channel: &'a str,
    /// The uid the kernel reported for the peer socket.
    pub peer_uid: u32,
    pub action: &'a str,
    /// Arguments with secrets already redacted by their types.
    pub args: &'a serde_json::Value,
    /// One of [`RESULTS`].
    pub result: &'a str,
    pub error_code: Option<&'a str>,
}

const COLUMNS: &str = "seq, time, principal, channel, peer_uid, action, args, result, error_code, prev_hash, hash";

/// Writes one row exactly as given (the hash is not recomputed). The prepared statement is
/// cached per connection, so bulk writers pay for parsing once.
fn insert_entry(conn: &Connection, e: &AuditEntry) -> rusqlite::Result<usize> {
    let sql = format!("INSERT INTO audit({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    conn.prepare_cached(&sql)?.execute(params![
        e.seq,
        e.time,
        e.principal,
        e.channel,
        e.peer_uid,
        e.action,
        e.args,
        e.result,
        e.error_code,
        e.prev_hash,
        e.hash
    ])
}

/// Appends one entry and returns it as stored. The entry is durable when this returns
/// (the database runs with `synchronous=FULL`).
pub fn append(conn: &mut Connection, rec: &AuditRecord<'_>) -> Result<AuditEntry, StateError> {
    if !RESULTS.contains(&rec.result) {
        return Err(StateError::InvalidRecord {
            detail: format!("audit result '{}' is not one of {}", rec.result, RESULTS.join(", ")),
        });
    }
    // IMMEDIATE takes the write lock before reading the head, so two appenders on separate
    // connections cannot both extend the same head.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StateError::sqlite("starting an audit append"))?;
    let (entries, prev_hash) = read_head(&tx)?.ok_or_else(missing_head)?;

    // The next position comes from the head, not from the table: if the newest entries were
    // deleted, the gap stays visible to `verify` instead of being written over.
    let seq = i64::try_from(entries)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| StateError::Corrupt { detail: format!("audit head records {entries} entries") })?;
    let last: Option<i64> = tx
        .query_row("SELECT max(seq) FROM audit", [], |r| r.get(0))
        .map_err(StateError::sqlite("reading the newest audit entry"))?;
    if let Some(last) = last.filter(|&last| last >= seq) {
        return Err(StateError::Corrupt {
            detail: format!(
                "audit entry {last} exists but the audit head records only {entries} entries; \
                 the log was tampered with, run the audit verification"
            ),
        });
    }

    let mut entry = AuditEntry {
        seq,
        time: now_rfc3339()?,
        principal: rec.principal.to_owned(),
        channel: rec.channel.to_owned(),
        peer_uid: rec.peer_uid,
        action: rec.action.to_owned(),
        args: rec.args.to_string(),
        result: rec.result.to_owned(),
        error_code: rec.error_code.map(str::to_owned),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry, seq);

    insert_entry(&tx, &entry).map_err(StateError::sqlite("inserting an audit entry"))?;
    tx.execute("UPDATE audit_head SET entries = ?1, hash = ?2 WHERE id = 1", params![seq, entry.hash])
        .map_err(StateError::sqlite("updating the audit head"))?;
    tx.commit().map_err(StateError::sqlite("committing an audit entry"))?;
    Ok(entry)
}

/// The number of entries and the newest hash, as recorded in the head.
pub fn head(conn: &Connection) -> Result<(u64, String), StateError> {
    read_head(conn)?.ok_or_else(missing_head)
}

/// Up to `limit` entries with `seq < before` (all when `before` is None), newest first.
pub fn view(conn: &Connection, before: Option<i64>, limit: u32) -> Result<Vec<AuditEntry>, StateError> {
    let sql = format!("SELECT {COLUMNS} FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2");
    query_entries(conn, &sql, before.unwrap_or(i64::MAX), limit)
}

/// Up to `limit` entries with `seq > after`, oldest first: export in pages.
pub fn page(conn: &Connection, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StateError> {
    let sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq ASC LIMIT ?2");
    query_entries(conn, &sql, after, limit)
}

/// The entries matching `filter` over the whole log: oldest first after `after` when given, else
/// newest first before `before`. Times compare as stored (RFC 3339 in UTC): `since` against the
/// whole time, `until` against the time cut to its own length, so a day includes all of it.
pub fn search(
    conn: &Connection,
    filter: &AuditFilter,
    before: Option<i64>,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StateError> {
    let (condition, order, bound) = match after {
        Some(a) => ("seq > ?1", "ASC", a),
        None => ("seq < ?1", "DESC", before.unwrap_or(i64::MAX)),
    };
    let results = if filter.results.is_empty() { None } else { Some(filter.results.join(",")) };
    // LIKE with an escape character, so '_' in an action prefix matches only '_'.
    let action =
        filter.action.as_ref().map(|a| format!("{}%", a.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%")));
    let sql = format!(
        "SELECT {COLUMNS} FROM audit WHERE {condition} \
         AND (?2 IS NULL OR action LIKE ?2 ESCAPE '\\') \
         AND (?3 IS NULL OR principal = ?3) \
         AND (?4 IS NULL OR instr(',' || ?4 || ',', ',' || result || ',') > 0) \
         AND (?5 IS NULL OR time >= ?5) \
         AND (?6 IS NULL OR substr(time, 1, length(?6)) <= ?6) \
         AND (?8 IS NULL OR instr(args, ?8) > 0) \
         ORDER BY seq {order} LIMIT ?7"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(StateError::sqlite("searching the audit log"))?;
    let rows = stmt
        .query_map(
            params![
                bound,
                action,
                filter.principal,
                results,
                filter.since,
                filter.until,
                limit.min(AUDIT_PAGE_MAX),
                filter.mentions
            ],
            read_entry,
        )
        .map_err(StateError::sqlite("searching the audit log"))?;
    rows.collect::<Result<_, _>>().map_err(StateError::sqlite("reading an audit entry"))
}

fn query_entries(conn: &Connection, sql: &str, bound: i64, limit: u32) -> Result<Vec<AuditEntry>, StateError> {
    let mut stmt = conn.prepare_cached(sql).map_err(StateError::sqlite("reading the audit log"))?;
    let rows = stmt
        .query_map(params![bound, limit.min(AUDIT_PAGE_MAX)], read_entry)
        .map_err(StateError::sqlite("reading the audit log"))?;
    rows.collect::<Result<_, _>>().map_err(StateError::sqlite("reading an audit entry"))
}

/// Walks the whole log oldest first, one row at a time, and reports every problem by entry.
///
/// `entries` and `head` describe the table as found (row count, stored hash of the newest
/// row); each way in which it differs from an intact chain and from `audit_head` is a line in
/// `problems`.
pub fn verify(conn: &Connection) -> Result<AuditVerify, StateError> {
    // One read transaction, so the head and the rows come from the same snapshot even while
    // another connection appends.
    let tx = conn.unchecked_transaction().map_err(StateError::sqlite("starting audit verification"))?;
    let mut walk = Walk::new(read_head(&tx)?);

    let mut stmt = tx
        .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq ASC"))
        .map_err(StateError::sqlite("reading the audit log"))?;
    let mut rows = stmt.query([]).map_err(StateError::sqlite("reading the audit log"))?;
    while let Some(row) = rows.next().map_err(StateError::sqlite("reading the audit log"))? {
        let seq: i64 = row.get(0).map_err(StateError::sqlite("reading an audit sequence number"))?;
        match read_entry(row) {
            Ok(entry) => walk.entry(&entry),
            Err(e) if is_bad_value(&e) => {
                let hash = row.get::<_, String>(10).unwrap_or_default();
                walk.unreadable(seq, hash);
            }
            Err(e) => return Err(StateError::sqlite("reading an audit entry")(e)),
        }
    }
    Ok(walk.finish())
}

/// The state of one verification pass; holds a constant amount of data whatever the log size.
struct Walk {
    head: Option<(u64, String)>,
    /// The position the next row should have.
    expected_seq: i64,
    /// Stored hash of the previous row (genesis before the first).
    prev_hash: String,
    /// Stored hash of the row before that, to recognise the effect of a swapped pair.
    prev_prev_hash: Option<String>,
    prev_misplaced: bool,
    /// Rows seen.
    rows: u64,
    /// Highest position seen and its stored hash.
    last: Option<(i64, String)>,
    problems: Vec<String>,
    omitted: u64,
}

impl Walk {
    fn new(head: Option<(u64, String)>) -> Walk {
        let mut walk = Walk {
            head,
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            prev_prev_hash: None,
            prev_misplaced: false,
            rows: 0,
            last: None,
            problems: Vec::new(),
            omitted: 0,
        };
        if walk.head.is_none() {
            walk.problem("the audit head record is missing (head mismatch)".to_owned());
        }
        walk
    }

    fn problem(&mut self, line: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(line);
        } else {
            self.omitted += 1;
        }
    }

    /// Checks the position of a row and reports a gap before it. Returns whether the row
    /// belongs in the chain at all (not for a position below 1) and whether it follows a gap.
    fn position(&mut self, seq: i64) -> (bool, bool) {
        self.rows += 1;
        if seq < self.expected_seq {
            // Rows come in ascending order and positions are unique, so this is a row before
            // the first entry (0 or negative).
            self.problem(format!("entry {seq} has a position no entry can have (inserted)"));
            return (false, false);
        }
        let gap = seq > self.expected_seq;
        if gap {
            let first = self.expected_seq;
            let last = seq - 1;
            if first == last {
                self.problem(format!("entry {first} is missing (deleted)"));
            } else {
                self.problem(format!("entries {first} to {last} are missing (deleted)"));
            }
        }
        if let Some((entries, _)) = &self.head {
            let entries = *entries;
            if u64::try_from(seq).is_ok_and(|s| s > entries) {
                self.problem(format!(
                    "entry {seq} lies beyond the audit head, which records {entries} entries (inserted)"
                ));
            }
        }
        (true, gap)
    }

    fn entry(&mut self, e: &AuditEntry) {
        let (in_chain, gap) = self.position(e.seq);
        if !in_chain {
            return;
        }
        let mut misplaced = false;
        let content_ok = entry_hash(e, e.seq) == e.hash;
        if !content_ok {
            // The position is part of the hash, so a row moved to another position fails here.
            // Say so when it is a neighbour's untouched content: a swapped pair.
            let moved_from = [e.seq.checked_sub(1), e.seq.checked_add(1)]
                .into_iter()
                .flatten()
                .find(|&s| s > 0 && entry_hash(e, s) == e.hash);
            if let Some(from) = moved_from {
                misplaced = true;
                self.problem(format!("entry {} holds the content of entry {from} (reordered)", e.seq));
            } else {
                self.problem(format!("entry {}: content does not match its hash (edited)", e.seq));
            }
        } else if !gap && e.prev_hash != self.prev_hash {
            // A gap already explains a broken link. After a swapped pair, the row that follows
            // links to the hash two rows back; that is the swap, not a new problem.
            let after_swap = self.prev_misplaced && self.prev_prev_hash.as_deref() == Some(e.prev_hash.as_str());
            if !after_swap {
                let (seq, before) = (e.seq, e.seq - 1);
                self.problem(format!(
                    "entry {seq} does not follow entry {before}: its prev_hash is not the hash of entry \
                     {before} (entry {before} was replaced, or an entry was inserted or reordered)"
                ));
            }
        }
        self.advance(e.seq, e.hash.clone(), misplaced);
    }

    /// A row whose columns do not even have the stored types: edited by hand.
    fn unreadable(&mut self, seq: i64, hash: String) {
        let (in_chain, _) = self.position(seq);
        if in_chain {
            self.problem(format!("entry {seq}: a field has the wrong type (edited)"));
            self.advance(seq, hash, false);
        }
    }

    fn advance(&mut self, seq: i64, hash: String, misplaced: bool) {
        let head_differs = self
            .head
            .as_ref()
            .is_some_and(|(entries, head_hash)| u64::try_from(seq).is_ok_and(|s| s == *entries) && *head_hash != hash);
        if head_differs {
            self.problem(format!("the audit head does not match entry {seq}'s hash (head mismatch)"));
        }
        let older = std::mem::replace(&mut self.prev_hash, hash.clone());
        self.prev_prev_hash = Some(older);
        self.prev_misplaced = misplaced;
        self.expected_seq = seq.saturating_add(1);
        self.last = Some((seq, hash));
    }

    fn finish(mut self) -> AuditVerify {
        if let Some((entries, head_hash)) = self.head.clone() {
            let last_seq = self.last.as_ref().map_or(0, |(s, _)| *s);
            let last_seq = u64::try_from(last_seq).unwrap_or(0);
            if entries == 0 {
                if head_hash != GENESIS_HASH {
                    self.problem("the audit head records no entries but a non-empty hash (head mismatch)".to_owned());
                }
            } else if last_seq < entries {
                let first_missing = last_seq + 1;
                let range = if first_missing == entries {
                    format!("entry {entries} is missing")
                } else {
                    format!("entries {first_missing} to {entries} are missing")
                };
                self.problem(format!(
                    "the log ends at entry {last_seq} but the audit head records {entries} entries: {range} (truncated)"
                ));
            }
            // Otherwise, if entry `entries` was never seen it fell in a gap, already reported
            // as deleted.
        }
        if self.omitted > 0 {
            self.problems.push(format!("... and {} more problems not listed", self.omitted));
        }
        AuditVerify {
            entries: self.rows,
            head: self.last.map_or_else(|| GENESIS_HASH.to_owned(), |(_, h)| h),
            problems: self.problems,
        }
    }
}

fn missing_head() -> StateError {
    StateError::Corrupt { detail: "the audit head record is missing".to_owned() }
}

fn read_head(conn: &Connection) -> Result<Option<(u64, String)>, StateError> {
    let row: Option<(i64, String)> = conn
        .query_row("SELECT entries, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(StateError::sqlite("reading the audit head"))?;
    row.map(|(entries, hash)| {
        u64::try_from(entries)
            .map(|n| (n, hash))
            .map_err(|_| StateError::Corrupt { detail: format!("audit head records {entries} entries") })
    })
    .transpose()
}

fn read_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        time: r.get(1)?,
        principal: r.get(2)?,
        channel: r.get(3)?,
        peer_uid: r.get(4)?,
        action: r.get(5)?,
        args: r.get(6)?,
        result: r.get(7)?,
        error_code: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

/// A stored value that cannot be read as the column's type: evidence, not an I/O failure.
fn is_bad_value(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)
    )
}

/// `hex(sha256(...))` over every field of `e` except its own hash, at position `seq`.
///
/// Each string is prefixed by its length and each integer has a fixed width, so no two
/// different entries encode to the same bytes (moving a character from one field to the next
/// changes the encoding).
fn entry_hash(e: &AuditEntry, seq: i64) -> String {
    let mut h = Sha256::new();
    let mut put = |bytes: &[u8]| {
        h.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(bytes);
    };
    put(HASH_DOMAIN);
    put(&seq.to_be_bytes());
    put(e.time.as_bytes());
    put(e.principal.as_bytes());
    put(e.channel.as_bytes());
    put(&e.peer_uid.to_be_bytes());
    put(e.action.as_bytes());
    put(e.args.as_bytes());
    put(e.result.as_bytes());
    match &e.error_code {
        None => put(&[0]),
        Some(code) => {
            put(&[1]);
            put(code.as_bytes());
        }
    }
    put(e.prev_hash.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;
    use serde_json::json;

    fn record<'a>(args: &'a serde_json::Value) -> AuditRecord<'a> {
        AuditRecord {
            principal: "root@ctl",
            channel: "ctl",
            peer_uid: 0,
            action: "user_add",
            args,
            result: "ok",
            error_code: None,
        }
    }

    /// A fresh database with `n` entries appended through the real `append`.
    fn log_with(tag: &str, n: u32) -> (TestDir, State) {
        let tmp = TestDir::new(tag);
        let mut state = State::open(&tmp.path().join("state.db")).unwrap();
        for i in 1..=n {
            let args = json!({ "name": format!("user{i}"), "uid": 1000 + i });
            let mut rec = record(&args);
            if i % 7 == 0 {
                rec.result = "failed";
                rec.error_code = Some("E_TOOL_FAILED");
            }
            let e = append(state.conn_mut(), &rec).unwrap();
            assert_eq!(e.seq, i64::from(i));
        }
        (tmp, state)
    }

    fn problems(state: &State) -> Vec<String> {
        verify(state.conn()).unwrap().problems
    }

    fn exec(state: &State, sql: &str) {
        state.conn().execute_batch(sql).unwrap();
    }

    /// A row with a correct hash for its content, as a forger who knows the format would write.
    fn forge(state: &State, seq: i64, prev_hash: &str) -> AuditEntry {
        let mut e = AuditEntry {
            seq,
            time: "2030-01-01T00:00:00Z".into(),
            principal: "root@ctl".into(),
            channel: "ctl".into(),
            peer_uid: 0,
            action: "user_del".into(),
            args: json!({ "name": "alice" }).to_string(),
            result: "ok".into(),
            error_code: None,
            prev_hash: prev_hash.into(),
            hash: String::new(),
        };
        e.hash = entry_hash(&e, seq);
        insert_entry(state.conn(), &e).unwrap();
        e
    }

    fn stored_hash(state: &State, seq: i64) -> String {
        state.conn().query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0)).unwrap()
    }

    #[test]
    fn hash_encoding_is_unambiguous() {
        let args = json!({});
        let a = AuditEntry {
            seq: 1,
            time: "t".into(),
            principal: "ab".into(),
            channel: "c".into(),
            peer_uid: 0,
            action: "x".into(),
            args: args.to_string(),
            result: "ok".into(),
            error_code: None,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let b = AuditEntry { principal: "a".into(), channel: "bc".into(), ..a.clone() };
        assert_ne!(entry_hash(&a, 1), entry_hash(&b, 1));
        let c = AuditEntry { error_code: Some(String::new()), ..a.clone() };
        assert_ne!(entry_hash(&a, 1), entry_hash(&c, 1));
        assert_ne!(entry_hash(&a, 1), entry_hash(&a, 2));
        assert_eq!(entry_hash(&a, 1).len(), 64);
    }

    #[test]
    fn empty_log_is_intact() {
        let tmp = TestDir::new("audit-empty");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        assert_eq!(head(state.conn()).unwrap(), (0, GENESIS_HASH.to_owned()));
        let v = verify(state.conn()).unwrap();
        assert_eq!((v.entries, v.head.as_str()), (0, GENESIS_HASH));
        assert!(v.problems.is_empty(), "{:?}", v.problems);
    }

    #[test]
    fn appended_chain_verifies_and_links() {
        let (_tmp, state) = log_with("audit-intact", 50);
        let v = verify(state.conn()).unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.entries, 50);
        let (entries, head_hash) = head(state.conn()).unwrap();
        assert_eq!((entries, &head_hash), (50, &v.head));

        let all = page(state.conn(), 0, 500).unwrap();
        assert_eq!(all.len(), 50);
        assert_eq!(all[0].prev_hash, GENESIS_HASH);
        for pair in all.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
            assert_eq!(pair[1].seq, pair[0].seq + 1);
        }
        assert_eq!(all[49].hash, head_hash);
        // RFC 3339 in UTC, e.g. 2025-01-01T10:00:00.123456789Z (`time` is built without parsing).
        let t = all[0].time.as_bytes();
        assert!(t.len() >= 20 && t[4] == b'-' && t[10] == b'T' && t.ends_with(b"Z"), "{}", all[0].time);
        assert_eq!(all[6].error_code.as_deref(), Some("E_TOOL_FAILED"));
        assert_eq!(all[0].args, r#"{"name":"user1","uid":1001}"#);
    }

    #[test]
    fn edited_entry_is_named() {
        let (_tmp, state) = log_with("audit-edit", 50);
        exec(&state, "UPDATE audit SET principal = 'mallory' WHERE seq = 10");
        assert_eq!(problems(&state), ["entry 10: content does not match its hash (edited)"]);
    }

    #[test]
    fn edited_entry_with_recomputed_hash_breaks_the_next_link() {
        let (_tmp, state) = log_with("audit-rehash", 50);
        let prev = stored_hash(&state, 9);
        exec(&state, "DELETE FROM audit WHERE seq = 10");
        forge(&state, 10, &prev);
        let p = problems(&state);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("entry 11 does not follow entry 10"), "{p:?}");
    }

    #[test]
    fn edited_field_type_is_named() {
        let (_tmp, state) = log_with("audit-type", 50);
        exec(&state, "UPDATE audit SET peer_uid = -5 WHERE seq = 12");
        assert_eq!(problems(&state), ["entry 12: a field has the wrong type (edited)"]);
    }

    #[test]
    fn deleted_entry_is_named() {
        let (_tmp, state) = log_with("audit-delete", 50);
        exec(&state, "DELETE FROM audit WHERE seq = 20");
        assert_eq!(problems(&state), ["entry 20 is missing (deleted)"]);
        exec(&state, "DELETE FROM audit WHERE seq IN (21, 22)");
        assert_eq!(problems(&state), ["entries 20 to 22 are missing (deleted)"]);
    }

    #[test]
    fn reordered_pair_is_named() {
        let (_tmp, state) = log_with("audit-swap", 50);
        // Swap every column but the position, as an UPDATE through a scratch table would.
        exec(
            &state,
            "CREATE TEMP TABLE pair AS SELECT * FROM audit WHERE seq IN (30, 31);
             UPDATE audit SET (time, principal, channel, peer_uid, action, args, result, error_code, prev_hash, hash) =
                 (SELECT time, principal, channel, peer_uid, action, args, result, error_code, prev_hash, hash
                  FROM pair WHERE pair.seq = 61 - audit.seq)
             WHERE seq IN (30, 31);",
        );
        assert_eq!(
            problems(&state),
            [
                "entry 30 holds the content of entry 31 (reordered)",
                "entry 31 holds the content of entry 30 (reordered)"
            ]
        );
    }

    #[test]
    fn forged_entries_are_detected() {
        // Appended after the newest entry, correctly hashed and linked: only the head shows it.
        let (_tmp, mut state) = log_with("audit-forge-end", 50);
        forge(&state, 51, &stored_hash(&state, 50));
        assert_eq!(problems(&state), ["entry 51 lies beyond the audit head, which records 50 entries (inserted)"]);
        // Appending refuses to build on a log that has rows beyond its head.
        let args = json!({});
        let err = append(state.conn_mut(), &record(&args));
        assert!(matches!(err, Err(StateError::Corrupt { .. })), "{err:?}");

        // Put in place of a real entry.
        let (_tmp, state) = log_with("audit-forge-mid", 50);
        exec(&state, "DELETE FROM audit WHERE seq = 25");
        forge(&state, 25, &stored_hash(&state, 24));
        let p = problems(&state);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("entry 26 does not follow entry 25"), "{p:?}");

        // Before the first entry.
        let (_tmp, state) = log_with("audit-forge-zero", 5);
        forge(&state, 0, GENESIS_HASH);
        assert_eq!(problems(&state), ["entry 0 has a position no entry can have (inserted)"]);
    }

    #[test]
    fn truncated_tail_is_reported() {
        let (_tmp, state) = log_with("audit-truncate", 50);
        exec(&state, "DELETE FROM audit WHERE seq > 47");
        assert_eq!(
            problems(&state),
            [
                "the log ends at entry 47 but the audit head records 50 entries: entries 48 to 50 are missing (truncated)"
            ]
        );
        let v = verify(state.conn()).unwrap();
        assert_eq!((v.entries, v.head), (47, stored_hash(&state, 47)));
    }

    #[test]
    fn append_after_truncation_keeps_the_gap_visible() {
        let (_tmp, mut state) = log_with("audit-truncate-append", 10);
        exec(&state, "DELETE FROM audit WHERE seq > 8");
        let args = json!({});
        let e = append(state.conn_mut(), &record(&args)).unwrap();
        assert_eq!(e.seq, 11);
        assert_eq!(problems(&state), ["entries 9 to 10 are missing (deleted)"]);
    }

    #[test]
    fn head_mismatch_is_reported() {
        let (_tmp, state) = log_with("audit-head", 10);
        exec(&state, &format!("UPDATE audit_head SET hash = '{}' WHERE id = 1", "f".repeat(64)));
        assert_eq!(problems(&state), ["the audit head does not match entry 10's hash (head mismatch)"]);
        exec(&state, "DELETE FROM audit_head");
        assert_eq!(problems(&state), ["the audit head record is missing (head mismatch)"]);
        assert!(matches!(head(state.conn()), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn chain_continues_after_reopen() {
        let tmp = TestDir::new("audit-reopen");
        let db = tmp.path().join("state.db");
        let args = json!({ "n": 1 });
        let fifth = {
            let mut state = State::open(&db).unwrap();
            (0..5).map(|_| append(state.conn_mut(), &record(&args)).unwrap()).last().unwrap()
        };
        let mut state = State::open(&db).unwrap();
        let sixth = append(state.conn_mut(), &record(&args)).unwrap();
        assert_eq!(sixth.seq, 6);
        assert_eq!(sixth.prev_hash, fifth.hash);
        let v = verify(state.conn()).unwrap();
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!((v.entries, v.head), (6, sixth.hash));
    }

    #[test]
    fn search_filters_the_whole_log_in_both_directions() {
        let (_tmp, mut state) = log_with("audit-search", 30);
        // Entry 31: another action whose name has a '_' where the prefix below has a '.'.
        let args = json!({});
        let mut rec = record(&args);
        rec.action = "userxadd";
        rec.principal = "alice@web";
        append(state.conn_mut(), &rec).unwrap();
        let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        let f = |results: &[&str]| AuditFilter {
            results: results.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        };
        // Failures are entries 7, 14, 21, 28: found across the log, not within one page.
        assert_eq!(seqs(search(state.conn(), &f(&["failed"]), None, None, 2).unwrap()), [28, 21]);
        assert_eq!(seqs(search(state.conn(), &f(&["failed"]), Some(21), None, 10).unwrap()), [14, 7]);
        assert_eq!(seqs(search(state.conn(), &f(&["failed"]), None, Some(7), 10).unwrap()), [14, 21, 28]);
        assert_eq!(search(state.conn(), &f(&["failed", "ok"]), None, None, 500).unwrap().len(), 31);
        let prefix = AuditFilter { action: Some("user_".into()), ..Default::default() };
        assert_eq!(search(state.conn(), &prefix, None, None, 500).unwrap().len(), 30, "'_' is literal");
        let named = AuditFilter { mentions: Some("\"user12\"".into()), ..Default::default() };
        assert_eq!(seqs(search(state.conn(), &named, None, None, 10).unwrap()), [12]);
        let who = AuditFilter { principal: Some("alice@web".into()), ..Default::default() };
        assert_eq!(seqs(search(state.conn(), &who, None, None, 10).unwrap()), [31]);
        let today = now_rfc3339().unwrap()[..10].to_owned();
        let day = AuditFilter { since: Some(today.clone()), until: Some(today), ..Default::default() };
        assert_eq!(search(state.conn(), &day, None, None, 500).unwrap().len(), 31, "a day includes all of it");
        let past = AuditFilter { until: Some("2000-01-01T00:00:00".into()), ..Default::default() };
        assert!(search(state.conn(), &past, None, None, 500).unwrap().is_empty());
        let future = AuditFilter { since: Some("2999-01-01".into()), ..Default::default() };
        assert!(search(state.conn(), &future, None, None, 500).unwrap().is_empty());
    }

    #[test]
    fn filters_name_the_bad_field() {
        let bad = [
            (AuditFilter { action: Some("user%".into()), ..Default::default() }, "action"),
            (AuditFilter { principal: Some("a b".into()), ..Default::default() }, "principal"),
            (AuditFilter { results: vec!["ok' OR 1=1".into()], ..Default::default() }, "result"),
            (AuditFilter { since: Some("2026-13-01".into()), ..Default::default() }, "since"),
            (AuditFilter { since: Some("2026-12-07T24:00:00".into()), ..Default::default() }, "since"),
            (AuditFilter { until: Some("2026-12-07 10:00:00".into()), ..Default::default() }, "until"),
        ];
        for (f, field) in bad {
            assert_eq!(f.validate().unwrap_err().field.as_deref(), Some(field), "{f:?}");
        }
        assert!(AuditFilter::default().validate().is_ok());
    }

    #[test]
    fn view_and_page() {
        let (_tmp, state) = log_with("audit-view", 12);
        let seqs = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(view(state.conn(), None, 3).unwrap()), [12, 11, 10]);
        assert_eq!(seqs(view(state.conn(), Some(10), 3).unwrap()), [9, 8, 7]);
        assert_eq!(seqs(view(state.conn(), Some(3), 10).unwrap()), [2, 1]);
        assert_eq!(seqs(page(state.conn(), 0, 3).unwrap()), [1, 2, 3]);
        assert_eq!(seqs(page(state.conn(), 10, 10).unwrap()), [11, 12]);
        assert!(page(state.conn(), 12, 10).unwrap().is_empty());
        assert!(view(state.conn(), None, 0).unwrap().is_empty());
    }

    #[test]
    fn limit_is_capped() {
        let tmp = TestDir::new("audit-cap");
        let mut state = State::open(&tmp.path().join("state.db")).unwrap();
        bulk_insert(state.conn_mut(), u64::from(AUDIT_PAGE_MAX) + 20);
        assert_eq!(page(state.conn(), 0, u32::MAX).unwrap().len(), AUDIT_PAGE_MAX as usize);
        assert_eq!(view(state.conn(), None, u32::MAX).unwrap().len(), AUDIT_PAGE_MAX as usize);
    }

    #[test]
    fn invalid_result_is_refused() {
        let tmp = TestDir::new("audit-result");
        let mut state = State::open(&tmp.path().join("state.db")).unwrap();
        let args = json!({});
        let rec = AuditRecord { result: "maybe", ..record(&args) };
        assert!(matches!(append(state.conn_mut(), &rec), Err(StateError::InvalidRecord { .. })));
        assert_eq!(head(state.conn()).unwrap().0, 0);
    }

    #[test]
    fn secrets_are_redacted() {
        #[derive(serde::Serialize)]
        struct SetPassword {
            name: &'static str,
            password: corenas_proto::secret::Password,
        }
        let secret = "Correct-Horse-Battery-9";
        let req = SetPassword { name: "alice", password: secret.parse().unwrap() };
        let args = serde_json::to_value(&req).unwrap();

        let tmp = TestDir::new("audit-secret");
        let db = tmp.path().join("state.db");
        let mut state = State::open(&db).unwrap();
        let e = append(state.conn_mut(), &AuditRecord { action: "user_set_password", ..record(&args) }).unwrap();
        assert_eq!(e.args, r#"{"name":"alice","password":"<redacted>"}"#);
        assert_eq!(view(state.conn(), None, 1).unwrap()[0].args, e.args);
        drop(state);
        // Nowhere in the files either (database and WAL).
        for entry in std::fs::read_dir(tmp.path().join(".")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }

    #[test]
    fn problem_list_is_bounded() {
        let tmp = TestDir::new("audit-many");
        let mut state = State::open(&tmp.path().join("state.db")).unwrap();
        bulk_insert(state.conn_mut(), 2 * MAX_PROBLEMS as u64 + 100);
        exec(&state, "DELETE FROM audit WHERE seq % 2 = 0 AND seq < 2100");
        let p = problems(&state);
        assert_eq!(p.len(), MAX_PROBLEMS + 1);
        assert_eq!(p[0], "entry 2 is missing (deleted)");
        assert_eq!(p[MAX_PROBLEMS], "... and 49 more problems not listed");
    }

    /// Streams: run with `cargo test -p corenasd --lib -- --ignored million` (takes a while in
    /// a debug build).
    #[test]
    #[ignore = "slow: builds a million-entry log"]
    fn verify_a_million_entries() {
        let tmp = TestDir::new("audit-million");
        let mut state = State::open(&tmp.path().join("state.db")).unwrap();
        bulk_insert(state.conn_mut(), 1_000_000);
        exec(&state, "UPDATE audit SET result = 'refused' WHERE seq = 765432");
        let v = verify(state.conn()).unwrap();
        assert_eq!(v.entries, 1_000_000);
        assert_eq!(v.problems, ["entry 765432: content does not match its hash (edited)"]);
    }

    /// A correct chain of `n` entries written in one transaction (append's one fsync per entry
    /// is too slow for large test logs).
    fn bulk_insert(conn: &mut Connection, n: u64) {
        let tx = conn.transaction().unwrap();
        let mut prev = GENESIS_HASH.to_owned();
        for i in 1..=n {
            let seq = i64::try_from(i).unwrap();
            let mut e = AuditEntry {
                seq,
                time: "2025-01-01T00:00:00Z".into(),
                principal: "root@ctl".into(),
                channel: "ctl".into(),
                peer_uid: 0,
                action: "user_add".into(),
                args: json!({ "name": format!("user{i}") }).to_string(),
                result: "ok".into(),
                error_code: None,
                prev_hash: prev,
                hash: String::new(),
            };
            e.hash = entry_hash(&e, seq);
            insert_entry(&tx, &e).unwrap();
            prev = e.hash;
        }
        tx.execute(
            "UPDATE audit_head SET entries = ?1, hash = ?2 WHERE id = 1",
            params![i64::try_from(n).unwrap(), prev],
        )
        .unwrap();
        tx.commit().unwrap();
    }
}
