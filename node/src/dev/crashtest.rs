//! A deterministic voting workload for the crash-safety test: `swarmvote debug
//! crash-voter` runs it against a real data dir and prints what it sends, so a test can
//! kill the process at any point and check the store afterwards.
//!
//! Member 0 is this node, member 1 proposes, member 2 votes too. Everything is derived
//! from fixed seeds and the `--seed` argument.

use std::io::Write;
use std::path::Path;

use swarmvote_protocol::engine::{CommandError, Config, Engine, MessageTag, Output, PeerTag};
use swarmvote_protocol::{
    Action, Ballot, MemberName, Nonce, Payload, Proposal, ProposalId, Roster, SecretKey,
    SignedBallot, SignedProposal, SwarmId, UnixMillis, Vote, codec,
};

use crate::daemon::persist;
use crate::daemon::store::{Store, StoreError};

/// The scenario's clock origin.
pub const T0: UnixMillis = UnixMillis(1_767_225_600_000);

/// Why the workload stopped.
#[derive(Debug, thiserror::Error)]
pub enum CrashTestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the report failed.
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
    /// The scenario itself is broken.
    #[error("scenario: {0}")]
    Scenario(String),
}

/// Member `i`'s key.
pub fn key(i: u8) -> SecretKey {
    let mut seed = [0xc7u8; 32];
    seed[0] = i;
    SecretKey::from_seed(seed)
}

/// The 3-member roster, quorum 2/3.
pub fn roster() -> Result<Roster, CrashTestError> {
    let members = (0..3u8)
        .map(|i| {
            let name = MemberName::new(format!("m{i}"))
                .map_err(|e| CrashTestError::Scenario(e.to_string()))?;
            let key = key(i)
                .public()
                .map_err(|e| CrashTestError::Scenario(e.to_string()))?;
            Ok((name, key))
        })
        .collect::<Result<Vec<_>, CrashTestError>>()?;
    let swarm = SwarmId::new("crashtest").map_err(|e| CrashTestError::Scenario(e.to_string()))?;
    let quorum = "2/3"
        .parse()
        .map_err(|e: swarmvote_protocol::QuorumError| CrashTestError::Scenario(e.to_string()))?;
    Roster::new(swarm, quorum, members).map_err(|e| CrashTestError::Scenario(e.to_string()))
}

/// Proposal `k`, by member 1.
pub fn proposal(roster: &Roster, k: u32) -> Result<SignedProposal, CrashTestError> {
    let payload = Payload::from_value(&serde_json::json!({ "k": k }))
        .map_err(|e| CrashTestError::Scenario(e.to_string()))?;
    let created_at = UnixMillis(T0.0.saturating_add(u64::from(k)));
    let mut nonce = [0u8; 16];
    nonce[..4].copy_from_slice(&k.to_le_bytes());
    Proposal {
        swarm: roster.swarm().clone(),
        roster: roster.digest(),
        proposer: key(1).voter_id(),
        action: Action::new("crash.test").map_err(|e| CrashTestError::Scenario(e.to_string()))?,
        payload,
        created_at,
        expires_at: UnixMillis(created_at.0.saturating_add(86_400_000)),
        nonce: Nonce(nonce),
    }
    .sign(&key(1))
    .map_err(|e| CrashTestError::Scenario(e.to_string()))
}

fn bit(seed: u64, k: u32, salt: u64) -> bool {
    let mut x = seed ^ (u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    x & 1 == 1
}

fn vote_of(b: bool) -> Vote {
    if b { Vote::Yes } else { Vote::No }
}

/// Member 2's ballot on proposal `k`.
pub fn peer_ballot(p: &SignedProposal, seed: u64, k: u32) -> SignedBallot {
    Ballot {
        swarm: p.proposal().swarm.clone(),
        proposal: p.id(),
        voter: key(2).voter_id(),
        vote: vote_of(bit(seed, k, 2)),
        reason: None,
    }
    .sign(&key(2))
}

/// The vote this node means to cast on proposal `k` (the opposite with `flip`).
pub fn intended(seed: u64, k: u32, flip: bool) -> Vote {
    vote_of(bit(seed, k, 1) ^ flip)
}

/// Runs the workload on `data_dir`, writing one line per fact to `out`:
/// `OWN id vote` for each own ballot found at start, `SENT id vote` once a ballot is
/// durable and handed to the network, `REFUSED id vote` when the guard refuses a flip,
/// `TALLY id verdict yes no` after each proposal, and `DONE digest` at the end.
pub fn run(
    data_dir: &Path,
    proposals: u32,
    seed: u64,
    flip: bool,
    out: &mut impl Write,
) -> Result<(), CrashTestError> {
    let roster = roster()?;
    let (mut store, _) = Store::open(data_dir)?;
    let mut engine = Engine::new(roster.clone(), key(0), Config::default())
        .map_err(|e| CrashTestError::Scenario(e.to_string()))?;
    engine.restore(T0, store.load()?);
    for b in engine.own_ballots() {
        writeln!(out, "OWN {} {}", b.ballot().proposal, b.ballot().vote)?;
    }
    out.flush()?;
    // Own ballots handed to the network by a drain; the drain only hands them over
    // after the journal fsync.
    let sent = |o: Output, acc: &mut Vec<String>| {
        if let Output::Broadcast(bytes) = o
            && let Ok(b) = codec::decode::<SignedBallot>(&bytes)
            && b.ballot().voter == key(0).voter_id()
        {
            acc.push(format!("SENT {} {}", b.ballot().proposal, b.ballot().vote));
        }
    };
    for k in 0..proposals {
        let now = UnixMillis(T0.0.saturating_add(u64::from(k)));
        let p = proposal(&roster, k)?;
        let id: ProposalId = p.id();
        let encode = |m: &dyn Fn() -> Result<Vec<u8>, codec::CodecError>| {
            m().map_err(|e| CrashTestError::Scenario(e.to_string()))
        };
        let p_bytes = encode(&|| codec::encode(&p))?;
        let b_bytes = encode(&|| codec::encode(&peer_ballot(&p, seed, k)))?;
        engine.handle_message(now, PeerTag(1), MessageTag(u64::from(k)), &p_bytes);
        engine.handle_message(now, PeerTag(2), MessageTag(u64::from(k)), &b_bytes);
        let mut lines = Vec::new();
        persist::drain(&mut engine, &mut store, |o| sent(o, &mut lines))?;
        match engine.vote(now, id, intended(seed, k, flip), None) {
            Ok(_) => {}
            Err(CommandError::AlreadyVoted { existing, .. }) => {
                writeln!(out, "REFUSED {id} {existing}")?
            }
            Err(e) => writeln!(out, "ERROR {id} {e}")?,
        }
        persist::drain(&mut engine, &mut store, |o| sent(o, &mut lines))?;
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        if let Some(view) = engine.proposal(&id) {
            let o = view.outcome();
            writeln!(
                out,
                "TALLY {id} {} {} {}",
                o.verdict,
                o.yes.len(),
                o.no.len()
            )?;
        }
    }
    writeln!(out, "DONE {}", hex::encode(engine.tallies_digest()))?;
    out.flush()?;
    Ok(())
}
