//! Log set-up for corenasd, corenas-helper and corenas-web: one level filter in front of
//! everything (default `info`, the RPC and HTTP libraries at `warn`), then structured records to
//! journald when it is there (fields such as PEER_UID, OPERATION, ARGS, RESULT, DURATION_US,
//! MESSAGE_ID become journal fields), plain text on stderr otherwise (the lab, tests, machines
//! without systemd), coloured only on a terminal.
//!
//! The level comes from `CORENAS_LOG`, else from `[log] level` in /etc/corenas/corenas.conf, else
//! `info` (docs/logging.md). Both go through [`parse_filter`] (`RUST_LOG`-like directives; the
//! configuration file holds a plain level).

use tracing_subscriber::filter::{LevelFilter, Targets};

/// The environment variable that overrides the configured level.
pub const ENV_VAR: &str = "CORENAS_LOG";

/// The level when neither `CORENAS_LOG` nor the configuration file sets one.
pub const DEFAULT_LEVEL: &str = "info";

/// The accepted form, for error messages.
pub const ACCEPTED: &str = "a level (off, error, warn, info, debug, trace) and/or TARGET=LEVEL pairs, comma-separated, \
     e.g. 'debug' or 'info,corenasd::alerts=debug'";

/// Libraries that log several records per request or connection at DEBUG/TRACE: they stay at
/// `warn` (or the default, if quieter) unless a directive names them.
const NOISY: &[&str] =
    &["tarpc", "hyper", "hyper_util", "h2", "axum", "tower", "tokio", "mio", "rustls", "tokio_rustls", "lettre"];

// MESSAGE_IDs: fixed 128-bit ids (as in journald's catalog), one per event people search for:
// `journalctl MESSAGE_ID=<id>`. Never change one once released; add a new one instead.

/// corenasd refused a web login (wrong user name, password or second factor, or an account
/// without web access). Fields: USER, SOURCE, REASON.
pub const MSG_WEB_LOGIN_FAILED: &str = "bcd5f16024494dfd9f40fef3c376f0aa";
/// corenasd locked an account or address out after too many failed web logins, or refused a
/// login because of such a lockout. Fields: USER, SOURCE, REASON.
pub const MSG_WEB_LOGIN_LOCKED_OUT: &str = "97ed7305f1354502af2a3fb026fed811";
/// The audit chain did not verify (a changed, missing, reordered or unreadable entry).
/// Fields: ENTRIES, PROBLEMS, PROBLEM (the first).
pub const MSG_AUDIT_CHAIN_BROKEN: &str = "5bb2a55d025f491c8af22cf4c6157d74";
/// A root helper refused an operation or a connection by its own checks (a peer that is
/// neither root nor corenasd, an argument outside what it allows, the other helper's work).
/// Fields: PEER_UID, OPERATION, ERROR_CODE, ERROR.
pub const MSG_HELPER_REFUSED: &str = "fff02dfaa4744b28bc27a3089fbe51ae";
/// corenasd raised a new alert. Fields: ALERT_ID, CLASS, SUBJECT, LEVEL.
pub const MSG_ALERT_RAISED: &str = "1880e3acae4844ddb5da221ccc0e5960";

/// A log level setting that is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{directive}' is not a log directive: use {ACCEPTED}")]
pub struct FilterError {
    pub directive: String,
}

/// Parses `RUST_LOG`-like directives: a bare level sets the default, `target=level` sets a
/// module's (module paths; '-' in a crate name may be written as in the package name). Empty
/// pieces are skipped. Unlike `Targets::from_str`, a misspelt level is an error, not a target.
pub fn parse_filter(text: &str) -> Result<Targets, FilterError> {
    let bad = |d: &str| FilterError { directive: d.to_owned() };
    let mut default = None;
    let mut named = Vec::new();
    for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match piece.split_once('=') {
            None => default = Some(level(piece).ok_or_else(|| bad(piece))?),
            Some((target, lvl)) => {
                let target = target.trim();
                let valid = !target.is_empty()
                    && target.len() <= 128
                    && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'));
                let lvl = level(lvl.trim()).filter(|_| valid).ok_or_else(|| bad(piece))?;
                named.push((target.replace('-', "_"), lvl));
            }
        }
    }
    let default = default.unwrap_or(LevelFilter::INFO);
    let noisy = default.min(LevelFilter::WARN);
    // Later directives for the same target replace earlier ones: the user's come last.
    Ok(Targets::new()
        .with_default(default)
        .with_targets(NOISY.iter().map(|t| ((*t).to_owned(), noisy)))
        .with_targets(named))
}

fn level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// The filter in force, where it came from, and what was wrong with the settings passed over.
#[derive(Debug)]
pub struct Choice {
    pub filter: Targets,
    /// `CORENAS_LOG`, `log.level` (the configuration file) or `default`.
    pub source: &'static str,
    pub text: String,
    pub problems: Vec<String>,
}

/// Precedence: `CORENAS_LOG`, then the configuration's `log.level`, then `info`. An unset or
/// blank setting counts as absent; an invalid one is reported and the next one is used.
pub fn choose(env: Option<&str>, config: Option<&str>) -> Choice {
    let mut problems = Vec::new();
    let candidates = [(ENV_VAR, env), ("log.level", config)];
    for (source, text) in candidates {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { continue };
        match parse_filter(text) {
            Ok(filter) => return Choice { filter, source, text: text.to_owned(), problems },
            Err(e) if source == ENV_VAR => problems.push(format!("{ENV_VAR} is ignored: {e}")),
            Err(e) => problems.push(format!("log.level in /etc/corenas/corenas.conf is ignored: {e}")),
        }
    }
    let filter = parse_filter(DEFAULT_LEVEL).unwrap_or_default();
    Choice { filter, source: "default", text: DEFAULT_LEVEL.to_owned(), problems }
}

/// Installs the global subscriber; `identifier` is the journal's SYSLOG_IDENTIFIER and `level`
/// the configuration file's `log.level` (None: not configured).
pub fn init(identifier: &str, level: Option<&str>) {
    use tracing_subscriber::prelude::*;
    let env = std::env::var(ENV_VAR).ok();
    let mut choice = choose(env.as_deref(), level);
    if env.is_none() && std::env::var_os(ENV_VAR).is_some() {
        choice.problems.push(format!("{ENV_VAR} is ignored: it is not UTF-8; use {ACCEPTED}"));
    }
    let journald =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::path::Path::new("/run/systemd/journal/socket").exists();
    let journal_layer = journald.then(tracing_journald::layer).and_then(Result::ok).map(|layer| {
        // No "F_" prefix: the journal gets PEER_UID, OPERATION, ..., and MESSAGE_ID itself.
        // INFO is journald's info (6), DEBUG and TRACE its debug (7), so that `LogLevelMax=info`
        // and `journalctl -p` mean what they say (the crate's default puts INFO at notice).
        let priorities = tracing_journald::PriorityMappings {
            error: tracing_journald::Priority::Error,
            warn: tracing_journald::Priority::Warning,
            info: tracing_journald::Priority::Informational,
            debug: tracing_journald::Priority::Debug,
            trace: tracing_journald::Priority::Debug,
        };
        layer.with_syslog_identifier(identifier.to_owned()).with_field_prefix(None).with_priority_mappings(priorities)
    });
    let registry = tracing_subscriber::registry().with(choice.filter.clone());
    if let Some(layer) = journal_layer {
        registry.with(layer).init();
    } else {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(ansi))
            .init();
    }
    for problem in &choice.problems {
        tracing::warn!("{problem}; logging at {}", choice.text);
    }
    tracing::info!(filter = %choice.text, source = choice.source, "log level");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn a_bare_level_sets_the_default_and_keeps_the_libraries_quiet() {
        let f = parse_filter("debug").unwrap();
        assert!(f.would_enable("corenasd::alerts", &Level::DEBUG));
        assert!(!f.would_enable("corenasd", &Level::TRACE));
        assert!(!f.would_enable("tarpc::server", &Level::DEBUG));
        assert!(f.would_enable("tarpc::server", &Level::WARN));
    }

    #[test]
    fn the_default_is_info() {
        let f = parse_filter("").unwrap();
        assert!(f.would_enable("corenasd", &Level::INFO));
        assert!(!f.would_enable("corenasd", &Level::DEBUG));
        assert!(!f.would_enable("hyper::proto", &Level::INFO));
    }

    #[test]
    fn targets_raise_or_lower_one_module() {
        let f = parse_filter("info, corenasd::alerts=debug ,tarpc=debug,corenas-web=warn,").unwrap();
        assert!(f.would_enable("corenasd::alerts::outbox", &Level::DEBUG));
        assert!(!f.would_enable("corenasd::mounts", &Level::DEBUG));
        assert!(f.would_enable("tarpc::server", &Level::DEBUG));
        assert!(!f.would_enable("corenas_web::http", &Level::INFO));
        assert!(f.would_enable("corenas_web::http", &Level::WARN));
    }

    #[test]
    fn a_quieter_default_quiets_the_libraries_too() {
        let f = parse_filter("error").unwrap();
        assert!(!f.would_enable("tarpc", &Level::WARN));
        assert!(f.would_enable("tarpc", &Level::ERROR));
        let off = parse_filter("OFF").unwrap();
        assert!(!off.would_enable("corenasd", &Level::ERROR));
    }

    #[test]
    fn bad_directives_are_refused_by_name() {
        for bad in ["debgu", "corenasd=loud", "=debug", "corenasd==debug", "a b=info", "5", "corenasd[{x}]=debug"] {
            let e = parse_filter(bad).unwrap_err();
            assert!(e.to_string().contains("is not a log directive") && e.to_string().contains("TARGET=LEVEL"), "{e}");
        }
        assert_eq!(parse_filter("info,debgu").unwrap_err().directive, "debgu");
    }

    #[test]
    fn the_environment_wins_then_the_configuration_then_info() {
        let c = choose(Some("debug"), Some("warn"));
        assert_eq!((c.source, c.text.as_str(), c.problems.len()), ("CORENAS_LOG", "debug", 0));
        let c = choose(None, Some("warn"));
        assert_eq!((c.source, c.text.as_str()), ("log.level", "warn"));
        assert!(!c.filter.would_enable("corenasd", &Level::INFO));
        let c = choose(Some("  "), None);
        assert_eq!((c.source, c.text.as_str(), c.problems.len()), ("default", "info", 0));
        assert!(c.filter.would_enable("corenasd", &Level::INFO) && !c.filter.would_enable("corenasd", &Level::DEBUG));
    }

    #[test]
    fn an_invalid_setting_is_reported_and_the_next_one_used() {
        let c = choose(Some("verbose"), Some("warn"));
        assert_eq!((c.source, c.text.as_str()), ("log.level", "warn"));
        assert_eq!(c.problems.len(), 1);
        assert!(c.problems[0].starts_with("CORENAS_LOG is ignored: 'verbose'"), "{}", c.problems[0]);
        let c = choose(Some("verbose"), Some("loud"));
        assert_eq!((c.source, c.text.as_str(), c.problems.len()), ("default", "info", 2));
        assert!(c.problems[1].contains("log.level in /etc/corenas/corenas.conf"), "{}", c.problems[1]);
    }

    #[test]
    fn message_ids_are_distinct_128_bit_ids() {
        let ids = [
            MSG_WEB_LOGIN_FAILED,
            MSG_WEB_LOGIN_LOCKED_OUT,
            MSG_AUDIT_CHAIN_BROKEN,
            MSG_HELPER_REFUSED,
            MSG_ALERT_RAISED,
        ];
        for id in ids {
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
        }
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
