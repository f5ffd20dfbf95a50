//! The SMB include file (`/etc/samba/corenas.conf`): one section per share, and `[homes]` when
//! enabled. Values come from validated types (names `[a-z0-9_-]`, plain paths), so no value can
//! hold a newline, a bracket, `=` at the start, or a samba macro (`%`); the macros that appear
//! (`%U`, `%S`, `%u`, `%I`) are CoreNAS's own.

use super::MANAGED_HEADER;
use corenas_proto::shares::{ShareDef, ShareSet, SmbOptions, SnapshotLayout};
use std::fmt::Write;

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `path` is where the directory is on this machine (the lab's prefix included).
pub fn render(set: &ShareSet, host_path: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MANAGED_HEADER}");
    let _ = writeln!(out, "# Included from smb.conf. One section per CoreNAS share.");
    if set.homes {
        out.push_str(
            "\n[homes]\n\tcomment = Home directory of %S\n\tbrowseable = no\n\tread only = no\n\tvalid users = %S\n\tguest ok = no\n\tcreate mask = 0600\n\tdirectory mask = 0700\n",
        );
    }
    for share in &set.shares {
        if let Some(smb) = &share.smb {
            section(&mut out, share, smb, &host_path(share.path.as_str()));
        }
    }
    out
}

fn section(out: &mut String, share: &ShareDef, o: &SmbOptions, path: &str) {
    let _ = writeln!(out, "\n[{}]", share.name);
    let _ = writeln!(out, "\tpath = {path}");
    let _ = writeln!(out, "\tread only = {}", yes(o.read_only));
    let _ = writeln!(out, "\tbrowseable = {}", yes(o.browseable));
    let _ = writeln!(out, "\tguest ok = {}", yes(o.guest_ok));
    let valid: Vec<String> =
        o.valid_users.iter().map(|u| u.to_string()).chain(o.valid_groups.iter().map(|g| format!("@{g}"))).collect();
    if !valid.is_empty() {
        let _ = writeln!(out, "\tvalid users = {}", valid.join(" "));
    }
    if !o.admin_users.is_empty() {
        let admins: Vec<&str> = o.admin_users.iter().map(|u| u.as_str()).collect();
        let _ = writeln!(out, "\tadmin users = {}", admins.join(" "));
    }
    let _ = writeln!(out, "\tcreate mask = {}", o.create_mask);
    let _ = writeln!(out, "\tdirectory mask = {}", o.directory_mask);
    let _ = writeln!(out, "\thide dot files = {}", yes(o.hide_dot_files));
    let mut vfs = Vec::new();
    if o.audit {
        vfs.push("full_audit");
    }
    if o.recycle {
        vfs.push("recycle");
    }
    if o.previous_versions.is_some() {
        vfs.push("shadow_copy2");
    }
    if !vfs.is_empty() {
        let _ = writeln!(out, "\tvfs objects = {}", vfs.join(" "));
    }
    if o.audit {
        out.push_str("\tfull_audit:prefix = %u|%I|%S\n");
        out.push_str(
            "\tfull_audit:success = connect disconnect mkdirat renameat unlinkat openat pwrite fntimes fchmod fchown\n",
        );
        out.push_str("\tfull_audit:failure = connect\n");
        out.push_str("\tfull_audit:facility = local5\n");
        out.push_str("\tfull_audit:priority = notice\n");
    }
    if o.recycle {
        // Per user, tree kept, versions numbered; a dot folder, so `hide dot files` hides it
        // from listings while users can still open it to restore.
        out.push_str("\trecycle:repository = .recycle/%U\n");
        out.push_str("\trecycle:keeptree = yes\n");
        out.push_str("\trecycle:versions = yes\n");
        out.push_str("\trecycle:touch = yes\n");
        out.push_str("\trecycle:directory_mode = 0700\n");
    }
    if let Some(layout) = o.previous_versions {
        let snapdir = match layout {
            SnapshotLayout::Zfs => ".zfs/snapshot",
            SnapshotLayout::Btrfs => ".snapshots",
        };
        let _ = writeln!(out, "\tshadow:snapdir = {snapdir}");
        // CoreNAS's snapshot names (docs/decisions/0010-share-rendering.md), in UTC.
        out.push_str("\tshadow:format = auto-%Y-%m-%d_%H-%M\n");
        out.push_str("\tshadow:localtime = no\n");
        out.push_str("\tshadow:sort = desc\n");
        if layout == SnapshotLayout::Btrfs {
            out.push_str("\tshadow:crossmountpoints = yes\n");
        }
    }
}

/// The line smb.conf needs to include the file, as CoreNAS writes it.
pub fn include_line(include_path: &str) -> String {
    format!("include = {include_path}")
}

/// Whether smb.conf already includes the file (any spacing or case of the key).
pub fn has_include(smb_conf: &str, include_path: &str) -> bool {
    smb_conf.lines().any(|l| {
        let l = l.trim();
        match l.split_once('=') {
            Some((k, v)) => k.trim().eq_ignore_ascii_case("include") && v.trim() == include_path,
            None => false,
        }
    })
}

/// smb.conf with the include line appended (idempotent: unchanged when present).
pub fn with_include(smb_conf: &str, include_path: &str) -> String {
    if has_include(smb_conf, include_path) {
        return smb_conf.to_owned();
    }
    let mut out = smb_conf.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let _ = write!(out, "\n# CoreNAS shares (added once by corenas-helper)\n{}\n", include_line(include_path));
    out
}

/// The grammar every rendered line follows: a comment, empty, `[section]`, or `\tkey = value`
/// with a key from the fixed list. The property tests check every output against it.
pub fn line_is_expected(line: &str) -> bool {
    const KEYS: &[&str] = &[
        "comment",
        "path",
        "read only",
        "browseable",
        "guest ok",
        "valid users",
        "admin users",
        "create mask",
        "directory mask",
        "hide dot files",
        "vfs objects",
        "full_audit:prefix",
        "full_audit:success",
        "full_audit:failure",
        "full_audit:facility",
        "full_audit:priority",
        "recycle:repository",
        "recycle:keeptree",
        "recycle:versions",
        "recycle:touch",
        "recycle:directory_mode",
        "shadow:snapdir",
        "shadow:format",
        "shadow:localtime",
        "shadow:sort",
        "shadow:crossmountpoints",
    ];
    if line.is_empty() || line.starts_with("# ") {
        return !line.contains(['\r', '\0']);
    }
    if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        return name == "homes" || name.parse::<corenas_proto::names::ShareName>().is_ok();
    }
    let Some(kv) = line.strip_prefix('\t') else { return false };
    let Some((k, v)) = kv.split_once(" = ") else { return false };
    KEYS.contains(&k) && !v.is_empty() && !v.contains(['\r', '\n', '\0', '[', ']']) && !v.starts_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use corenas_proto::shares::FileMode;

    fn share(name: &str, o: SmbOptions) -> ShareDef {
        ShareDef {
            name: name.parse().unwrap(),
            path: format!("/storage/{name}").parse().unwrap(),
            smb: Some(o),
            nfs: None,
        }
    }

    #[test]
    fn renders_a_section_per_share() {
        let mut o = SmbOptions {
            valid_users: vec!["alice".parse().unwrap()],
            valid_groups: vec!["staff".parse().unwrap()],
            recycle: true,
            previous_versions: Some(SnapshotLayout::Zfs),
            audit: true,
            ..SmbOptions::default()
        };
        o.create_mask = FileMode::new_unchecked(0o660);
        let set = ShareSet { shares: vec![share("media", o)], homes: true };
        let text = render(&set, |p| format!("/lab{p}"));
        assert!(text.contains("[media]\n\tpath = /lab/storage/media\n\tread only = no\n"), "{text}");
        assert!(text.contains("\tvalid users = alice @staff\n"));
        assert!(text.contains("\tcreate mask = 0660\n"));
        assert!(text.contains("\tvfs objects = full_audit recycle shadow_copy2\n"));
        assert!(text.contains("\tshadow:snapdir = .zfs/snapshot\n"));
        assert!(text.contains("[homes]\n"));
        for l in text.lines() {
            assert!(line_is_expected(l), "{l:?}");
        }
    }

    #[test]
    fn the_include_line_is_added_once() {
        let conf = "[global]\n\tworkgroup = X\n";
        let once = with_include(conf, "/etc/samba/corenas.conf");
        assert!(once.ends_with("include = /etc/samba/corenas.conf\n"));
        assert_eq!(with_include(&once, "/etc/samba/corenas.conf"), once);
        assert!(has_include("[global]\n   INCLUDE=/etc/samba/corenas.conf\n", "/etc/samba/corenas.conf"));
    }
}
