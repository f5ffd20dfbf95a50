//! Load against the real lab stack, as root: 64 clients at once, each with its own connection,
//! send a mix of reads (accounts, status with a helper round trip, ACLs through the helper,
//! the audit log, shares) and audited writes (ACL changes through the helper). Every request
//! must succeed (no error, nothing refused by mistake), the audit chain must verify with every
//! write in it, and corenasd's and the helper's memory must stay bounded.
//!
//! `CORENAS_LOAD_REQUESTS` sets the requests per client (default 10000, as issue #8 asks).

use corenas_proto::acl::AclEntry;
use corenas_proto::api::AclSet;
use corenas_proto::names::{GroupName, SharePath};
use corenas_tests::{Lab, LabOptions, block_on, ctx, daemon_client, require_root, rss_kib, stderr};
use std::time::Instant;

const CLIENTS: usize = 64;
/// One request in this many is a write (an audited ACL change through the helper).
const WRITE_EVERY: usize = 50;

/// One request's outcome: a transport failure or corenasd's refusal, as text; the answer itself
/// is not looked at.
fn outcome<T>(r: Result<Result<T, corenas_proto::WireError>, tarpc::client::RpcError>) -> Result<(), String> {
    r.map_err(|e| e.to_string()).and_then(|r| r.map(drop).map_err(|e| e.message))
}

#[test]
fn sixty_four_clients_mixed_requests_no_errors_bounded_memory() {
    if !require_root("sixty_four_clients_mixed_requests") {
        return;
    }
    let per_client: usize = std::env::var("CORENAS_LOAD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let lab = Lab::start("load", LabOptions::default());
    for i in 0..CLIENTS {
        std::fs::create_dir_all(lab.storage.join(format!("load/c{i}"))).expect("dir");
    }
    let o = lab.ctl(&["group", "add", "loaders", "--kind", "share"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let daemon = lab.daemon_pid().expect("corenasd");
    let helper = lab.helper_pid().expect("helper");
    // Warm up (first connections, the helper's first run of each tool), then measure.
    let o = lab.ctl(&["acl", "get", "/storage/load/c0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (daemon_before, helper_before) = (rss_kib(daemon), rss_kib(helper));
    let entries_before = lab.ctl_json(&["log", "verify"])["entries"].as_u64().expect("entries");

    let sock = lab.daemon_sock.clone();
    let started = Instant::now();
    let (errors, writes) = block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let sock = sock.clone();
            tasks.push(tokio::spawn(async move {
                let client = daemon_client(&sock).await.expect("connect");
                let path: SharePath = format!("/storage/load/c{c}").parse().expect("path");
                let group: GroupName = "loaders".parse().expect("group");
                let (mut errors, mut writes) = (Vec::new(), 0usize);
                let mut spent = [(0u32, std::time::Duration::ZERO); 7];
                for i in 0..per_client {
                    let what = if i % WRITE_EVERY == WRITE_EVERY - 1 { 99 } else { (i * 7 + c) % 6 };
                    let t = Instant::now();
                    let r: Result<(), String> = match what {
                        0 => outcome(client.user_list(ctx()).await),
                        1 => outcome(client.group_list(ctx()).await),
                        2 => outcome(client.system_status(ctx()).await),
                        3 => outcome(client.acl_get(ctx(), path.clone()).await),
                        4 => outcome(client.log_view(ctx(), None, 10).await),
                        5 => outcome(client.share_list(ctx()).await),
                        _ => {
                            writes += 1;
                            let perms = if writes % 2 == 0 { "rwx" } else { "r-x" };
                            let entry: AclEntry = format!("g:{group}:{perms}").parse().expect("entry");
                            let req = AclSet { path: path.clone(), entries: vec![entry], recursive: false };
                            outcome(client.acl_set(ctx(), req, false).await)
                        }
                    };
                    let slot = &mut spent[what.min(6)];
                    slot.0 += 1;
                    slot.1 += t.elapsed();
                    if let Err(e) = r {
                        if errors.len() < 5 {
                            errors.push(format!("client {c} request {i} ({what}): {e}"));
                        } else {
                            errors.push(String::new());
                        }
                    }
                }
                (errors, writes, spent)
            }));
        }
        let mut all = Vec::new();
        let mut writes = 0;
        let mut spent = [(0u32, std::time::Duration::ZERO); 7];
        for t in tasks {
            let (e, w, s) = t.await.expect("client task");
            all.extend(e);
            writes += w;
            for (total, one) in spent.iter_mut().zip(s) {
                total.0 += one.0;
                total.1 += one.1;
            }
        }
        let names = ["user list", "group list", "system status", "acl get", "log view", "share list", "acl set"];
        for (name, (n, d)) in names.iter().zip(spent) {
            if n > 0 {
                eprintln!(
                    "  {name:<14} {n:>7} requests, mean latency {:.1} ms",
                    d.as_secs_f64() * 1000.0 / f64::from(n)
                );
            }
        }
        (all, writes)
    });
    let secs = started.elapsed().as_secs_f64();
    let total = CLIENTS * per_client;
    let (daemon_after, helper_after) = (rss_kib(daemon), rss_kib(helper));
    eprintln!(
        "{total} requests ({writes} audited writes) from {CLIENTS} clients in {secs:.1} s ({:.0}/s); RSS corenasd {daemon_before} -> {daemon_after} KiB, helper {helper_before} -> {helper_after} KiB",
        total as f64 / secs
    );
    let shown: Vec<&String> = errors.iter().filter(|e| !e.is_empty()).collect();
    assert!(errors.is_empty(), "{} of {total} requests failed, e.g. {shown:?}", errors.len());

    // Every write is in the audit log, and the chain holds.
    let v = lab.ctl_json(&["log", "verify"]);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(0), "{v}");
    // Nothing else changed during the load: exactly one new entry per write.
    let count = v["entries"].as_u64().unwrap_or(0) - entries_before;
    assert_eq!(count, u64::try_from(writes).unwrap_or(u64::MAX), "{count} new audit entries for {writes} writes: {v}");
    // Bounded memory: what grows with requests (connections, buffers, caches) is given back or
    // capped; a leak of even 100 bytes a request would pass 60 MiB here.
    // The same processes, still running (a restarted or dead one would read as small).
    assert!(corenas_tests::process_alive(daemon) && corenas_tests::process_alive(helper), "both survive the load");
    assert!(daemon_before > 0 && helper_before > 0 && daemon_after > 0 && helper_after > 0);
    assert!(daemon_after < 64 * 1024, "corenasd RSS {daemon_after} KiB after the load");
    assert!(daemon_after < daemon_before + 32 * 1024, "corenasd grew from {daemon_before} to {daemon_after} KiB");
    assert!(helper_after < 32 * 1024, "helper RSS {helper_after} KiB after the load");
}
