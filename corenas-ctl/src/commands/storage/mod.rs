//! `storage`: pools, datasets, snapshots, schedules, storage jobs and the wizard. Imports only the
//! floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
pub(crate) mod spec;
pub(crate) mod wizard;
