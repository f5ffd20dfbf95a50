//! The server's local time zone: shared with corenas-ctl through proto (see there).

pub use corenas_proto::localtime::offset_at;
