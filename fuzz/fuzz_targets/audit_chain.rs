//! The audit chain verifier against tampering: a chain of entries with arguments from the
//! fuzzer verifies intact; any single edit of a stored field (the fuzzer picks entry, column and
//! new value) is reported, and never panics the verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((control, rest)) = data.split_at_checked(3) else { return };
    let text = String::from_utf8_lossy(rest);
    let dir = std::env::temp_dir().join(format!("corenas-fuzz-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut state = corenasd::state::State::open(&dir.join("state.db")).expect("state");
    let entries = usize::from(control[0] % 6) + 1;
    for i in 0..entries {
        let args = serde_json::json!({ "i": i, "value": text.as_ref() });
        let rec = corenasd::audit::AuditRecord {
            principal: "root@ctl",
            channel: "ctl",
            peer_uid: 0,
            action: "fuzz.append",
            args: &args,
            result: "ok",
            error_code: None,
        };
        corenasd::audit::append(state.conn_mut(), &rec).expect("append");
    }
    let intact = corenasd::audit::verify(state.conn()).expect("verify");
    assert!(intact.problems.is_empty(), "a fresh chain is intact: {:?}", intact.problems);

    let victim = i64::from(control[1]) % i64::try_from(entries).unwrap_or(1) + 1;
    let column = ["principal", "action", "args", "result", "hash", "prev_hash"][usize::from(control[2] % 6)];
    let new_value = format!("{text}#");
    let changed = state
        .conn()
        .execute(&format!("UPDATE audit SET {column} = ?1 WHERE seq = ?2"), (new_value.as_str(), victim))
        .unwrap_or(0);
    let after = corenasd::audit::verify(state.conn()).expect("verify after an edit");
    if changed == 1 {
        assert!(!after.problems.is_empty(), "editing {column} of entry {victim} went unnoticed");
    }
    drop(state);
    let _ = std::fs::remove_dir_all(&dir);
});
