//! Runs `storage`: one request per command, `--force` checked before connecting for what
//! destroys data, scrubs followed with `--wait`.

use crate::client::{Daemon, call};
use crate::commands::storage::args::{
    DatasetCommand, PoolCreateArgs, SnapshotCommand, StorageCommand, StorageJobCommand,
};
use crate::commands::storage::show::{
    dataset_block, datasets_table, health_schedule_line, pool_block, pools_table, schedule_block, schedule_run_text,
    schedules_table, snapshot_line, snapshots_table, storage_job_block, storage_jobs_table,
};
use crate::commands::storage::spec::{load_template, pool_spec, save_template_report};
use crate::commands::storage::wizard::wizard_command;
use crate::error::CtlError;
use crate::follow::{
    follow_storage_job, job_end_report, job_started, progress_printer, storage_job_line, storage_progress_line,
};
use crate::report::{Report, change_report, nothing, to_json};
use crate::values::needs_force;
use corenas_proto::monitor::{HealthScheduleSpec, HealthWork};
use corenas_proto::storage::{DatasetSpec, Retention};
use std::path::Path;

pub async fn storage(cmd: StorageCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    match cmd {
        StorageCommand::Create(a) => create(a, socket, dry_run).await,
        StorageCommand::Wizard(a) => wizard_command(a, socket, dry_run, json).await,
        StorageCommand::List => {
            let pools = call!(socket => pool_list())?;
            Ok(Report::ok(pools_table(&pools), to_json(&pools)?))
        }
        StorageCommand::Show { name } => {
            let pool = call!(socket => pool_show(name))?;
            Ok(Report::ok(pool_block(&pool), to_json(&pool)?))
        }
        StorageCommand::Destroy { name, force } => {
            needs_force(
                force,
                dry_run,
                format!("storage destroy removes pool {name} and every file, dataset and snapshot on it"),
                "destroy it",
            )?;
            let d = Daemon::connect(socket).await?;
            let confirm = name.to_string();
            let change = call!(d, pool_destroy(name, confirm, dry_run))?;
            change_report(&change, nothing)
        }
        StorageCommand::Import { name } => {
            let change = call!(socket => pool_import(name, dry_run))?;
            change_report(&change, pool_block)
        }
        StorageCommand::Export { name } => {
            let change = call!(socket => pool_export(name, dry_run))?;
            change_report(&change, nothing)
        }
        StorageCommand::Scrub { name, stop: true, .. } => {
            let change = call!(socket => pool_scrub_stop(name, dry_run))?;
            change_report(&change, nothing)
        }
        StorageCommand::Scrub { name, stop: false, wait } => {
            let d = Daemon::connect(socket).await?;
            let change = call!(d, pool_scrub(name, dry_run))?;
            job_started(&d, change, wait, json, "").await
        }
        StorageCommand::ScrubSchedule { pool, every, hour } => {
            let spec = HealthScheduleSpec { work: HealthWork::Scrub { pool }, every, hour };
            let change = call!(socket => health_schedule_set(spec, dry_run))?;
            change_report(&change, health_schedule_line)
        }
        StorageCommand::Dataset(cmd) => dataset(cmd, socket, dry_run).await,
        StorageCommand::Snapshot(cmd) => snapshot(cmd, socket, dry_run).await,
        StorageCommand::Job(cmd) => job(cmd, socket, dry_run, json).await,
    }
}

pub(crate) async fn dataset(cmd: DatasetCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let DatasetCommand::Destroy { name, force, recursive } = &cmd {
        let what = if *recursive {
            format!("storage dataset destroy removes {name}, the datasets beneath it and their snapshots")
        } else {
            format!("storage dataset destroy removes {name} and every file and snapshot in it")
        };
        needs_force(*force, dry_run, what, "destroy it")?;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        DatasetCommand::Create { name, properties } => {
            let change = call!(d, dataset_create(DatasetSpec { name, properties }, dry_run))?;
            change_report(&change, dataset_block)
        }
        DatasetCommand::List { pool } => {
            let datasets = call!(d, dataset_list(pool))?;
            Ok(Report::ok(datasets_table(&datasets), to_json(&datasets)?))
        }
        DatasetCommand::Set { name, properties } => {
            let change = call!(d, dataset_set(name, properties, dry_run))?;
            change_report(&change, dataset_block)
        }
        DatasetCommand::Destroy { name, recursive, .. } => {
            let change = call!(d, dataset_destroy(name, recursive, dry_run))?;
            change_report(&change, nothing)
        }
    }
}

pub(crate) async fn snapshot(cmd: SnapshotCommand, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    if let SnapshotCommand::Rollback { dataset, name, force } = &cmd {
        let what = format!(
            "storage snapshot rollback returns {dataset} to {name}: what changed since is lost, and (ZFS) every \
             later snapshot is destroyed"
        );
        needs_force(*force, dry_run, what, "roll back")?;
    }
    let d = Daemon::connect(socket).await?;
    match cmd {
        SnapshotCommand::Create { dataset, name } => {
            let change = call!(d, snapshot_create(dataset, name, dry_run))?;
            change_report(&change, snapshot_line)
        }
        SnapshotCommand::List { dataset } => {
            let snapshots = call!(d, snapshot_list(dataset))?;
            Ok(Report::ok(snapshots_table(&snapshots), to_json(&snapshots)?))
        }
        SnapshotCommand::Destroy { dataset, name } => {
            let change = call!(d, snapshot_destroy(dataset, name, dry_run))?;
            change_report(&change, nothing)
        }
        SnapshotCommand::Rollback { dataset, name, .. } => {
            let change = call!(d, snapshot_rollback(dataset, name, dry_run))?;
            change_report(&change, nothing)
        }
        SnapshotCommand::Schedule { dataset, hourly, daily, weekly, monthly } => {
            let keep = Retention {
                hourly: hourly.unwrap_or(0),
                daily: daily.unwrap_or(0),
                weekly: weekly.unwrap_or(0),
                monthly: monthly.unwrap_or(0),
            };
            let change = call!(d, schedule_set(dataset, keep, dry_run))?;
            change_report(&change, schedule_block)
        }
        SnapshotCommand::Schedules => {
            let schedules = call!(d, schedule_list())?;
            Ok(Report::ok(schedules_table(&schedules), to_json(&schedules)?))
        }
        SnapshotCommand::RunSchedules => {
            let change = call!(d, schedule_run(dry_run))?;
            change_report(&change, |done| schedule_run_text(done))
        }
    }
}

pub(crate) async fn job(cmd: StorageJobCommand, socket: &Path, dry_run: bool, json: bool) -> Result<Report, CtlError> {
    let d = Daemon::connect(socket).await?;
    match cmd {
        StorageJobCommand::List => {
            let jobs = call!(d, storage_job_list())?;
            Ok(Report::ok(storage_jobs_table(&jobs), to_json(&jobs)?))
        }
        StorageJobCommand::Show { id } => {
            let job = call!(d, storage_job_show(id.into()))?;
            Ok(Report::ok(storage_job_block(&job), to_json(&job)?))
        }
        StorageJobCommand::Wait { id } => {
            let end = follow_storage_job(&d, id.into(), progress_printer(json, storage_progress_line)).await?;
            job_end_report(&end)
        }
        StorageJobCommand::Cancel { id } => {
            let change = call!(d, storage_job_cancel(id.into(), dry_run))?;
            change_report(&change, storage_job_line)
        }
    }
}

// ---- storage create ----------------------------------------------------------------------
pub(crate) async fn create(a: PoolCreateArgs, socket: &Path, dry_run: bool) -> Result<Report, CtlError> {
    // Everything is checked, and the template read, before connecting.
    let template = a.template.as_deref().map(load_template).transpose()?;
    let spec = pool_spec(&a, template)?;
    if let Some(path) = &a.save_template {
        return save_template_report(&spec, path, a.force, dry_run);
    }
    let change = call!(socket => pool_create(spec, dry_run))?;
    change_report(&change, pool_block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::storage::args::WizardArgs;
    use crate::commands::storage::wizard::wizard_session;
    use crate::testing::block_on;
    use crate::testing::imaging_reply;
    use std::io;

    use corenas_proto::api::{Change, CorenasRequest, CorenasResponse};
    use corenas_proto::helper::{StdinPlan, Step};

    use crate::commands::storage::spec::load_template;

    use crate::testing::{answered, ctl, fake_daemon, temp_socket};

    use crate::error::CtlError;

    // ---- storage and devices -------------------------------------------------------------
    fn storage_job(id: &str, kind: &str, state: &str, version: u64) -> corenas_proto::storage::StorageJob {
        corenas_proto::storage::StorageJob {
            id: id.into(),
            kind: kind.into(),
            target: "tank".into(),
            state: state.into(),
            percent: Some(25.0 * version as f64),
            message: (state == "failed").then(|| "read error on sdb\u{1b}[2J".to_owned()),
            started: "2026-11-24T12:00:00Z".into(),
            finished: (state != "running").then(|| "2026-11-24T13:00:00Z".to_owned()),
            version,
        }
    }

    fn inventory_disk(name: &str, serial: Option<&str>) -> corenas_proto::devices::DeviceInfo {
        use corenas_proto::devices::{DeviceInfo, DeviceKind, DeviceUse, PartitionInfo};
        DeviceInfo {
            name: name.into(),
            path: format!("/dev/{name}"),
            by_id: vec![],
            model: Some("WDC\u{1b}[2J WD40EFRX".into()),
            serial: serial.map(str::to_owned),
            vendor: None,
            size_bytes: 4 << 40,
            logical_sector: 512,
            physical_sector: 4096,
            rotational: true,
            transport: Some("sata".into()),
            removable: false,
            read_only: false,
            kind: DeviceKind::Disk,
            backing_file: None,
            partitions: vec![PartitionInfo {
                name: format!("{name}1"),
                path: format!("/dev/{name}1"),
                size_bytes: 4 << 40,
                number: 1,
                fs_type: Some("ext4".into()),
                fs_label: Some("\u{202e}gpj.exe".into()),
                fs_uuid: None,
                uses: vec![DeviceUse::Mounted { at: "/srv/old".into() }],
            }],
            fs_type: None,
            fs_label: None,
            fs_uuid: None,
            uses: vec![],
        }
    }

    fn smart_report() -> corenas_proto::devices::SmartReport {
        corenas_proto::devices::SmartReport {
            device: "/dev/sdb".into(),
            available: true,
            message: None,
            protocol: Some("ATA".into()),
            collected_at: Some(1_795_000_000),
            health_passed: Some(true),
            model: Some("WDC WD40EFRX".into()),
            serial: Some("WD-1".into()),
            firmware: None,
            capacity_bytes: Some(4 << 40),
            temperature_c: Some(34),
            power_on_hours: Some(12_000),
            reallocated_sectors: Some(8),
            pending_sectors: Some(0),
            offline_uncorrectable: None,
            nvme_critical_warning: None,
            nvme_percentage_used: None,
            nvme_media_errors: None,
            self_test: None,
            self_test_log: vec![corenas_proto::devices::SelfTestEntry {
                kind: "Short offline".into(),
                status: "Completed without error".into(),
                passed: true,
                lifetime_hours: Some(11_990),
            }],
            smartctl_exit_bits: 0,
            exit_problems: vec![],
        }
    }

    fn pool_info(name: &str) -> corenas_proto::storage::PoolInfo {
        use corenas_proto::storage::{Backend, PoolInfo, PoolLayout, PoolMember, ScrubStatus, ZfsLayout};
        PoolInfo {
            name: name.into(),
            backend: Backend::Zfs,
            layout: Some(PoolLayout::Zfs { layout: ZfsLayout::Mirror, ashift: None, properties: vec![] }),
            health: "degraded".into(),
            size_bytes: Some(4 << 40),
            used_bytes: Some(1 << 40),
            free_bytes: Some(3 << 40),
            mountpoint: format!("/mnt/corenas/{name}"),
            mounted: true,
            members: vec![
                PoolMember { device: "sdb".into(), state: "ONLINE".into(), errors: Some([0, 0, 0]) },
                PoolMember { device: "sdc".into(), state: "FAULTED".into(), errors: Some([3, 1, 7]) },
            ],
            scrub: Some(ScrubStatus {
                running: false,
                percent: None,
                summary: Some("scrub repaired 0B".into()),
                errors: Some(0),
            }),
            notes: vec!["errors: No known data errors".into()],
            created: Some("2026-11-24T12:00:00Z".into()),
        }
    }

    fn dataset_info(name: &str) -> corenas_proto::storage::DatasetInfo {
        corenas_proto::storage::DatasetInfo {
            name: name.into(),
            used_bytes: Some(1 << 30),
            available_bytes: Some(3 << 40),
            referenced_bytes: Some(1 << 30),
            mountpoint: format!("/mnt/corenas/{name}"),
            properties: vec![("compression".into(), "lz4".into())],
        }
    }

    /// The storage half of the fake corenasd. Jobs step through versions: `show` answers version 1
    /// (running), each wait one version more, the third is done (`fail` ends failed instead).
    fn storage_reply(req: &CorenasRequest) -> CorenasResponse {
        use corenas_proto::storage::{Retention, ScheduleInfo, SnapshotInfo};
        let step = || Step::Exec {
            program: "/usr/sbin/zpool".into(),
            args: vec!["create".into(), "--".into(), "tank".into()],
            stdin: StdinPlan::Nothing,
        };
        let ran = |dry_run: bool| Change {
            dry_run,
            steps: vec![step()],
            result: Some(()),
            generated_password: None,
            warnings: vec![],
        };
        let job_change = |dry_run: bool, kind: &str| Change {
            dry_run,
            steps: vec![step()],
            result: (!dry_run).then(|| storage_job("s-1", kind, "running", 1)),
            generated_password: None,
            warnings: vec![],
        };
        match req {
            CorenasRequest::DeviceInventory {} => {
                // sdb has a mounted partition; loop3 is free but holds a partition table.
                let mut free = inventory_disk("loop3", None);
                free.kind = corenas_proto::devices::DeviceKind::Loop;
                free.partitions[0].uses.clear();
                CorenasResponse::DeviceInventory(Ok(vec![inventory_disk("sdb", Some("WD-1")), free]))
            }
            CorenasRequest::DeviceShow { device } => {
                CorenasResponse::DeviceShow(Ok(if device.as_str() == "/dev/loop3" {
                    inventory_disk("loop3", None)
                } else {
                    inventory_disk("sdb", Some("WD-1"))
                }))
            }
            CorenasRequest::DeviceSmart { .. } => CorenasResponse::DeviceSmart(Ok(smart_report())),
            CorenasRequest::DeviceSmartHistory { .. } => {
                CorenasResponse::DeviceSmartHistory(Ok(vec![smart_report(), smart_report()]))
            }
            CorenasRequest::DeviceSelftest { dry_run, .. } => {
                CorenasResponse::DeviceSelftest(Ok(job_change(*dry_run, "selftest")))
            }
            CorenasRequest::DeviceWipe { dry_run, .. } => CorenasResponse::DeviceWipe(Ok(job_change(*dry_run, "wipe"))),
            CorenasRequest::PoolCreate { spec, dry_run } => CorenasResponse::PoolCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: (!dry_run).then(|| pool_info(spec.name.as_str())),
                generated_password: None,
                warnings: vec!["this layout has no redundancy: one failed disk loses the pool".into()],
            })),
            CorenasRequest::PoolList {} => CorenasResponse::PoolList(Ok(vec![pool_info("tank"), pool_info("backup")])),
            CorenasRequest::PoolShow { name } => CorenasResponse::PoolShow(Ok(pool_info(name.as_str()))),
            CorenasRequest::PoolDestroy { dry_run, .. } => CorenasResponse::PoolDestroy(Ok(ran(*dry_run))),
            CorenasRequest::PoolScrub { dry_run, .. } => CorenasResponse::PoolScrub(Ok(job_change(*dry_run, "scrub"))),
            CorenasRequest::PoolScrubStop { dry_run, .. } => CorenasResponse::PoolScrubStop(Ok(ran(*dry_run))),
            CorenasRequest::DatasetCreate { spec, dry_run } => CorenasResponse::DatasetCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(dataset_info(spec.name.as_str())),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::DatasetList { pool } => {
                CorenasResponse::DatasetList(Ok(vec![dataset_info(&format!("{pool}/media"))]))
            }
            CorenasRequest::DatasetSet { name, dry_run, .. } => CorenasResponse::DatasetSet(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(dataset_info(name.as_str())),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::DatasetDestroy { dry_run, .. } => CorenasResponse::DatasetDestroy(Ok(ran(*dry_run))),
            CorenasRequest::SnapshotCreate { dataset, dry_run, .. } => CorenasResponse::SnapshotCreate(Ok(Change {
                dry_run: *dry_run,
                steps: vec![step()],
                result: Some(SnapshotInfo {
                    dataset: dataset.to_string(),
                    name: "auto-2026-11-24_12-00".into(),
                    created: Some(1_795_000_000),
                    used_bytes: Some(0),
                }),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::SnapshotList { dataset } => CorenasResponse::SnapshotList(Ok(vec![SnapshotInfo {
                dataset: dataset.to_string(),
                name: "before-upgrade".into(),
                created: None,
                used_bytes: None,
            }])),
            CorenasRequest::SnapshotDestroy { dry_run, .. } => CorenasResponse::SnapshotDestroy(Ok(ran(*dry_run))),
            CorenasRequest::SnapshotRollback { dry_run, .. } => CorenasResponse::SnapshotRollback(Ok(ran(*dry_run))),
            CorenasRequest::ScheduleSet { dataset, keep, dry_run } => CorenasResponse::ScheduleSet(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(ScheduleInfo {
                    dataset: dataset.to_string(),
                    keep: *keep,
                    last_run: None,
                    last_result: None,
                }),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::ScheduleList {} => CorenasResponse::ScheduleList(Ok(vec![ScheduleInfo {
                dataset: "tank/media".into(),
                keep: Retention { hourly: 24, daily: 7, weekly: 4, monthly: 0 },
                last_run: Some("2026-11-24T12:00:00Z".into()),
                last_result: Some("ok".into()),
            }])),
            CorenasRequest::ScheduleRun { dry_run } => CorenasResponse::ScheduleRun(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(vec!["tank/media@auto-2026-11-24_12-00 taken".into()]),
                generated_password: None,
                warnings: vec![],
            })),
            CorenasRequest::StorageJobList {} => {
                CorenasResponse::StorageJobList(Ok(vec![storage_job("s-1", "scrub", "running", 1)]))
            }
            CorenasRequest::StorageJobShow { id } => {
                CorenasResponse::StorageJobShow(Ok(storage_job(id, "scrub", "running", 1)))
            }
            CorenasRequest::StorageJobWait { id, after_version, wait_ms } => {
                assert_eq!(*wait_ms, 5000);
                let version = after_version + 1;
                let state = match (version, id.as_str()) {
                    (3, "fail") => "failed",
                    (3, _) => "done",
                    _ => "running",
                };
                CorenasResponse::StorageJobWait(Ok(storage_job(id, "scrub", state, version)))
            }
            CorenasRequest::StorageJobCancel { id, dry_run } => CorenasResponse::StorageJobCancel(Ok(Change {
                dry_run: *dry_run,
                steps: vec![],
                result: Some(storage_job(id, "scrub", "cancelled", 2)),
                generated_password: None,
                warnings: vec![],
            })),
            other => panic!("not a storage request: {other:?}"),
        }
    }

    #[test]
    fn every_storage_and_device_command_answers_in_human_form_and_as_one_json_document() {
        let commands: [&[&str]; 28] = [
            &["device", "list"],
            &["device", "show", "/dev/sdb"],
            &["device", "smart", "/dev/sdb"],
            &["device", "smart", "/dev/sdb", "--history", "--limit", "5"],
            &["device", "selftest", "/dev/sdb", "--long"],
            &["device", "wipe", "/dev/sdb", "--method", "quick", "--force"],
            &[
                "storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--device", "/dev/sdc",
                "--layout", "mirror",
            ],
            &["storage", "list"],
            &["storage", "show", "tank"],
            &["storage", "destroy", "tank", "--force"],
            &["storage", "scrub", "tank"],
            &["storage", "scrub", "tank", "--stop"],
            &["storage", "dataset", "create", "tank/media", "--property", "compression=lz4"],
            &["storage", "dataset", "list", "tank"],
            &["storage", "dataset", "set", "tank/media", "atime=off", "quota=10G"],
            &["storage", "dataset", "destroy", "tank/media", "--recursive", "--force"],
            &["storage", "snapshot", "create", "tank/media"],
            &["storage", "snapshot", "list", "tank/media"],
            &["storage", "snapshot", "destroy", "tank/media", "before-upgrade"],
            &["storage", "snapshot", "rollback", "tank/media", "before-upgrade", "--force"],
            &["storage", "snapshot", "schedule", "tank/media", "--daily", "7"],
            &["storage", "snapshot", "schedules"],
            &["storage", "snapshot", "run-schedules"],
            &["storage", "job", "list"],
            &["storage", "job", "show", "s-1"],
            &["storage", "job", "wait", "s-1"],
            &["storage", "job", "cancel", "s-1"],
            &["device", "eject", "/dev/sr0"],
        ];
        for (i, args) in commands.into_iter().enumerate() {
            // A wait for people prints its progress lines to stdout as they come; not here.
            let modes: &[bool] = if args.contains(&"wait") { &[true] } else { &[false, true] };
            for &json in modes {
                let reply = if args[1] == "eject" { imaging_reply } else { storage_reply };
                let (socket, seen) = fake_daemon(&format!("storageall{i}{json}"), reply);
                let mut argv = vec!["--json"];
                argv.extend_from_slice(args);
                let (human, doc, exit) = answered(ctl(&socket, if json { &argv } else { args }));
                assert_eq!(exit, 0, "{args:?}");
                assert!(!human.is_empty(), "{args:?}");
                assert!(!human.contains('\u{1b}') && !human.contains('\u{202e}'), "{args:?}: {human}");
                let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
                assert!(parsed.is_object() || parsed.is_array(), "{args:?}");
                assert!(!doc.contains('\n'), "{args:?}");
                assert!(!seen.lock().unwrap().is_empty(), "{args:?}");
                let _ = std::fs::remove_file(&socket);
            }
        }
    }

    #[test]
    fn wipe_reads_the_device_and_confirms_with_its_serial() {
        for (device, confirm) in [("/dev/sdb", "WD-1"), ("/dev/loop3", "loop3")] {
            let (socket, seen) = fake_daemon(&format!("wipe{confirm}"), storage_reply);
            let (human, _, exit) =
                answered(ctl(&socket, &["device", "wipe", device, "--method", "zero", "--samples", "8", "--force"]));
            assert_eq!(exit, 0);
            assert!(human.starts_with(&format!("device {device}: WDC\\u{{1b}}[2J WD40EFRX")), "{human}");
            assert!(human.contains("job s-1: wipe of tank, running"), "{human}");
            let seen = seen.lock().unwrap();
            let [CorenasRequest::DeviceShow { .. }, CorenasRequest::DeviceWipe { req, dry_run: false }] = &seen[..]
            else {
                panic!("{seen:?}")
            };
            assert_eq!(
                (req.device.as_str(), req.method, req.confirm.as_str(), req.samples),
                (device, corenas_proto::storage::WipeMethod::Zero, confirm, 8)
            );
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
        // A dry run needs no --force and changes nothing.
        let (socket, seen) = fake_daemon("wipedry", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["--dry-run", "device", "wipe", "/dev/sdb", "--method", "secure"]));
        assert!(human.contains("dry run: nothing changed"), "{human}");
        assert!(
            matches!(&seen.lock().unwrap()[..], [_, CorenasRequest::DeviceWipe { dry_run: true, req }] if req.samples == 64)
        );
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn destructive_storage_commands_need_force_and_are_refused_before_connecting() {
        let socket = temp_socket("storageforce");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        for (args, says) in [
            (&["device", "wipe", "/dev/sdb", "--method", "quick"][..], "device wipe destroys all data on /dev/sdb"),
            (&["storage", "destroy", "tank"], "removes pool tank"),
            (&["storage", "dataset", "destroy", "tank/media"], "removes tank/media"),
            (&["storage", "dataset", "destroy", "tank/media", "--recursive"], "the datasets beneath it"),
            (&["storage", "snapshot", "rollback", "tank/media", "s1"], "later snapshot is destroyed"),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert_eq!(err.wire().field.as_deref(), Some("force"), "{args:?}");
            let text = err.to_string();
            assert!(text.contains(says) && text.contains("add --force"), "{args:?}: {text}");
        }
        for (args, field) in [
            (&["storage", "create", "tank", "--type", "lvm", "--device", "/dev/sdb"][..], "type"),
            (&["storage", "create", "tank", "--type", "mdadm", "--device", "/dev/sdb", "--device", "/dev/sdc"], "type"),
            (&["storage", "wizard", "--type", "lvm"], "type"),
            (&["storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--fs", "xfs"], "fs"),
        ] {
            let err = ctl(&socket, args).unwrap_err();
            assert_eq!((err.exit_code(), err.wire().field.as_deref()), (2, Some(field)), "{args:?}: {err}");
        }
        // Nobody knocked.
        assert_eq!(listener.accept().map(|_| ()).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn storage_requests_carry_what_was_asked() {
        use corenas_proto::storage::{PoolLayout, Retention, ZfsLayout};
        type Expected = fn(&[CorenasRequest]) -> bool;
        let cases: [(&[&str], Expected); 8] = [
            (&["storage", "destroy", "tank", "--force"], |r| {
                matches!(r, [CorenasRequest::PoolDestroy { name, confirm, dry_run: false }]
                    if name.as_str() == "tank" && confirm == "tank")
            }),
            (&["--dry-run", "storage", "destroy", "tank"], |r| {
                matches!(r, [CorenasRequest::PoolDestroy { dry_run: true, .. }])
            }),
            (
                &[
                    "storage", "create", "tank", "--type", "zfs", "--device", "/dev/sdb", "--device", "/dev/sdc",
                    "--layout", "mirror",
                ],
                |r| {
                    matches!(r, [CorenasRequest::PoolCreate { spec, dry_run: false }]
                    if spec.layout == PoolLayout::Zfs { layout: ZfsLayout::Mirror, ashift: None, properties: vec![] }
                        && spec.devices.len() == 2 && !spec.force)
                },
            ),
            (&["storage", "snapshot", "schedule", "tank/media", "--hourly", "24", "--monthly", "3"], |r| {
                matches!(r, [CorenasRequest::ScheduleSet { keep, .. }]
                    if *keep == Retention { hourly: 24, daily: 0, weekly: 0, monthly: 3 })
            }),
            (
                &["storage", "snapshot", "create", "tank/media", "--name", "before-upgrade"],
                |r| matches!(r, [CorenasRequest::SnapshotCreate { name: Some(n), .. }] if n.as_str() == "before-upgrade"),
            ),
            (&["storage", "dataset", "destroy", "tank/media", "--recursive", "--force"], |r| {
                matches!(r, [CorenasRequest::DatasetDestroy { recursive: true, dry_run: false, .. }])
            }),
            (&["storage", "scrub", "tank", "--stop"], |r| matches!(r, [CorenasRequest::PoolScrubStop { .. }])),
            (&["device", "smart", "/dev/sdb", "--history"], |r| {
                matches!(r, [CorenasRequest::DeviceSmartHistory { limit: 20, .. }])
            }),
        ];
        for (i, (args, expected)) in cases.into_iter().enumerate() {
            let (socket, seen) = fake_daemon(&format!("storagemap{i}"), storage_reply);
            answered(ctl(&socket, args));
            let seen = seen.lock().unwrap();
            assert!(expected(&seen), "{args:?}: {seen:?}");
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
    }

    #[test]
    fn a_storage_job_is_followed_until_it_ends_and_exits_by_outcome() {
        for (id, exit, state) in [("s-1", 0, "done"), ("fail", 1, "failed")] {
            let (socket, seen) = fake_daemon(&format!("jobwait{id}"), storage_reply);
            let (human, doc, code) = answered(ctl(&socket, &["--json", "storage", "job", "wait", id]));
            assert_eq!(code, exit, "{id}");
            let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
            assert_eq!((doc["state"].as_str(), doc["version"].as_u64()), (Some(state), Some(3)));
            assert!(human.starts_with(&format!("job {id} (scrub of tank) {state}\n")), "{human}");
            if state == "failed" {
                assert!(human.contains("message: read error on sdb\\u{1b}[2J"), "{human}");
            }
            let seen = seen.lock().unwrap();
            let versions: Vec<u64> = seen
                .iter()
                .filter_map(|r| match r {
                    CorenasRequest::StorageJobWait { after_version, .. } => Some(*after_version),
                    _ => None,
                })
                .collect();
            assert!(matches!(seen[0], CorenasRequest::StorageJobShow { .. }), "{seen:?}");
            assert_eq!(versions, [1, 2], "one wait per version, none after the end");
            drop(seen);
            let _ = std::fs::remove_file(&socket);
        }
        // --wait on a started job follows it the same way; a dry run follows nothing.
        let (socket, seen) = fake_daemon("scrubwait", storage_reply);
        let (_, doc, code) = answered(ctl(&socket, &["--json", "storage", "scrub", "tank", "--wait"]));
        assert_eq!(code, 0);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&doc).unwrap()["state"], "done");
        assert_eq!(seen.lock().unwrap().len(), 4, "scrub, show, two waits");
        let _ = std::fs::remove_file(&socket);
        let (socket, seen) = fake_daemon("scrubwaitdry", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["--dry-run", "storage", "scrub", "tank", "--wait"]));
        assert!(human.starts_with("dry run"), "{human}");
        assert_eq!(seen.lock().unwrap().len(), 1);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn storage_listings_read_like_tables() {
        let (socket, _) = fake_daemon("poollist", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["storage", "list"]));
        assert_eq!(
            human,
            "NAME    TYPE  HEALTH    SIZE     USED     FREE     MOUNTPOINT\n\
             tank    zfs   degraded  4.0 TiB  1.0 TiB  3.0 TiB  /mnt/corenas/tank\n\
             backup  zfs   degraded  4.0 TiB  1.0 TiB  3.0 TiB  /mnt/corenas/backup\n"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("poolshow", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["storage", "show", "tank"]));
        assert!(human.contains("layout:      mirror\n") && human.contains("health:      degraded\n"), "{human}");
        assert!(human.contains("scrub:       scrub repaired 0B; 0 errors\n"), "{human}");
        assert!(human.contains("members:\n  DEVICE  STATE    READ  WRITE  CKSUM\n"), "{human}");
        assert!(human.contains("  sdc     FAULTED  3     1      7\n"), "{human}");
        assert!(human.ends_with("notes:\n  errors: No known data errors\n"), "{human}");
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("devlist2", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["device", "list"]));
        let lines: Vec<&str> = human.lines().collect();
        assert_eq!(
            lines[0],
            "NAME      SIZE     MODEL                  SERIAL  TYPE  TRANSPORT  FS                      USES"
        );
        assert_eq!(
            lines[1],
            "sdb       4.0 TiB  WDC\\u{1b}[2J WD40EFRX  WD-1    HDD   sata       -                       -"
        );
        assert_eq!(
            lines[2],
            "  sdb1    4.0 TiB                                                  ext4 (\\u{202e}gpj.exe)  mounted at /srv/old"
        );
        let _ = std::fs::remove_file(&socket);

        let (socket, _) = fake_daemon("smart", storage_reply);
        let (human, _, _) = answered(ctl(&socket, &["device", "smart", "/dev/sdb"]));
        assert!(human.contains("health:                 passed; needs attention\n"), "{human}");
        assert!(
            human.contains("reallocated sectors:    8\n") && human.contains("temperature:            34 °C\n"),
            "{human}"
        );
        let collected = crate::text::local_time(1_795_000_000);
        assert!(human.contains(&format!("collected:              {collected}\n")), "{human}");
        let _ = std::fs::remove_file(&socket);
    }

    fn wizard_with(
        name: &str,
        save_template: Option<std::path::PathBuf>,
        dry_run: bool,
        answers: &[&str],
    ) -> (Result<Report, CtlError>, String, Vec<CorenasRequest>) {
        let (socket, seen) = fake_daemon(name, storage_reply);
        let args = WizardArgs { kind: Some(corenas_proto::storage::Backend::Zfs), save_template, force: false };
        let mut lines = answers.iter().map(|a| (*a).to_owned());
        let mut out = String::new();
        let r = block_on(async {
            let d = Daemon::connect(&socket).await?;
            wizard_session(&d, &args, dry_run, &mut lines, &mut out).await
        });
        let _ = std::fs::remove_file(&socket);
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        (r, out, seen)
    }

    #[test]
    fn the_wizard_shows_corenasds_plan_and_creates_only_on_yes() {
        // Free device: loop3 (sdb has a mounted partition). One device: stripe, lz4, a name.
        let (r, out, seen) = wizard_with("wizyes", None, false, &["1", "", "", "tank", "y", "y"]);
        let (human, _, exit) = answered(r);
        assert_eq!(exit, 0);
        assert!(out.contains("-  sdb ") && out.contains("1  loop3 "), "{out}");
        assert!(
            out.contains("warning: loop3 has 1 partition (ext4 \"\\u{202e}gpj.exe\"); creating the pool erases it"),
            "{out}"
        );
        assert!(out.contains("dry run: nothing changed; would run:\n  /usr/sbin/zpool create -- tank\n"), "{out}");
        assert!(out.ends_with("Create? [y/N] "), "{out}");
        assert!(human.starts_with("done; ran:") && human.contains("name:        tank\n"), "{human}");
        let [
            CorenasRequest::DeviceInventory {},
            CorenasRequest::PoolCreate { dry_run: true, spec: planned },
            CorenasRequest::PoolCreate { dry_run: false, spec },
        ] = &seen[..]
        else {
            panic!("{seen:?}")
        };
        assert_eq!(planned, spec);
        assert_eq!((spec.name.as_str(), spec.devices[0].as_str(), spec.force), ("tank", "/dev/loop3", true));

        // No: nothing is created, exit 1, the plan is the JSON.
        let (r, _, seen) = wizard_with("wizno", None, false, &["1", "", "", "tank", "y", ""]);
        let (human, json, exit) = answered(r);
        assert_eq!((human.as_str(), exit), ("not created: nothing was changed\n", 1));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["dry_run"], true);
        assert_eq!(seen.len(), 2, "{seen:?}");

        // --dry-run: the plan, and no last question.
        let (r, out, seen) = wizard_with("wizdry", None, true, &["1", "", "", "tank", "y"]);
        assert_eq!(answered(r).2, 0);
        assert!(!out.contains("Create?"), "{out}");
        assert_eq!(seen.len(), 2, "{seen:?}");

        // --save-template: saved instead of created.
        let path = std::env::temp_dir().join(format!("corenas-ctl-test-{}-wizard.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (r, out, seen) = wizard_with("wizsave", Some(path.clone()), false, &["1", "", "", "tank", "y", "yes"]);
        let (human, json, _) = answered(r);
        assert!(out.ends_with(&format!("Save the template {}? [y/N] ", path.display())), "{out}");
        assert!(human.starts_with("saved the template"), "{human}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["saved"], true);
        assert_eq!(seen.len(), 2, "{seen:?}");
        let saved = load_template(&path).unwrap();
        assert!(saved.name.as_str() == "tank" && !saved.force, "{saved:?}");
        let _ = std::fs::remove_file(&path);
    }
}
