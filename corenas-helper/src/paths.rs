//! Every file the helper touches, derived from one root prefix (`--root`, `/` in production), so
//! tests and the lab run against a throwaway tree and never the host's `/etc`.

use corenas_proto::helper::HelperArea;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
    /// The role this helper serves (None: both, as in the lab); it names the verify scratch.
    area: Option<HelperArea>,
}

impl Paths {
    pub fn new(root: PathBuf) -> Self {
        Self { root, area: None }
    }

    pub fn for_area(self, area: Option<HelperArea>) -> Self {
        Self { area, ..self }
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

    /// The scratch directory `systemd-analyze verify` checks a candidate unit in, one per role
    /// (`.verify-accounts`, `.verify-storage`, `.verify-all`): the two production helpers verify
    /// concurrently and each clears its own. It persists (only its contents are cleared), so the
    /// storage helper's landlock rule and unit can name it exactly.
    pub fn verify_dir(&self) -> PathBuf {
        let role = match self.area {
            Some(HelperArea::Accounts) => "accounts",
            Some(HelperArea::Storage) => "storage",
            None => "all",
        };
        self.inside(&format!("/etc/corenas/.verify-{role}"))
    }

    /// Directories made before the sandbox, when missing: landlock rules bind to existing
    /// directories, and the accounts role may not create directories in /etc itself.
    pub fn made_before_sandbox(&self) -> Vec<(PathBuf, u32)> {
        let mut out = vec![
            (self.inside("/etc/corenas"), 0o755),
            (self.verify_dir(), 0o700),
            (self.inside("/etc/systemd/system"), 0o755),
        ];
        if self.area != Some(HelperArea::Storage) {
            out.push((self.inside("/etc/exports.d"), 0o755));
        }
        if self.area != Some(HelperArea::Accounts) {
            // Backup runs: corenasd may traverse to its job's directory, not list them.
            out.push((self.backup_runs_dir(), 0o711));
            out.push((self.inside("/var/cache/corenas"), 0o755));
        }
        out
    }

    /// `/run/corenas-backup`: one root-owned directory per backup job with the runner's status
    /// files and its credentials (decision 0020, "Runner").
    pub fn backup_runs_dir(&self) -> PathBuf {
        self.inside("/run/corenas-backup")
    }

    /// restic's cache for the backup runners (owned by corenasd's user beneath a root directory).
    pub fn backup_cache_dir(&self) -> PathBuf {
        self.inside("/var/cache/corenas/restic")
    }

    /// The landlock rules of a helper serving its area (None: both, as in the lab): every path it
    /// may touch and what it may do there (docs/decisions/0002-helper-sandbox.md lists them per
    /// role). Paths under the root prefix are the managed system's; the storage tools' state
    /// directories, /tmp, /sys and /dev are the host's. Missing paths are skipped by the sandbox.
    pub fn landlock_rules(&self, share_roots: &[String], systemd_reads_prefix: bool) -> Vec<(PathBuf, Grant)> {
        let area = self.area;
        let host = |p: &str| PathBuf::from(p);
        let accounts = area != Some(HelperArea::Storage);
        let storage = area != Some(HelperArea::Accounts);
        let mut out: Vec<(PathBuf, Grant)> = Vec::new();
        // Reading and running the system. /run/udev: udev's device database, read by libzfs
        // and LVM to know a new partition or volume is ready.
        for p in ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/sys", "/run/udev"] {
            out.push((host(p), Grant::ReadExec));
        }
        // /dev/random too: getrandom polls it before falling back to /dev/urandom where the
        // getrandom(2) wrapper cannot be found (static builds).
        for p in ["/dev/null", "/dev/random", "/dev/urandom", "/dev/zero"] {
            out.push((host(p), Grant::ReadWriteFile));
        }
        // `systemd-analyze verify` makes its scratch directory under /tmp, a fixed path
        // (/tmp/systemd-analyze-XXXXXX); mdadm its temporary array node. The units give each
        // helper a private /tmp (PrivateTmp=yes).
        out.push((host("/tmp"), Grant::All));
        // Mount units: `mount add` (accounts) and pools/datasets (storage) write them and their
        // .wants/ links; --temporary ones under /run.
        out.push((self.inside("/etc/systemd/system"), Grant::All));
        out.push((self.inside("/run/systemd/system"), Grant::All));
        out.push((self.verify_dir(), Grant::All));
        if systemd_reads_prefix {
            // What production has through the prefix "/": `systemd-analyze verify` reads the
            // running systemd's /run/systemd/system, which a refused read turns into an error.
            out.push((host("/run/systemd/system"), Grant::All));
        }
        if accounts {
            // The account files: the shadow tools and the helper write next to them under
            // names landlock cannot list (passwd+, passwd-, passwd.<pid>, passwd.lock,
            // shadow.corenas-new, .pwd.lock, subuid...) and rename in place, so /etc itself
            // gets regular files only: create, write, truncate, remove (a rename within one
            // directory). No directories, symlinks, device nodes, execution, or links and
            // renames across directories. AppArmor names the exact files.
            out.push((self.inside("/etc"), Grant::RegularFiles));
            // CoreNAS's own files under /etc: the SMB include and smb.conf's include line,
            // the NFS exports file, CIFS credentials (/etc/corenas/credentials).
            out.push((self.inside("/etc/samba"), Grant::RegularFiles));
            out.push((self.inside("/etc/exports.d"), Grant::RegularFiles));
            out.push((self.inside("/etc/corenas"), Grant::All));
            // Homes (useradd -m, userdel -r), samba's passdb, locks and logs, NFS's export
            // table (exportfs -ra), the share roots (share directories, ACLs).
            for p in ["/home", "/var/lib/samba", "/var/cache/samba", "/run/samba", "/var/log/samba", "/var/lib/nfs"] {
                out.push((self.inside(p), Grant::All));
            }
            out.extend(share_roots.iter().map(|r| (self.inside(r), Grant::All)));
            // Devices: probed, read (the medium's volume descriptor), opened O_EXCL read-only
            // to see whether they are free, ejected (CDROMEJECT on a read-only fd); their ACL
            // is an xattr, which landlock does not govern. Never written.
            out.push((host("/dev"), Grant::DevicesRead));
        }
        if storage {
            // Pool and dataset mount points (and `zpool import`'s altroot beneath them).
            out.push((self.inside("/mnt/corenas"), Grant::All));
            // Backup runs: status files and credentials per job; the runners' restic cache.
            out.push((self.backup_runs_dir(), Grant::All));
            out.push((self.inside("/var/cache/corenas"), Grant::All));
            // The storage tools keep their own state at fixed host paths: btrfs scrub
            // progress, md's runtime directory and mdadm.conf, LVM's locks and metadata
            // backups, zfs-fuse/OpenZFS's pool cache.
            for p in ["/var/lib/btrfs", "/run/mdadm", "/run/lvm", "/run/lock/lvm", "/etc/lvm", "/etc/mdadm", "/etc/zfs"]
            {
                out.push((host(p), Grant::All));
            }
            // mdadm creates arrays and sets them up through sysfs: new_array names a new mdN,
            // and each array's md/ directory (created later, beneath this one) takes its
            // settings. drop_caches: zfs-fuse's `zfs rollback` writes it.
            for p in ["/sys/devices/virtual/block", "/sys/module/md_mod/parameters"] {
                out.push((host(p), Grant::All));
            }
            out.push((host("/proc/sys/vm/drop_caches"), Grant::ReadWriteFile));
            // Block devices: written by the storage tools and the wipe (which open only nodes
            // resolved as accepted disks), device ioctls.
            out.push((host("/dev"), Grant::DevicesReadWrite));
        }
        out
    }
}

/// What a landlock rule lets the helper (and every program it runs) do beneath its path;
/// sandbox.rs turns each into landlock access rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read files, list directories, execute.
    ReadExec,
    /// Read and write existing files (pseudo-devices, one sysctl).
    ReadWriteFile,
    /// Read; create, write, truncate and remove regular files (a rename within one directory
    /// is a remove plus a create). Nothing else.
    RegularFiles,
    /// Device nodes: read, list, device ioctls.
    DevicesRead,
    /// Device nodes: read, write, list, device ioctls.
    DevicesReadWrite,
    /// Everything landlock governs, including directories, links and renames across directories.
    All,
}
