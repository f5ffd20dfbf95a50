//! Storage: pools (or arrays, volume groups, single-disk filesystems) built from devices,
//! datasets/volumes inside them, snapshots, health and scrub. One folder per backend; every
//! tool output is parsed here, unprivileged (the helper returns it raw).

pub mod btrfs;
pub mod jobs;
pub mod lvm;
pub mod mdadm;
pub mod pools;
pub mod retention;
pub mod volumes;
pub mod zfs;
