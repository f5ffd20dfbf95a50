//! `image` and `archive`: imaging jobs and the archive of finished images. Imports only the floor
//! and proto, never another group (the drive commands under `device` belong to `devices`).

pub(crate) mod args;
pub(crate) mod csv;
pub(crate) mod run;
pub(crate) mod show;
