//! The executor's outcomes, recorded: the driver hands it approved proposals and keeps
//! what it decided, durably, before anything runs.

use swarmvote_protocol::engine::{Engine, Run};
use swarmvote_protocol::{OutputDigest, ProposalId, UnixMillis};
use tracing::{error, warn};

use crate::daemon::executor::{Approved, Done, ExecutionState, Executor, Outcome};
use crate::daemon::metrics::{Metrics, ResultLabel};
use crate::daemon::store::Store;

/// An approved proposal: ask the executor, record its outcome; start the process only
/// once its *started* record is durable.
pub(crate) fn on_approved(
    executor: &mut Executor,
    engine: &Engine,
    store: &mut Store,
    metrics: &Metrics,
    id: ProposalId,
    now: UnixMillis,
) {
    let Some(view) = engine.proposal(&id) else {
        return;
    };
    let approved = Approved {
        id,
        proposal: view.proposal().proposal(),
        certificate: view.certificate(),
        // The roster that judged it: an earlier epoch's, if the roster changed since.
        roster: engine
            .chain()
            .get(&view.proposal().proposal().roster)
            .unwrap_or(engine.roster()),
        me: engine.voter_id(),
        recorded: store.execution_known(&id),
        data_dir: store.dir(),
    };
    match executor.on_approved(&approved, now) {
        None => {}
        Some(Outcome::Refused(record)) => match store.record_execution(&record) {
            Ok(()) => Metrics::inc(&metrics.executions, ResultLabel { result: "refused" }),
            Err(e) => {
                error!(proposal = %id.short(), error = %e, "cannot record a refused execution");
            }
        },
        Some(Outcome::Ready(launch)) => {
            // Durable before the process exists: after a crash the node knows it may have run.
            if let Err(e) = store.record_execution(launch.record()) {
                error!(
                    proposal = %id.short(),
                    action = %launch.record().action,
                    error = %e,
                    "cannot record the execution durably; not running it"
                );
                return;
            }
            executor.start(launch);
        }
    }
}

/// A process ended: record its result, count it, and have the engine sign its receipt
/// (stored and broadcast through the engine's outputs, which the caller drains).
pub(crate) fn on_done(
    executor: &mut Executor,
    engine: &mut Engine,
    store: &mut Store,
    metrics: &Metrics,
    done: Done,
    now: UnixMillis,
) {
    let (record, ran) = executor.on_done(done, now);
    if let Err(e) = store.record_execution(&record) {
        error!(proposal = %record.proposal.short(), error = %e, "cannot record the execution's result");
        return;
    }
    let run = Run {
        certificate: &ran.certificate,
        command: &ran.command,
        exit_code: record.exit_code,
        stdout: OutputDigest::from_bytes(ran.stdout),
        stderr: OutputDigest::from_bytes(ran.stderr),
        started_at: record.started_at.unwrap_or(now),
        finished_at: record.finished_at.unwrap_or(now),
    };
    if let Err(e) = engine.sign_receipt(&run) {
        warn!(proposal = %record.proposal.short(), error = %e, "execution receipt not signed");
    }
    let ok = record.state == ExecutionState::Finished
        && record.exit_code == Some(0)
        && record.error.is_none();
    Metrics::inc(
        &metrics.executions,
        ResultLabel {
            result: if ok { "ok" } else { "failed" },
        },
    );
}
