//! The durable record of executor runs, for at-most-once execution.
//!
//! Two parts, like own ballots:
//!
//! * `executions.journal` (magic `SVEXEC01`, the format of `journal`): one small JSON
//!   *mark* per state change, `{proposal, action, state, at, exit_code}`, fsync'd before
//!   the driver acts on it. It is the source of truth for *whether* a proposal was ever
//!   started or refused: a `started` mark is durable before the process is spawned, so
//!   after any crash the node knows the process may have run.
//! * the sled tree `executions`: proposal id (32) → the full [`ExecutionRecord`] as JSON,
//!   with the captured output. Written after the mark; sled may lose the latest write in
//!   a crash, so a read overlays the journal's latest mark on whatever sled kept.
//!
//! The journal holds one or two marks per execution and is never compacted: executions
//! are rare (one per approved proposal of this node with a configured action).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use swarmvote_protocol::{ProposalId, UnixMillis};

use super::StoreError;
use super::journal::Journal;

/// The execution journal's file name in the data dir.
pub(crate) const FILE: &str = "executions.journal";
/// Its magic.
pub(crate) const MAGIC: &[u8; 8] = b"SVEXEC01";

pub use crate::api::{ExecutionRecord, ExecutionState};

/// One journal entry: a state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mark {
    proposal: ProposalId,
    action: String,
    state: ExecutionState,
    at: UnixMillis,
    #[serde(default)]
    exit_code: Option<i32>,
}

/// The journal and the sled tree.
pub(crate) struct Executions {
    tree: sled::Tree,
    db_path: PathBuf,
    journal: Journal,
    /// The latest mark of every proposal ever journalled.
    marks: BTreeMap<ProposalId, Mark>,
}

impl Executions {
    pub(crate) fn open(dir: &Path, db_path: &Path, tree: sled::Tree) -> Result<Self, StoreError> {
        let (journal, replay) = Journal::open(&dir.join(FILE), MAGIC)?;
        let mut marks = BTreeMap::new();
        for (at, bytes) in replay.entries {
            // Checksummed but not a mark: written by other code; refuse rather than forget
            // that something may have run.
            let mark: Mark = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: journal.path().to_owned(),
                detail: format!("journal entry at byte {at}: {e}"),
            })?;
            marks.insert(mark.proposal, mark);
        }
        Ok(Self {
            tree,
            db_path: db_path.to_owned(),
            journal,
            marks,
        })
    }

    /// Whether the proposal was ever recorded (started or refused). The journal decides;
    /// sled is asked too, and a sled error counts as "known": when in doubt, never run.
    pub(crate) fn known(&self, id: &ProposalId) -> bool {
        self.marks.contains_key(id) || self.tree.contains_key(id.as_bytes()).unwrap_or(true)
    }

    /// Whether sled holds a full record of this proposal's execution.
    pub(crate) fn stored(&self, id: &ProposalId) -> Result<bool, StoreError> {
        self.tree
            .contains_key(id.as_bytes())
            .map_err(|e| self.sled(e))
    }

    /// Drops the full record from sled, for pruning. The journal's mark stays, so the
    /// action is still known to have run (or been refused) and never runs again.
    pub(crate) fn forget(&mut self, id: &ProposalId) -> Result<(), StoreError> {
        self.tree.remove(id.as_bytes()).map_err(|e| self.sled(e))?;
        Ok(())
    }

    /// Journals the record's state (fsync'd) and then stores the record.
    pub(crate) fn record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        let mark = Mark {
            proposal: record.proposal,
            action: record.action.clone(),
            state: record.state,
            at: match record.state {
                ExecutionState::Started => record.started_at,
                _ => record.finished_at,
            }
            .unwrap_or_default(),
            exit_code: record.exit_code,
        };
        let bytes = serde_json::to_vec(&mark).map_err(|e| self.corrupt(self.journal.path(), e))?;
        self.journal.append(&bytes)?;
        self.journal.sync()?;
        self.marks.insert(mark.proposal, mark);
        let value = serde_json::to_vec(record).map_err(|e| self.corrupt(&self.db_path, e))?;
        self.tree
            .insert(record.proposal.as_bytes(), value)
            .map_err(|e| self.sled(e))?;
        Ok(())
    }

    /// The record, with the journal's latest state laid over what sled kept.
    pub(crate) fn get(&self, id: &ProposalId) -> Result<Option<ExecutionRecord>, StoreError> {
        let stored = match self.tree.get(id.as_bytes()).map_err(|e| self.sled(e))? {
            Some(v) => Some(
                serde_json::from_slice::<ExecutionRecord>(&v)
                    .map_err(|e| self.corrupt(&self.db_path, e))?,
            ),
            None => None,
        };
        let Some(mark) = self.marks.get(id) else {
            return Ok(stored);
        };
        match stored {
            Some(r) if r.state == mark.state => Ok(Some(r)),
            stored => {
                // sled lost the latest write in a crash: the journal says where it is.
                let mut r = stored
                    .unwrap_or_else(|| ExecutionRecord::new(*id, mark.action.clone(), mark.state));
                r.state = mark.state;
                match mark.state {
                    ExecutionState::Started => r.started_at = Some(mark.at),
                    _ => {
                        r.finished_at = Some(mark.at);
                        r.exit_code = mark.exit_code;
                    }
                }
                if mark.state != ExecutionState::Started && r.error.is_none() {
                    r.error = Some("details lost in a crash; state from the journal".into());
                }
                Ok(Some(r))
            }
        }
    }

    /// Every proposal whose latest mark is `started`.
    pub(crate) fn unfinished(&self) -> Vec<ProposalId> {
        self.marks
            .values()
            .filter(|m| m.state == ExecutionState::Started)
            .map(|m| m.proposal)
            .collect()
    }

    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        self.journal.sync()
    }

    fn corrupt(&self, path: &Path, e: serde_json::Error) -> StoreError {
        StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!("execution record: {e}"),
        }
    }

    fn sled(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.db_path.clone(),
            source,
        }
    }
}
