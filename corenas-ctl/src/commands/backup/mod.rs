//! `backup`: targets (where restic repositories are), tasks (what is backed up where, kept how
//! long), a task's snapshots and browsing them; backup jobs add `run`, `check`, `jobs` and
//! `restore` here. Imports only the floor and proto, never another group.

pub(crate) mod args;
pub(crate) mod run;
pub(crate) mod show;
