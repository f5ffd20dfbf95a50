//! Every file the helper touches, derived from one root prefix (`--root`, `/` in production), so
//! tests and the lab run against a throwaway tree and never the host's `/etc`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    /// `path` is an absolute path as the managed system sees it; it must come from CoreNAS's own
    /// constants or validated, lexically clean values (never `Path::join` of raw caller text).
    pub fn inside(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    pub fn passwd(&self) -> PathBuf {
        self.inside("/etc/passwd")
    }
    pub fn group(&self) -> PathBuf {
        self.inside("/etc/group")
    }
    pub fn shadow(&self) -> PathBuf {
        self.inside("/etc/shadow")
    }
    pub fn smb_conf(&self) -> PathBuf {
        self.inside("/etc/samba/smb.conf")
    }

    /// `--prefix DIR` for the shadow tools, or nothing on the real host.
    pub fn prefix_args(&self) -> Vec<String> {
        if self.is_host() { Vec::new() } else { vec!["--prefix".into(), self.root.display().to_string()] }
    }

    /// Samba looks users up through NSS; in a prefix those users exist only in the prefixed
    /// files, so the lab points nss_wrapper (samba's own test harness) at them.
    pub fn nss_env(&self) -> Vec<(&'static str, String)> {
        if self.is_host() {
            return Vec::new();
        }
        vec![
            ("LD_PRELOAD", "libnss_wrapper.so".into()),
            ("NSS_WRAPPER_PASSWD", self.passwd().display().to_string()),
            ("NSS_WRAPPER_GROUP", self.group().display().to_string()),
        ]
    }

    /// Directories the helper (and the tools it runs) may write: the account files, homes and
    /// samba's databases. Share roots are added by the caller.
    pub fn writable(&self) -> Vec<PathBuf> {
        ["/etc", "/home", "/var/lib/samba", "/var/cache/samba", "/run/samba", "/var/log/samba"]
            .iter()
            .map(|p| self.inside(p))
            .collect()
    }
}
