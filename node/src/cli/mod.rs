//! The operator's side: an HTTP client for a running node and the renderers of its answers.

pub mod client;
