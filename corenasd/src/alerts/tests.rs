//! The engine over a real SQLite state database: dedup, sustain, flap guard, dismiss and
//! baselines, silences, the outbox's bookkeeping, and a restart over the same file.

use super::channels::{Outgoing, OutgoingKind};
use super::engine::{FLAP_WINDOW_SECS, evaluate_conn};
use super::store::{self, event};
use super::*;
use crate::state::State;
use crate::state::test_support::TestDir;
use corenas_proto::monitor::AlertClass;
use corenas_proto::monitor::{
    AlertLevel, AttributeSample, CollectorStatus, DiskSample, PoolSample, PoolState, PowerState,
};
use corenas_proto::storage::Backend;
use rusqlite::Connection;

const T0: i64 = 1_800_000_000;
const HOST: &str = "nas1";

fn open(dir: &TestDir) -> State {
    State::open(&dir.path().join("state.db")).expect("state")
}

fn channel(conn: &Connection, name: &str, min_level: AlertLevel, kind: &str) {
    let spec = serde_json::json!({ "name": name, "kind": { "type": kind, "url": "http://127.0.0.1:9/" }, "min_level": min_level });
    conn.execute(
        "INSERT INTO alert_channels (name, spec, min_level, created) VALUES (?1, ?2, ?3, 0)",
        rusqlite::params![name, spec.to_string(), min_level.as_str()],
    )
    .expect("channel");
}

fn pool(state: PoolState, used: u64) -> PoolSample {
    PoolSample {
        name: "tank".into(),
        backend: Backend::Zfs,
        state,
        state_text: state.as_str().to_uppercase(),
        size_bytes: Some(100),
        allocated_bytes: Some(used),
        scrub_running: false,
        scrub_last_end: Some(T0),
        scrub_errors: Some(0),
        member_errors: None,
        bad_members: if state == PoolState::Online { vec![] } else { vec!["loop3".into()] },
    }
}

fn snap(pools: Vec<PoolSample>) -> HealthSnapshot {
    HealthSnapshot { pools, ..Default::default() }
}

fn rows(conn: &Connection) -> Vec<store::OutboxRow> {
    store::all_rows(conn).expect("rows")
}

fn eval(st: &mut State, s: &HealthSnapshot, now: i64) -> bool {
    evaluate_conn(st.conn_mut(), s, now, HOST).expect("evaluate")
}

#[test]
fn one_alert_per_key_across_rounds_and_a_restart_neither_requeues_nor_forgets() {
    let dir = TestDir::new("alerts-dedup");
    let degraded = snap(vec![pool(PoolState::Degraded, 10)]);
    {
        let mut st = open(&dir);
        channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
        channel(st.conn(), "quiet", AlertLevel::Critical, "webhook");
        assert!(eval(&mut st, &degraded, T0));
        for i in 1..5 {
            assert!(!eval(&mut st, &degraded, T0 + i * 60));
        }
        let alerts = store::active_alerts(st.conn()).expect("alerts");
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].class, alerts[0].level), (AlertClass::PoolDegraded, AlertLevel::Error));
        assert_eq!(alerts[0].last_seen, T0 + 240);
        // Only the channel whose minimum level the error reaches.
        let r = rows(st.conn());
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!((r[0].channel.as_str(), r[0].event.as_str()), ("mail", event::FIRING));
        store::mark_delivered(st.conn(), r[0].id, T0 + 1).expect("delivered");
    }
    // A new engine over the same file: same alert, nothing queued again.
    let mut st = open(&dir);
    assert!(!eval(&mut st, &degraded, T0 + 600));
    let alerts = store::active_alerts(st.conn()).expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].first_seen, T0);
    assert_eq!(rows(st.conn()).len(), 1);
    assert!(store::undelivered(st.conn()).expect("undelivered").is_empty());
    // Repaired: resolved, and its resolution queued where the firing went, held for the flap window.
    assert!(eval(&mut st, &snap(vec![pool(PoolState::Online, 10)]), T0 + 700));
    assert!(store::active_alerts(st.conn()).expect("alerts").is_empty());
    let r = rows(st.conn());
    assert_eq!(r.len(), 2);
    assert_eq!((r[1].event.as_str(), r[1].next_attempt), (event::RESOLVED, T0 + 700 + FLAP_WINDOW_SECS));
}

#[test]
fn a_flap_reopens_the_same_alert_and_sends_nothing() {
    let dir = TestDir::new("alerts-flap");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
    let bad = snap(vec![pool(PoolState::Degraded, 10)]);
    let good = snap(vec![pool(PoolState::Online, 10)]);
    eval(&mut st, &bad, T0);
    let id = store::active_alerts(st.conn()).expect("a")[0].id.clone();
    store::mark_delivered(st.conn(), rows(st.conn())[0].id, T0).expect("delivered");
    eval(&mut st, &good, T0 + 60);
    assert_eq!(rows(st.conn()).len(), 2, "the held-back resolution");
    eval(&mut st, &bad, T0 + 120);
    let active = store::active_alerts(st.conn()).expect("a");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, id, "the same alert re-opened");
    assert_eq!(active[0].resolved_at, None);
    assert_eq!(rows(st.conn()).len(), 1, "the resolution was dropped and no firing re-queued");
    // Outside the window it is news again.
    eval(&mut st, &good, T0 + 180);
    eval(&mut st, &bad, T0 + 180 + FLAP_WINDOW_SECS + 1);
    let active = store::active_alerts(st.conn()).expect("a");
    assert_ne!(active[0].id, id);
    assert_eq!(rows(st.conn()).iter().filter(|r| r.event == event::FIRING).count(), 2);
}

#[test]
fn escalation_is_news_and_hysteresis_holds_the_level() {
    let dir = TestDir::new("alerts-cap");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
    let at = |pct| snap(vec![pool(PoolState::Online, pct)]);
    eval(&mut st, &at(91), T0);
    eval(&mut st, &at(96), T0 + 60);
    assert_eq!(rows(st.conn()).len(), 2, "error, then critical");
    eval(&mut st, &at(92), T0 + 120);
    let a = &store::active_alerts(st.conn()).expect("a")[0];
    assert_eq!(a.level, AlertLevel::Critical, "92 % is within 5 points of 95 %");
    eval(&mut st, &at(86), T0 + 180);
    assert_eq!(store::active_alerts(st.conn()).expect("a")[0].level, AlertLevel::Error);
    eval(&mut st, &at(82), T0 + 200);
    assert_eq!(store::active_alerts(st.conn()).expect("a")[0].level, AlertLevel::Warning);
    assert_eq!(rows(st.conn()).len(), 2, "better is not news");
    eval(&mut st, &at(79), T0 + 240);
    assert!(store::active_alerts(st.conn()).expect("a").is_empty());
}

#[test]
fn temperature_and_mounts_need_two_rounds() {
    let dir = TestDir::new("alerts-sustain");
    let mut st = open(&dir);
    let hot = |t| HealthSnapshot { disks: vec![disk(t, 0)], ..Default::default() };
    eval(&mut st, &hot(55), T0);
    assert!(store::active_alerts(st.conn()).expect("a").is_empty());
    eval(&mut st, &hot(40), T0 + 60);
    eval(&mut st, &hot(55), T0 + 120);
    assert!(store::active_alerts(st.conn()).expect("a").is_empty(), "one hot reading between cool ones");
    eval(&mut st, &hot(56), T0 + 180);
    let a = store::active_alerts(st.conn()).expect("a");
    assert_eq!((a.len(), a[0].class, a[0].level), (1, AlertClass::DiskTemperature, AlertLevel::Warning));
}

#[test]
fn one_reading_looked_at_twice_is_not_sustained() {
    let dir = TestDir::new("alerts-reading");
    let mut st = open(&dir);
    let read_at = |t: i64| {
        let disks = CollectorStatus {
            name: "disks".into(),
            interval_seconds: 1_800,
            last_run: Some(t),
            last_success: Some(t),
            last_error: None,
            runs: 1,
            failures: 0,
        };
        HealthSnapshot { disks: vec![disk(65, 0)], collectors: vec![disks], ..Default::default() }
    };
    // The disks collector read once; other collectors' rounds evaluate the same reading again.
    for i in 0..5 {
        eval(&mut st, &read_at(T0), T0 + i * 60);
    }
    assert!(store::active_alerts(st.conn()).expect("a").is_empty(), "one reading, however often evaluated");
    eval(&mut st, &read_at(T0 + 1_800), T0 + 1_800);
    let a = store::active_alerts(st.conn()).expect("a");
    assert_eq!((a.len(), a[0].level), (1, AlertLevel::Error), "the next reading confirms it");
}

fn disk(temp: i64, pending: u64) -> DiskSample {
    DiskSample {
        dev: "sdb".into(),
        id: "wwn-0x5000".into(),
        wwn: Some("wwn-0x5000".into()),
        serial: Some("S".into()),
        model: Some("M".into()),
        firmware: None,
        rotational: Some(true),
        power: PowerState::Active,
        smart_healthy: Some(true),
        temperature_c: Some(temp),
        power_on_hours: None,
        attributes: vec![AttributeSample { id: 197, raw: pending }],
        nvme_percentage_used: None,
        nvme_available_spare: None,
        nvme_media_errors: None,
        smart_last_success: Some(T0),
        last_error: None,
    }
}

#[test]
fn a_rising_attribute_alerts_until_dismissed_and_dismissal_moves_the_baseline() {
    let dir = TestDir::new("alerts-baseline");
    let mut st = open(&dir);
    let with = |n| HealthSnapshot { disks: vec![disk(30, n)], ..Default::default() };
    eval(&mut st, &with(2), T0);
    assert!(store::active_alerts(st.conn()).expect("a").is_empty(), "the first value is the baseline");
    eval(&mut st, &with(5), T0 + 60);
    let a = store::active_alerts(st.conn()).expect("a");
    assert_eq!(a[0].class, AlertClass::DiskAttributeRising);
    assert!(a[0].summary.contains("2 → 5"), "{}", a[0].summary);
    let mut dismissed = a[0].clone();
    dismissed.dismissed_by = Some("root".into());
    dismissed.dismissed_at = Some(T0 + 61);
    store::update_alert(st.conn(), &dismissed).expect("dismiss");
    eval(&mut st, &with(5), T0 + 120);
    assert!(store::active_alerts(st.conn()).expect("a").is_empty(), "5 is the new baseline");
    eval(&mut st, &with(6), T0 + 180);
    let a = store::active_alerts(st.conn()).expect("a");
    assert!(a[0].summary.contains("5 → 6"), "{}", a[0].summary);
    assert_ne!(a[0].id, dismissed.id, "a new alert, even inside the flap window");
    assert_eq!(a[0].dismissed_at, None);
}

#[test]
fn silenced_and_dismissed_alerts_are_not_delivered() {
    let dir = TestDir::new("alerts-silence");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
    let silence = corenas_proto::monitor::Silence {
        id: "si-1".into(),
        class: None,
        subject: Some("tank".into()),
        until: T0 + 3_600,
        reason: String::new(),
        created_by: "root".into(),
        created_at: T0,
    };
    store::insert_silence(st.conn(), &silence).expect("silence");
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10)]), T0);
    assert!(rows(st.conn()).is_empty(), "silenced");
    // A row queued before a dismissal is dropped when its turn comes.
    store::delete_silence(st.conn(), "si-1").expect("unsilence");
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10), pool_named("tank2")]), T0 + 60);
    let row = rows(st.conn()).pop().expect("tank2 queued");
    let mut a = store::alert(st.conn(), row.alert_id.as_deref().expect("id")).expect("a").expect("a");
    assert_eq!(outbox::verdict(st.conn(), &row, T0 + 61).expect("v"), outbox::Verdict::Send(sent(&a)));
    a.dismissed_at = Some(T0 + 61);
    store::update_alert(st.conn(), &a).expect("dismiss");
    assert!(matches!(outbox::verdict(st.conn(), &row, T0 + 62).expect("v"), outbox::Verdict::Drop(_)));
}

fn sent(a: &Alert) -> Outgoing {
    Outgoing { kind: OutgoingKind::Firing, alerts: vec![a.clone()], instance: HOST.into() }
}

fn pool_named(name: &str) -> PoolSample {
    PoolSample { name: name.into(), ..pool(PoolState::Degraded, 10) }
}

#[test]
fn a_failing_channel_is_alerted_on_the_others_and_resolves_when_it_delivers() {
    let dir = TestDir::new("alerts-outbox");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
    channel(st.conn(), "hook", AlertLevel::Warning, "webhook");
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10)]), T0);
    let r = rows(st.conn());
    let mail = r.iter().find(|r| r.channel == "mail").expect("mail row").clone();
    outbox::record_failure(st.conn_mut(), &mail, "connection refused\r\nX: y", 60, T0 + 1, HOST).expect("fail");
    let after = store::all_rows(st.conn()).expect("rows");
    let retried = after.iter().find(|r| r.id == mail.id).expect("row");
    assert_eq!((retried.attempts, retried.next_attempt), (1, T0 + 61));
    assert!(retried.last_error.as_deref().is_some_and(|e| !e.contains('\n')));
    let df = store::active_alert(st.conn(), AlertClass::DeliveryFailed, "mail").expect("q").expect("raised");
    let df_rows: Vec<_> = after.iter().filter(|r| r.alert_id.as_deref() == Some(df.id.as_str())).collect();
    assert_eq!(df_rows.len(), 1);
    assert_eq!(df_rows[0].channel, "hook", "only the other channel hears of it");
    // A second failure: backoff doubles, still one alert.
    let retried = retried.clone();
    outbox::record_failure(st.conn_mut(), &retried, "refused", 60, T0 + 62, HOST).expect("fail");
    let again = store::all_rows(st.conn()).expect("rows");
    assert_eq!(again.iter().find(|r| r.id == mail.id).expect("row").next_attempt, T0 + 62 + 120);
    assert_eq!(again.len(), after.len());
    // A day later it is given up.
    let row = again.iter().find(|r| r.id == mail.id).expect("row").clone();
    outbox::record_failure(st.conn_mut(), &row, "refused", 60, T0 + outbox::GIVE_UP_SECS, HOST).expect("fail");
    let given_up = store::all_rows(st.conn()).expect("rows").into_iter().find(|r| r.id == mail.id).expect("row");
    assert_eq!(given_up.next_attempt, store::NEVER);
    assert!(given_up.last_error.as_deref().is_some_and(|e| e.starts_with("gave up")));
    // The channel works again: its failure alert resolves (told to the channel that heard of it).
    outbox::record_success(st.conn_mut(), "mail", None, T0 + 90_000, HOST).expect("ok");
    assert!(store::active_alert(st.conn(), AlertClass::DeliveryFailed, "mail").expect("q").is_none());
    let resolved: Vec<_> = store::all_rows(st.conn())
        .expect("rows")
        .into_iter()
        .filter(|r| r.alert_id.as_deref() == Some(df.id.as_str()) && r.event == event::RESOLVED)
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].channel, "hook");
    // A channel that is removed while failing takes its failure alert with it.
    let late = rows(st.conn()).into_iter().find(|r| r.channel == "mail").expect("row");
    outbox::record_failure(st.conn_mut(), &late, "refused", 60, T0 + 90_100, HOST).expect("fail");
    assert!(store::active_alert(st.conn(), AlertClass::DeliveryFailed, "mail").expect("q").is_some());
    outbox::resolve_removed_channels(st.conn_mut(), T0 + 90_200, HOST).expect("tidy");
    assert!(
        store::active_alert(st.conn(), AlertClass::DeliveryFailed, "mail").expect("q").is_some(),
        "still a channel"
    );
    st.conn().execute("DELETE FROM alert_channels WHERE name = 'mail'", []).expect("remove");
    let row = rows(st.conn()).into_iter().find(|r| r.channel == "hook").expect("row");
    assert!(matches!(outbox::verdict(st.conn(), &late, T0 + 90_250).expect("v"), outbox::Verdict::Drop(_)));
    assert!(matches!(outbox::verdict(st.conn(), &row, T0 + 90_250).expect("v"), outbox::Verdict::Send(_)));
    outbox::resolve_removed_channels(st.conn_mut(), T0 + 90_300, HOST).expect("tidy");
    assert!(store::active_alert(st.conn(), AlertClass::DeliveryFailed, "mail").expect("q").is_none());
}

#[test]
fn a_resolution_waits_for_its_firing_and_alertmanager_gets_the_active_set() {
    let dir = TestDir::new("alerts-order");
    let mut st = open(&dir);
    channel(st.conn(), "am", AlertLevel::Warning, "alertmanager");
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10)]), T0);
    let batches = outbox::alertmanager_batches(st.conn(), T0).expect("batches");
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].1.len(), 1);
    eval(&mut st, &snap(vec![pool(PoolState::Online, 10)]), T0 + 60);
    let r = rows(st.conn());
    assert_eq!(outbox::verdict(st.conn(), &r[1], T0 + 700).expect("v"), outbox::Verdict::Wait);
    store::mark_delivered(st.conn(), r[0].id, T0 + 700).expect("delivered");
    assert!(matches!(outbox::verdict(st.conn(), &r[1], T0 + 700).expect("v"), outbox::Verdict::Send(_)));
    assert!(outbox::alertmanager_batches(st.conn(), T0 + 700).expect("batches").is_empty());
}

#[test]
fn notices_go_to_the_digest_once() {
    let dir = TestDir::new("alerts-digest");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Notice, "webhook");
    assert!(
        !outbox::queue_digest(st.conn_mut(), T0, Some(60), HOST).expect("digest"),
        "the first run starts the clock"
    );
    let job = corenas_proto::monitor::JobSample {
        id: "s-1".into(),
        kind: "scrub".into(),
        target: "tank".into(),
        state: "failed".into(),
        finished: Some(T0 + 5),
        message: None,
    };
    let s = HealthSnapshot { jobs: vec![job], ..Default::default() };
    eval(&mut st, &s, T0 + 10);
    assert!(rows(st.conn()).is_empty(), "a notice waits for the digest");
    assert!(!outbox::queue_digest(st.conn_mut(), T0 + 30, Some(60), HOST).expect("digest"), "not due yet");
    assert!(outbox::queue_digest(st.conn_mut(), T0 + 61, Some(60), HOST).expect("digest"));
    assert!(!outbox::queue_digest(st.conn_mut(), T0 + 130, Some(60), HOST).expect("digest"), "nothing new");
    let r = rows(st.conn());
    assert_eq!(r.len(), 1);
    let msg: Outgoing = serde_json::from_str(&r[0].payload).expect("payload");
    assert_eq!((msg.kind, msg.alerts.len()), (OutgoingKind::Digest, 1));
    // Counted for the class's 7-day figure once delivered.
    store::mark_delivered(st.conn(), r[0].id, T0 + 131).expect("delivered");
    let sent = store::sent_since(st.conn(), T0).expect("sent");
    assert_eq!(sent.get("job_failed"), Some(&1));
}

#[test]
fn an_unfilled_cache_resolves_nothing_and_a_failed_check_is_alerted() {
    let dir = TestDir::new("alerts-observed");
    let mut st = open(&dir);
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10)]), T0);
    let never_ran = CollectorStatus {
        name: "pools".into(),
        interval_seconds: 300,
        last_run: Some(T0 + 60),
        last_success: None,
        last_error: Some("zpool: helper unavailable".into()),
        runs: 1,
        failures: 1,
    };
    let s = HealthSnapshot { collectors: vec![never_ran], ..Default::default() };
    eval(&mut st, &s, T0 + 60);
    let active = store::active_alerts(st.conn()).expect("a");
    let classes: Vec<AlertClass> = active.iter().map(|a| a.class).collect();
    assert_eq!(classes, vec![AlertClass::PoolDegraded, AlertClass::CheckFailed]);
}

#[test]
fn old_resolved_alerts_and_finished_rows_are_pruned_and_nothing_pending_is() {
    let dir = TestDir::new("alerts-prune");
    let mut st = open(&dir);
    channel(st.conn(), "mail", AlertLevel::Warning, "webhook");
    eval(&mut st, &snap(vec![pool(PoolState::Degraded, 10)]), T0);
    eval(&mut st, &snap(vec![pool(PoolState::Online, 10)]), T0 + 60);
    let r = rows(st.conn());
    assert_eq!(r.len(), 2, "a firing (undelivered) and a held resolution");
    let later = T0 + store::KEEP_RESOLVED_SECS + 1;
    eval(&mut st, &snap(vec![pool(PoolState::Online, 10)]), later);
    assert_eq!(rows(st.conn()).len(), 2, "rows still to be sent stay, and so does their alert");
    let degraded = |st: &State| {
        store::all_alerts(st.conn(), 10)
            .expect("alerts")
            .into_iter()
            .filter(|a| a.class == AlertClass::PoolDegraded)
            .count()
    };
    assert_eq!(degraded(&st), 1);
    for row in &r {
        store::mark_delivered(st.conn(), row.id, T0 + 700).expect("delivered");
    }
    eval(&mut st, &snap(vec![pool(PoolState::Online, 10)]), later + 60);
    assert!(rows(st.conn()).iter().all(|r| r.created > T0 + 60), "{:?}", rows(st.conn()));
    assert_eq!(degraded(&st), 0);
}
