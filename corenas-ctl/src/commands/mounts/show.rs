//! How mounts read: source, type, unit state.

use crate::text::{Table, key_values, names, or_dash, yes_no};
use corenas_proto::mounts::{MountInfo, MountSource};

/// What a mount's source looks like on a command line: a device, a path, HOST:/path, //HOST/SHARE.
pub fn mount_source(s: &MountSource) -> String {
    match s {
        MountSource::Local { device, .. } => device.to_string(),
        MountSource::Bind { source } => source.to_string(),
        MountSource::Nfs { server, export, .. } if server.as_str().contains(':') => format!("[{server}]:{export}"),
        MountSource::Nfs { server, export, .. } => format!("{server}:{export}"),
        MountSource::Cifs { server, share, .. } => format!("//{server}/{share}"),
        MountSource::Zfs { .. } => s.zfs_name().unwrap_or_default(),
    }
}

pub(crate) fn mount_type(s: &MountSource) -> &'static str {
    match s {
        MountSource::Local { fs, .. } => fs.as_str(),
        other => other.kind(),
    }
}

/// Text cut to `max` characters, with `…` when cut.
pub(crate) fn shortened(s: &str, max: usize) -> String {
    if s.chars().count() > max { format!("{}…", s.chars().take(max).collect::<String>()) } else { s.to_owned() }
}

pub(crate) fn unit_state(m: &MountInfo, short: bool) -> String {
    match &m.state {
        Ok(u) => format!("{}/{}", u.active_state, u.sub_state),
        Err(e) if short => shortened(e, 40),
        Err(e) => format!("unknown: {e}"),
    }
}

pub fn mounts_table(mounts: &[MountInfo]) -> String {
    let mut t = Table::new(&["TARGET", "TYPE", "SOURCE", "UNIT", "STATE", "RETRIES"]);
    for m in mounts {
        t.row([
            m.def.target.to_string(),
            mount_type(&m.def.source).to_owned(),
            mount_source(&m.def.source),
            m.unit.clone(),
            unit_state(m, true),
            m.retries.to_string(),
        ]);
    }
    t.render()
}

/// `mount status` and the result of `mount add`: the definition, then what systemd says.
pub fn mount_block(m: &MountInfo) -> String {
    let d = &m.def;
    let mut pairs = vec![
        ("target", d.target.to_string()),
        ("type", mount_type(&d.source).to_owned()),
        ("source", mount_source(&d.source)),
    ];
    match &d.source {
        MountSource::Nfs { version, .. } => {
            pairs.push(("nfs version", version.map_or_else(|| "negotiated".to_owned(), |v| v.as_str().to_owned())));
        }
        MountSource::Cifs { credentials, .. } => pairs.push((
            "login",
            match credentials {
                None => "guest".to_owned(),
                Some(c) => match &c.domain {
                    Some(domain) => format!("{} (domain {domain})", c.user),
                    None => c.user.to_string(),
                },
            },
        )),
        MountSource::Local { .. } | MountSource::Bind { .. } | MountSource::Zfs { .. } => {}
    }
    pairs.extend([
        ("options", names(&d.flags.iter().map(|f| f.as_str()).collect::<Vec<_>>())),
        ("automount", yes_no(d.automount).to_owned()),
        ("temporary", yes_no(d.temporary).to_owned()),
        ("timeout", format!("{} s", d.timeout_secs)),
        ("unit", m.unit.clone()),
        ("unit file", m.unit_file.clone()),
        ("state", unit_state(m, false)),
    ]);
    if let Ok(u) = &m.state {
        pairs.extend([("load state", u.load_state.clone()), ("result", u.result.clone())]);
    }
    pairs.extend([
        ("retries", m.retries.to_string()),
        ("last error", or_dash(m.last_error.as_deref())),
        ("created", m.created.clone()),
    ]);
    key_values(&pairs)
}
