//! The node's durable store: sled trees for everything the engine records, plus the
//! fsync'd own-ballot journal.
//!
//! Layout of a data dir:
//!
//! ```text
//! LOCK                    held (flock) while a node uses the dir
//! db/                     sled 0.34.7
//! own-ballots.journal     see `journal`
//! executions.journal      see `executions` (at-most-once executor runs)
//! certs/                  certificates handed to executor processes (0600 files)
//! ```
//!
//! sled trees, keys and values (values are codec-encoded messages):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `proposals` | proposal id (32) | `SignedProposal` |
//! | `ballots` | proposal id (32) · voter (32) · vote (1) | `SignedBallot` |
//! | `own_ballots` | proposal id (32) | `SignedBallot` |
//! | `evidence` | proposal id (32) · voter (32) | `Equivocation` |
//! | `decisions` | proposal id (32) | `Decision` |
//! | `roster_steps` | proposal id (32) | `Certificate` of an approved roster change |
//! | `receipts` | proposal id (32) · executor (32) | `SignedReceipt`, backed or not |
//! | `executions` | proposal id (32) | `ExecutionRecord` as JSON (see `executions`) |
//! | `by_time` | created_at (8, big-endian) · proposal id (32) | empty (see `archive`) |
//! | `meta` | `schema_version` | u32, big-endian |
//! | `meta` | `by_time_index` | `1` once `by_time` covers every proposal |
//!
//! All ballots of a proposal are one prefix scan of `ballots`. Only own ballots must be
//! durable before the driver acts further; everything else is written to sled without
//! waiting, because peers resend it.

mod archive;
mod executions;
pub mod history;
mod journal;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use swarmvote_protocol::engine::{Decision, Record};
use swarmvote_protocol::{
    Certificate, Equivocation, ProposalId, SignedBallot, SignedProposal, SignedReceipt, UnixMillis,
    Vote, codec,
};

pub use archive::{Archived, PruneReport, TimeKey};
use executions::Executions;
pub use executions::{ExecutionRecord, ExecutionState};
use journal::Journal;

/// The on-disk layout version this code reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";
const JOURNAL_FILE: &str = "own-ballots.journal";
const JOURNAL_MAGIC: &[u8; 8] = b"SVJOURN1";

/// Why the store failed. Every variant names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data dir.
    #[error("{path}: data dir is in use by another swarmvote process (lock held)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The data dir was written by a different schema version.
    #[error(
        "{path}: data dir has schema version {found}, this swarmvote reads version {expected}; it was not modified"
    )]
    Schema {
        /// The data dir.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this code reads.
        expected: u32,
    },
    /// Something in the data dir does not decode.
    #[error("{path}: corrupt: {detail}")]
    Corrupt {
        /// The file or dir.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// sled failed.
    #[error("{path}: database error: {source}")]
    Sled {
        /// The database dir.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
}

/// Counts of what the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Proposals.
    pub proposals: usize,
    /// Ballots (own included).
    pub ballots: usize,
    /// Own ballots.
    pub own_ballots: usize,
    /// Equivocation evidence.
    pub evidence: usize,
    /// Decisions.
    pub decisions: usize,
    /// Roster steps (approved roster changes).
    pub roster_steps: usize,
    /// Execution receipts.
    pub receipts: usize,
}

/// What opening found that an operator should know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Own ballots found in the journal but not in sled (written back).
    pub recovered_from_journal: usize,
    /// Bytes of an unsynced journal tail that were cut off.
    pub journal_truncated: u64,
    /// The data dir was created now.
    pub created: bool,
}

/// An open data dir. Dropping it flushes sled and releases the lock.
pub struct Store {
    dir: PathBuf,
    db_path: PathBuf,
    db: sled::Db,
    proposals: sled::Tree,
    ballots: sled::Tree,
    own: sled::Tree,
    evidence: sled::Tree,
    decisions: sled::Tree,
    steps: sled::Tree,
    by_time: sled::Tree,
    receipts: sled::Tree,
    journal: Journal,
    executions: Executions,
    _lock: File,
}

impl Store {
    /// Opens `dir`, creating it if missing. Never resets or overwrites anything: a dir
    /// that is locked, unreadable, corrupt or of another schema is an error.
    pub fn open(dir: &Path) -> Result<(Self, OpenReport), StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        let mut report = OpenReport::default();
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io(dir))?;
            }
            report.created = true;
        }
        if !dir.is_dir() {
            return Err(StoreError::Corrupt {
                path: dir.to_owned(),
                detail: "not a directory".into(),
            });
        }
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: lock_path });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }

        let db_path = dir.join("db");
        let sled_err = |source| StoreError::Sled {
            path: db_path.clone(),
            source,
        };
        let db = open_sled(&db_path).map_err(sled_err)?;
        let meta = db.open_tree("meta").map_err(sled_err)?;
        match meta.get(SCHEMA_KEY).map_err(sled_err)? {
            None => {
                if !db
                    .tree_names()
                    .iter()
                    .all(|n| n == b"__sled__default" || n == b"meta")
                    || !db.is_empty()
                {
                    return Err(StoreError::Corrupt {
                        path: db_path.clone(),
                        detail: "database has data but no schema version".into(),
                    });
                }
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                db.flush().map_err(sled_err)?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        path: db_path.clone(),
                        detail: "schema version is not 4 bytes".into(),
                    })?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        path: dir.to_owned(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        let (proposals, ballots, own, evidence, decisions) = (
            tree("proposals")?,
            tree("ballots")?,
            tree("own_ballots")?,
            tree("evidence")?,
            tree("decisions")?,
        );
        let journal_path = dir.join(JOURNAL_FILE);
        let (journal, replay) = Journal::open(&journal_path, JOURNAL_MAGIC)?;
        report.journal_truncated = replay.truncated;
        // A checksummed entry that does not decode was written by other code: refuse
        // rather than drop a ballot that was durable.
        let replayed = replay
            .entries
            .into_iter()
            .map(|(at, bytes)| {
                codec::decode::<SignedBallot>(&bytes).map_err(|e| StoreError::Corrupt {
                    path: journal_path.clone(),
                    detail: format!("journal entry at byte {at}: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let executions = Executions::open(dir, &db_path, tree("executions")?)?;
        let steps = tree("roster_steps")?;
        let by_time = tree("by_time")?;
        let receipts = tree("receipts")?;
        let store = Self {
            dir: dir.to_owned(),
            db_path,
            db,
            proposals,
            ballots,
            own,
            evidence,
            decisions,
            steps,
            by_time,
            receipts,
            journal,
            executions,
            _lock: lock,
        };
        store.ensure_time_index()?;
        // The journal is the source of truth for own ballots: write back any that sled
        // lost in a crash.
        for b in replayed {
            let key = b.ballot().proposal;
            if store
                .own
                .get(key.as_bytes())
                .map_err(|e| store.sled_error(e))?
                .is_none()
            {
                store.put_own(&b)?;
                report.recovered_from_journal = report.recovered_from_journal.saturating_add(1);
            }
        }
        Ok((store, report))
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sled_error(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.db_path.clone(),
            source,
        }
    }

    fn put<M: codec::Message>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        m: &M,
    ) -> Result<(), StoreError> {
        let bytes = codec::encode(m).map_err(|e| StoreError::Corrupt {
            path: self.db_path.clone(),
            detail: format!("cannot encode a record: {e}"),
        })?;
        tree.insert(key, bytes).map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    fn put_own(&self, b: &SignedBallot) -> Result<(), StoreError> {
        self.put(&self.own, b.ballot().proposal.as_bytes(), b)?;
        self.put(&self.ballots, &ballot_key(b), b)
    }

    /// Writes a record. An own ballot is appended to the journal too, but is durable only
    /// after [`Store::sync`]; call it before acting on the engine's next output.
    pub fn apply(&mut self, record: &Record) -> Result<(), StoreError> {
        match record {
            Record::Proposal(p) => {
                // The index first: see `archive` for why.
                self.by_time
                    .insert(archive::time_key((p.proposal().created_at, p.id())), &[])
                    .map_err(|e| self.sled_error(e))?;
                self.put(&self.proposals, p.id().as_bytes(), &**p)
            }
            Record::Ballot(b) => self.put(&self.ballots, &ballot_key(b), &**b),
            Record::OwnBallot(b) => {
                let bytes = codec::encode(&**b).map_err(|e| StoreError::Corrupt {
                    path: self.dir.join(JOURNAL_FILE),
                    detail: e.to_string(),
                })?;
                self.journal.append(&bytes)?;
                self.put_own(b)
            }
            Record::Evidence(e) => {
                let mut key = e.proposal().as_bytes().to_vec();
                key.extend_from_slice(e.voter().as_bytes());
                self.put(&self.evidence, &key, &**e)
            }
            Record::Decision(d) => self.put(&self.decisions, d.proposal.as_bytes(), d),
            Record::RosterStep(c) => self.put(&self.steps, c.proposal().id().as_bytes(), &**c),
            Record::Receipt(r) => {
                let inner = r.receipt();
                let mut key = inner.proposal.as_bytes().to_vec();
                key.extend_from_slice(inner.executor.as_bytes());
                self.put(&self.receipts, &key, &**r)
            }
        }
    }

    /// Makes every own ballot applied so far durable (one fsync for the whole batch).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.journal.sync()
    }

    /// Flushes sled (best effort durability for everything else), for shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.sled_error(e))?;
        Ok(())
    }

    fn scan<M: codec::Message>(
        &self,
        tree: &sled::Tree,
        name: &str,
        prefix: &[u8],
    ) -> Result<Vec<M>, StoreError> {
        tree.scan_prefix(prefix)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                codec::decode::<M>(&value).map_err(|e| StoreError::Corrupt {
                    path: self.db_path.clone(),
                    detail: format!("tree {name}, key {}: {e}", hex::encode(&key)),
                })
            })
            .collect()
    }

    /// Every stored record, for [`Engine::restore`](swarmvote_protocol::engine::Engine::restore).
    pub fn load(&self) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        // Steps first: the engine needs every roster before the proposals it judges.
        out.extend(
            self.roster_steps()?
                .into_iter()
                .map(|c| Record::RosterStep(Arc::new(c))),
        );
        out.extend(
            self.scan::<SignedProposal>(&self.proposals, "proposals", b"")?
                .into_iter()
                .map(|p| Record::Proposal(Arc::new(p))),
        );
        out.extend(
            self.scan::<SignedBallot>(&self.own, "own_ballots", b"")?
                .into_iter()
                .map(|b| Record::OwnBallot(Arc::new(b))),
        );
        out.extend(
            self.scan::<SignedBallot>(&self.ballots, "ballots", b"")?
                .into_iter()
                .map(|b| Record::Ballot(Arc::new(b))),
        );
        out.extend(
            self.scan::<Equivocation>(&self.evidence, "evidence", b"")?
                .into_iter()
                .map(|e| Record::Evidence(Arc::new(e))),
        );
        out.extend(
            self.scan::<Decision>(&self.decisions, "decisions", b"")?
                .into_iter()
                .map(Record::Decision),
        );
        // Receipts last: the engine judges them by the proposals and ballots above.
        for r in self.all_receipts() {
            out.push(Record::Receipt(Arc::new(r?)));
        }
        Ok(out)
    }

    /// Every stored roster step: the certificates of approved roster changes.
    pub fn roster_steps(&self) -> Result<Vec<Certificate>, StoreError> {
        self.scan::<Certificate>(&self.steps, "roster_steps", b"")
    }

    /// All stored ballots of one proposal: one prefix scan.
    pub fn ballots_of(&self, proposal: &ProposalId) -> Result<Vec<SignedBallot>, StoreError> {
        self.scan(&self.ballots, "ballots", proposal.as_bytes())
    }

    /// Every stored execution receipt of one proposal, by executor: one prefix scan.
    pub fn receipts_of(&self, proposal: &ProposalId) -> Result<Vec<SignedReceipt>, StoreError> {
        self.scan(&self.receipts, "receipts", proposal.as_bytes())
    }

    /// Every stored execution receipt, in (proposal, executor) order, read lazily.
    pub fn all_receipts(&self) -> impl Iterator<Item = Result<SignedReceipt, StoreError>> + '_ {
        self.receipts.iter().map(|item| {
            let (key, value) = item.map_err(|e| self.sled_error(e))?;
            codec::decode::<SignedReceipt>(&value).map_err(|e| StoreError::Corrupt {
                path: self.db_path.clone(),
                detail: format!("tree receipts, key {}: {e}", hex::encode(&key)),
            })
        })
    }

    /// This node's stored ballot on a proposal.
    pub fn own_ballot(&self, proposal: &ProposalId) -> Result<Option<SignedBallot>, StoreError> {
        Ok(self
            .scan::<SignedBallot>(&self.own, "own_ballots", proposal.as_bytes())?
            .into_iter()
            .next())
    }

    /// Records an execution's state: the state change is journalled and fsync'd before
    /// this returns, then the record (with its output) goes to sled. Call it with
    /// [`ExecutionState::Started`] *before* spawning the process.
    pub fn record_execution(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.executions.record(record)
    }

    /// Whether an execution of this proposal was ever recorded (started or refused), in
    /// this life or an earlier one. Such a proposal is never run again.
    pub fn execution_known(&self, proposal: &ProposalId) -> bool {
        self.executions.known(proposal)
    }

    /// The execution record of a proposal, if any.
    pub fn execution(&self, proposal: &ProposalId) -> Result<Option<ExecutionRecord>, StoreError> {
        self.executions.get(proposal)
    }

    /// Marks every execution recorded as started but not finished as interrupted (a node
    /// died while it ran) and returns them. Call once at start, before anything runs.
    pub fn interrupt_unfinished_executions(
        &mut self,
        now: UnixMillis,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let mut out = Vec::new();
        for id in self.executions.unfinished() {
            let Some(mut record) = self.executions.get(&id)? else {
                continue;
            };
            record.state = ExecutionState::Interrupted;
            record.finished_at = Some(now);
            record.error = Some(
                "the node stopped while it ran; its outcome is unknown and it is never re-run"
                    .into(),
            );
            self.executions.record(&record)?;
            out.push(record);
        }
        Ok(out)
    }

    /// Rewrites the own-ballot journal without the ballots on `gone` proposals.
    fn rewrite_journal_without(
        &mut self,
        gone: &std::collections::BTreeSet<ProposalId>,
    ) -> Result<(), StoreError> {
        let path = self.dir.join(JOURNAL_FILE);
        let (_, replay) = Journal::open(&path, JOURNAL_MAGIC)?;
        let mut keep = Vec::with_capacity(replay.entries.len());
        for (at, bytes) in replay.entries {
            let b = codec::decode::<SignedBallot>(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                detail: format!("journal entry at byte {at}: {e}"),
            })?;
            if !gone.contains(&b.ballot().proposal) {
                keep.push(bytes);
            }
        }
        self.journal.replace(JOURNAL_MAGIC, &keep)
    }

    /// Counts per tree.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            proposals: self.proposals.len(),
            ballots: self.ballots.len(),
            own_ballots: self.own.len(),
            evidence: self.evidence.len(),
            decisions: self.decisions.len(),
            roster_steps: self.steps.len(),
            receipts: self.receipts.len(),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Best effort: a failed flush on drop loses nothing that was promised durable.
        let _ = self.journal.sync();
        let _ = self.executions.sync();
        let _ = self.db.flush();
    }
}

/// Opens the sled database at `path` (the data dir's `db/`), waiting up to 2 s for sled's
/// own file lock. Tools and tests that need raw access use this too.
///
/// Our LOCK file already excludes other processes, so a conflict on sled's lock can only
/// be a handle in this process that is still shutting down: sled releases the lock when
/// its background flusher drops its last reference, a moment after `Db` is dropped.
pub fn open_sled(path: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .open()
        {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn ballot_key(b: &SignedBallot) -> Vec<u8> {
    let inner = b.ballot();
    let mut key = Vec::with_capacity(65);
    key.extend_from_slice(inner.proposal.as_bytes());
    key.extend_from_slice(inner.voter.as_bytes());
    key.push(match inner.vote {
        Vote::Yes => 1,
        Vote::No => 0,
    });
    key
}
