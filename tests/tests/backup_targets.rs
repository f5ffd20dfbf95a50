//! The backup targets of tests/src/backup_targets.rs proven with stock restic alone (no
//! CoreNAS): each takes a repository (format 2), a backup, lists it and restores it byte for
//! byte; restic's error texts for a wrong password, a missing repository, a lock and an
//! unreachable server are the ones decision 0020 records (corenasd recognises them: restic 0.14
//! has no exit codes for them); the append-only REST server refuses `forget`.

use corenas_tests::backup_targets::{
    Access, LOCKED, LocalRepo, NO_REPOSITORY, RestServer, S3Server, SftpServer, WRONG_PASSWORD, make_sample_tree,
    restic, restic_ok, restore, restored, snapshots, tree, unused_port,
};
use corenas_tests::{run, stderr, stdout};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const PASSWORD: &str = "Repo-Password-7e1";

/// Asserts that a restic command failed with `text` in its stderr; returns the stderr.
#[track_caller]
fn fails_with(cmd: &mut Command, text: &str) -> String {
    let out = run(cmd);
    let err = stderr(&out);
    assert!(!out.status.success(), "{cmd:?} succeeded, but it should fail with '{text}':\n{}", stdout(&out));
    assert!(err.contains(text), "{cmd:?} failed without '{text}':\n{err}");
    err
}

/// No repository yet, init, a backup of a sample tree, the snapshot listed, a wrong password
/// refused, and a restore that gives the same tree back.
fn round_trip(access: &Access, scratch: &Path) {
    fails_with(restic(access, PASSWORD).arg("snapshots"), NO_REPOSITORY);
    restic_ok(access, PASSWORD, &["init", "--repository-version", "2"]);
    let src = scratch.join("src");
    make_sample_tree(&src);
    let out = restic_ok(access, PASSWORD, &["backup", "--json", &src.display().to_string()]);
    let summary = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary from restic backup --json:\n{}", stdout(&out)));
    let id = summary["snapshot_id"].as_str().expect("snapshot_id").to_owned();

    let list = snapshots(access, PASSWORD);
    assert_eq!(list.len(), 1, "one snapshot: {list:?}");
    // restic 0.14's summary names the snapshot by its short id.
    assert_eq!(list[0]["short_id"], id.as_str());
    assert_eq!(list[0]["paths"], serde_json::json!([src.display().to_string()]));

    let err = fails_with(restic(access, "not-the-password").arg("snapshots"), WRONG_PASSWORD);
    assert!(err.contains("Fatal: wrong password or no key found"), "{err}");

    let out_dir = scratch.join("restored");
    restore(access, PASSWORD, &id, &out_dir);
    let (want, got) = (tree(&src), tree(&restored(&out_dir, &src)));
    assert_eq!(want.len(), 7, "the sample tree: {:?}", want.keys());
    assert!(want == got, "restored tree differs:\nwant {:?}\ngot  {:?}", want.keys(), got.keys());
}

#[test]
fn local_repository_round_trip() {
    let Some(local) = LocalRepo::new() else { return };
    round_trip(&local.access("repo"), &local.dir().join("scratch"));
    assert!(local.path("repo").join("config").is_file(), "restic wrote the repository where it was told");
}

#[test]
fn sftp_round_trip_and_pinned_host_key() {
    let Some(sftp) = SftpServer::start("sftp_round_trip_and_pinned_host_key") else { return };
    round_trip(&sftp.access("repo"), &sftp.dir().join("scratch"));
    assert!(sftp.path("repo").join("config").is_file(), "the repository is on the server:\n{}", sftp.log());
    assert!(sftp.log().contains("Accepted publickey for root"), "restic came in over ssh:\n{}", sftp.log());

    // Another host key than the server's: ssh stops before it authenticates (so before restic
    // sends anything). restic 0.14 exits on the session's EOF while it still copies ssh's
    // stderr, so which of ssh's lines it shows varies ("Host key verification failed." or only
    // the first line of the "REMOTE HOST IDENTIFICATION HAS CHANGED" banner).
    let other = sftp.dir().join("other_known_hosts");
    std::fs::write(
        &other,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMcg/auVvDYPl4vOagAdGeohYSj+7P05OMTNKxIlqeGa\n",
            sftp.port
        ),
    )
    .expect("known_hosts");
    let logins = |log: String| log.matches("Accepted publickey").count();
    let before = logins(sftp.log());
    let err = fails_with(
        restic(&sftp.access_with_known_hosts("repo", &other), PASSWORD).arg("snapshots"),
        "unable to start the sftp session, error: EOF",
    );
    assert!(err.contains("subprocess ssh: "), "{err}");
    assert_eq!(logins(sftp.log()), before, "no login with an unknown host key:\n{}", sftp.log());
}

#[test]
fn rest_round_trip_and_login() {
    let Some(rest) = RestServer::start("rest_round_trip_and_login", false) else { return };
    round_trip(&rest.access("repo"), &rest.dir().join("scratch"));
    assert!(rest.path("repo").join("config").is_file(), "the repository is under the server's root");
    let err = fails_with(
        restic(&rest.access_as("repo", &rest.user, "wrong-login"), PASSWORD).arg("snapshots"),
        "unexpected HTTP response (401): 401 Unauthorized",
    );
    assert!(!err.contains("wrong-login"), "restic masks the URL's password: {err}");
}

#[test]
fn s3_round_trip_and_signed_requests() {
    let Some(s3) = S3Server::start("s3_round_trip_and_signed_requests") else { return };
    let access = s3.access("repo");
    round_trip(&access, &s3.dir().join("scratch"));
    // The server checks signatures: a wrong secret or an unknown key id is refused.
    fails_with(
        restic(&access.with_env("AWS_SECRET_ACCESS_KEY", "wrong-secret"), PASSWORD).arg("snapshots"),
        "The request signature we calculated does not match the signature you provided.",
    );
    fails_with(
        restic(&access.with_env("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1"), PASSWORD).arg("snapshots"),
        "The AWS Access Key Id you provided does not exist in our records.",
    );
    let mut no_bucket = access.clone();
    no_bucket.repository = format!("s3:{}/no-such-bucket/repo", s3.endpoint());
    fails_with(restic(&no_bucket, PASSWORD).arg("snapshots"), "The specified bucket does not exist");
}

/// `forget` deletes a snapshot on an ordinary REST server and is refused (403) by an
/// append-only one, where the snapshot stays. restic retries the refused delete for ~45 s.
#[test]
fn rest_append_only_refuses_forget() {
    let test = "rest_append_only_refuses_forget";
    let Some(open) = RestServer::start(test, false) else { return };
    let Some(append) = RestServer::start(test, true) else { return };
    for server in [&open, &append] {
        let access = server.access("repo");
        restic_ok(&access, PASSWORD, &["init", "--repository-version", "2"]);
        let src = server.dir().join("src");
        make_sample_tree(&src);
        restic_ok(&access, PASSWORD, &["backup", &src.display().to_string()]);
        let id = snapshots(&access, PASSWORD)[0]["id"].as_str().expect("id").to_owned();
        let out = run(restic(&access, PASSWORD).args(["forget", &id]));
        let left = snapshots(&access, PASSWORD);
        if server.append_only {
            assert!(!out.status.success(), "the append-only server let forget through:\n{}", stdout(&out));
            assert!(stderr(&out).contains("403 Forbidden"), "refused with 403: {}", stderr(&out));
            assert_eq!(left.len(), 1, "the snapshot stays: {left:?}");
        } else {
            assert!(out.status.success(), "forget on the ordinary server: {}", stderr(&out));
            assert!(left.is_empty(), "forget removed the snapshot: {left:?}");
        }
    }
}

/// A lock held by a live restic: a shared one (a backup reading stdin) stops `prune`, an
/// exclusive one (`key passwd` waiting for the new password) stops a backup; both name the
/// holder's PID. Once the holder is done, the same commands pass.
#[test]
fn locked_repository() {
    let Some(local) = LocalRepo::new() else { return };
    let access = local.access("repo");
    restic_ok(&access, PASSWORD, &["init", "--repository-version", "2"]);
    let src = local.dir().join("src");
    make_sample_tree(&src);

    let wait_for_lock = || {
        corenas_tests::wait_for(
            || !stdout(&run(restic(&access, PASSWORD).args(["list", "locks", "--no-lock"]))).trim().is_empty(),
            "restic's lock",
        )
    };

    let mut shared = restic(&access, PASSWORD)
        .args(["backup", "--stdin", "--stdin-filename", "held.txt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("restic backup --stdin");
    wait_for_lock();
    let err = fails_with(restic(&access, PASSWORD).arg("prune"), LOCKED);
    assert!(err.contains(&format!("repository is already locked by PID {} ", shared.id())), "{err}");
    assert!(err.contains("the `unlock` command can be used to remove stale locks"), "{err}");
    shared.stdin.take().expect("stdin").write_all(b"held\n").expect("write");
    let out = shared.wait_with_output().expect("backup --stdin");
    assert!(out.status.success(), "the holding backup: {}", stderr(&out));
    restic_ok(&access, PASSWORD, &["prune"]);

    let mut exclusive = restic(&access, PASSWORD)
        .args(["key", "passwd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restic key passwd");
    wait_for_lock();
    let err = fails_with(restic(&access, PASSWORD).args(["backup", &src.display().to_string()]), LOCKED);
    assert!(err.contains(&format!("repository is already locked exclusively by PID {} ", exclusive.id())), "{err}");
    // The new password never comes: key passwd gives up and leaves the key and the lock as
    // they were.
    drop(exclusive.stdin.take());
    let _ = exclusive.wait();
    restic_ok(&access, PASSWORD, &["backup", &src.display().to_string()]);
    assert_eq!(snapshots(&access, PASSWORD).len(), 2);
}

/// Nothing listens on the port: each remote kind says so, and where the repository would be.
#[test]
fn unreachable_targets() {
    let test = "unreachable_targets";
    let Some(sftp) = SftpServer::start(test) else { return };
    let Some(rest) = RestServer::start(test, false) else { return };
    let Some(s3) = S3Server::start(test) else { return };
    let port = unused_port();

    let mut access = sftp.access("repo");
    access.options = vec![format!(
        "sftp.command={}",
        sftp.ssh_command(&sftp.known_hosts).replace(&format!("-p {} ", sftp.port), &format!("-p {port} "))
    )];
    // ssh's own reason ("ssh: connect to host 127.0.0.1 port N: Connection refused") may or may
    // not be copied before restic exits (see the host key case above): only restic's line is sure.
    fails_with(restic(&access, PASSWORD).arg("snapshots"), "unable to start the sftp session, error: EOF");

    let mut access = rest.access("repo");
    access.repository = access.repository.replace(&format!(":{}/", rest.port), &format!(":{port}/"));
    let err = fails_with(restic(&access, PASSWORD).arg("snapshots"), "connect: connection refused");
    assert!(err.contains(NO_REPOSITORY) && !err.contains(&rest.password), "{err}");

    let mut access = s3.access("repo");
    access.repository = access.repository.replace(&format!(":{}/", s3.port), &format!(":{port}/"));
    let err = fails_with(restic(&access, PASSWORD).arg("snapshots"), "connect: connection refused");
    assert!(err.contains(NO_REPOSITORY), "{err}");
}
