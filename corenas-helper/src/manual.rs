//! What corenas-helper(8) says beyond clap's options (`--print-man-page`): exit status, files,
//! environment, related pages.

use corenas_proto::manpage::{ENV_LOG, FILE_CONFIG, Section};

pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        entries: &[
            (
                "0",
                "Exited after its idle timeout without a connection, or stopped by SIGTERM; the socket starts it again.",
            ),
            (
                "1",
                "Could not start: not root, an invalid configuration file (the message names the key), \
                 a share root or tool that is missing or not root's, no listening socket, or a sandbox \
                 (landlock, seccomp) that could not be applied.",
            ),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        entries: &[
            ENV_LOG,
            (
                "LISTEN_FDS, LISTEN_PID",
                "The listening socket, from corenas-helper.socket (accounts) or corenas-storage.socket (storage).",
            ),
        ],
    },
    Section {
        title: "FILES",
        entries: &[
            FILE_CONFIG,
            (
                "/run/corenas/helper.sock, /run/corenas/storage.sock",
                "The sockets it serves: root and corenasd's user only.",
            ),
            ("/etc/samba/corenas.conf, /etc/exports.d/corenas.exports", "The SMB and NFS shares it writes."),
            ("/etc/systemd/system/*.mount", "The permanent mounts it writes, named after their mount points."),
        ],
    },
    Section { title: "SEE ALSO", entries: &[("corenasd(8), corenas-ctl(8)", "/usr/share/doc/corenas/README.md")] },
];
