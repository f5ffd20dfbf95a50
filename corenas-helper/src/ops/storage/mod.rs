//! Storage operations: argv builders and plans for each backend. Every device an operation
//! touches is re-checked here (a block device, not in use, not the system disk).

pub mod lvm;
pub mod mdadm;
pub mod owned;
pub mod pool;
pub mod query;
pub mod wipe;
