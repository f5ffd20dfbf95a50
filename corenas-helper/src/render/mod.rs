//! Configuration files rendered from typed values only: samba's include file, NFS exports and
//! systemd mount units. Pure functions, so tests (and the property test over hostile input) can
//! check every line they can produce.

pub mod diff;
pub mod exports;
pub mod smb;
pub mod unit;

/// The first line of every file CoreNAS owns.
pub const MANAGED_HEADER: &str =
    "# Managed by CoreNAS (corenas-helper). Changes made here are overwritten; use corenas-ctl.";

#[cfg(test)]
mod property_tests;
