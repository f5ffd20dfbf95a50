//! The helper's pure parts as a library, so that fuzz targets (`fuzz/`) drive the very code the
//! helper runs: the renderers of samba's include file, NFS exports and mount units. Everything
//! that acts (exec, sandbox, operations) stays in the binary.

pub mod render;
