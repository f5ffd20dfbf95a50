//! `/etc/exports.d/corenas.exports`: one line per NFS share, one `client(options)` per rule.
//! Always `sec=sys`, `sync`; `root_squash` unless a rule asks otherwise.
//!
//! `no_subtree_check` only for a path that is the root of a whole filesystem (a pool or dataset
//! mount): with it nfsd accepts any handle on the exported filesystem, and a client that forges
//! one (ext4's root is inode 2, generation 0) reaches every file on it, `/` and
//! `/var/lib/corenas/state.db` included when the share is a plain directory on the system disk.
//! Any other path gets `subtree_check`, which makes nfsd check that each handle lies inside the
//! exported tree. The helper decides which (ops/shares.rs); shares meant for NFS belong on a pool
//! or dataset.
//! Paths are plain (no spaces or escapes needed); clients are validated addresses, networks
//! or host names, so neither can add an option or a line.

use super::MANAGED_HEADER;
use corenas_proto::shares::{NfsRule, ShareSet};
use std::fmt::Write;

pub fn options(rule: &NfsRule, whole_fs: bool) -> String {
    format!(
        "{},sync,{},{},sec=sys",
        if rule.read_only { "ro" } else { "rw" },
        if rule.no_root_squash { "no_root_squash" } else { "root_squash" },
        if whole_fs { "no_subtree_check" } else { "subtree_check" }
    )
}

/// `whole_fs(path)`: the share's path is the root of a whole filesystem (see the module doc).
pub fn render(set: &ShareSet, host_path: impl Fn(&str) -> String, whole_fs: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MANAGED_HEADER}");
    for share in &set.shares {
        let Some(nfs) = &share.nfs else { continue };
        if nfs.rules.is_empty() {
            continue;
        }
        let _ = write!(out, "# share {}\n{}", share.name, host_path(share.path.as_str()));
        let whole = whole_fs(share.path.as_str());
        for rule in &nfs.rules {
            let _ = write!(out, " {}({})", rule.client, options(rule, whole));
        }
        out.push('\n');
    }
    out
}

/// The grammar of a rendered line: a comment or `path client(opts) ...` with only the options
/// CoreNAS writes.
pub fn line_is_expected(line: &str) -> bool {
    if line.starts_with("# ") {
        return !line.contains(['\r', '\0']);
    }
    let mut fields = line.split(' ');
    let Some(path) = fields.next() else { return false };
    if !path.starts_with('/') || path.contains(['(', ')', '"', '\\', '#']) {
        return false;
    }
    let mut any = false;
    for f in fields {
        any = true;
        let Some((client, rest)) = f.split_once('(') else { return false };
        let Some(opts) = rest.strip_suffix(')') else { return false };
        if client.parse::<corenas_proto::names::NfsClient>().is_err() {
            return false;
        }
        let allowed =
            ["rw", "ro", "sync", "root_squash", "no_root_squash", "no_subtree_check", "subtree_check", "sec=sys"];
        if !opts.split(',').all(|o| allowed.contains(&o)) {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::shares::{NfsOptions, ShareDef};

    #[test]
    fn renders_rules_with_safe_defaults() {
        let set = ShareSet {
            shares: vec![ShareDef {
                name: "media".parse().unwrap(),
                path: "/storage/media".parse().unwrap(),
                smb: None,
                nfs: Some(NfsOptions {
                    rules: vec![
                        NfsRule { client: "192.168.1.0/24".parse().unwrap(), read_only: false, no_root_squash: false },
                        NfsRule { client: "backup.lan".parse().unwrap(), read_only: true, no_root_squash: true },
                    ],
                }),
            }],
            homes: false,
        };
        let text = render(&set, str::to_owned, |_| true);
        assert!(
            text.ends_with(
                "# share media\n/storage/media 192.168.1.0/24(rw,sync,root_squash,no_subtree_check,sec=sys) \
             backup.lan(ro,sync,no_root_squash,no_subtree_check,sec=sys)\n"
            ),
            "{text}"
        );
        assert!(text.lines().all(line_is_expected));
        // A plain directory (not a whole filesystem) is checked handle by handle.
        let text = render(&set, str::to_owned, |_| false);
        assert!(text.contains("192.168.1.0/24(rw,sync,root_squash,subtree_check,sec=sys)"), "{text}");
        assert!(!text.contains("no_subtree_check"), "{text}");
        assert!(text.lines().all(line_is_expected));
    }
}
