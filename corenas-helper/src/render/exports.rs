//! `/etc/exports.d/corenas.exports`: one line per NFS share, one `client(options)` per rule.
//! Always `sec=sys`, `no_subtree_check`, `sync`; `root_squash` unless a rule asks otherwise.
//! Paths are plain (no spaces or escapes needed); clients are validated addresses, networks
//! or host names, so neither can add an option or a line.

use super::MANAGED_HEADER;
use corenas_proto::shares::{NfsRule, ShareSet};
use std::fmt::Write;

pub fn options(rule: &NfsRule) -> String {
    format!(
        "{},sync,{},no_subtree_check,sec=sys",
        if rule.read_only { "ro" } else { "rw" },
        if rule.no_root_squash { "no_root_squash" } else { "root_squash" }
    )
}

pub fn render(set: &ShareSet, host_path: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MANAGED_HEADER}");
    for share in &set.shares {
        let Some(nfs) = &share.nfs else { continue };
        if nfs.rules.is_empty() {
            continue;
        }
        let _ = write!(out, "# share {}\n{}", share.name, host_path(share.path.as_str()));
        for rule in &nfs.rules {
            let _ = write!(out, " {}({})", rule.client, options(rule));
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
        let allowed = ["rw", "ro", "sync", "root_squash", "no_root_squash", "no_subtree_check", "sec=sys"];
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
        let text = render(&set, str::to_owned);
        assert!(
            text.ends_with(
                "# share media\n/storage/media 192.168.1.0/24(rw,sync,root_squash,no_subtree_check,sec=sys) \
             backup.lan(ro,sync,no_root_squash,no_subtree_check,sec=sys)\n"
            ),
            "{text}"
        );
        assert!(text.lines().all(line_is_expected));
    }
}
