//! The gated executor: runs an approved proposal's action on the proposer's node, at most
//! once, with the quorum certificate handed over.
//!
//! ```toml
//! [[executor.actions]]
//! action = "fs.delete"                 # a glob, as in policy rules; the first match wins
//! command = ["/usr/local/bin/do-delete"]
//! timeout_ms = 60000                    # default 60000
//! ```
//!
//! When this node's own proposal is approved (`Event::Decided`), and its action matches an
//! entry, the driver calls [`Executor::on_approved`]. It refuses (and the driver records
//! why) unless the proposal has not expired and its certificate verifies against the
//! roster. Then it writes the certificate to `<data_dir>/certs/<id>.json` (0600); the
//! driver records the execution as *started* durably (fsync'd journal, see
//! `store::executions`) and only then [starts](Executor::start) the process, with the payload JSON on stdin and `SWARMVOTE_CERT`, `SWARMVOTE_PROPOSAL_ID`
//! and `SWARMVOTE_ACTION` in its environment. The process runs in its own process group;
//! at its timeout the group is killed. When it ends, [`Executor::on_done`] hands the
//! driver the result to record. The executor never touches the store or the engine.
//!
//! **At most once.** A proposal with any execution record (started, finished,
//! interrupted, refused) is never run again, in this life or a later one; one that was
//! started when the node died is marked *interrupted* at the next start and never re-run.
//! The price: an approval reached in the instant between the decision and the durable
//! *started* record, when the node then dies, is not executed (the record never existed).
//! A node killed with SIGKILL does not kill its running executor process; the process
//! may still complete, and the record says *interrupted* because the node cannot know.
//!
//! **Receipts.** A [`Done`] carries the certificate the process was handed, its command
//! line and SHA-256 digests of its whole stdout and stderr (not only the kept start), so
//! the driver can have the engine sign an execution receipt (see
//! `swarmvote_protocol::receipt`).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use swarmvote_protocol::certificate::CertificateError;
use swarmvote_protocol::{Certificate, Proposal, ProposalId, Roster, UnixMillis, VoterId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{info, warn};

pub use crate::daemon::store::{ExecutionRecord, ExecutionState};

/// Bytes of stdout and of stderr kept per process; the rest is read and discarded.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// Executions running at once; an approval beyond this is refused (running it later
/// could mean running it after expiry).
const MAX_RUNNING: usize = 32;

fn default_timeout_ms() -> u64 {
    60_000
}

/// `[executor]` as written in the config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSection {
    /// What to run for which action, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionSection>,
}

/// One `[[executor.actions]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSection {
    /// Glob over the action (an exact name matches itself).
    pub action: String,
    /// Program and arguments; not run through a shell.
    pub command: Vec<String>,
    /// Milliseconds before the process group is killed.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Why the executor config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// A glob does not parse.
    #[error("executor.actions[{index}].action: {source}")]
    Glob {
        /// Entry index.
        index: usize,
        /// The glob error.
        source: globset::Error,
    },
    /// No program given.
    #[error("executor.actions[{index}].command: give the program and its arguments")]
    EmptyCommand {
        /// Entry index.
        index: usize,
    },
    /// A zero timeout.
    #[error("executor.actions[{index}].timeout_ms: must be at least 1")]
    ZeroTimeout {
        /// Entry index.
        index: usize,
    },
}

struct ActionRule {
    matcher: GlobMatcher,
    command: Vec<String>,
    timeout: Duration,
}

/// An approved proposal, as the executor needs to see it.
pub struct Approved<'a> {
    /// Its id.
    pub id: ProposalId,
    /// The proposal.
    pub proposal: &'a Proposal,
    /// Its quorum certificate, if one could be assembled.
    pub certificate: Option<Certificate>,
    /// The roster the certificate must verify against.
    pub roster: &'a Roster,
    /// This node's voter: only its own proposals run here.
    pub me: VoterId,
    /// Whether the store holds an execution record for it (from any life).
    pub recorded: bool,
    /// Where `certs/<id>.json` goes.
    pub data_dir: &'a Path,
}

/// What the executor decided about an approved proposal; each names its proposal
/// through its record.
pub enum Outcome {
    /// Not run: keep the record (it says why).
    Refused(ExecutionRecord),
    /// To run: record it durably, then [`Executor::start`] it.
    Ready(Box<Launch>),
}

/// A process ready to start, once its *started* record is durable.
pub struct Launch {
    record: ExecutionRecord,
    argv: Vec<String>,
    env: Vec<(&'static str, OsString)>,
    stdin: Vec<u8>,
    timeout: Duration,
    handle: tokio::runtime::Handle,
    certificate: Certificate,
}

impl Launch {
    /// The *started* record to make durable first.
    pub fn record(&self) -> &ExecutionRecord {
        &self.record
    }
}

/// Why an approved proposal is not run.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("expired at {0}")]
    Expired(UnixMillis),
    #[error("{0} executions already running")]
    Busy(usize),
    #[error("no async runtime to run it on")]
    NoRuntime,
    #[error("approved, but no certificate could be assembled")]
    NoCertificate,
    #[error("certificate does not verify: {0}")]
    BadCertificate(CertificateError),
    #[error("cannot write the certificate: {0}")]
    WriteCertificate(std::io::Error),
}

/// A finished process, on its way back to the driver.
pub struct Done {
    record: ExecutionRecord,
    captured: Captured,
    certificate: Certificate,
    command: String,
}

/// What a receipt needs of a finished run, handed back by [`Executor::on_done`].
pub struct Ran {
    /// The certificate the process was handed.
    pub certificate: Certificate,
    /// Its command line, arguments separated by spaces.
    pub command: String,
    /// SHA-256 of its whole stdout.
    pub stdout: [u8; 32],
    /// SHA-256 of its whole stderr.
    pub stderr: [u8; 32],
}

/// The executor, owned by the driver.
pub struct Executor {
    rules: Vec<ActionRule>,
    /// Proposals handled in this process lifetime, whatever the store says.
    handled: BTreeSet<ProposalId>,
    running: usize,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
}

impl Executor {
    /// Compiles the config section.
    pub fn new(section: &ExecutorSection) -> Result<Self, ExecutorError> {
        let rules = section
            .actions
            .iter()
            .enumerate()
            .map(|(index, a)| {
                if a.command.first().is_none_or(String::is_empty) {
                    return Err(ExecutorError::EmptyCommand { index });
                }
                if a.timeout_ms == 0 {
                    return Err(ExecutorError::ZeroTimeout { index });
                }
                let matcher = Glob::new(&a.action)
                    .map(|g| g.compile_matcher())
                    .map_err(|source| ExecutorError::Glob { index, source })?;
                Ok(ActionRule {
                    matcher,
                    command: a.command.clone(),
                    timeout: Duration::from_millis(a.timeout_ms),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Every running execution sends exactly one result: this never waits.
        let (done_tx, done_rx) = mpsc::channel(MAX_RUNNING);
        Ok(Self {
            rules,
            handled: BTreeSet::new(),
            running: 0,
            done_tx,
            done_rx,
        })
    }

    /// An approved proposal: what to do about it, if it is ours, configured and never
    /// handled before. Never blocks. A [`Outcome::Ready`] must be recorded durably by
    /// the caller before it is [started](Executor::start): after a crash the node then
    /// knows it may have run.
    pub fn on_approved(&mut self, approved: &Approved<'_>, now: UnixMillis) -> Option<Outcome> {
        let id = approved.id;
        let p = approved.proposal;
        if p.proposer != approved.me {
            return None;
        }
        let rule = self
            .rules
            .iter()
            .find(|r| r.matcher.is_match(p.action.as_str()))?;
        let action = p.action.to_string();
        if !self.handled.insert(id) || approved.recorded {
            warn!(proposal = %id.short(), %action, "execution already recorded; never run twice");
            return None;
        }
        let mut record = ExecutionRecord::new(id, action.clone(), ExecutionState::Refused);
        let handle = tokio::runtime::Handle::try_current();
        let refusal = if now >= p.expires_at {
            Err(Refusal::Expired(p.expires_at))
        } else if self.running >= MAX_RUNNING {
            Err(Refusal::Busy(self.running))
        } else if handle.is_err() {
            Err(Refusal::NoRuntime)
        } else {
            certify(approved, &id)
        };
        let (cert_path, certificate) = match refusal {
            Ok(done) => done,
            Err(why) => {
                warn!(proposal = %id.short(), %action, reason = %why, "execution refused");
                record.finished_at = Some(now);
                record.error = Some(why.to_string());
                return Some(Outcome::Refused(record));
            }
        };
        let Ok(handle) = handle else {
            return None;
        };
        record.state = ExecutionState::Started;
        record.started_at = Some(now);
        let env = vec![
            ("SWARMVOTE_CERT", cert_path.into_os_string()),
            ("SWARMVOTE_PROPOSAL_ID", OsString::from(id.to_string())),
            ("SWARMVOTE_ACTION", OsString::from(action)),
        ];
        Some(Outcome::Ready(Box::new(Launch {
            record,
            argv: rule.command.clone(),
            env,
            stdin: p.payload.as_bytes().to_vec(),
            timeout: rule.timeout,
            handle,
            certificate,
        })))
    }

    /// Spawns a launch whose *started* record is durable.
    pub fn start(&mut self, launch: Box<Launch>) {
        let Launch {
            record,
            argv,
            env,
            stdin,
            timeout,
            handle,
            certificate,
        } = *launch;
        let command = argv.join(" ");
        info!(proposal = %record.proposal.short(), action = %record.action, "execution started");
        let tx = self.done_tx.clone();
        self.running = self.running.saturating_add(1);
        handle.spawn(async move {
            let captured = run_bounded(&argv, &env, stdin, timeout, OUTPUT_LIMIT).await;
            let _ = tx
                .send(Done {
                    record,
                    captured,
                    certificate,
                    command,
                })
                .await;
        });
    }

    /// The next finished process. Pending forever when nothing runs.
    pub async fn next_done(&mut self) -> Done {
        match self.done_rx.recv().await {
            Some(d) => d,
            // Unreachable while `self` holds a sender.
            None => std::future::pending().await,
        }
    }

    /// Logs a finished process and returns its record, for the caller to keep, with what
    /// its receipt needs.
    pub fn on_done(&mut self, done: Done, now: UnixMillis) -> (ExecutionRecord, Ran) {
        self.running = self.running.saturating_sub(1);
        let Done {
            mut record,
            captured,
            certificate,
            command,
        } = done;
        let ran = Ran {
            certificate,
            command,
            stdout: captured.stdout.digest(),
            stderr: captured.stderr.digest(),
        };
        record.state = ExecutionState::Finished;
        record.finished_at = Some(now);
        record.exit_code = captured.status.and_then(|s| s.code());
        record.stdout = String::from_utf8_lossy(&captured.stdout.bytes).into_owned();
        record.stderr = String::from_utf8_lossy(&captured.stderr.bytes).into_owned();
        record.stdout_truncated = captured.stdout.truncated;
        record.stderr_truncated = captured.stderr.truncated;
        record.error = captured.failure();
        let duration_ms = now.saturating_since(record.started_at.unwrap_or(now));
        let id = record.proposal.short();
        match (&record.error, record.exit_code) {
            (None, Some(0)) => info!(
                proposal = %id,
                action = %record.action,
                exit_code = 0,
                duration_ms,
                "execution finished"
            ),
            (error, exit_code) => warn!(
                proposal = %id,
                action = %record.action,
                exit_code,
                duration_ms,
                error = error.as_deref().unwrap_or("non-zero exit"),
                "execution failed"
            ),
        }
        (record, ran)
    }
}

/// Checks the certificate and writes it for the process; the path and the certificate,
/// or why not.
fn certify(approved: &Approved<'_>, id: &ProposalId) -> Result<(PathBuf, Certificate), Refusal> {
    let cert = approved.certificate.clone().ok_or(Refusal::NoCertificate)?;
    let verified = cert
        .verify(approved.roster)
        .map_err(Refusal::BadCertificate)?;
    let path = write_cert(approved.data_dir, id, &verified).map_err(Refusal::WriteCertificate)?;
    Ok((path, verified.into_inner()))
}

/// Writes `<data_dir>/certs/<id>.json`, readable by this user only.
fn write_cert(data_dir: &Path, id: &ProposalId, cert: &Certificate) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = data_dir.join("certs");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let path = dir.join(format!("{id}.json"));
    let bytes = serde_json::to_vec_pretty(cert).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    // `mode` applies only when the file is created.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(&bytes)?;
    file.flush()?;
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// Running a bounded child process (shared with the command evaluator)
// ---------------------------------------------------------------------------------------

/// The start of one output stream, and a digest of all of it.
#[derive(Default)]
pub(crate) struct Capture {
    pub(crate) bytes: Vec<u8>,
    pub(crate) truncated: bool,
    /// Fed every byte read, kept or not.
    hasher: sha2::Sha256,
}

impl Capture {
    /// SHA-256 of the whole stream as read.
    pub(crate) fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        self.hasher.clone().finalize().into()
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("bytes", &self.bytes.len())
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Why a child did not run to its end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    /// It could not be started.
    #[error("cannot start: {0}")]
    Spawn(std::io::Error),
    /// It ran past its timeout and was killed with its process group.
    #[error("timed out after {} ms; killed", .0.as_millis())]
    TimedOut(Duration),
    /// Waiting for it failed.
    #[error("cannot wait for it: {0}")]
    Wait(std::io::Error),
}

/// What a child did.
#[derive(Debug)]
pub(crate) struct Captured {
    /// How it ended, if it did on its own.
    pub(crate) status: Option<ExitStatus>,
    pub(crate) error: Option<ProcessError>,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl Captured {
    /// Why it failed: not started, timed out, killed by a signal, or a non-zero exit.
    pub(crate) fn failure(&self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(e) = &self.error {
            return Some(e.to_string());
        }
        match self.status {
            Some(s) if s.success() => None,
            Some(s) => Some(match (s.code(), s.signal()) {
                (Some(code), _) => format!("exited with code {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => format!("ended with {s}"),
            }),
            None => Some("did not finish".into()),
        }
    }
}

/// Kills a child's whole process group when dropped, unless disarmed: the child's
/// `kill_on_drop` reaches only the leader, not what it started.
struct GroupKill(Option<nix::unistd::Pid>);

impl GroupKill {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn read_bounded(stream: Option<impl AsyncRead + Unpin>, limit: usize, into: &mut Capture) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                sha2::Digest::update(&mut into.hasher, chunk);
                let room = limit.saturating_sub(into.bytes.len());
                if chunk.len() > room {
                    into.truncated = true;
                }
                // Keep reading past the limit so the child never blocks on a full pipe.
                into.bytes
                    .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            }
        }
    }
}

/// Runs `argv` (no shell) in its own process group with `stdin` fed in, keeping the first
/// `limit` bytes of stdout and stderr. At `timeout` the group is killed and the child
/// reaped before this returns, so a caller that logs afterwards logs a dead process.
pub(crate) async fn run_bounded(
    argv: &[String],
    env: &[(&str, OsString)],
    stdin: Vec<u8>,
    timeout: Duration,
    limit: usize,
) -> Captured {
    let mut captured = Captured {
        status: None,
        error: None,
        stdout: Capture::default(),
        stderr: Capture::default(),
    };
    let Some((program, args)) = argv.split_first() else {
        captured.error = Some(ProcessError::Spawn(std::io::Error::other("empty command")));
        return captured;
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            captured.error = Some(ProcessError::Spawn(e));
            return captured;
        }
    };
    let mut group = GroupKill(
        child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    let input = child.stdin.take();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (stdout, stderr) = (&mut captured.stdout, &mut captured.stderr);
    let finished = tokio::time::timeout(timeout, async {
        let feed = async move {
            if let Some(mut pipe) = input {
                // A child that does not read its input may close the pipe: not an error.
                let _ = pipe.write_all(&stdin).await;
                let _ = pipe.shutdown().await;
            }
        };
        tokio::join!(
            feed,
            read_bounded(out, limit, stdout),
            read_bounded(err, limit, stderr)
        );
        child.wait().await
    })
    .await;
    match finished {
        Ok(Ok(status)) => {
            captured.status = Some(status);
            // Reaped: its pid (and group id) may be reused, so never signal it again.
            group.0 = None;
        }
        Ok(Err(e)) => captured.error = Some(ProcessError::Wait(e)),
        Err(_) => {
            group.kill();
            let _ = child.start_kill();
            // SIGKILL cannot be ignored; the bound only guards against a wedged kernel.
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            captured.error = Some(ProcessError::TimedOut(timeout));
        }
    }
    captured
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::daemon::driver::executions;
    use crate::daemon::metrics::Metrics;
    use crate::daemon::store::Store;
    use swarmvote_protocol::engine::{Config as EngineConfig, Engine};
    use swarmvote_protocol::{
        Action, MemberName, Nonce, Payload, Quorum, Roster, SecretKey, SwarmId,
    };

    fn engine(approve: bool) -> (Engine, ProposalId) {
        let key = SecretKey::from_seed([7; 32]);
        let roster = Roster::new(
            SwarmId::new("t").unwrap(),
            "1".parse::<Quorum>().unwrap(),
            vec![(MemberName::new("a").unwrap(), key.public().unwrap())],
        )
        .unwrap();
        let mut engine = Engine::new(roster, key, EngineConfig::default()).unwrap();
        let id = engine
            .propose(
                UnixMillis(1_000),
                Action::new("deploy").unwrap(),
                Payload::from_json_text(r#"{"v":1}"#).unwrap(),
                10_000,
                Nonce([1; 16]),
            )
            .unwrap();
        if approve {
            engine
                .vote(UnixMillis(1_001), id, swarmvote_protocol::Vote::Yes, None)
                .unwrap();
        }
        while engine.poll_output().is_some() {}
        (engine, id)
    }

    fn executor(dir: &Path, timeout_ms: u64) -> (Executor, PathBuf) {
        let marker = dir.join("marker");
        let script = dir.join("run.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho run >> {}\necho out\n", marker.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let section = ExecutorSection {
            actions: vec![ActionSection {
                action: "deploy".into(),
                command: vec![script.display().to_string()],
                timeout_ms,
            }],
        };
        (Executor::new(&section).unwrap(), marker)
    }

    /// What the driver does with an approval.
    fn approve(
        ex: &mut Executor,
        engine: &Engine,
        store: &mut Store,
        id: ProposalId,
        at: UnixMillis,
    ) {
        let metrics = Metrics::new(["a"]);
        executions::on_approved(ex, engine, store, &metrics, id, at);
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
    }

    #[tokio::test]
    async fn runs_once_even_if_approved_twice_and_never_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut engine, id) = engine(true);
        let (mut ex, marker) = executor(dir.path(), 10_000);
        let data = dir.path().join("data");
        let (mut store, _) = Store::open(&data).unwrap();
        approve(&mut ex, &engine, &mut store, id, UnixMillis(2_000));
        // A second `Decided` in the same life: refused before anything else.
        approve(&mut ex, &engine, &mut store, id, UnixMillis(2_001));
        let done = ex.next_done().await;
        executions::on_done(
            &mut ex,
            &mut engine,
            &mut store,
            &Metrics::new(["a"]),
            done,
            UnixMillis(2_500),
        );
        assert_eq!(lines(&marker), 1);
        let r = store.execution(&id).unwrap().unwrap();
        assert_eq!(r.state, ExecutionState::Finished);
        assert_eq!((r.exit_code, r.stdout.as_str()), (Some(0), "out\n"));
        // The run's receipt: signed by this node, stored, broadcast, backed.
        let mut receipt = None;
        let mut broadcast = false;
        while let Some(o) = engine.poll_output() {
            match o {
                swarmvote_protocol::engine::Output::Persist(rec) => {
                    store.apply(&rec).unwrap();
                    if let swarmvote_protocol::engine::Record::Receipt(x) = rec {
                        receipt = Some(x);
                    }
                }
                swarmvote_protocol::engine::Output::Broadcast(_) => broadcast = receipt.is_some(),
                _ => {}
            }
        }
        let receipt = receipt.expect("a receipt record");
        assert!(broadcast, "the receipt is broadcast after it is stored");
        let inner = receipt.receipt();
        assert_eq!((inner.proposal, inner.exit_code), (id, Some(0)));
        assert_eq!(inner.executor, engine.voter_id());
        assert_eq!(
            inner.stdout,
            swarmvote_protocol::receipt::output_digest(b"out\n")
        );
        assert!(engine.receipt_standing(&receipt).0.is_backed());
        assert_eq!(store.receipts_of(&id).unwrap(), vec![(*receipt).clone()]);
        drop(store);

        // A new life with a fresh executor: the durable record forbids a second run.
        let (mut store, _) = Store::open(&data).unwrap();
        assert!(
            store
                .interrupt_unfinished_executions(UnixMillis(3_000))
                .unwrap()
                .is_empty()
        );
        let (mut ex, _) = executor(dir.path(), 10_000);
        approve(&mut ex, &engine, &mut store, id, UnixMillis(3_001));
        assert_eq!(ex.running, 0);
        assert_eq!(lines(&marker), 1);
        assert_eq!(
            store.execution(&id).unwrap().unwrap().state,
            ExecutionState::Finished
        );
    }

    #[tokio::test]
    async fn expired_or_uncertified_proposals_are_refused_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(&dir.path().join("data")).unwrap();
        // Past expiry (created 1000, ttl 10000).
        let (engine_a, id) = engine(true);
        let (mut ex, marker) = executor(dir.path(), 10_000);
        approve(&mut ex, &engine_a, &mut store, id, UnixMillis(11_000));
        let r = store.execution(&id).unwrap().unwrap();
        assert_eq!(r.state, ExecutionState::Refused);
        assert!(r.error.unwrap().contains("expired"));
        // Not approved: no certificate.
        let dir2 = tempfile::tempdir().unwrap();
        let (mut store2, _) = Store::open(&dir2.path().join("data")).unwrap();
        let (engine_b, id) = engine(false);
        let (mut ex, _) = executor(dir.path(), 10_000);
        approve(&mut ex, &engine_b, &mut store2, id, UnixMillis(2_000));
        let r = store2.execution(&id).unwrap().unwrap();
        assert_eq!(r.state, ExecutionState::Refused);
        assert!(r.error.unwrap().contains("certificate"));
        assert_eq!(lines(&marker), 0);
        assert_eq!(ex.running, 0);
    }

    #[tokio::test]
    async fn a_started_execution_is_interrupted_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (engine, id) = engine(true);
        {
            let (mut store, _) = Store::open(&data).unwrap();
            let mut r = ExecutionRecord::new(id, "deploy".into(), ExecutionState::Started);
            r.started_at = Some(UnixMillis(5));
            store.record_execution(&r).unwrap();
        }
        // Lose the sled database: the journal alone must still forbid a re-run.
        std::fs::remove_dir_all(data.join("db")).unwrap();
        let (mut store, _) = Store::open(&data).unwrap();
        let interrupted = store
            .interrupt_unfinished_executions(UnixMillis(9))
            .unwrap();
        assert_eq!(interrupted.len(), 1);
        let (mut ex, marker) = executor(dir.path(), 10_000);
        approve(&mut ex, &engine, &mut store, id, UnixMillis(2_000));
        assert_eq!(lines(&marker), 0);
        let r = store.execution(&id).unwrap().unwrap();
        assert_eq!(r.state, ExecutionState::Interrupted);
        assert_eq!(r.finished_at, Some(UnixMillis(9)));
    }

    #[tokio::test]
    async fn a_hanging_child_is_killed_at_its_timeout() {
        let argv = vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo partial; sleep 60".into(),
        ];
        let c = run_bounded(&argv, &[], Vec::new(), Duration::from_millis(300), 16).await;
        assert!(matches!(c.error, Some(ProcessError::TimedOut(_))), "{c:?}");
        assert_eq!(c.stdout.bytes, b"partial\n");
        let long = vec![
            "/bin/sh".into(),
            "-c".into(),
            "head -c 100000 /dev/zero".into(),
        ];
        let c = run_bounded(&long, &[], Vec::new(), Duration::from_secs(10), 1000).await;
        assert!(c.failure().is_none(), "{c:?}");
        assert_eq!((c.stdout.bytes.len(), c.stdout.truncated), (1000, true));
    }
}
