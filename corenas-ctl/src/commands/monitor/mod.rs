//! `monitor`: health at a glance (collectors, pools, disks, active alerts, schedules), a run of
//! every collector now, and the health schedules (scrubs, SMART self-tests). Imports only the
//! floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
