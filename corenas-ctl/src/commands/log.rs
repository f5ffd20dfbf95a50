//! `log view|verify|export`: the audit log. An export pages through corenasd after the last
//! sequence number seen, one JSON line per entry.
//!
//! Imports only the floor and proto.

use crate::client::{Daemon, call};
use crate::error::{CtlError, EXIT_FAILED};
use crate::export::{create_export_file, finish_export_file};
use crate::report::{Report, to_json};
use crate::text::{Table, printable};
use clap::Subcommand;
use corenas_proto::ErrorCode;
use corenas_proto::api::{AUDIT_PAGE_MAX, AuditEntry, AuditVerify};
use serde_json::json;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Show recent entries, newest first.
    View {
        /// How many entries to show (1-500).
        #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(AUDIT_PAGE_MAX)))]
        limit: u32,
        /// Show entries older than this sequence number.
        #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(i64).range(1..))]
        before: Option<i64>,
    },
    /// Check the hash chain; exits 1 when problems are found.
    Verify,
    /// Write every entry as JSON lines, oldest first.
    Export {
        /// Write to this new file (created with mode 0600, never overwritten) instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub(crate) async fn log(cmd: LogCommand, socket: &Path) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        LogCommand::View { limit, before } => {
            let entries = call!(d, log_view(before, limit))?;
            Ok(Report::ok(audit_table(&entries), to_json(&entries)?))
        }
        LogCommand::Verify => {
            let verdict = call!(d, log_verify())?;
            verify_report(&verdict)
        }
        LogCommand::Export { output: None } => {
            let mut stdout = io::stdout().lock();
            export(async |after| call!(d, log_page(after, AUDIT_PAGE_MAX)), &mut stdout).await?;
            Ok(Report::Written)
        }
        LogCommand::Export { output: Some(path) } => {
            let mut out = create_export_file(&path)?;
            let written = export(async |after| call!(d, log_page(after, AUDIT_PAGE_MAX)), &mut out).await;
            let summary = finish_export_file(out, written, &path)?;
            let human = format!("exported {} entries to {}\n", summary.entries, path.display());
            let json =
                json!({ "exported": summary.entries, "last_seq": summary.last_seq, "output": path.to_string_lossy() });
            Ok(Report::ok(human, json.to_string()))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExportSummary {
    entries: u64,
    last_seq: Option<i64>,
}

/// Writes every entry as one JSON line, oldest first, fetching pages after the last seq seen.
/// Stops at the first empty page; refuses a page that does not move forward (which would loop).
pub(crate) async fn export(
    mut page_after: impl AsyncFnMut(i64) -> Result<Vec<AuditEntry>, CtlError>,
    out: &mut impl Write,
) -> Result<ExportSummary, CtlError> {
    let write_err = |e: io::Error| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}"));
    let mut summary = ExportSummary { entries: 0, last_seq: None };
    // Start below any sequence number, so even a misnumbered (tampered) entry is exported.
    let mut after = i64::MIN;
    loop {
        let page = page_after(after).await?;
        if page.is_empty() {
            break;
        }
        for entry in &page {
            if entry.seq <= after {
                return Err(CtlError::failed(
                    ErrorCode::Protocol,
                    format!("corenasd returned entry {} after entry {after}; export stopped", entry.seq),
                ));
            }
            after = entry.seq;
            serde_json::to_writer(&mut *out, entry)
                .map_err(|e| CtlError::failed(ErrorCode::Internal, format!("cannot write the export: {e}")))?;
            out.write_all(b"\n").map_err(write_err)?;
            summary.entries += 1;
            summary.last_seq = Some(entry.seq);
        }
    }
    out.flush().map_err(write_err)?;
    Ok(summary)
}

pub fn audit_table(entries: &[AuditEntry]) -> String {
    let mut t = Table::new(&["SEQ", "TIME", "PRINCIPAL", "CHANNEL", "ACTION", "RESULT", "ARGS"]);
    for e in entries {
        let result = match &e.error_code {
            Some(code) => format!("{} ({code})", e.result),
            None => e.result.clone(),
        };
        t.row([
            e.seq.to_string(),
            e.time.clone(),
            e.principal.clone(),
            e.channel.clone(),
            e.action.clone(),
            result,
            e.args.clone(),
        ]);
    }
    t.render()
}

pub fn verify_report(v: &AuditVerify) -> Result<Report, CtlError> {
    let mut human = String::new();
    if v.problems.is_empty() {
        let _ = writeln!(human, "audit log intact: {} entries, head {}", v.entries, printable(&v.head));
    } else {
        let _ = writeln!(human, "audit log has {} problem(s) in {} entries:", v.problems.len(), v.entries);
        for p in &v.problems {
            let _ = writeln!(human, "  {}", printable(p));
        }
        let _ = writeln!(human, "head: {}", printable(&v.head));
    }
    let exit = if v.problems.is_empty() { 0 } else { EXIT_FAILED };
    Ok(Report::Answer { human, json: to_json(v)?, exit })
}

#[cfg(test)]
mod tests {
    use super::*;

    use corenas_proto::api::{AuditVerify, CorenasRequest, CorenasResponse};

    use corenas_proto::ErrorCode;

    use crate::error::CtlError;
    use crate::report::Report;
    use crate::testing::{block_on, ctl, fake_daemon};

    #[test]
    fn verify_with_problems_is_exit_1() {
        let (socket, _) = fake_daemon("verify", |_| {
            CorenasResponse::LogVerify(Ok(AuditVerify {
                entries: 5,
                head: "h5".into(),
                problems: vec!["entry 2 was changed".into()],
            }))
        });
        let Report::Answer { human, exit, .. } = ctl(&socket, &["log", "verify"]).unwrap() else { panic!() };
        assert_eq!(exit, 1);
        assert!(human.contains("entry 2"), "{human}");
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn export_to_a_file_pages_through_corenasd_and_never_overwrites() {
        let (socket, seen) = fake_daemon("export", |req| match req {
            CorenasRequest::LogPage { after, limit } => {
                assert_eq!(*limit, AUDIT_PAGE_MAX);
                CorenasResponse::LogPage(Ok((1..=5).map(entry).filter(|e| e.seq > *after).take(2).collect()))
            }
            other => panic!("unexpected {other:?}"),
        });
        let out = std::env::temp_dir().join(format!("corenas-ctl-test-{}-export.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let Report::Answer { json, .. } = ctl(&socket, &["log", "export", "--output", out.to_str().unwrap()]).unwrap()
        else {
            panic!()
        };
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["exported"], 5);
        assert_eq!(json["last_seq"], 5);
        assert_eq!(seen.lock().unwrap().len(), 4, "pages of 2, 2, 1, then an empty one");
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 5);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);

        let (socket2, _) = fake_daemon("export2", |_| CorenasResponse::LogPage(Ok(vec![])));
        let err = ctl(&socket2, &["log", "export", "--output", out.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.wire().code, ErrorCode::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text, "the existing file is untouched");
        for f in [&socket, &socket2, &out] {
            let _ = std::fs::remove_file(f);
        }
    }

    fn entry(seq: i64) -> AuditEntry {
        AuditEntry {
            seq,
            time: "2025-01-01T00:00:00Z".into(),
            principal: "root".into(),
            channel: "cli".into(),
            peer_uid: 0,
            action: "user.add".into(),
            args: "{}".into(),
            result: "ok".into(),
            error_code: None,
            prev_hash: String::new(),
            hash: format!("h{seq}"),
        }
    }

    #[test]
    fn export_pages_until_an_empty_page() {
        let log: Vec<AuditEntry> = (1..=7).map(entry).collect();
        let mut asked = Vec::new();
        let mut out = Vec::new();
        let summary = block_on(export(
            async |after| {
                asked.push(after);
                Ok(log.iter().filter(|e| e.seq > after).take(3).cloned().collect())
            },
            &mut out,
        ))
        .unwrap();
        assert_eq!(summary, ExportSummary { entries: 7, last_seq: Some(7) });
        assert_eq!(asked, [i64::MIN, 3, 6, 7]);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[6]["seq"], 7);
        assert_eq!(lines[0]["hash"], "h1");
    }

    #[test]
    fn export_refuses_a_page_that_does_not_move_forward() {
        let mut out = Vec::new();
        let r = block_on(export(async |_| Ok(vec![entry(1)]), &mut out));
        assert!(matches!(r, Err(CtlError::Failed(e)) if e.code == ErrorCode::Protocol));
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }

    #[test]
    fn verify_problems_exit_1() {
        let ok = AuditVerify { entries: 3, head: "abc".into(), problems: vec![] };
        let bad = AuditVerify { entries: 3, head: "abc".into(), problems: vec!["entry 2 was changed".into()] };
        assert!(matches!(verify_report(&ok).unwrap(), Report::Answer { exit: 0, .. }));
        let Report::Answer { human, exit, .. } = verify_report(&bad).unwrap() else { panic!() };
        assert_eq!(exit, 1);
        assert!(human.contains("  entry 2 was changed\n"));
    }
}
