//! Runs `backup`: one request per command. Secrets are read here, before connecting, from
//! files, the environment or a prompt on the terminal, and travel only inside `TargetSecrets`
//! (redacted in every human-readable form: `--json`, the audit log).

use crate::client::call;
use crate::commands::backup::args::{BackupCommand, TargetAddArgs, TargetCommand, TaskCommand, TaskModifyArgs};
use crate::commands::backup::show::{
    listing_table, locks_table, preview_text, snapshots_table, target_block, targets_table, task_block, tasks_table,
};
use crate::error::CtlError;
use crate::password::{first_line, prompt_remote};
use crate::report::{Report, change_report, nothing, to_json};
use corenas_proto::api::Change;
use corenas_proto::backup::{
    SnapshotPath, TargetLocation, TargetSecrets, TargetSpec, TaskChange, TaskModify, TaskSpec,
};
use corenas_proto::secret::RemoteSecret;
use std::io::IsTerminal;
use std::path::Path;

/// Environment variables a secret may come from (never argv).
pub(crate) const ENV_REST_PASSWORD: &str = "CORENAS_REST_PASSWORD";
pub(crate) const ENV_S3_KEY_ID: &str = "CORENAS_S3_ACCESS_KEY_ID";
pub(crate) const ENV_S3_SECRET: &str = "CORENAS_S3_SECRET_ACCESS_KEY";

pub async fn backup(cmd: BackupCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        BackupCommand::Target(cmd) => target(cmd, socket, dry_run).await,
        BackupCommand::Task(cmd) => task(cmd, socket, dry_run).await,
        BackupCommand::Snapshots { task } => {
            let list = call!(socket => backup_snapshots(task))?;
            Ok(Report::ok(snapshots_table(&list), to_json(&list)?))
        }
        BackupCommand::Ls { task, snapshot, path } => {
            let path = match path {
                Some(p) => p,
                None => "/".parse::<SnapshotPath>()?,
            };
            let listing = call!(socket => backup_ls(task, snapshot, path))?;
            Ok(Report::ok(listing_table(&listing), to_json(&listing)?))
        }
    }
}

async fn target(cmd: TargetCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        TargetCommand::Add(a) => {
            // Before connecting: a prompt must not hold a connection open, and a bad file
            // changes nothing.
            let spec = target_spec(*a)?;
            let change = call!(socket => backup_target_create(spec, dry_run))?;
            change_report(&change, target_block)
        }
        TargetCommand::List => {
            let list = call!(socket => backup_target_list())?;
            Ok(Report::ok(targets_table(&list), to_json(&list)?))
        }
        TargetCommand::Show { name } => {
            let t = call!(socket => backup_target_show(name))?;
            Ok(Report::ok(target_block(&t), to_json(&t)?))
        }
        TargetCommand::Remove { name } => {
            let change = call!(socket => backup_target_delete(name, dry_run))?;
            change_report(&change, nothing)
        }
        TargetCommand::Locks { name } => {
            let locks = call!(socket => backup_target_locks(name))?;
            Ok(Report::ok(locks_table(&locks), to_json(&locks)?))
        }
    }
}

async fn task(cmd: TaskCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    match cmd {
        TaskCommand::Add(a) => {
            let a = *a;
            let spec = TaskSpec {
                name: a.name,
                source: a.source,
                target: a.target,
                every: a.every,
                hour: a.hour,
                keep: a.keep.policy(),
                excludes: a.exclude,
                check_subset: a.check_subset,
                sample_files: a.sample_files,
                live: a.live,
            };
            let change = call!(socket => backup_task_create(spec, dry_run))?;
            task_change_report(&change)
        }
        TaskCommand::Modify(a) => {
            let a = *a;
            let name = a.name.clone();
            let m = task_modify(a);
            let change = call!(socket => backup_task_modify(name, m, dry_run))?;
            task_change_report(&change)
        }
        TaskCommand::List => {
            let list = call!(socket => backup_task_list())?;
            Ok(Report::ok(tasks_table(&list), to_json(&list)?))
        }
        TaskCommand::Show { name } => {
            let t = call!(socket => backup_task_show(name))?;
            Ok(Report::ok(task_block(&t), to_json(&t)?))
        }
        TaskCommand::Remove { name } => {
            let change = call!(socket => backup_task_delete(name, dry_run))?;
            change_report(&change, nothing)
        }
        TaskCommand::Preview { name, keep } => {
            let p = call!(socket => backup_task_preview(name, keep.policy()))?;
            Ok(Report::ok(preview_text(&p), to_json(&p)?))
        }
    }
}

fn task_modify(a: TaskModifyArgs) -> TaskModify {
    TaskModify {
        target: a.target,
        every: a.every,
        hour: a.hour,
        keep: if a.keep_all {
            Some(corenas_proto::backup::KeepPolicy::default())
        } else if a.keep.given() {
            Some(a.keep.policy())
        } else {
            None
        },
        excludes: if a.no_excludes {
            Some(vec![])
        } else if a.exclude.is_empty() {
            None
        } else {
            Some(a.exclude)
        },
        check_subset: a.check_subset,
        sample_files: a.sample_files,
        live: if a.live {
            Some(true)
        } else if a.no_live {
            Some(false)
        } else {
            None
        },
    }
}

/// A task change: the steps, the task, and the retention preview (shown in a dry run too:
/// there it is the answer).
fn task_change_report(change: &Change<TaskChange>) -> Result<Report, CtlError> {
    let report = change_report(change, |c| task_block(&c.task))?;
    let Some(preview) = change.result.as_ref().and_then(|c| c.preview.as_ref()) else { return Ok(report) };
    match report {
        Report::Answer { human, json, exit } => {
            Ok(Report::Answer { human: format!("{human}retention preview:\n{}", preview_text(preview)), json, exit })
        }
        other => Ok(other),
    }
}

fn target_spec(a: TargetAddArgs) -> Result<TargetSpec, CtlError> {
    let location = if let Some(path) = a.local {
        TargetLocation::Local { path }
    } else if let Some(s) = a.sftp {
        TargetLocation::Sftp { host: s.host, port: s.port, user: s.user, path: s.path }
    } else if let Some(url) = a.rest {
        TargetLocation::Rest { url, user: a.user.clone(), append_only: a.append_only }
    } else if let Some(endpoint) = a.s3 {
        let bucket = a.bucket.ok_or_else(|| CtlError::usage("bucket", "--s3 needs --bucket"))?;
        TargetLocation::S3 { endpoint, bucket, prefix: a.prefix, region: a.region }
    } else {
        return Err(CtlError::usage("kind", "give --local, --sftp, --rest or --s3"));
    };
    let is_s3 = matches!(location, TargetLocation::S3 { .. });
    let rest_password = match &a.user {
        Some(user) => Some(secret(
            "rest_password",
            a.rest_password_file.as_deref(),
            ENV_REST_PASSWORD,
            &format!("REST password for {user}"),
        )?),
        None => None,
    };
    let (s3_access_key_id, s3_secret_access_key) = if is_s3 {
        (
            Some(secret("s3_access_key_id", a.s3_access_key_id_file.as_deref(), ENV_S3_KEY_ID, "S3 access key id")?),
            Some(secret(
                "s3_secret_access_key",
                a.s3_secret_access_key_file.as_deref(),
                ENV_S3_SECRET,
                "S3 secret access key",
            )?),
        )
    } else {
        (None, None)
    };
    let repository_password = match &a.password_file {
        Some(file) => from_file("password_file", file)?,
        None => prompt("password", &format!("repository password for target {}", a.name))?,
    };
    Ok(TargetSpec {
        name: a.name,
        location,
        secrets: TargetSecrets { repository_password, rest_password, s3_access_key_id, s3_secret_access_key },
        host_key: a.host_key,
    })
}

/// A secret from its file, else the environment, else a prompt on the terminal.
fn secret(field: &'static str, file: Option<&Path>, env: &str, label: &str) -> Result<RemoteSecret, CtlError> {
    if let Some(f) = file {
        return from_file(field, f);
    }
    if let Ok(v) = std::env::var(env) {
        return RemoteSecret::new(v).map_err(|e| CtlError::usage(field, format!("{env}: {}", e.message)));
    }
    prompt(field, label).map_err(|e| match e {
        CtlError::Usage(mut w) if w.field.as_deref() == Some(field) => {
            w.message.push_str(&format!(" (or set {env})"));
            CtlError::Usage(w)
        }
        e => e,
    })
}

/// The first line of a regular file, without its newline.
fn from_file(field: &'static str, path: &Path) -> Result<RemoteSecret, CtlError> {
    let cannot = |e: std::io::Error| CtlError::usage(field, format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(CtlError::usage(field, format!("{} is not a regular file", path.display())));
    }
    let line =
        first_line(file).map_err(|_| CtlError::usage(field, format!("{} has no usable first line", path.display())))?;
    RemoteSecret::new(line).map_err(|e| CtlError::usage(field, format!("{}: {}", path.display(), e.message)))
}

fn prompt(field: &'static str, label: &str) -> Result<RemoteSecret, CtlError> {
    if !std::io::stdin().is_terminal() {
        return Err(CtlError::usage(
            field,
            format!("the {label} is needed: give its file, or run on a terminal to be asked"),
        ));
    }
    prompt_remote(label)?.ok_or_else(|| CtlError::usage(field, "nothing was given; nothing was changed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::backup::args::TargetAddArgs;

    fn args(dir: &Path) -> TargetAddArgs {
        let pw = dir.join("pw");
        std::fs::write(&pw, "repo Secret-1\nignored\n").unwrap();
        TargetAddArgs {
            name: "usb".parse().unwrap(),
            local: Some("/mnt/corenas/usb1/restic".parse().unwrap()),
            sftp: None,
            host_key: None,
            rest: None,
            user: None,
            append_only: false,
            s3: None,
            bucket: None,
            prefix: None,
            region: None,
            password_file: Some(pw),
            rest_password_file: None,
            s3_access_key_id_file: None,
            s3_secret_access_key_file: None,
        }
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_json() {
        let dir = std::env::temp_dir().join(format!("corenas-ctl-backup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = target_spec(args(&dir)).unwrap();
        assert_eq!(spec.secrets.repository_password.expose(), "repo Secret-1");
        let json = serde_json::to_string(&spec).unwrap();
        assert!(!json.contains("repo Secret-1") && json.contains("<redacted>"), "{json}");

        let mut s3 = args(&dir);
        s3.local = None;
        s3.s3 = Some("http://127.0.0.1:9000".parse().unwrap());
        s3.bucket = Some("nas".parse().unwrap());
        let key = dir.join("key");
        let id = dir.join("id");
        std::fs::write(&key, "the-secret-key\n").unwrap();
        std::fs::write(&id, "KEYID\n").unwrap();
        s3.s3_access_key_id_file = Some(id);
        s3.s3_secret_access_key_file = Some(key);
        let spec = target_spec(s3).unwrap();
        assert_eq!(spec.secrets.s3_secret_access_key.as_ref().map(RemoteSecret::expose), Some("the-secret-key"));
        assert!(!serde_json::to_string(&spec).unwrap().contains("the-secret-key"));

        let mut missing = args(&dir);
        missing.password_file = Some(dir.join("missing"));
        assert!(matches!(target_spec(missing), Err(CtlError::Usage(e)) if e.field.as_deref() == Some("password_file")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn modify_replaces_the_whole_policy_or_keeps_it() {
        use crate::commands::backup::args::KeepArgs;
        let base = |keep: KeepArgs, keep_all: bool| TaskModifyArgs {
            name: "docs".parse().unwrap(),
            target: None,
            every: None,
            hour: None,
            keep,
            keep_all,
            exclude: vec![],
            no_excludes: false,
            check_subset: None,
            sample_files: None,
            live: false,
            no_live: false,
        };
        assert_eq!(task_modify(base(KeepArgs::default(), false)).keep, None);
        let k = KeepArgs { keep_daily: Some(7), ..KeepArgs::default() };
        assert_eq!(task_modify(base(k, false)).keep.map(|p| (p.daily, p.last)), Some((7, 0)));
        assert_eq!(task_modify(base(KeepArgs::default(), true)).keep, Some(Default::default()));
    }
}
