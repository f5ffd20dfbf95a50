//! The storage records in state.db: the pools CoreNAS created (`PoolRecord`: the spec it was
//! given and when) and the snapshot schedules, read as plain SQL over a `Connection`. It knows
//! neither the daemon nor the helper; what a pool looks like now comes from the tools
//! (pools.rs), never from here. The tables are created in `schema.rs` (migration 5).

use crate::state::{StateError, sql};
use corenas_proto::storage::{PoolSpec, Retention, ScheduleInfo};
use rusqlite::{Connection, OptionalExtension, params};

/// A pool CoreNAS created, as recorded.
#[derive(Debug, Clone)]
pub struct PoolRecord {
    pub spec: PoolSpec,
    pub created: String,
}

pub(super) fn record(conn: &Connection, name: &str) -> Result<Option<PoolRecord>, StateError> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT spec, created FROM pools WHERE name = ?1", params![name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql("reading a pool"))?;
    row.map(|(spec, created)| {
        let spec = serde_json::from_str(&spec)
            .map_err(|e| StateError::Corrupt { detail: format!("pool {name}: stored spec unreadable: {e}") })?;
        Ok(PoolRecord { spec, created })
    })
    .transpose()
}

pub fn records(conn: &Connection) -> Result<Vec<PoolRecord>, StateError> {
    let names: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pools ORDER BY name").map_err(sql("listing pools"))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(sql("listing pools"))?;
        rows.collect::<Result<_, _>>().map_err(sql("listing pools"))?
    };
    names.iter().filter_map(|n| record(conn, n).transpose()).collect()
}

pub(super) fn schedules(conn: &Connection) -> Result<Vec<ScheduleInfo>, StateError> {
    let mut stmt = conn
        .prepare("SELECT dataset, keep, last_run, last_result FROM snapshot_schedules ORDER BY dataset")
        .map_err(sql("listing schedules"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)))
        .map_err(sql("listing schedules"))?;
    let mut out = Vec::new();
    for row in rows {
        let (dataset, keep, last_run, last_result) = row.map_err(sql("reading a schedule"))?;
        let keep: Retention = serde_json::from_str(&keep)
            .map_err(|e| StateError::Corrupt { detail: format!("schedule {dataset}: {e}") })?;
        out.push(ScheduleInfo { dataset, keep, last_run, last_result });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::test_support::TestDir;
    use corenas_proto::storage::{DiskFs, PoolLayout};

    fn spec(name: &str) -> PoolSpec {
        PoolSpec {
            name: name.parse().unwrap(),
            layout: PoolLayout::Single { fs: DiskFs::Ext4 },
            devices: vec!["/dev/vdb".parse().unwrap()],
            force: false,
        }
    }

    fn add_pool(c: &Connection, name: &str, spec: &str) {
        c.execute(
            "INSERT INTO pools(name, backend, spec, created) VALUES (?1, 'single', ?2, '2024-05-01T10:00:00Z')",
            params![name, spec],
        )
        .unwrap();
    }

    #[test]
    fn pool_records_read_back_as_stored_in_name_order() {
        let tmp = TestDir::new("pool-store");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        let c = state.conn();
        for n in ["tank", "alpha"] {
            add_pool(c, n, &serde_json::to_string(&spec(n)).unwrap());
        }

        let all = records(c).unwrap();
        let names: Vec<String> = all.iter().map(|r| r.spec.name.to_string()).collect();
        assert_eq!(names, ["alpha", "tank"]);
        let tank = record(c, "tank").unwrap().unwrap();
        assert_eq!(tank.spec, spec("tank"));
        assert_eq!(tank.created, "2024-05-01T10:00:00Z");
        assert!(record(c, "other").unwrap().is_none());
    }

    #[test]
    fn an_unreadable_row_is_corrupt_state_not_a_missing_one() {
        let tmp = TestDir::new("pool-store-corrupt");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        let c = state.conn();
        add_pool(c, "tank", "{not json");
        c.execute("INSERT INTO snapshot_schedules(dataset, keep) VALUES ('tank/data', 'nope')", []).unwrap();

        assert!(matches!(records(c), Err(StateError::Corrupt { detail }) if detail.contains("pool tank")));
        assert!(matches!(schedules(c), Err(StateError::Corrupt { detail }) if detail.contains("schedule tank/data")));
    }

    #[test]
    fn schedules_read_back_in_dataset_order_with_their_last_run() {
        let tmp = TestDir::new("schedule-store");
        let state = State::open(&tmp.path().join("state.db")).unwrap();
        let c = state.conn();
        let keep = Retention { hourly: 24, daily: 7, weekly: 0, monthly: 0 };
        let json = serde_json::to_string(&keep).unwrap();
        c.execute(
            "INSERT INTO snapshot_schedules(dataset, keep, last_run, last_result)
             VALUES ('tank/b', ?1, NULL, NULL), ('tank/a', ?1, '2024-05-01T10:00:00Z', 'nothing due')",
            params![json],
        )
        .unwrap();

        let all = schedules(c).unwrap();
        assert_eq!(
            all,
            [
                ScheduleInfo {
                    dataset: "tank/a".into(),
                    keep,
                    last_run: Some("2024-05-01T10:00:00Z".into()),
                    last_result: Some("nothing due".into()),
                },
                ScheduleInfo { dataset: "tank/b".into(), keep, last_run: None, last_result: None },
            ]
        );
    }
}
