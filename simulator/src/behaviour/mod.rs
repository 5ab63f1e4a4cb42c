//! What each simulated member does: the [`Behaviour`] a scenario gives it, and one module
//! per behaviour family holding the decision and message-construction logic as pure
//! functions over the run's RNG, keys and ground truth.
//!
//! The simulator ([`crate::sim`]) keeps the plumbing: it asks [`Judge::decide`] what a
//! member does when it judges a proposal, and calls the attack modules for the bytes to
//! send, then publishes them, counts them and schedules what comes next.
//!
//! | Module | Behaviours |
//! |---|---|
//! | [`honest`] | `honest`: the ground-truth oracle with an error rate, or the node's policy evaluator |
//! | [`drift`] | `drift(p)`: a degraded voter, wrong with probability `p` |
//! | [`faults`] | `offline`, `crash(at)` with `restart(at)`, `slow(extra latency)` |
//! | [`compromised`] | `compromised`: a stolen key voting YES on anomalies |
//! | [`colluding`] | `colluding`: a bloc that flips together on one shared coin |
//! | [`equivocator`] | `equivocator`: YES to half its peers, NO to the other half |
//! | [`forger`] | `forger`: a corrupted signature, and a ballot in another member's name |
//! | [`replayer`] | `replayer`: valid ballots retargeted at other proposals and swarms |
//! | [`flooder`] | `flooder`: random garbage bytes at a rate |
//! | [`cloned`] | `cloned`: a second instance of an honest member's key, voting on its own |

use serde::Deserialize;
use swarmvote_protocol::{ProposalId, Reason, Vote};

use crate::rng::SimRng;

pub mod cloned;
pub mod colluding;
pub mod compromised;
pub mod drift;
pub mod equivocator;
pub mod faults;
pub mod flooder;
pub mod forger;
pub mod honest;
pub mod replayer;

pub use cloned::CloneVote;
pub use flooder::MAX_FLOOD_PER_NODE;
pub use honest::{HonestEvaluator, Policy, Seen, Unmatched};

/// A scenario field whose value is unusable: the behaviours check their own fields, and
/// the scenario names the file around it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, as a dotted path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// The error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// How one node behaves.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behaviour {
    /// Votes by the ground truth (benign: YES, anomalous: NO), flipping each vote with
    /// probability `error_rate`; or, with `evaluator = "policy"`, by the scenario's
    /// `[evaluator]` rules, as a node running the `policy` evaluator would. See [`honest`].
    Honest {
        /// Probability of a wrong vote, for every vote the oracle casts.
        #[serde(default)]
        error_rate: f64,
        /// Who decides: `oracle` (the default) or `policy`.
        #[serde(default)]
        evaluator: HonestEvaluator,
        /// With `evaluator = "policy"`: the vote on a proposal no rule matches
        /// (`abstain` when not given, as the node leaves it to the agent).
        #[serde(default)]
        unmatched: Option<Unmatched>,
    },
    /// A degraded but non-malicious voter: votes the wrong way with probability `p`.
    Drift {
        /// Probability of a wrong vote.
        p: f64,
    },
    /// Never up: a member that holds a key but never runs.
    Offline,
    /// Votes like an honest node, crashes at `at_ms` (losing what it had not flushed) and
    /// restarts from its durable records at `restart_at_ms`, if given. After a restart it
    /// re-judges open proposals with fresh draws, so with `error_rate > 0` it may want to
    /// vote against a ballot it signed before the crash: its engine must refuse.
    Crash {
        /// Probability of a wrong vote.
        #[serde(default)]
        error_rate: f64,
        /// When it crashes (virtual ms from the start).
        at_ms: u64,
        /// When it restarts, if ever.
        #[serde(default)]
        restart_at_ms: Option<u64>,
    },
    /// Signs YES and NO on every proposal, bypassing its engine's guard, and sends the
    /// two ballots to disjoint halves of its peers.
    Equivocator,
    /// Sends ballots with bad signatures: one in its own name with a corrupted signature
    /// and one in another member's name signed with its own key.
    Forger,
    /// A member whose key was stolen: the thief votes YES on every anomalous proposal
    /// (that is what the key was stolen for) and honestly on benign ones, so it blends in.
    Compromised,
    /// A member of a colluding bloc: for each proposal one coin, shared by every member
    /// with the same `bloc` id, decides with probability `p` whether the whole bloc votes
    /// the wrong way. Correlated errors are what break a quorum, independent ones rarely do.
    Colluding {
        /// The bloc id; members with the same id flip together.
        bloc: String,
        /// Probability that the bloc votes the wrong way on a proposal.
        p: f64,
    },
    /// An honest node on a slow link: `extra_ms` is added to every transmission from and
    /// to it (gossip and catch-up), so it votes late and relays late.
    Slow {
        /// Added latency per transmission, each way.
        extra_ms: u64,
        /// Probability of a wrong vote.
        #[serde(default)]
        error_rate: f64,
    },
    /// Re-sends every foreign ballot it sees, once retargeted at another proposal (same
    /// signature, so it no longer verifies) and once re-addressed to another swarm. Honest
    /// nodes must reject or ignore both, never count them.
    Replayer,
    /// Sends random garbage bytes to every peer at `rate_per_s`, at most
    /// [`MAX_FLOOD_PER_NODE`] messages in all so runs stay fast. It never votes.
    Flooder {
        /// Garbage messages per second.
        rate_per_s: f64,
    },
    /// A second instance of an honest member's voter key (a restored backup, a second
    /// machine): an extra node, not a roster member, that judges every proposal on its
    /// own and signs with the member's key. Cloned groups come after every member group.
    /// See [`cloned`].
    Cloned {
        /// The node index of the member whose key it runs; drawn from the seed among the
        /// honest members when not given.
        #[serde(default)]
        of: Option<usize>,
        /// What it signs: `opposite` (the default) or `same`.
        #[serde(default)]
        votes: CloneVote,
    },
}

impl Behaviour {
    /// An honest member voting by the ground truth with `error_rate` (the oracle).
    pub fn honest(error_rate: f64) -> Self {
        Behaviour::Honest {
            error_rate,
            evaluator: HonestEvaluator::Oracle,
            unmatched: None,
        }
    }

    /// Whether this node follows the protocol (its faults are benign: errors, crashes).
    pub fn is_honest(&self) -> bool {
        matches!(
            self,
            Behaviour::Honest { .. }
                | Behaviour::Drift { .. }
                | Behaviour::Crash { .. }
                | Behaviour::Slow { .. }
        )
    }

    /// Whether this node votes with the scenario's policy evaluator.
    pub fn uses_policy(&self) -> bool {
        matches!(
            self,
            Behaviour::Honest {
                evaluator: HonestEvaluator::Policy,
                ..
            }
        )
    }

    /// A short label for reports.
    pub fn label(&self) -> &'static str {
        match self {
            Behaviour::Honest { .. } => "honest",
            Behaviour::Drift { .. } => "drift",
            Behaviour::Offline => "offline",
            Behaviour::Crash { .. } => "crash",
            Behaviour::Equivocator => "equivocator",
            Behaviour::Forger => "forger",
            Behaviour::Compromised => "compromised",
            Behaviour::Colluding { .. } => "colluding",
            Behaviour::Slow { .. } => "slow",
            Behaviour::Replayer => "replayer",
            Behaviour::Flooder { .. } => "flooder",
            Behaviour::Cloned { .. } => "cloned",
        }
    }
}

/// What a member does when it judges a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Cast this vote through its engine (and so through the own-vote guard).
    Vote {
        /// The vote.
        vote: Vote,
        /// Why, recorded in the ballot (a policy rule's reason).
        reason: Option<Reason>,
    },
    /// Sign both ways outside the engine: see [`equivocator`].
    Equivocate,
    /// Send forged ballots: see [`forger`].
    Forge,
    /// Sign this vote with the cloned member's key, outside the engine: see [`cloned`].
    Clone(Vote),
    /// Cast nothing.
    Abstain,
}

impl Decision {
    fn vote(vote: Vote) -> Self {
        Decision::Vote { vote, reason: None }
    }
}

/// The vote the ground truth calls for: YES on benign, NO on anomalous.
pub fn right_vote(anomalous: bool) -> Vote {
    if anomalous { Vote::No } else { Vote::Yes }
}

/// `v`, or the other vote when `wrong`.
pub fn flip(v: Vote, wrong: bool) -> Vote {
    if wrong { v.other() } else { v }
}

/// The decision state a run shares across its members: the colluding blocs' coins and
/// the compiled policy evaluator.
pub struct Judge {
    blocs: colluding::Blocs,
    policy: Option<Policy>,
}

impl Judge {
    /// State for one run; `policy` is the scenario's `[evaluator]`, compiled.
    pub fn new(policy: Option<Policy>) -> Self {
        Self {
            blocs: colluding::Blocs::default(),
            policy,
        }
    }

    /// What a member with `behaviour` does about `proposal`, whose ground truth is
    /// `anomalous`. `seen` is the signed proposal as the member's engine holds it, with
    /// its proposer's roster name (the policy evaluator reads them).
    ///
    /// The RNG draws, in order, are part of the run's determinism: one `chance` for an
    /// oracle vote (honest, drift, crash, slow), one per (bloc, proposal) for the first
    /// colluding member to judge, none otherwise.
    pub fn decide(
        &mut self,
        behaviour: &Behaviour,
        proposal: ProposalId,
        anomalous: bool,
        seen: Option<Seen<'_>>,
        rng: &mut SimRng,
    ) -> Decision {
        match behaviour {
            Behaviour::Honest {
                error_rate,
                evaluator: HonestEvaluator::Oracle,
                ..
            } => Decision::vote(honest::oracle(anomalous, *error_rate, rng)),
            Behaviour::Honest {
                error_rate,
                evaluator: HonestEvaluator::Policy,
                unmatched,
            } => match (&self.policy, seen) {
                (Some(policy), Some(p)) => {
                    let unmatched = unmatched.unwrap_or_default();
                    policy.decide(p, unmatched, anomalous, *error_rate, rng)
                }
                // Nothing to evaluate (no rules compiled, or the engine does not hold
                // the proposal): a node with no verdict casts nothing.
                _ => Decision::Abstain,
            },
            Behaviour::Drift { p } => Decision::vote(drift::vote(anomalous, *p, rng)),
            Behaviour::Crash { error_rate, .. } | Behaviour::Slow { error_rate, .. } => {
                Decision::vote(honest::oracle(anomalous, *error_rate, rng))
            }
            Behaviour::Compromised => Decision::vote(compromised::vote(anomalous)),
            Behaviour::Colluding { bloc, p } => {
                let wrong = self.blocs.coin(bloc, proposal, *p, rng);
                Decision::vote(flip(right_vote(anomalous), wrong))
            }
            Behaviour::Equivocator => Decision::Equivocate,
            Behaviour::Forger => Decision::Forge,
            Behaviour::Cloned { votes, .. } => Decision::Clone(cloned::vote(anomalous, *votes)),
            Behaviour::Offline | Behaviour::Replayer | Behaviour::Flooder { .. } => {
                Decision::Abstain
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Keys, a roster and a proposal for the modules' tests.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use swarmvote_protocol::engine::{
        Config, Engine, Event, MessageTag, Output, PeerTag, Validation,
    };
    use swarmvote_protocol::{
        Action, Nonce, Payload, ProposalId, Roster, SecretKey, SignedProposal, UnixMillis,
    };

    use crate::swarm::START_MS;

    /// `n` members' keys and their roster (swarm `sim`, quorum 2/3), as a run builds them.
    pub fn roster(n: u32) -> (Vec<SecretKey>, Roster) {
        let (roster, keys) = crate::swarm::roster(n as usize, "2/3".parse().unwrap(), 1).unwrap();
        (keys, roster)
    }

    /// An engine for member 0.
    pub fn engine(keys: &[SecretKey], roster: &Roster) -> Engine {
        Engine::new(roster.clone(), keys[0].clone(), Config::default()).unwrap()
    }

    /// Member 0 proposes `action` with `payload` at the start of virtual time.
    pub fn propose(
        engine: &mut Engine,
        action: &str,
        payload: serde_json::Value,
        nonce: u8,
    ) -> (ProposalId, SignedProposal) {
        let id = engine
            .propose(
                UnixMillis(START_MS),
                Action::new(action).unwrap(),
                Payload::from_value(&payload).unwrap(),
                30_000,
                Nonce([nonce; 16]),
            )
            .unwrap();
        let signed = engine.proposal(&id).unwrap().proposal().clone();
        while engine.poll_output().is_some() {}
        (id, signed)
    }

    /// Hands `bytes` to `engine` as gossip from peer 1 and returns its verdict on them
    /// and the events it raised.
    pub fn deliver(engine: &mut Engine, bytes: &[u8]) -> (Option<Validation>, Vec<Event>) {
        engine.handle_message(UnixMillis(START_MS), PeerTag(1), MessageTag(1), bytes);
        let (mut verdict, mut events) = (None, Vec::new());
        while let Some(out) = engine.poll_output() {
            match out {
                Output::Validation { result, .. } => verdict = Some(result),
                Output::Event(e) => events.push(e),
                _ => {}
            }
        }
        (verdict, events)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_behaviour_decides_as_documented() {
        let mut judge = Judge::new(None);
        let mut rng = SimRng::new(3);
        let id = ProposalId::from_bytes([7; 32]);
        let mut decide = |b: &Behaviour, anomalous| judge.decide(b, id, anomalous, None, &mut rng);
        assert_eq!(
            decide(&Behaviour::honest(0.0), true),
            Decision::vote(Vote::No)
        );
        assert_eq!(
            decide(&Behaviour::honest(0.0), false),
            Decision::vote(Vote::Yes)
        );
        assert_eq!(
            decide(&Behaviour::Drift { p: 1.0 }, false),
            Decision::vote(Vote::No)
        );
        assert_eq!(
            decide(&Behaviour::Compromised, true),
            Decision::vote(Vote::Yes)
        );
        assert_eq!(decide(&Behaviour::Equivocator, true), Decision::Equivocate);
        assert_eq!(decide(&Behaviour::Forger, true), Decision::Forge);
        let clone = Behaviour::Cloned {
            of: None,
            votes: CloneVote::Opposite,
        };
        assert_eq!(decide(&clone, true), Decision::Clone(Vote::Yes));
        for quiet in [
            Behaviour::Offline,
            Behaviour::Replayer,
            Behaviour::Flooder { rate_per_s: 1.0 },
        ] {
            assert_eq!(decide(&quiet, true), Decision::Abstain, "{quiet:?}");
        }
        // A policy member without compiled rules has nothing to go by.
        let policy = Behaviour::Honest {
            error_rate: 0.0,
            evaluator: HonestEvaluator::Policy,
            unmatched: Some(Unmatched::Yes),
        };
        assert_eq!(decide(&policy, true), Decision::Abstain);
    }

    #[test]
    fn the_oracle_behaviours_draw_exactly_once_per_vote() {
        // The run's determinism depends on the draw order: each oracle vote consumes one
        // `chance`, even at probability 0.
        for b in [
            Behaviour::honest(0.0),
            Behaviour::Drift { p: 0.0 },
            Behaviour::Crash {
                error_rate: 0.0,
                at_ms: 1,
                restart_at_ms: None,
            },
            Behaviour::Slow {
                extra_ms: 1,
                error_rate: 0.0,
            },
        ] {
            let (mut a, mut b2) = (SimRng::new(9), SimRng::new(9));
            Judge::new(None).decide(&b, ProposalId::from_bytes([1; 32]), false, None, &mut a);
            b2.unit();
            assert_eq!(a.unit().to_bits(), b2.unit().to_bits(), "{b:?}");
        }
    }

    #[test]
    fn the_scenario_format_of_honest_is_unchanged() {
        let b: Behaviour = toml::from_str("kind = \"honest\"\nerror_rate = 0.25").unwrap();
        assert_eq!(b, Behaviour::honest(0.25));
        let p: Behaviour =
            toml::from_str("kind = \"honest\"\nevaluator = \"policy\"\nunmatched = \"no\"")
                .unwrap();
        assert!(p.uses_policy());
        assert!(toml::from_str::<Behaviour>("kind = \"honest\"\nevaluator = \"vibes\"").is_err());
    }

    #[test]
    fn the_scenario_format_of_cloned_has_defaults() {
        let b: Behaviour = toml::from_str("kind = \"cloned\"").unwrap();
        let want = Behaviour::Cloned {
            of: None,
            votes: CloneVote::Opposite,
        };
        assert_eq!(b, want);
        let b: Behaviour = toml::from_str("kind = \"cloned\"\nof = 3\nvotes = \"same\"").unwrap();
        assert_eq!(
            b,
            Behaviour::Cloned {
                of: Some(3),
                votes: CloneVote::Same
            }
        );
        assert!(!b.is_honest());
        assert_eq!(b.label(), "cloned");
    }
}
