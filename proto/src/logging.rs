//! Log set-up for corenas-helper and corenasd: structured records to journald when it is there
//! (fields such as PEER_UID, OPERATION, ARGS, RESULT, DURATION_US become journal fields), plain
//! text on stderr otherwise (the lab, tests, machines without systemd).

/// Installs the global subscriber; `identifier` is the journal's SYSLOG_IDENTIFIER.
pub fn init(identifier: &str) {
    use tracing_subscriber::prelude::*;
    let journald =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::path::Path::new("/run/systemd/journal/socket").exists();
    if journald {
        if let Ok(layer) = tracing_journald::layer() {
            // No "F_" prefix: the journal gets PEER_UID, OPERATION, ARGS, RESULT, DURATION_US.
            let layer = layer.with_syslog_identifier(identifier.to_owned()).with_field_prefix(None);
            tracing_subscriber::registry().with(layer).init();
            return;
        }
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).with_ansi(ansi).init();
}
