//! What corenasd(8) says beyond clap's options (`--print-man-page`): exit status, files,
//! environment, related pages.

use corenas_proto::manpage::{ENV_LOG, FILE_CONFIG, Section};

pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        entries: &[
            ("0", "Stopped by SIGTERM or SIGINT after the requests in flight finished."),
            (
                "1",
                "Could not start or had to stop: an invalid configuration file (the message names the \
                 key), started as root, no listening socket from systemd, or a state database that \
                 cannot be opened or migrated. The message is in the journal; systemd restarts the \
                 service (Restart=on-failure).",
            ),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        entries: &[
            ENV_LOG,
            ("LISTEN_FDS, LISTEN_PID", "The listening socket /run/corenas/corenasd.sock, from corenasd.socket."),
            ("NOTIFY_SOCKET", "Readiness (and the watchdog, when the unit sets WatchdogSec=) for systemd."),
        ],
    },
    Section {
        title: "FILES",
        entries: &[
            FILE_CONFIG,
            (
                "/var/lib/corenas/state.db",
                "The state: users' web sessions, jobs, schedules, alerts and the audit chain (SQLite).",
            ),
            (
                "/run/corenas/corenasd.sock",
                "The API socket corenas-ctl and corenas-web connect to (root and group corenas).",
            ),
            ("/run/corenas/helper.sock, /run/corenas/storage.sock", "The root helpers' sockets (corenas-helper(8))."),
            ("/srv/corenas/images", "Disc and disk images, one directory per imaging job."),
        ],
    },
    Section {
        title: "SEE ALSO",
        entries: &[("corenas-ctl(8), corenas-helper(8), corenas-web(8)", "/usr/share/doc/corenas/README.md")],
    },
];
