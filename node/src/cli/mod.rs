//! The operator's side: an HTTP client for a running node, its event stream, offline
//! certificate checks, roster changes, and the renderings of its answers (with a
//! proposal's progress under its roster tier).

pub mod certificate;
pub mod client;
pub mod json_file;
pub mod progress;
pub mod receipt;
pub mod render;
pub mod roster;
pub mod roster_edit;
pub mod sse;
pub mod watch;
pub mod when;
