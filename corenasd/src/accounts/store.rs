//! The record of accounts CoreNAS created (name, kind, id) and the ids it has handed out, which
//! stay retired for good. SQL only; the policy that uses it is in `plan.rs`.

use crate::state::{StateError, now_rfc3339};
use rusqlite::{Connection, OptionalExtension, params};

/// Records that CoreNAS created this account and which id it got; the id stays retired after
/// the account is deleted. Recording the name again revives the record (the name was reused).
pub fn record(conn: &Connection, name: &str, is_group: bool, kind: &str, id: u32) -> Result<(), StateError> {
    let created = now_rfc3339()?;
    // Kept apart from `accounts`, whose row a reused name overwrites: an id once handed
    // out stays retired for good.
    conn.execute("INSERT OR IGNORE INTO allocated_ids(id) VALUES (?1)", params![id])
        .map_err(StateError::sqlite("retiring an account id"))?;
    conn.execute(
        "INSERT INTO accounts(name, is_group, kind, id, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name, is_group) DO UPDATE
             SET kind = excluded.kind, id = excluded.id, created = excluded.created, deleted = NULL",
        params![name, is_group, kind, id, created],
    )
    .map_err(StateError::sqlite("recording an account"))?;
    Ok(())
}

/// Marks an account deleted (a tombstone keeps its id retired); returns whether there was
/// a live record.
pub fn forget(conn: &Connection, name: &str, is_group: bool) -> Result<bool, StateError> {
    let deleted = now_rfc3339()?;
    let n = conn
        .execute(
            "UPDATE accounts SET deleted = ?3 WHERE name = ?1 AND is_group = ?2 AND deleted IS NULL",
            params![name, is_group, deleted],
        )
        .map_err(StateError::sqlite("forgetting an account"))?;
    Ok(n > 0)
}

/// Every uid/gid CoreNAS ever allocated, deleted accounts included.
pub fn retired_ids(conn: &Connection) -> Result<std::collections::HashSet<u32>, StateError> {
    let mut stmt = conn.prepare("SELECT id FROM allocated_ids").map_err(StateError::sqlite("listing account ids"))?;
    let ids = stmt
        .query_map([], |r| r.get::<_, u32>(0))
        .map_err(StateError::sqlite("listing account ids"))?
        .collect::<Result<_, _>>()
        .map_err(StateError::sqlite("reading account ids"))?;
    Ok(ids)
}

/// The kind CoreNAS recorded for an account it created, or None if it did not create it.
pub fn kind(conn: &Connection, name: &str, is_group: bool) -> Result<Option<String>, StateError> {
    conn.query_row(
        "SELECT kind FROM accounts WHERE name = ?1 AND is_group = ?2 AND deleted IS NULL",
        params![name, is_group],
        |r| r.get(0),
    )
    .optional()
    .map_err(StateError::sqlite("reading an account"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;

    #[test]
    fn accounts_are_recorded_and_forgotten() {
        let tmp = TestDir::new("state-accounts");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        assert_eq!(kind(state.conn(), "staff", true).unwrap(), None);

        record(state.conn(), "staff", true, "group", 2001).unwrap();
        record(state.conn(), "staff", false, "user", 1001).unwrap();
        assert_eq!(kind(state.conn(), "staff", true).unwrap().as_deref(), Some("group"));
        assert_eq!(kind(state.conn(), "staff", false).unwrap().as_deref(), Some("user"));

        // Recording the same account again replaces the record instead of failing.
        record(state.conn(), "staff", false, "service", 1002).unwrap();
        assert_eq!(kind(state.conn(), "staff", false).unwrap().as_deref(), Some("service"));

        assert!(forget(state.conn(), "staff", true).unwrap());
        assert!(!forget(state.conn(), "staff", true).unwrap());
        assert_eq!(kind(state.conn(), "staff", true).unwrap(), None);
        assert_eq!(kind(state.conn(), "staff", false).unwrap().as_deref(), Some("service"));
    }
}
