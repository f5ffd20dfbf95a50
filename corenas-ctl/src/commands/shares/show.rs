//! How shares and the generated smb.conf/exports read.

use crate::report::indented;
use crate::text::{Table, indent_block, key_values, names, printable, yes_no};
use corenas_proto::shares::{ShareConfig, ShareDef, ShareInfo, SmbOptions};
use std::fmt::Write as _;

// ---- shares and mounts ---------------------------------------------------------------------
pub(crate) fn protocols(d: &ShareDef) -> &'static str {
    match (d.smb.is_some(), d.nfs.is_some()) {
        (true, true) => "smb,nfs",
        (true, false) => "smb",
        (false, true) => "nfs",
        (false, false) => "-",
    }
}

/// The settings that differ from a plain writable share, in a few words.
pub(crate) fn share_flags(d: &ShareDef) -> String {
    let mut flags = Vec::new();
    if let Some(o) = &d.smb {
        for (on, flag) in [
            (o.read_only, "ro"),
            (!o.browseable, "hidden"),
            (o.guest_ok, "guest"),
            (o.recycle, "recycle"),
            (o.audit, "audit"),
            (!o.hide_dot_files, "dotfiles"),
        ] {
            if on {
                flags.push(flag.to_owned());
            }
        }
        if let Some(layout) = o.previous_versions {
            flags.push(format!("versions:{}", layout.as_str()));
        }
    }
    if let Some(n) = &d.nfs {
        if !n.rules.is_empty() && n.rules.iter().all(|r| r.read_only) {
            flags.push("nfs-ro".to_owned());
        }
        if n.rules.iter().any(|r| r.no_root_squash) {
            flags.push("no_root_squash".to_owned());
        }
    }
    if flags.is_empty() { "-".to_owned() } else { flags.join(",") }
}

pub(crate) fn access_text(s: &ShareInfo) -> String {
    s.access.as_ref().map_or_else(|| "-".to_owned(), |a| a.describe())
}

pub fn shares_table(shares: &[ShareInfo]) -> String {
    let mut t = Table::new(&["NAME", "PATH", "PROTOCOLS", "FLAGS", "ACCESS"]);
    for s in shares {
        let d = &s.def;
        t.row([d.name.to_string(), d.path.to_string(), protocols(d).to_owned(), share_flags(d), access_text(s)]);
    }
    t.render()
}

pub(crate) fn smb_pairs(o: &SmbOptions) -> Vec<(&'static str, String)> {
    let everyone = o.valid_users.is_empty() && o.valid_groups.is_empty();
    vec![
        ("read only", yes_no(o.read_only).to_owned()),
        ("browseable", yes_no(o.browseable).to_owned()),
        ("valid users", if everyone { "any authenticated user".to_owned() } else { names(&o.valid_users) }),
        ("valid groups", names(&o.valid_groups)),
        ("admin users", names(&o.admin_users)),
        ("guest access", yes_no(o.guest_ok).to_owned()),
        ("recycle bin", yes_no(o.recycle).to_owned()),
        ("previous versions", o.previous_versions.map_or_else(|| "no".to_owned(), |l| l.as_str().to_owned())),
        ("audit", yes_no(o.audit).to_owned()),
        ("hide dot files", yes_no(o.hide_dot_files).to_owned()),
        ("create mask", o.create_mask.to_string()),
        ("directory mask", o.directory_mask.to_string()),
    ]
}

/// `share show` and the result of a share change: every field, SMB and NFS in their own blocks.
pub fn share_block(s: &ShareInfo) -> String {
    let d = &s.def;
    let mut out = key_values(&[
        ("name", d.name.to_string()),
        ("path", d.path.to_string()),
        ("protocols", protocols(d).replace(',', ", ")),
        ("access", access_text(s)),
        ("created", s.created.clone()),
        ("modified", s.modified.clone()),
    ]);
    match &d.smb {
        None => out.push_str("smb: off\n"),
        Some(o) => {
            out.push_str("smb:\n");
            out.push_str(&indent_block(&key_values(&smb_pairs(o))));
        }
    }
    match &d.nfs {
        None => out.push_str("nfs: off\n"),
        Some(n) => {
            out.push_str("nfs clients:\n");
            let mut t = Table::new(&["CLIENT", "ACCESS", "ROOT"]);
            for r in &n.rules {
                t.row([
                    r.client.as_str(),
                    if r.read_only { "ro" } else { "rw" },
                    if r.no_root_squash { "no_root_squash" } else { "root_squash" },
                ]);
            }
            out.push_str(&indent_block(&t.render()));
        }
    }
    out
}

/// `share homes on|off`.
pub fn homes_line(on: &bool) -> String {
    format!("homes share: {}\n", if *on { "on" } else { "off" })
}

/// `share config`: each file's path, then its text two spaces in; then what NFS exports now.
pub fn share_config_text(c: &ShareConfig) -> String {
    let mut out = String::new();
    for (what, path, text) in
        [("SMB include file", &c.smb_file, &c.smb_text), ("NFS exports file", &c.nfs_file, &c.nfs_text)]
    {
        let _ = writeln!(out, "{what}: {}", printable(path));
        let text = text.trim_end_matches('\n');
        if text.is_empty() {
            out.push_str("  (empty)\n");
        } else {
            out.push_str(&indented(text, "  ", "  "));
        }
    }
    match &c.nfs_exported {
        Ok(lines) if lines.is_empty() => out.push_str("NFS exported now: nothing\n"),
        Ok(lines) => {
            out.push_str("NFS exported now:\n");
            for l in lines {
                out.push_str(&indented(l, "  ", "  "));
            }
        }
        Err(why) => {
            let _ = writeln!(out, "NFS exported now: unknown ({})", printable(why));
        }
    }
    out
}
