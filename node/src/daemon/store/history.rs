//! A node's signing history as a portable document: its own proposals and ballots, for
//! moving a voter key to another machine with its own-vote guard (in the spirit of
//! EIP-3076's slashing-protection interchange format).
//!
//! The document is versioned JSON that names the swarm, the roster digest and the voter,
//! and carries each signed message in the API's JSON form (signature included). Import
//! checks everything before it writes anything: format and version, swarm, roster,
//! voter, every signature against the roster, and that no imported ballot contradicts
//! one the data dir already holds.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::engine::Record;
use swarmvote_protocol::{
    ProposalId, Roster, RosterDigest, SignedBallot, SignedProposal, SwarmId, UnixMillis,
    VerifyError, Vote, VoterId,
};

use super::{Store, StoreError};

/// The `format` field's value.
pub const FORMAT: &str = "swarmvote-signing-history";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;

/// The document (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningHistory {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for this code.
    pub version: u32,
    /// The swarm the messages were signed for.
    pub swarm: SwarmId,
    /// The roster they were signed under.
    pub roster_digest: RosterDigest,
    /// The voter who signed them.
    pub voter: VoterId,
    /// When the document was written.
    pub exported_at: UnixMillis,
    /// Every proposal the voter signed that the data dir holds.
    pub proposals: Vec<SignedProposal>,
    /// Every ballot the voter signed, one per proposal at most.
    pub ballots: Vec<SignedBallot>,
}

/// What an import wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Proposals written (new or already held: writing is idempotent).
    pub proposals: usize,
    /// Own ballots written that the data dir did not hold.
    pub ballots: usize,
    /// Own ballots the data dir already held, byte for byte.
    pub already_held: usize,
}

/// Why a history was refused. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Not a signing history.
    #[error("format is {found:?}, not {FORMAT:?}")]
    Format {
        /// The `format` found.
        found: String,
    },
    /// A version this code does not read.
    #[error("version {found} is not supported (this swarmvote reads version {VERSION})")]
    Version {
        /// The version found.
        found: u32,
    },
    /// Signed for another swarm.
    #[error("the history is for swarm {found:?}, this node is in swarm {expected:?}")]
    Swarm {
        /// This node's swarm.
        expected: SwarmId,
        /// The document's.
        found: SwarmId,
    },
    /// Signed under another roster.
    #[error("the history is for roster {found}, this node's roster is {expected}")]
    Roster {
        /// This node's roster digest.
        expected: RosterDigest,
        /// The document's.
        found: RosterDigest,
    },
    /// Another voter's history.
    #[error("the history is voter {found}'s, this node's key is voter {expected}")]
    Voter {
        /// This node's voter id.
        expected: VoterId,
        /// The document's.
        found: VoterId,
    },
    /// A message signed by someone else.
    #[error("{what} {index} (proposal {proposal}) is signed by {signer}, not by this voter")]
    NotOurs {
        /// `proposal` or `ballot`.
        what: &'static str,
        /// Its index in its list.
        index: usize,
        /// The proposal concerned.
        proposal: ProposalId,
        /// Who signed it.
        signer: VoterId,
    },
    /// A message that does not verify against the roster.
    #[error("{what} {index} (proposal {proposal}): {source}")]
    Invalid {
        /// `proposal` or `ballot`.
        what: &'static str,
        /// Its index in its list.
        index: usize,
        /// The proposal concerned.
        proposal: ProposalId,
        /// Why.
        source: VerifyError,
    },
    /// Two ballots on one proposal in the document.
    #[error("ballot {index}: a second ballot on proposal {proposal}")]
    Duplicate {
        /// Its index.
        index: usize,
        /// The proposal.
        proposal: ProposalId,
    },
    /// A ballot that contradicts the one this data dir holds.
    #[error(
        "ballot {index}: this data dir already holds a different ballot ({stored}) on proposal {proposal}; the history ({imported}) contradicts it"
    )]
    Conflict {
        /// Its index.
        index: usize,
        /// The proposal.
        proposal: ProposalId,
        /// The stored ballot's vote.
        stored: Vote,
        /// The imported ballot's vote.
        imported: Vote,
    },
    /// The data dir failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The history of `voter` held in `store`.
pub fn export(
    store: &Store,
    roster: &Roster,
    voter: VoterId,
    now: UnixMillis,
) -> Result<SigningHistory, StoreError> {
    let mut proposals = Vec::new();
    let mut ballots = Vec::new();
    for record in store.load()? {
        match record {
            Record::Proposal(p) if p.proposal().proposer == voter => {
                proposals.push(std::sync::Arc::unwrap_or_clone(p));
            }
            Record::OwnBallot(b) if b.ballot().voter == voter => {
                ballots.push(std::sync::Arc::unwrap_or_clone(b));
            }
            _ => {}
        }
    }
    proposals.sort_by_key(SignedProposal::id);
    ballots.sort_by_key(|b| b.ballot().proposal);
    Ok(SigningHistory {
        format: FORMAT.to_owned(),
        version: VERSION,
        swarm: roster.swarm().clone(),
        roster_digest: roster.digest(),
        voter,
        exported_at: now,
        proposals,
        ballots,
    })
}

/// Checks `history` against `roster` and `voter`, and the ballots against those `store`
/// holds; then writes every message and syncs. On any error nothing is written.
pub fn import(
    store: &mut Store,
    roster: &Roster,
    voter: VoterId,
    history: SigningHistory,
) -> Result<ImportReport, HistoryError> {
    check_header(roster, voter, &history)?;
    for (index, p) in history.proposals.iter().enumerate() {
        let proposal = p.id();
        let signer = p.proposal().proposer;
        if signer != voter {
            return Err(HistoryError::NotOurs {
                what: "proposal",
                index,
                proposal,
                signer,
            });
        }
        p.clone()
            .verify(roster)
            .map_err(|source| HistoryError::Invalid {
                what: "proposal",
                index,
                proposal,
                source,
            })?;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut report = ImportReport::default();
    let mut new_ballots = Vec::new();
    for (index, b) in history.ballots.iter().enumerate() {
        let inner = b.ballot();
        let proposal = inner.proposal;
        if inner.voter != voter {
            return Err(HistoryError::NotOurs {
                what: "ballot",
                index,
                proposal,
                signer: inner.voter,
            });
        }
        b.clone()
            .verify(roster)
            .map_err(|source| HistoryError::Invalid {
                what: "ballot",
                index,
                proposal,
                source,
            })?;
        if !seen.insert(proposal) {
            return Err(HistoryError::Duplicate { index, proposal });
        }
        match store.own_ballot(&proposal)? {
            Some(stored) if stored == *b => report.already_held += 1,
            Some(stored) => {
                return Err(HistoryError::Conflict {
                    index,
                    proposal,
                    stored: stored.ballot().vote,
                    imported: inner.vote,
                });
            }
            None => new_ballots.push(b.clone()),
        }
    }
    for p in history.proposals {
        store.apply(&Record::Proposal(std::sync::Arc::new(p)))?;
        report.proposals += 1;
    }
    for b in new_ballots {
        store.apply(&Record::OwnBallot(std::sync::Arc::new(b)))?;
        report.ballots += 1;
    }
    store.sync()?;
    store.flush()?;
    Ok(report)
}

fn check_header(
    roster: &Roster,
    voter: VoterId,
    history: &SigningHistory,
) -> Result<(), HistoryError> {
    if history.format != FORMAT {
        return Err(HistoryError::Format {
            found: history.format.clone(),
        });
    }
    if history.version != VERSION {
        return Err(HistoryError::Version {
            found: history.version,
        });
    }
    if history.swarm != *roster.swarm() {
        return Err(HistoryError::Swarm {
            expected: roster.swarm().clone(),
            found: history.swarm.clone(),
        });
    }
    if history.roster_digest != roster.digest() {
        return Err(HistoryError::Roster {
            expected: roster.digest(),
            found: history.roster_digest,
        });
    }
    if history.voter != voter {
        return Err(HistoryError::Voter {
            expected: voter,
            found: history.voter,
        });
    }
    Ok(())
}
