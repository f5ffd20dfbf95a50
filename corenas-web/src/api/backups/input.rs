//! A backup target, task, keep policy or restore as a form or a JSON body gives it (every value
//! as text first), checked by the same typed validators corenasd uses, so bad input is refused
//! here naming the field before anything is sent. The pages and the REST API share it.

use corenas_proto::WireError;
use corenas_proto::backup::{
    BackupName, BackupSource, BucketName, ExcludePattern, HostKey, KeepPolicy, RemotePath, RemoteUser, RepoPath,
    ResticSnapshotId, RestoreMode, RestoreSpec, SnapshotPath, TargetLocation, TargetSecrets, TargetSpec, TaskModify,
    TaskSpec,
};
use corenas_proto::error::ValidationError;
use corenas_proto::monitor::{Cadence, HostName, HttpUrl};
use corenas_proto::secret::RemoteSecret;
use serde_json::{Map, Value};

/// A validator's error under the field name this API uses.
fn as_field<T>(field: &str, r: Result<T, ValidationError>) -> Result<T, WireError> {
    r.map_err(|e| WireError::invalid(field, e.message))
}

fn opt<T: std::str::FromStr<Err = ValidationError>>(field: &str, s: &str) -> Result<Option<T>, WireError> {
    match s.trim() {
        "" => Ok(None),
        v => as_field(field, v.parse()).map(Some),
    }
}

fn need<T: std::str::FromStr<Err = ValidationError>>(field: &str, s: &str) -> Result<T, WireError> {
    match s.trim() {
        "" => Err(WireError::invalid(field, format!("{field} is missing"))),
        v => as_field(field, v.parse()),
    }
}

/// A secret as typed: never trimmed (spaces may be part of it), empty means not given. The
/// message never repeats it.
fn secret(field: &str, s: &str) -> Result<Option<RemoteSecret>, WireError> {
    if s.is_empty() {
        return Ok(None);
    }
    RemoteSecret::new(s.to_owned())
        .map(Some)
        .map_err(|_| WireError::invalid(field, format!("{field} is invalid: use 1-256 printable ASCII characters")))
}

fn number<T: std::str::FromStr + Copy>(field: &str, s: &str, default: T, range: &str) -> Result<T, WireError> {
    match s.trim() {
        "" => Ok(default),
        v => {
            v.parse().map_err(|_| WireError::invalid(field, format!("{field} is invalid: use a whole number {range}")))
        }
    }
}

/// A target's fields. `kind`: local, sftp, rest or s3.
#[derive(Debug, Default, Clone)]
pub struct TargetFields {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub host: String,
    pub port: String,
    pub user: String,
    pub url: String,
    pub append_only: bool,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub host_key: String,
    pub repository_password: String,
    pub rest_password: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
}

pub const TARGET_KINDS: [&str; 4] = ["local", "sftp", "rest", "s3"];

/// The checked target.
pub fn target(f: &TargetFields) -> Result<TargetSpec, WireError> {
    let name: BackupName = need("name", &f.name)?;
    let location = match f.kind.trim() {
        "local" => TargetLocation::Local { path: need::<RepoPath>("path", &f.path)? },
        "sftp" => TargetLocation::Sftp {
            host: need::<HostName>("host", &f.host)?,
            port: number("port", &f.port, 22u16, "from 1 to 65535").and_then(|p| {
                if p == 0 { Err(WireError::invalid("port", "port is invalid: use 1 to 65535")) } else { Ok(p) }
            })?,
            user: need::<RemoteUser>("user", &f.user)?,
            path: need::<RemotePath>("path", &f.path)?,
        },
        "rest" => TargetLocation::Rest {
            url: need::<HttpUrl>("url", &f.url)?,
            user: opt::<RemoteUser>("user", &f.user)?,
            append_only: f.append_only,
        },
        "s3" => TargetLocation::S3 {
            endpoint: need::<HttpUrl>("endpoint", &f.endpoint)?,
            bucket: need::<BucketName>("bucket", &f.bucket)?,
            prefix: opt::<RemotePath>("prefix", &f.prefix)?,
            region: opt::<RemoteUser>("region", &f.region)?,
        },
        "" => return Err(WireError::invalid("kind", "kind is missing: use local, sftp, rest or s3")),
        _ => return Err(WireError::invalid("kind", "kind is invalid: use local, sftp, rest or s3")),
    };
    let repository_password = secret("repository_password", &f.repository_password)?.ok_or_else(|| {
        WireError::invalid("repository_password", "repository_password is missing (restic always encrypts)")
    })?;
    let rest_password = secret("rest_password", &f.rest_password)?;
    let s3_access_key_id = secret("s3_access_key_id", &f.s3_access_key_id)?;
    let s3_secret_access_key = secret("s3_secret_access_key", &f.s3_secret_access_key)?;
    match &location {
        TargetLocation::Rest { user, .. } if user.is_some() != rest_password.is_some() => {
            return Err(WireError::invalid("rest_password", "a REST login needs both user and rest_password"));
        }
        TargetLocation::S3 { .. } if s3_access_key_id.is_none() => {
            return Err(WireError::invalid("s3_access_key_id", "s3_access_key_id is missing"));
        }
        TargetLocation::S3 { .. } if s3_secret_access_key.is_none() => {
            return Err(WireError::invalid("s3_secret_access_key", "s3_secret_access_key is missing"));
        }
        _ => {}
    }
    let host_key = match &location {
        TargetLocation::Sftp { .. } => opt::<HostKey>("host_key", &f.host_key)?,
        _ if !f.host_key.trim().is_empty() => {
            return Err(WireError::invalid("host_key", "host_key is for SFTP targets only"));
        }
        _ => None,
    };
    let secrets = TargetSecrets { repository_password, rest_password, s3_access_key_id, s3_secret_access_key };
    Ok(TargetSpec { name, location, secrets, host_key })
}

/// A JSON body as an object, refusing keys it does not know (naming the first).
pub fn object<'a>(v: &'a Value, known: &[&str]) -> Result<&'a Map<String, Value>, WireError> {
    let obj = v.as_object().ok_or_else(|| WireError::invalid("body", "the request body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(WireError::invalid(k, format!("{k} is not a field here: use {}", known.join(", "))));
    }
    Ok(obj)
}

pub fn parse_body(raw: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(raw).map_err(|e| WireError::invalid("body", format!("the request body is not JSON: {e}")))
}

/// A text field of a JSON object (a number is taken as its digits), empty when absent.
fn text(obj: &Map<String, Value>, key: &str) -> Result<String, WireError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(WireError::invalid(key, format!("{key} must be a string"))),
    }
}

fn boolean(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, WireError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(WireError::invalid(key, format!("{key} must be true or false"))),
    }
}

const TARGET_KEYS: [&str; 17] = [
    "name",
    "kind",
    "path",
    "host",
    "port",
    "user",
    "url",
    "append_only",
    "endpoint",
    "bucket",
    "prefix",
    "region",
    "host_key",
    "repository_password",
    "rest_password",
    "s3_access_key_id",
    "s3_secret_access_key",
];

pub fn target_fields_of_json(v: &Value) -> Result<TargetFields, WireError> {
    let o = object(v, &TARGET_KEYS)?;
    Ok(TargetFields {
        name: text(o, "name")?,
        kind: text(o, "kind")?,
        path: text(o, "path")?,
        host: text(o, "host")?,
        port: text(o, "port")?,
        user: text(o, "user")?,
        url: text(o, "url")?,
        append_only: boolean(o, "append_only")?.unwrap_or(false),
        endpoint: text(o, "endpoint")?,
        bucket: text(o, "bucket")?,
        prefix: text(o, "prefix")?,
        region: text(o, "region")?,
        host_key: text(o, "host_key")?,
        repository_password: text(o, "repository_password")?,
        rest_password: text(o, "rest_password")?,
        s3_access_key_id: text(o, "s3_access_key_id")?,
        s3_secret_access_key: text(o, "s3_secret_access_key")?,
    })
}

/// `pool:NAME`, `dataset:POOL/NAME` or `share:NAME`.
pub fn source(s: &str) -> Result<BackupSource, WireError> {
    let bad = || WireError::invalid("source", "source is invalid: use pool:NAME, dataset:POOL/NAME or share:NAME");
    let (kind, name) = s.trim().split_once(':').ok_or_else(bad)?;
    Ok(match kind {
        "pool" => BackupSource::Pool(as_field("source", name.parse())?),
        "dataset" => BackupSource::Dataset(as_field("source", name.parse())?),
        "share" => BackupSource::Share(as_field("source", name.parse())?),
        _ => return Err(bad()),
    })
}

pub fn source_text(s: &BackupSource) -> String {
    match s {
        BackupSource::Pool(p) => format!("pool:{p}"),
        BackupSource::Dataset(d) => format!("dataset:{d}"),
        BackupSource::Share(s) => format!("share:{s}"),
    }
}

/// The keep policy's six counts, as text.
#[derive(Debug, Default, Clone)]
pub struct KeepFields {
    pub last: String,
    pub hourly: String,
    pub daily: String,
    pub weekly: String,
    pub monthly: String,
    pub yearly: String,
}

pub const KEEP_KEYS: [&str; 6] = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];

pub fn keep(f: &KeepFields) -> Result<KeepPolicy, WireError> {
    let n = |key: &str, s: &str| number::<u16>(&format!("keep_{key}"), s, 0, "from 0 to 65535");
    Ok(KeepPolicy {
        last: n("last", &f.last)?,
        hourly: n("hourly", &f.hourly)?,
        daily: n("daily", &f.daily)?,
        weekly: n("weekly", &f.weekly)?,
        monthly: n("monthly", &f.monthly)?,
        yearly: n("yearly", &f.yearly)?,
    })
}

pub fn keep_fields_of_json(v: &Value) -> Result<KeepFields, WireError> {
    let o = object(v, &KEEP_KEYS)?;
    let n = |k: &str| -> Result<String, WireError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => {
                Err(WireError::invalid(&format!("keep_{k}"), format!("keep_{k} must be a number from 0 to 65535")))
            }
        }
    };
    Ok(KeepFields {
        last: n("last")?,
        hourly: n("hourly")?,
        daily: n("daily")?,
        weekly: n("weekly")?,
        monthly: n("monthly")?,
        yearly: n("yearly")?,
    })
}

/// A task's fields. `excludes`: one pattern a line.
#[derive(Debug, Default, Clone)]
pub struct TaskFields {
    pub name: String,
    pub source: String,
    pub target: String,
    pub every: String,
    pub hour: String,
    pub keep: KeepFields,
    pub excludes: String,
    pub check_subset: String,
    pub sample_files: String,
    pub live: bool,
}

fn excludes(s: &str) -> Result<Vec<ExcludePattern>, WireError> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| as_field("excludes", l.parse())).collect()
}

fn hour(s: &str) -> Result<u8, WireError> {
    let h = number::<u8>("hour", s, 0, "from 0 to 23")?;
    if h > 23 {
        return Err(WireError::invalid("hour", "hour is invalid: use a whole number from 0 to 23"));
    }
    Ok(h)
}

fn every(s: &str) -> Result<Cadence, WireError> {
    match s.trim() {
        "" => Ok(Cadence::Daily),
        v => as_field("every", v.parse()),
    }
}

pub fn task(f: &TaskFields) -> Result<TaskSpec, WireError> {
    Ok(TaskSpec {
        name: need("name", &f.name)?,
        source: source(&f.source)?,
        target: need("target", &f.target)?,
        every: every(&f.every)?,
        hour: hour(&f.hour)?,
        keep: keep(&f.keep)?,
        excludes: excludes(&f.excludes)?,
        check_subset: number("check_subset", &f.check_subset, 0, "from 0 to 65535")?,
        sample_files: number("sample_files", &f.sample_files, 0, "from 0 to 65535")?,
        live: f.live,
    })
}

const TASK_KEYS: [&str; 10] =
    ["name", "source", "target", "every", "hour", "keep", "excludes", "check_subset", "sample_files", "live"];

fn excludes_of_json(o: &Map<String, Value>) -> Result<Option<String>, WireError> {
    match o.get("excludes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut lines = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) if !s.contains('\n') && !s.trim().is_empty() => lines.push(s.to_owned()),
                    _ => return Err(WireError::invalid("excludes", "excludes must be a list of patterns (strings)")),
                }
            }
            Ok(Some(lines.join("\n")))
        }
        Some(_) => Err(WireError::invalid("excludes", "excludes must be a list of patterns (strings)")),
    }
}

pub fn task_fields_of_json(v: &Value) -> Result<TaskFields, WireError> {
    let o = object(v, &TASK_KEYS)?;
    let keep = match o.get("keep") {
        None | Some(Value::Null) => KeepFields::default(),
        Some(k) => keep_fields_of_json(k)?,
    };
    Ok(TaskFields {
        name: text(o, "name")?,
        source: text(o, "source")?,
        target: text(o, "target")?,
        every: text(o, "every")?,
        hour: text(o, "hour")?,
        keep,
        excludes: excludes_of_json(o)?.unwrap_or_default(),
        check_subset: text(o, "check_subset")?,
        sample_files: text(o, "sample_files")?,
        live: boolean(o, "live")?.unwrap_or(false),
    })
}

/// A task change (PUT): each field given replaces that part; the name and source stay.
pub fn task_modify_of_json(v: &Value) -> Result<TaskModify, WireError> {
    let o = object(v, &TASK_KEYS[2..])?;
    let given = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    Ok(TaskModify {
        target: if given("target") { Some(need("target", &text(o, "target")?)?) } else { None },
        every: if given("every") { Some(every(&text(o, "every")?)?) } else { None },
        hour: if given("hour") { Some(hour(&text(o, "hour")?)?) } else { None },
        keep: match o.get("keep") {
            None | Some(Value::Null) => None,
            Some(k) => Some(keep(&keep_fields_of_json(k)?)?),
        },
        excludes: excludes_of_json(o)?.map(|s| excludes(&s)).transpose()?,
        check_subset: if given("check_subset") {
            Some(number("check_subset", &text(o, "check_subset")?, 0, "from 0 to 65535")?)
        } else {
            None
        },
        sample_files: if given("sample_files") {
            Some(number("sample_files", &text(o, "sample_files")?, 0, "from 0 to 65535")?)
        } else {
            None
        },
        live: boolean(o, "live")?,
    })
}

pub fn mode(s: &str) -> Result<RestoreMode, WireError> {
    match s.trim() {
        "in_place" => Ok(RestoreMode::InPlace),
        "new_folder" | "" => Ok(RestoreMode::NewFolder),
        _ => Err(WireError::invalid("mode", "mode is invalid: use in_place or new_folder")),
    }
}

/// A restore of `paths` (`/` for everything) of one snapshot of a task.
pub fn restore(task: &BackupName, snapshot: &str, paths: &[String], mode_text: &str) -> Result<RestoreSpec, WireError> {
    let snapshot: ResticSnapshotId = need("snapshot", snapshot)?;
    let paths: Vec<SnapshotPath> = paths.iter().map(|p| need("paths", p)).collect::<Result<_, _>>()?;
    if paths.is_empty() {
        return Err(WireError::invalid("paths", "paths is missing: name what to restore (/ for everything)"));
    }
    Ok(RestoreSpec { task: task.clone(), snapshot, paths, mode: mode(mode_text)? })
}

pub fn restore_of_json(task: &BackupName, v: &Value) -> Result<RestoreSpec, WireError> {
    let o = object(v, &["snapshot", "paths", "mode"])?;
    let paths = match o.get("paths") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| WireError::invalid("paths", "paths must be a list of paths (strings)"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => vec![],
        Some(_) => return Err(WireError::invalid("paths", "paths must be a list of paths (strings)")),
    };
    restore(task, &text(o, "snapshot")?, &paths, &text(o, "mode")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn local(name: &str, path: &str, pw: &str) -> TargetFields {
        TargetFields {
            name: name.into(),
            kind: "local".into(),
            path: path.into(),
            repository_password: pw.into(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_input_names_its_field() {
        let field = |r: Result<TargetSpec, WireError>| r.err().and_then(|e| e.field).unwrap_or_default();
        assert_eq!(field(target(&local("Bad!", "/srv/r", "pw"))), "name");
        assert_eq!(field(target(&local("usb", "relative", "pw"))), "path");
        assert_eq!(field(target(&local("usb", "/srv/r", ""))), "repository_password");
        let mut f = local("usb", "/srv/r", "pw");
        f.kind = "ftp".into();
        assert_eq!(field(target(&f)), "kind");
        let mut f = local("usb", "/srv/r", "pw");
        f.kind = "s3".into();
        f.endpoint = "http://127.0.0.1:9000".into();
        f.bucket = "Bad_Bucket".into();
        assert_eq!(field(target(&f)), "bucket");
        let e = target_fields_of_json(&json!({ "name": "x", "password": "y" })).err().and_then(|e| e.field);
        assert_eq!(e.as_deref(), Some("password"), "an unknown key is named");
        let mut t =
            TaskFields { name: "docs".into(), source: "share:docs".into(), target: "usb".into(), ..Default::default() };
        assert!(task(&t).is_ok());
        t.hour = "24".into();
        assert_eq!(task(&t).err().and_then(|e| e.field).as_deref(), Some("hour"));
        t.hour = "3".into();
        t.keep.daily = "-1".into();
        assert_eq!(task(&t).err().and_then(|e| e.field).as_deref(), Some("keep_daily"));
        t.keep.daily = "7".into();
        t.source = "disk:sda".into();
        assert_eq!(task(&t).err().and_then(|e| e.field).as_deref(), Some("source"));
        let name: BackupName = "docs".parse().unwrap();
        let e = restore(&name, "abcdef12", &["rel/x".into()], "new_folder").err().and_then(|e| e.field);
        assert_eq!(e.as_deref(), Some("paths"));
        let e = restore(&name, "abcdef12", &["/x".into()], "over").err().and_then(|e| e.field);
        assert_eq!(e.as_deref(), Some("mode"));
    }

    #[test]
    fn a_secret_is_kept_as_typed_and_never_in_json() {
        let spec = target(&local("usb", "/srv/repo", " correct horse ")).unwrap();
        assert_eq!(spec.secrets.repository_password.expose(), " correct horse ");
        assert!(!serde_json::to_string(&spec).unwrap().contains("correct horse"));
    }
}
