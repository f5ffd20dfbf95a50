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
    /// CoreNAS's SMB include file, included once from smb.conf.
    pub fn smb_include(&self) -> PathBuf {
        self.inside("/etc/samba/corenas.conf")
    }
    pub fn exports(&self) -> PathBuf {
        self.inside("/etc/exports.d/corenas.exports")
    }

    /// Whether `exportfs` (which always reads /etc/exports.d) sees our exports directory: always
    /// on the host; in the lab only when the helper runs in a mount namespace where the prefix's
    /// directory is bound there (lab/up does that), so the host's NFS state is never touched.
    pub fn exportfs_sees_ours(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        if self.is_host() {
            return true;
        }
        match (std::fs::metadata(self.inside("/etc/exports.d")), std::fs::metadata("/etc/exports.d")) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// Whether the mount point `mount_point` (as the managed system sees it) is one CoreNAS
    /// made: the helper wrote its unit (a `mount add`, a pool or a dataset). Share and ACL
    /// resolution cross into such mounts only (ops/acl.rs `open_within` says why).
    pub fn made_by_corenas(&self, mount_point: &str) -> bool {
        let Ok(target) = mount_point.parse::<corenas_proto::names::MountTarget>() else { return false };
        let unit = format!("{}.mount", target.unit_stem());
        ["/etc/systemd/system", "/run/systemd/system"].iter().any(|d| {
            std::fs::symlink_metadata(self.inside(&format!("{d}/{unit}"))).is_ok_and(|m| m.file_type().is_file())
        })
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
        [
            "/etc",
            "/home",
            "/var/lib/samba",
            "/var/cache/samba",
            "/run/samba",
            "/var/log/samba",
            "/var/lib/nfs",
            "/run/systemd/system",
            "/mnt/corenas",
        ]
        .iter()
        .map(|p| self.inside(p))
        .collect()
    }
}
