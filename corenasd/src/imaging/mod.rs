//! Disc and disk imaging: jobs, queue, progress from the ddrescue mapfile, archive, verify,
//! media detection. corenasd runs ddrescue itself as the unprivileged user `corenas` once the
//! helper has granted it read access to the source device node (decision 0009).

pub mod api;
pub mod ddrescue;
pub mod engine;
pub mod iso9660;
pub mod mapfile;
pub mod media;
pub mod registry;
pub mod store;
