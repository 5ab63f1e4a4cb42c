//! The audit export's hash chain: numbering lines and linking each to the one before it
//! (written by the node's `GET /v1/export`), and checking a file offline
//! ([`verify`], behind `swarmvote export verify`). The line format is in
//! [`crate::api::ExportLine`].

pub mod verify;

use swarmvote_protocol::crypto::sha256;

use crate::api::{ExportEntry, ExportLine};

/// The `prev` of line 1.
pub const GENESIS_PREV: [u8; 32] = [0; 32];

/// Numbers entries and chains them into lines.
#[derive(Debug)]
pub struct ChainWriter {
    n: u64,
    prev: [u8; 32],
}

impl Default for ChainWriter {
    fn default() -> Self {
        Self {
            n: 0,
            prev: GENESIS_PREV,
        }
    }
}

impl ChainWriter {
    /// The next line's text (without its newline).
    pub fn line(&mut self, entry: ExportEntry) -> Result<String, serde_json::Error> {
        let line = ExportLine {
            n: self.n.saturating_add(1),
            prev: hex::encode(self.prev),
            entry,
        };
        let text = serde_json::to_string(&line)?;
        self.n = line.n;
        self.prev = sha256(text.as_bytes());
        Ok(text)
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.n
    }

    /// The hash of the last line written: what the seal signs.
    pub fn head(&self) -> [u8; 32] {
        self.prev
    }
}
