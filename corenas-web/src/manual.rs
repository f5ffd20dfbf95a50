//! What corenas-web(8) says beyond clap's options (`--print-man-page`): exit status, files,
//! environment, related pages.

use corenas_proto::manpage::{ENV_LOG, FILE_CONFIG, Section};

pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        entries: &[
            ("0", "Stopped by SIGTERM or SIGINT."),
            (
                "1",
                "Could not start: an invalid configuration file (the message names the key), or a \
                 socket it cannot listen on.",
            ),
        ],
    },
    Section { title: "ENVIRONMENT", entries: &[ENV_LOG, ("CORENAS_SOCKET", "corenasd's socket, as --daemon-socket.")] },
    Section {
        title: "FILES",
        entries: &[
            FILE_CONFIG,
            ("/run/corenas/web/web.sock", "The socket nginx proxies to (group corenas-proxy)."),
            (
                "/etc/nginx/sites-available/corenas",
                "The nginx site: TLS, HSTS, request limits. Enable it with a link in sites-enabled.",
            ),
            (
                "/etc/corenas/tls/cert.pem, /etc/corenas/tls/key.pem",
                "The site's certificate and key (0600 root), self-signed at installation when absent; replace both with your own.",
            ),
        ],
    },
    Section {
        title: "SEE ALSO",
        entries: &[("corenasd(8), corenas-ctl(8), nginx(8)", "/usr/share/doc/corenas/README.md")],
    },
];
