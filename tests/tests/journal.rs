//! The helper's structured log records reach journald with their fields: peer identity,
//! operation, canonical arguments (secrets redacted), result and duration. There is no journald
//! on these machines, so the test plays journald: a datagram socket that the helper, in its own
//! mount namespace, sees as /run/systemd/journal/socket.

use corenas_tests::*;
use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;

/// Parses journald's native protocol: `KEY=value\n`, or `KEY\n` + u64 LE length + bytes + `\n`.
fn parse(mut d: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !d.is_empty() {
        let line_end = d.iter().position(|b| *b == b'\n').unwrap_or(d.len());
        let line = &d[..line_end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            d = &d[(line_end + 1).min(d.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &d[line_end + 1..];
            let len = usize::try_from(u64::from_le_bytes(rest[..8].try_into().expect("length"))).expect("len");
            fields.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            d = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    fields
}

#[test]
fn helper_operations_are_journaled_with_structured_fields() {
    if !require_root("helper_operations_are_journaled_with_structured_fields") {
        return;
    }
    let dir = std::path::PathBuf::from(format!("/var/tmp/corenas-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let journal = UnixDatagram::bind(dir.join("socket")).expect("bind fake journald");
    // Like journald, read all the time: a full datagram queue would block the helper's logging.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = journal.recv(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let lab = Lab::start("journal", LabOptions { journal_dir: Some(dir.clone()), ..LabOptions::default() });
    let out = lab.ctl_stdin(
        &["user", "add", "jo", "--kind", "share", "--no-home", "--password-stdin"],
        Some("Journal-Secret-42\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let mut records = Vec::new();
    let operation = loop {
        let record = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a journal record within 10 s");
        assert!(!String::from_utf8_lossy(&record).contains("Journal-Secret-42"), "a secret reached the journal");
        let fields = parse(&record);
        records.push(fields.clone());
        if fields.get("OPERATION").map(String::as_str) == Some("user.create") {
            break fields;
        }
    };
    assert_eq!(operation["SYSLOG_IDENTIFIER"], "corenas-helper");
    assert_eq!(operation["RESULT"], "ok");
    assert_eq!(operation["PEER_UID"], lab.daemon_uid.to_string());
    assert!(operation.contains_key("PEER_PID") && operation.contains_key("DURATION_US"), "{operation:?}");
    assert!(operation["ARGS"].contains("\"jo\"") && operation["ARGS"].contains("<redacted>"), "{}", operation["ARGS"]);
    assert!(
        records.iter().any(|r| r.get("PROGRAM").map(String::as_str) == Some("/usr/sbin/useradd")),
        "every program run is journaled too: {records:?}"
    );
    // INFO is journald's info (6), so that LogLevelMax=info and `journalctl -p` mean what they
    // say; at the default level nothing at journald's debug (7) is sent, tarpc's records neither.
    assert_eq!(operation["PRIORITY"], "6", "{operation:?}");

    // A refusal by the helper's own checks carries its MESSAGE_ID (the field `message_id`,
    // unprefixed), so `journalctl MESSAGE_ID=...` finds it.
    block_on(async {
        let h = helper_client(&lab.helper_sock).await.expect("connect as root");
        let op = corenas_proto::helper::HelperOp::UserLock { name: "root".parse().expect("name") };
        let e = h.perform(ctx(), op, false).await.expect("rpc").expect_err("root is outside the managed ranges");
        assert_eq!(e.code, corenas_proto::ErrorCode::NotAllowed, "{}", e.message);
    });
    let refused = loop {
        let record = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the refusal within 10 s");
        let fields = parse(&record);
        records.push(fields.clone());
        if fields.get("OPERATION").map(String::as_str) == Some("user.lock") {
            break fields;
        }
    };
    assert_eq!(refused["MESSAGE_ID"], corenas_proto::logging::MSG_HELPER_REFUSED, "{refused:?}");
    assert_eq!((refused["PRIORITY"].as_str(), refused["ERROR_CODE"].as_str()), ("4", "E_NOT_ALLOWED"));
    assert!(!refused.contains_key("F_MESSAGE_ID"), "{refused:?}");
    while let Ok(record) = rx.recv_timeout(std::time::Duration::from_millis(300)) {
        records.push(parse(&record));
    }
    let debug: Vec<_> = records.iter().filter(|r| r.get("PRIORITY").map(String::as_str) == Some("7")).collect();
    assert!(debug.is_empty(), "no debug-priority record at the default level: {debug:?}");
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
